"""The pytest plugin's hooks: options, collection, verdicts, the summary and the report files.

Loaded through the ``pytest11`` entry point ``conformance`` of an installed
package (``-p conformance`` names it, ``-p no:conformance`` switches it off). It
acts only on items marked ``vats_case`` (the cases under ``conformance/roles``):
a run that collects none (the self-tests, a user's own tests) gets its options
and nothing else -- no settings read, no header, no references, no report.
``-p conformance`` with no paths runs the installed package's cases (D39).
Fixtures live in fixtures.py, the session's record in run.py.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__, contract, options, report, settings
from conformance.grading.verdict import RANK, Finding, Verdict
from conformance.report import allure_out, junit, results, terminal
from conformance.report.results import CaseResult
from conformance.run import (
    LOG,
    NOTES,
    RESULT,
    RUN,
    SETTINGS,
    Run,
    case_id,
    case_info,
    launch,
    unmet,
)
from conformance.transport.budget import DEADLINE
from conformance.transport.client import Exchange
from conformance.transport.redact import redact

pytest_plugins = ["conformance.fixtures", "conformance.xdist"]

#: The cases of this copy of the package, installed or checked out.
CASES = Path(__file__).resolve().parent / "roles"
#: What ``-p`` names this plugin by: the entry point, or the module itself.
NAMES = ("conformance", "conformance.plugin")


def pytest_addoption(parser: pytest.Parser) -> None:
    options.register(parser)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    """Once the project's own conftest.py has added its options, the short spellings
    (``--seed``) of ours that nothing else took: installed, this plugin is in every run
    of the environment, and must not take a name a project or plugin uses (D40)."""
    result = yield
    options.add_short_names(parser)
    return result


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vats_case(info): a conformance case (set by @case)")
    config.stash[RUN] = Run()
    if config.args_source is not pytest.Config.ArgsSource.ARGS and any(
        name in NAMES for name in config.option.plugins or ()
    ):
        # `pytest -p conformance` with no paths (testpaths do not count): this package's cases.
        config.args = [str(CASES)]
        config.args_source = pytest.Config.ArgsSource.ARGS
        config.stash[RUN].cases_asked = True


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(
    file_path: Path, parent: pytest.Collector
) -> Generator[None, list[pytest.Collector | None], list[pytest.Collector | None]]:
    """This package's case files are collected whatever the project's ``python_files``."""
    collected = yield
    if (
        file_path.parent.parent == CASES
        and file_path.name.startswith("test_")
        and file_path.suffix == ".py"
        and not any(isinstance(c, pytest.Module) for c in collected)
    ):
        collected.append(
            parent.ihook.pytest_pycollect_makemodule(module_path=file_path, parent=parent)
        )
    return collected


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Read the settings once cases are collected; deselect what the run's targets cannot
    serve; destructive cases run last.

    A run without cases never reads them: a bad ``VATS_*`` variable is no error in a
    user's own test run. A role without a target, or a case needing what the run was
    not given (calls, a listener), is not run at all -- a skip would count it as
    covered (D36).
    """
    run = config.stash[RUN]
    if not any(case_info(item) for item in items):
        if run.cases_asked and not session.testsfailed:
            raise pytest.UsageError(
                f"-p conformance collected no case from {CASES}: this project's "
                "python_functions leaves out test_* functions; add -o python_functions=test"
            )
        return
    s = config.stash[SETTINGS] = settings.from_config(config)
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
    """Start what the collected cases need while the rest of the session gets ready
    (under pytest-xdist, xdist.py divides it between the workers and the controller)."""
    config = session.config
    if SETTINGS in config.stash and not config.option.collectonly and not _worker(config):
        launch(session)


def _worker(config: pytest.Config) -> bool:
    """Whether this is a pytest-xdist worker (xdist.py)."""
    return hasattr(config, "workerinput")


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """The run's targets, under pytest's header, when it runs cases (not under -q)."""
    if SETTINGS not in config.stash or config.get_verbosity() < 0:
        return []
    s = config.stash[SETTINGS]
    embedded = "embedded reference {} on 127.0.0.1" if s.embedded else "none given: not run"
    crm = s.crm_url or embedded.format("CRM")
    pbx = s.pbx_url or embedded.format("PBX emulator")
    listen = f"{s.listen[0]}:{s.listen[1]}" if s.listen else "none (--listen not given)"
    lines = [
        f"vats-conformance {__version__}: profile {s.profile}, seed {s.seed}, "
        f"examples {s.examples}, sut-timeout {s.sut_timeout:g} s, fail-on {s.fail_on}",
        f"crm-webhook target: {crm}; pbx-api target: {pbx}; pbx-events listener: {listen}; "
        f"client id {s.client_id}",
    ]
    if s.crm_client and s.api_listen is not None:
        sender = (
            "--crm-client-cmd"
            if s.crm_client_cmd
            else "the embedded reference CRM's client"
            if s.embedded
            else f"whatever arrives within {s.client_timeout:g} s"
        )
        host, port = s.api_listen
        lines.append(
            f"crm-client: the PBX API served on {host}:{port}"
            f"{' (a free port)' if port == 0 else ''}, requests from {sender}"
        )
    return lines


# -- verdicts ---------------------------------------------------------------


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
    if DEADLINE.passed():
        pytest.skip(f"not run: {DEADLINE.reason()}")


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
    if info is None:  # not a case: none of the suite's business
        return (yield)
    secrets = item.config.stash[SETTINGS].secrets
    allure_out.describe(info, case_id(item, info))
    try:
        outcome = yield
    except Exception as exc:
        _scrub(exc, secrets)
        allure_out.after(info, _verdict_of(exc), item.stash.get(LOG, []), secrets)
        raise
    allure_out.after(info, Verdict.PASS, item.stash.get(LOG, []), secrets)
    return outcome


def _verdict_of(exc: BaseException) -> Verdict:
    if isinstance(exc, Finding):
        return exc.verdict
    if isinstance(exc, pytest.skip.Exception):
        return Verdict.SKIP
    return Verdict.ERROR


def _scrub(exc: BaseException, secrets: list[str]) -> None:
    exc.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in exc.args)
    if isinstance(exc, Finding):
        exc.expected = redact(exc.expected, secrets)
        exc.actual = redact(exc.actual, secrets)
    notes = getattr(exc, "__notes__", None)
    if notes:
        exc.__notes__ = [redact(n, secrets) for n in notes]


@pytest.hookimpl(tryfirst=True, specname="pytest_runtest_makereport")
def pytest_runtest_makereport_finding(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> pytest.TestReport | None:
    """A case's finding reported without pytest's traceback of it (pytest takes only
    names starting ``pytest_`` as hooks, hence this one's ``specname``).

    pytest renders a failing call's traceback with the source of each entry (read and
    parsed: some 70 ms a case); for a finding the suite's own text replaces it below
    (``pytest_runtest_makereport``), so it was rendered for nobody. Anything else (a
    suite error, a skip, a finding ranked pass) gets pytest's own report.
    """
    exc = call.excinfo.value if call.excinfo is not None else None
    if (
        call.when != "call"
        or not isinstance(exc, Finding)
        or exc.verdict in (Verdict.PASS, Verdict.SKIP)
        or case_info(item) is None
    ):
        return None
    return pytest.TestReport(
        item.nodeid,
        item.location,
        dict.fromkeys(item.keywords, 1),
        "failed",
        str(exc),  # already scrubbed (pytest_runtest_call); replaced below
        "call",
        [(f"Captured {key} {when}", content) for when, key, content in item._report_sections],
        call.duration,
        call.start,
        call.stop,
        item.user_properties,
    )


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
    detail = redact("\n".join([detail, *item.stash.get(NOTES, [])]).strip(), s.secrets)
    exchanges: list[Exchange] = item.stash.get(LOG, [])
    result = CaseResult(
        info,
        case_id(item, info),
        verdict,
        detail,
        list(exchanges),
        evidence=[i for i, ex in enumerate(exchanges) if any(ex is e for e in evidence)],
        duration_s=round(call.duration, 3),
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
        report.longrepr = redact(
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
    terminalreporter.write_sep("=", "vats-conformance")
    for line in terminal.summary_lines(run, config.stash[SETTINGS]):
        terminalreporter.write_line(line)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash[RUN]
    if not run.results or _worker(config):  # a worker's results go to the controller
        return
    s = config.stash[SETTINGS]
    finished = time.time()
    document = results.document(run, s, finished)  # redacted
    # made from the redacted document, and redacted again: a diagnosis may decode
    # what it quotes (a base64 body), and it goes into every file of the report
    run.diagnoses = document["diagnoses"] = results.redact_tree(
        report.diagnose(document), s.secrets
    )
    try:
        results.write(s.report_dir / "results.json", document)
        junit.write(s.report_dir / "junit.xml", document)
        quoted = contract.published(s.secrets)
        exports = contract.attach(
            s.report_dir, s.profile, lambda export: results.redact_tree(export, quoted)
        )
        report.write(document, s.report_dir, exports, results.rendered(run))
    except OSError as exc:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        config.get_terminal_writer().line(f"ERROR: cannot write to {s.report_dir}: {exc}")
        return
    if session.exitstatus == pytest.ExitCode.INTERRUPTED and not session.shouldfail:
        return  # 2, as pytest says: the run did not finish, whatever its verdicts so far
    # (pytest-xdist ends a run stopped by -x or --maxfail as interrupted: not so here.)
    counted = [r for r in run.results if not r.known]
    worst = max((RANK[r.verdict] for r in counted), default=0)
    if any(r.verdict is Verdict.ERROR for r in run.results) or run.listener_failure():
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR  # 3: the suite's own fault
    elif results.over_time(run.results):
        # 2, as an interrupted run: it did not finish, and cases it never ran must not
        # let a CI gate pass (D56)
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    elif worst >= RANK[s.fail_on] or any(r.stale for r in run.results):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif session.exitstatus == pytest.ExitCode.TESTS_FAILED:
        session.exitstatus = pytest.ExitCode.OK  # only verdicts below --fail-on
