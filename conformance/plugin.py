"""The pytest plugin: options, fixtures, verdicts, report header and results.json.

Registered by the repository's ``conftest.py``. It only acts on items marked
``vats_case`` (the cases under ``conformance/roles``); the self-tests under
``tests/`` see its options and nothing else.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from conformance import __version__, report, settings
from conformance.grading import answers
from conformance.grading.readings import Reading
from conformance.grading.verdict import RANK, CaseInfo, Finding, Verdict
from conformance.report import allure_out, junit, results
from conformance.report.results import CaseResult
from conformance.settings import Settings
from conformance.sut.calls import Lines, PlacedCall, await_calls, fetch_link, place
from conformance.sut.controls import CrmControls
from conformance.sut.drivers import RUN_TAG, CrmWebhook, PbxApi, Target
from conformance.transport.client import Client, Exchange
from conformance.transport.listener import Listener

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
        self.targets: dict[str, dict[str, Any]] = {}
        self.crm_child: Any = None
        self.pbx_child: Any = None
        self.crm_ready: Any = None  # the embedded CRM once it listens (process.Child)
        self.listener: Listener | None = None
        self.client: Client | None = None
        self.controls: CrmControls | None = None
        self.controls_error: BaseException | None = None
        #: Cases this run's targets cannot serve: reason -> how many (not run, not skipped).
        self.deselected: Counter[str] = Counter()
        #: role -> dimension -> what the target took (results.json "readings").
        self.readings: dict[str, dict[str, Any]] = {}
        #: Root causes the run's exchanges show (grading/diagnose.py), for the summary.
        self.diagnoses: list[dict[str, Any]] = []
        self.lines: Lines | None = None

    def pbx(
        self,
        client: Client,
        target: Target,
        s: Settings,
        log: list[Exchange] | None = None,
        notes: list[str] | None = None,
    ) -> PbxApi:
        """A driver for the PBX; its call_backs wait for the calls placed before to end."""
        if self.lines is None:
            self.lines = Lines(self.listener, s.events_timeout)
        driver = PbxApi(
            client, target, s, [] if log is None else log, [] if notes is None else notes
        )
        driver.lines = self.lines
        return driver

    def http(self, s: Settings) -> Client:
        """The run's one HTTP client (thread-safe), made on first use."""
        if self.client is None:
            self.client = Client(s.sut_timeout, secrets=s.secrets, ca_files=(s.crm_ca, s.pbx_ca))
        return self.client


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vats", "VATS Integration API conformance")
    for option, env, help_text in settings.OPTIONS:
        suffix = f" [env {env}]" if env else ""
        if option in settings.FLAGS:
            group.addoption(option, action="store_true", default=None, help=help_text + suffix)
        else:
            group.addoption(option, default=None, help=help_text + suffix)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vats_case(info): a conformance case (set by @case)")
    config.stash[SETTINGS] = settings.from_config(config)
    config.stash[RUN] = Run()


ROLES = ("crm-webhook", "pbx-api", "pbx-events")
PBX_ROLES = ("pbx-api", "pbx-events")


def unmet(info: CaseInfo, s: Settings) -> str | None:
    """Why this run cannot serve a case (it is then deselected), or None."""
    if info.role == "crm-webhook" and not (s.embedded or s.crm_url):
        return "crm-webhook cases: no --crm-url (a target was given for another role)"
    if info.role in PBX_ROLES and not (s.embedded or s.pbx_url):
        return f"{info.role} cases: no --pbx-url (a target was given for another role)"
    needs = info.needs | ({"calls", "listen"} if info.role == "pbx-events" else set())
    if "calls" in needs and s.no_calls:
        return "cases that place a call: --no-calls"
    if "listen" in needs and s.listen is None:
        return "cases that judge a placed call's notifications: no --listen"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect what the run's targets cannot serve; destructive cases run last.

    A role without a target, or a case needing what the run was not given (calls,
    a listener), is not run at all -- a skip would count it as covered (D36).
    """
    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    kept, dropped = [], []
    for item in items:
        info = case_info(item)
        reason = unmet(info, s) if info else None
        if reason is None:
            kept.append(item)
        else:
            dropped.append(item)
            run.deselected[reason] += 1
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    items.sort(key=lambda item: bool((info := case_info(item)) and info.destructive))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start what the collected cases need while the rest of the session gets ready.

    With no target given, the embedded references: the CRM, and the PBX emulator
    whose external address is the suite's listener (so it runs every role). The
    target fixtures wait for them to listen.
    """
    config = session.config
    if config.option.collectonly:
        return
    roles = {info.role for item in session.items if (info := case_info(item))}
    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    from conformance.reference import process

    if s.embedded and "crm-webhook" in roles:
        run.crm_child = process.launch(
            "conformance.reference.crm",
            [
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--quiet",
                "--with-parent",
                "--oracle",
                "--client-id",
                s.client_id,
            ],
            {"VATS_CLIENT_KEY": s.client_key},
        )
    _launch_pbx(config, roles)
    if "crm-webhook" in roles:
        _establish_crm(config)


def _establish_crm(config: pytest.Config) -> None:
    """The CRM's controls, before the first case (sut/controls.py).

    A ``--crm-oracle`` that does not tell an accepted call from an unknown one is a
    usage error: one ``ERROR:`` line, exit status 4.
    """
    from conformance.reference import process

    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    oracle = s.crm_oracle
    if s.crm_url:
        url = s.crm_url
    else:
        try:
            run.crm_ready = process.wait_listening(run.crm_child)
        except process.StartError as exc:
            pytest.exit(f"the embedded reference CRM did not start: {exc}", returncode=3)
        url = run.crm_ready.url
        oracle = oracle or f"{url}/oracle/{{session_id}}"
    target = Target(url, s.client_id, s.client_key, embedded=not s.crm_url)
    run.controls = CrmControls(run.http(s), target, s, oracle)
    try:
        run.controls.establish()
    except pytest.UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - the suite's own fault: every case says so
        run.controls_error = exc
        return
    run.readings["crm-webhook"] = {
        name: reading.to_json(f"crm.reading.{name.replace('_', '-')}")
        for name, reading in run.controls.readings.items()
    }


def _launch_pbx(config: pytest.Config, roles: set[str]) -> None:
    from conformance.reference import process

    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    if not roles & set(PBX_ROLES) or not (s.embedded or s.pbx_url):
        return
    if s.listen is not None:
        run.listener = _start_listener(*s.listen)
    if s.embedded:
        assert run.listener is not None
        run.pbx_child = process.launch(
            "conformance.reference.pbx",
            [
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--quiet",
                "--with-parent",
                "--no-limits",
                "--client-id",
                s.client_id,
                "--external-address",
                run.listener.url,
            ],
            {
                "VATS_CLIENT_KEY": s.client_key,
                "VATS_ADMIN_TOKEN": s.pbx_admin_token or "",
            },
        )


def _start_listener(host: str, port: int) -> Listener:
    listener = Listener(host, port)
    try:
        listener.start()
    except (OSError, SystemExit) as exc:  # werkzeug exits on a busy port
        raise pytest.UsageError(f"--listen: cannot listen on {host}:{port}: {exc}") from None
    return listener


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash[SETTINGS]
    embedded = "embedded reference {} on 127.0.0.1" if s.embedded else "none given: not run"
    crm = s.crm_url or embedded.format("CRM")
    pbx = s.pbx_url or embedded.format("PBX emulator")
    listen = f"{s.listen[0]}:{s.listen[1]}" if s.listen else "none (--listen not given)"
    return [
        f"vats-conformance {__version__}: profile {s.profile}, seed {s.seed}, "
        f"examples {s.examples}, sut-timeout {s.sut_timeout:g} s, fail-on {s.fail_on}",
        f"crm-webhook target: {crm}; pbx-api target: {pbx}; pbx-events listener: {listen}; "
        f"client id {s.client_id}",
    ]


# -- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="session")
def vats_settings(pytestconfig: pytest.Config) -> Settings:
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def http_client(vats_settings: Settings, pytestconfig: pytest.Config) -> Iterator[Client]:
    run = pytestconfig.stash[RUN]
    yield run.http(vats_settings)
    run.http(vats_settings).close()


@pytest.fixture(scope="session")
def crm_controls(crm_target: Target, pytestconfig: pytest.Config) -> CrmControls:
    """The CRM's baseline, oracle and readings, established before the first case."""
    run = pytestconfig.stash[RUN]
    if run.controls_error is not None:
        raise run.controls_error
    assert run.controls is not None, "the CRM's controls are established after collection"
    return run.controls


@pytest.fixture(scope="session")
def run_readings(pytestconfig: pytest.Config) -> dict[str, dict[str, Any]]:
    """Where cases record the readings a target took (results.json "readings")."""
    readings: dict[str, dict[str, Any]] = pytestconfig.stash[RUN].readings
    return readings


def _target(
    config: pytest.Config, role: str, given: str | None, launched: Any, what: str
) -> Iterator[Target]:
    """The target of ``role``: the URL given, or the embedded reference ``launched``."""
    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    if given:
        run.targets[role] = {"url": given, "embedded": False}
        yield Target(given, s.client_id, s.client_key, embedded=False)
        return
    if not s.embedded:
        option = "--crm-url" if role == "crm-webhook" else "--pbx-url"
        pytest.skip(f"the {role} role needs {option} (a target was given for another role)")
    from conformance.reference import process

    if launched is None:
        pytest.exit(f"the embedded {what} was not launched (no cases collected?)", returncode=3)
    try:
        child = (
            launched if isinstance(launched, process.Child) else process.wait_listening(launched)
        )
    except process.StartError as exc:
        pytest.exit(f"the embedded {what} did not start: {exc}", returncode=3)
    run.targets[role] = {"url": child.url, "embedded": True}
    try:
        yield Target(child.url, s.client_id, s.client_key, embedded=True)
    finally:
        child.stop()


@pytest.fixture(scope="session")
def crm_target(vats_settings: Settings, pytestconfig: pytest.Config) -> Iterator[Target]:
    """The CRM under test: ``--crm-url``, or the reference CRM started on loopback."""
    run = pytestconfig.stash[RUN]
    yield from _target(
        pytestconfig,
        "crm-webhook",
        vats_settings.crm_url,
        run.crm_ready or run.crm_child,
        "reference CRM",
    )


@pytest.fixture(scope="session")
def pbx_target(vats_settings: Settings, pytestconfig: pytest.Config) -> Iterator[Target]:
    """The PBX under test: ``--pbx-url``, or the reference emulator started on loopback."""
    run = pytestconfig.stash[RUN]
    yield from _target(
        pytestconfig, "pbx-api", vats_settings.pbx_url, run.pbx_child, "reference PBX emulator"
    )


@pytest.fixture(scope="session")
def listener(pbx_target: Target, pytestconfig: pytest.Config) -> Iterator[Listener]:
    """Where the PBX's notifications arrive (``--listen``)."""
    run = pytestconfig.stash[RUN]
    if run.listener is None:
        pytest.skip(
            "the pbx-events role needs --listen HOST:PORT, with the PBX's external address "
            "pointed at it (README: 'Judging a PBX's notifications')"
        )
    run.targets["pbx-events"] = {"url": run.listener.url, "embedded": pbx_target.embedded}
    try:
        yield run.listener
    finally:
        run.listener.stop()


PbxFactory = Callable[..., PbxApi]


@pytest.fixture(scope="session")
def pbx_driver(
    http_client: Client, pbx_target: Target, vats_settings: Settings, pytestconfig: pytest.Config
) -> PbxFactory:
    """``pbx_driver(log=None, notes=None)``: a driver for the PBX under test (Run.pbx)."""
    run = pytestconfig.stash[RUN]
    return functools.partial(run.pbx, http_client, pbx_target, vats_settings)


@pytest.fixture(scope="session")
def call_back_answers(pbx_driver: PbxFactory) -> list[PlacedCall]:
    """The first shared call, placed through ``call_back`` once per run (D25).

    Against a real PBX each call rings a real phone, so the run places as few
    as it can and shares them: the answer cases judge this one's answer.
    """
    pbx = pbx_driver()
    calls = place(pbx, [pbx.call()])
    answers.note_success(answers.parse(calls[0].answer), "session_id")
    return calls


@pytest.fixture(scope="session")
def placed_calls(
    call_back_answers: list[PlacedCall],
    listener: Listener,
    pbx_driver: PbxFactory,
    vats_settings: Settings,
) -> list[PlacedCall]:
    """The shared calls, with every notification each caused (until ``--events-timeout``).

    The first call names the user by ``from_pin`` (or ``from_sipuri``); when both
    are known a second call, placed once the first has ended (the user is free
    again), names them by the other (А.3).
    """
    s = vats_settings
    calls = list(call_back_answers)
    await_calls(listener, calls, s.events_timeout)
    if s.from_pin is not None and s.from_sipuri is not None:
        pbx = pbx_driver()
        second = place(pbx, [pbx.call(via="sipuri")])
        await_calls(listener, second, s.events_timeout)
        calls += second
    return calls


@pytest.fixture(scope="session")
def recorded_call(placed_calls: list[PlacedCall]) -> PlacedCall:
    """A placed call that ended, recorded by its ``disconnected`` if that says (А.4's input).

    A call whose ``is_record`` says nothing is tried too; only one that said
    true can make a case fail for the missing recording.
    """
    if not any(c.ok for c in placed_calls):
        pytest.skip("no call_back succeeded, so there is no call to ask a recording of")
    finished = [c for c in placed_calls if c.finished]
    if not finished:
        pytest.skip(
            "no placed call's disconnected arrived within --events-timeout, so no call is "
            "known to have ended (the pbx-events cases say why)"
        )
    for wanted in (True, None):
        for call in finished:
            if call.recorded is wanted:
                return call
    pytest.skip("the PBX recorded none of the placed calls (is_record false)")


@pytest.fixture(scope="session")
def call_back_control(
    call_back_answers: list[PlacedCall],
) -> PlacedCall:
    """The shared call, as the control of every call_back refusal (D34): the same
    request, correctly signed, was carried out. Cases skip when it was not. (With a
    listener every call_back waits until the calls before it ended: ``Lines``.)"""
    call = call_back_answers[0]
    if not call.ok:
        pytest.skip(
            "inconclusive: the same call_back, correctly signed, was not carried out "
            "(pbx.sign.valid says why)"
        )
    return call


@pytest.fixture(scope="session")
def get_record_transports(
    recorded_call: PlacedCall,
    pbx_driver: PbxFactory,
    vats_settings: Settings,
    run_readings: dict[str, dict[str, Any]],
) -> Reading:
    """Which transports of get_record the PBX serves (E5), probed once with the recorded
    call; ``used`` is the one the run uses (POST, GET with a query, GET with JSON)."""
    pbx = pbx_driver()
    reading = Reading("get_record", PbxApi.TRANSPORTS)
    assert recorded_call.session_id is not None
    url, _ = fetch_link(pbx, recorded_call.session_id, wait=vats_settings.events_timeout)
    for transport in PbxApi.TRANSPORTS if url is not None else ():
        ex = pbx.get_record(recorded_call.session_id, transport=transport, expect="accept")
        answer = answers.parse(ex)
        if answers.outcome(answer, "url") == "success":
            answers.note_success(answer, "url")
            reading.accepted.append(transport)
            reading.used = reading.used or transport
        else:
            reading.refused[transport] = ex.summary()
    reading.exchanges = pbx.log
    run_readings.setdefault("pbx-api", {})["get_record"] = reading.to_json("pbx.reading.get-record")
    return reading


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
def crm(crm_controls: CrmControls, wire_log: list[Exchange], case_notes: list[str]) -> CrmWebhook:
    """The CRM, spoken to in the spelling and readings it takes (its controls)."""
    c = crm_controls
    driver = CrmWebhook(c.client, c.target, c.settings, wire_log, case_notes)
    return driver.use(c.spelling, c.adapt, c.on_crash)


@pytest.fixture
def pbx(pbx_driver: PbxFactory, wire_log: list[Exchange], case_notes: list[str]) -> PbxApi:
    return pbx_driver(wire_log, case_notes)


def pytest_runtest_setup(item: pytest.Item) -> None:
    info = case_info(item)
    if info is None:
        return
    s = item.config.stash[SETTINGS]
    allure_out.labels(info, s.report_dir)
    if info.destructive and not s.destructive:
        pytest.skip(
            "spends the PBX's request quota or changes its settings: opt in with --destructive"
        )


# -- verdicts ---------------------------------------------------------------


def case_info(item: pytest.Item) -> CaseInfo | None:
    marker = item.get_closest_marker("vats_case")
    return marker.args[0] if marker else None


def case_id(item: pytest.Item, info: CaseInfo) -> str:
    if info.variant is not None:  # a row of a table of cases (verdict.case_param)
        return f"{info.id}[{info.variant}]" if info.variant else info.id
    callspec = getattr(item, "callspec", None)
    return f"{info.id}[{callspec.id}]" if callspec else info.id


def _judge(call: pytest.CallInfo[None]) -> tuple[Verdict, str, list[Any]]:
    """The verdict, its detail, and the exchanges it rests on.

    An exception that is neither a finding nor a skip is the suite's own fault:
    ``error``, never the target's ``fail`` (exit status 3).
    """
    if call.excinfo is None:
        return Verdict.PASS, "", []
    exc = call.excinfo.value
    if isinstance(exc, Finding):
        notes = "\n".join(getattr(exc, "__notes__", []))
        return exc.verdict, str(exc) + (f"\n{notes}" if notes else ""), exc.evidence
    if call.excinfo.errisinstance(pytest.skip.Exception):
        return Verdict.SKIP, str(getattr(exc, "msg", exc)), []
    where = call.excinfo.traceback[-1] if call.excinfo.traceback else None
    place = f" ({where.path}:{where.lineno + 1})" if where is not None else ""
    notes = "".join(f"\n{note}" for note in getattr(exc, "__notes__", []))
    return (
        Verdict.ERROR,
        f"suite error, not a finding about the target: {type(exc).__name__}: {exc}{place}{notes}",
        [],
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Scrub secrets from a failing case's exception before any reporter sees it.

    Reporters (the terminal, JUnit, Allure) read the exception itself; a system
    under test that echoes the key in its answer must not make them print it.
    """
    info = case_info(item)
    secrets = item.config.stash[SETTINGS].secrets
    if info is not None:
        allure_out.describe(info, case_id(item, info))
    try:
        outcome = yield
    except Exception as exc:
        _scrub(exc, secrets)
        if info is not None:
            allure_out.after(info, _verdict_of(exc), item.stash.get(LOG, []), secrets)
        raise
    if info is not None:
        allure_out.after(info, Verdict.PASS, item.stash.get(LOG, []), secrets)
    return outcome


def _verdict_of(exc: BaseException) -> Verdict:
    if isinstance(exc, Finding):
        return exc.verdict
    if isinstance(exc, pytest.skip.Exception):
        return Verdict.SKIP
    return Verdict.ERROR


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
    verdict, detail, evidence = _judge(call)
    detail = results.redact("\n".join([detail, *item.stash.get(NOTES, [])]).strip(), s.secrets)
    exchanges: list[Exchange] = item.stash.get(LOG, [])
    result = CaseResult(
        info,
        case_id(item, info),
        verdict,
        detail,
        list(exchanges),
        evidence=[i for i, ex in enumerate(exchanges) if any(ex is e for e in evidence)],
    )
    item.stash[RESULT] = result
    item.config.stash[RUN].results.append(result)
    report.vats_verdict = str(verdict)  # type: ignore[attr-defined]
    reason = s.baseline.reason(result.case_id) if s.baseline else None
    if reason is not None and verdict is Verdict.PASS:
        result.stale = (
            f"{s.baseline.path if s.baseline else ''} lists {result.case_id} ({reason}), "
            "but it passes now: remove the entry (baselines only shrink)"
        )
        report.outcome = "failed"
        report.longrepr = f"[{result.case_id}] stale baseline entry: {result.stale}"
        return
    if verdict in (Verdict.PASS, Verdict.SKIP):
        return
    if verdict is Verdict.ERROR:  # the suite's own fault: shown with its traceback
        report.outcome = "failed"
        return
    if reason is not None and RANK[verdict] >= RANK[s.fail_on]:
        result.known = reason
        report.vats_verdict = "known"  # type: ignore[attr-defined]
        report.outcome = "passed"
        report.longrepr = None
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
    if verdict == "error":
        return "error", "E", "SUITE ERROR"
    if report.when != "call" or verdict not in ("non-strict", "info", "known"):
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
    errors = [r for r in run.results if r.verdict is Verdict.ERROR]
    if errors:
        terminalreporter.write_line(
            f"SUITE ERRORS (the suite's own faults, not the target's; exit status 3): "
            f"{', '.join(r.case_id for r in errors)}"
        )
    terminalreporter.write_line(f"verdicts: {line}")
    ran = len(run.results)
    for reason, count in sorted(run.deselected.items()):
        terminalreporter.write_line(f"not run: {count} {reason}")
    if run.deselected:
        terminalreporter.write_line(
            f"ran {ran} of {ran + sum(run.deselected.values())} cases: the targets given serve "
            "no more"
        )
    for role, dims in sorted(run.readings.items()):
        taken = ", ".join(f"{d} {v.get('used')}" for d, v in sorted(dims.items()))
        terminalreporter.write_line(f"readings ({role}): {taken}")
    for d in run.diagnoses:
        terminalreporter.write_line(
            results.redact(
                f"DIAGNOSIS {d['title']} ({len(d['cases'])} case(s); see {d['isolated_by']}): "
                f"{d['fix']}",
                s.secrets,
            )
        )
    if s.baseline:
        known = sum(1 for r in run.results if r.known)
        stale = [r.case_id for r in run.results if r.stale]
        unused = s.baseline.unused({r.case_id for r in run.results})
        terminalreporter.write_line(
            f"baseline {s.baseline.path}: {known} known deviation(s)"
            + (f"; STALE (now passing, remove): {', '.join(stale)}" if stale else "")
            + (f"; not in this run: {', '.join(unused)}" if unused else "")
        )
    terminalreporter.write_line(
        f"seed {s.seed} (replay with --seed {s.seed}); report: {s.report_dir / 'index.html'}, "
        f"results.json, junit.xml"
    )


def _controls(run: Run) -> dict[str, Any]:
    """What the run established before its cases (results.json "controls")."""
    c = run.controls
    if c is None:
        return {}
    return {
        "crm-webhook": {
            "baseline": c.baseline.to_json() if c.baseline else None,
            "oracle": c.oracle.name if c.oracle else "none",
        }
    }


def _flat_targets(targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The flat shape of the first version (``crm_url``, ``crm_embedded``), kept for readers."""
    crm = targets.get("crm-webhook")
    return {"crm_url": crm["url"], "crm_embedded": crm["embedded"]} if crm else {}


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
        "target": {"client_id": s.client_id, **_flat_targets(run.targets)},
        "roles": {
            role: {
                **run.targets.get(role, {}),
                "summary": results.summary([r for r in run.results if r.info.role == role]),
            }
            for role in ROLES
            if any(r.info.role == role for r in run.results)
        },
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
        "readings": run.readings,
        "controls": _controls(run),
        "deselected": dict(run.deselected),
        "cases": [r.to_json() for r in ordered],
    }
    if s.baseline:
        document["baseline"] = {
            "file": str(s.baseline.path),
            "known": [r.case_id for r in ordered if r.known],
            "stale": [r.case_id for r in ordered if r.stale],
            "unused": s.baseline.unused({r.case_id for r in ordered}),
        }
    report.mark_signatures(document, s.client_id, s.client_key)
    document = results.redact_tree(document, s.secrets)
    run.diagnoses = document["diagnoses"] = report.diagnose(document)
    try:
        results.write(s.report_dir / "results.json", document, s.secrets)
        junit.write(s.report_dir / "junit.xml", document)
        report.write(document, s.report_dir)
    except OSError as exc:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        config.get_terminal_writer().line(f"ERROR: cannot write to {s.report_dir}: {exc}")
        return
    counted = [r for r in run.results if not r.known]
    worst = max((RANK[r.verdict] for r in counted), default=0)
    if any(r.verdict is Verdict.ERROR for r in run.results):
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR  # 3: the suite's own fault
    elif worst >= RANK[s.fail_on] or any(r.stale for r in run.results):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif session.exitstatus == pytest.ExitCode.TESTS_FAILED:
        session.exitstatus = pytest.ExitCode.OK  # only verdicts below --fail-on
