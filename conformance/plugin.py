"""The pytest plugin: options, fixtures, verdicts, report header and results.json.

Registered by the repository's ``conftest.py``. It only acts on items marked
``vats_case`` (the cases under ``conformance/roles``); the self-tests under
``tests/`` see its options and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from conformance import __version__
from conformance.engine import results, settings
from conformance.engine.client import Client, Exchange
from conformance.engine.drivers import RUN_TAG, CrmWebhook, Target
from conformance.engine.results import CaseResult
from conformance.engine.settings import Settings
from conformance.engine.verdict import RANK, CaseInfo, Finding, Verdict

SETTINGS = pytest.StashKey[Settings]()
RUN = pytest.StashKey["Run"]()
LOG = pytest.StashKey[list[Exchange]]()
NOTES = pytest.StashKey[list[str]]()
RESULT = pytest.StashKey[CaseResult]()


class Run:
    """What one session collects."""

    def __init__(self) -> None:
        self.results: list[CaseResult] = []
        self.started = time.time()
        self.first_case: float | None = None
        self.last_case: float | None = None
        self.targets: dict[str, Any] = {}
        self.crm_child: Any = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vats", "VATS Integration API conformance")
    for option, env, help_text in settings.OPTIONS:
        suffix = f" [env {env}]" if env else ""
        group.addoption(option, default=None, help=help_text + suffix)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vats_case(info): a conformance case (set by @case)")
    config.stash[SETTINGS] = settings.from_config(config)
    config.stash[RUN] = Run()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the embedded reference CRM while the rest of the session gets ready.

    Only when cases will run and no ``--crm-url`` is given; the ``crm_target``
    fixture waits for it to listen.
    """
    config = session.config
    if config.option.collectonly or config.stash[SETTINGS].crm_url:
        return
    if not any(case_info(i) for i in session.items):
        return
    from conformance.reference import process

    s = config.stash[SETTINGS]
    config.stash[RUN].crm_child = process.launch(
        "conformance.reference.crm",
        [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--quiet",
            "--with-parent",
            "--client-id",
            s.client_id,
        ],
        {"VATS_CLIENT_KEY": s.client_key},
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash[SETTINGS]
    crm = s.crm_url or "embedded reference CRM on 127.0.0.1"
    return [
        f"vats-conformance {__version__}: profile {s.profile}, seed {s.seed}, "
        f"examples {s.examples}, sut-timeout {s.sut_timeout:g} s, fail-on {s.fail_on}",
        f"crm-webhook target: {crm} (client id {s.client_id})",
    ]


# -- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="session")
def vats_settings(pytestconfig: pytest.Config) -> Settings:
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def http_client(vats_settings: Settings) -> Iterator[Client]:
    s = vats_settings
    client = Client(s.sut_timeout, secrets=s.secrets, ca_file=s.crm_ca)
    yield client
    client.close()


@pytest.fixture(scope="session")
def crm_target(vats_settings: Settings, pytestconfig: pytest.Config) -> Iterator[Target]:
    """The CRM under test: ``--crm-url``, or the reference CRM started on loopback."""
    s = vats_settings
    run = pytestconfig.stash[RUN]
    if s.crm_url:
        run.targets["crm_url"] = s.crm_url
        run.targets["crm_embedded"] = False
        yield Target(s.crm_url, s.client_id, s.client_key, embedded=False)
        return
    from conformance.reference import process

    if run.crm_child is None:
        pytest.exit(
            "the embedded reference CRM was not launched (no cases collected?)", returncode=3
        )
    try:
        child = process.wait_listening(run.crm_child)
    except process.StartError as exc:
        pytest.exit(f"the embedded reference CRM did not start: {exc}", returncode=3)
    run.targets["crm_url"] = child.url
    run.targets["crm_embedded"] = True
    try:
        yield Target(child.url, s.client_id, s.client_key, embedded=True)
    finally:
        child.stop()


@pytest.fixture
def wire_log(request: pytest.FixtureRequest) -> list[Exchange]:
    """The exchanges of the running case, recorded for its verdict."""
    log: list[Exchange] = request.node.stash.setdefault(LOG, [])
    return log


@pytest.fixture
def case_notes(request: pytest.FixtureRequest) -> list[str]:
    """Observations of the running case, kept in its detail whatever the verdict."""
    notes: list[str] = request.node.stash.setdefault(NOTES, [])
    return notes


@pytest.fixture
def crm(
    http_client: Client,
    crm_target: Target,
    vats_settings: Settings,
    wire_log: list[Exchange],
    case_notes: list[str],
) -> CrmWebhook:
    return CrmWebhook(http_client, crm_target, vats_settings, wire_log, case_notes)


# -- verdicts ---------------------------------------------------------------


def case_info(item: pytest.Item) -> CaseInfo | None:
    marker = item.get_closest_marker("vats_case")
    return marker.args[0] if marker else None


def case_id(item: pytest.Item, info: CaseInfo) -> str:
    callspec = getattr(item, "callspec", None)
    return f"{info.id}[{callspec.id}]" if callspec else info.id


def _judge(call: pytest.CallInfo[None], s: Settings) -> tuple[Verdict, str]:
    if call.excinfo is None:
        return Verdict.PASS, ""
    exc = call.excinfo.value
    if isinstance(exc, Finding):
        notes = "\n".join(getattr(exc, "__notes__", []))
        return exc.verdict, str(exc) + (f"\n{notes}" if notes else "")
    if call.excinfo.errisinstance(pytest.skip.Exception):
        return Verdict.SKIP, str(getattr(exc, "msg", exc))
    return Verdict.FAIL, f"suite error: {type(exc).__name__}: {exc}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Scrub secrets from a failing case's exception before any reporter sees it.

    Reporters (the terminal, JUnit, Allure) read the exception itself; a system
    under test that echoes the key in its answer must not make them print it.
    """
    try:
        return (yield)
    except Exception as exc:
        _scrub(exc, item.config.stash[SETTINGS].secrets)
        raise


def _scrub(exc: BaseException, secrets: list[str]) -> None:
    exc.args = tuple(results.redact(a, secrets) if isinstance(a, str) else a for a in exc.args)
    if isinstance(exc, Finding):
        exc.expected = results.redact(exc.expected, secrets)
        exc.actual = results.redact(exc.actual, secrets)
    notes = getattr(exc, "__notes__", None)
    if notes:
        exc.__notes__ = [results.redact(n, secrets) for n in notes]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    info = case_info(item)
    if info is None:
        return
    if call.when == "setup" and call.excinfo is None:
        return
    if call.when == "teardown" and (call.excinfo is None or RESULT in item.stash):
        return
    s = item.config.stash[SETTINGS]
    run = item.config.stash[RUN]
    run.first_case = min(run.first_case or call.start, call.start)
    run.last_case = max(run.last_case or call.stop, call.stop)
    verdict, detail = _judge(call, s)
    detail = results.redact("\n".join([detail, *item.stash.get(NOTES, [])]).strip(), s.secrets)
    exchanges: list[Exchange] = item.stash.get(LOG, [])
    result = CaseResult(
        info,
        case_id(item, info),
        verdict,
        detail,
        list(exchanges),
    )
    item.stash[RESULT] = result
    item.config.stash[RUN].results.append(result)
    report.vats_verdict = str(verdict)  # type: ignore[attr-defined]
    if verdict in (Verdict.PASS, Verdict.SKIP):
        return
    if RANK[verdict] >= RANK[s.fail_on]:
        report.outcome = "failed"
        report.longrepr = results.redact(
            f"[{result.case_id}] {verdict}: {info.requirement}\n{detail}", s.secrets
        )
    else:
        report.outcome = "passed"
        report.longrepr = None


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    verdict = getattr(report, "vats_verdict", None)
    if report.when != "call" or verdict not in ("non-strict", "info"):
        return None
    if report.outcome == "failed":
        return "failed", "N", "NON-STRICT"
    return verdict, verdict[0].upper(), verdict.upper()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash[RUN]
    if not run.results:
        return
    s = config.stash[SETTINGS]
    counts = results.summary(run.results)
    line = ", ".join(f"{n} {v}" for v, n in counts.items())
    terminalreporter.write_sep("=", "vats-conformance")
    for r in run.results:
        if r.verdict in (Verdict.NON_STRICT, Verdict.INFO):
            first = r.detail.splitlines()[-1] if r.detail else ""
            terminalreporter.write_line(
                results.redact(f"{r.verdict.upper():>10} {r.case_id}: {first}", s.secrets)
            )
    terminalreporter.write_line(f"verdicts: {line}")
    terminalreporter.write_line(
        f"seed {s.seed} (replay with --seed {s.seed}); results: {s.report_dir / 'results.json'}"
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash[RUN]
    if not run.results:
        return
    s = config.stash[SETTINGS]
    finished = time.time()
    ordered = sorted(run.results, key=lambda r: r.case_id)
    document = {
        "suite": {"name": "vats-conformance", "version": __version__},
        "target": {**run.targets, "client_id": s.client_id},
        "profile": s.profile,
        "seed": s.seed,
        "session_tag": RUN_TAG,
        "settings": {
            "sut_timeout_s": s.sut_timeout,
            "examples": s.examples,
            "fail_on": str(s.fail_on),
        },
        "started": datetime.fromtimestamp(run.started, UTC).isoformat(timespec="seconds"),
        "duration_s": round(finished - run.started, 3),
        "cases_run_s": round((run.last_case or finished) - (run.first_case or finished), 3),
        "requests": sum(len(r.exchanges) for r in run.results),
        "latency_ms": results.latency(run.results),
        "summary": results.summary(run.results),
        "cases": [r.to_json() for r in ordered],
    }
    try:
        results.write(s.report_dir / "results.json", document, s.secrets)
    except OSError as exc:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        config.get_terminal_writer().line(f"ERROR: cannot write {s.report_dir}/results.json: {exc}")
        return
    worst = max(RANK[r.verdict] for r in run.results)
    if worst >= RANK[s.fail_on]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
