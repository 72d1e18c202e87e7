"""One session's state: its settings, what it started, and what its cases produced.

``Run`` is the record the hooks (plugin.py) and fixtures (fixtures.py) share
through the config's stash; ``launch`` starts what the collected cases need
(the embedded references, the listener) and establishes the CRM's controls
before the first case; ``target`` hands a role its system under test. What
``launch`` starts is stopped when the session ends (``config.add_cleanup``),
whichever cases ran: under ``-x`` or a narrow ``-k`` no case may have asked for it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance.grading.verdict import CaseInfo
from conformance.report.results import CaseResult
from conformance.settings import Settings
from conformance.sut import crm_client
from conformance.sut.calls import Lines, over_time
from conformance.sut.controls import JUDGE_OF_TIME, CrmControls
from conformance.sut.crm_client import Traffic
from conformance.sut.drivers import RUN_TAG, CrmWebhook, PbxApi, Target, unique_session
from conformance.transport.budget import DEADLINE
from conformance.transport.client import Client, Exchange
from conformance.transport.listener import Listener, ListenerError
from conformance.transport.redact import redact
from conformance.transport.waits import Ticker, waiting

if TYPE_CHECKING:
    from conformance.api_server import ApiServer
    from conformance.reference.process import Launched

SETTINGS = pytest.StashKey[Settings]()
RUN = pytest.StashKey["Run"]()
LOG = pytest.StashKey[list[Exchange]]()
NOTES = pytest.StashKey[list[str]]()
RESULT = pytest.StashKey[CaseResult]()


@dataclass
class Gathered:
    """What the workers of a pytest-xdist run counted beyond their cases' results,
    gathered on the controller (xdist.py) for the report."""

    #: Requests the workers sent and received, and the latency of each answered one.
    requests: int = 0
    latency_ms: list[float] = field(default_factory=list)
    #: The listener's failure, said by the worker that ran it.
    failures: list[str] = field(default_factory=list)
    #: results.json "controls", as a worker established them.
    controls: dict[str, Any] = field(default_factory=dict)


class Run:
    """What one session collects."""

    def __init__(self) -> None:
        self.results: list[CaseResult] = []
        #: id() of a result -> its part of the report, made as it came in (xdist.py).
        self.prepared: dict[int, Any] = {}
        #: Tags the session ids this run makes up (drivers.RUN_TAG; results.json).
        self.session_tag = RUN_TAG
        self.started = time.time()
        self.began = time.monotonic()  # --max-duration counts from here
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
        #: ``-p conformance`` with no paths: the run was asked for this package's cases.
        self.cases_asked = False
        #: The PBX API the suite serves a CRM (role crm-client), and what the CRM sent.
        self.api: ApiServer | None = None
        self.traffic: Traffic | None = None
        #: Under pytest-xdist, on the controller: what the workers counted (xdist.py).
        self.gathered = Gathered()

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

    def listener_failure(self) -> str | None:
        """Why the listener failed on a request, if it ever did (the suite's own fault):
        a failure after the last case read the record is said at the end, not lost."""
        if self.gathered.failures:
            return self.gathered.failures[0]
        if self.listener is None:
            return None
        try:
            self.listener.check()
        except ListenerError as exc:
            return str(exc)
        return None

    def http(self, s: Settings) -> Client:
        """The run's one HTTP client (thread-safe), made on first use."""
        if self.client is None:
            self.client = Client(s.sut_timeout, secrets=s.secrets, ca_files=(s.crm_ca, s.pbx_ca))
        return self.client


PBX_ROLES = ("pbx-api", "pbx-events")


def unmet(info: CaseInfo, s: Settings) -> str | None:
    """Why this run cannot serve a case (it is then deselected), or None."""
    if info.role == "crm-webhook" and not (s.embedded or s.crm_url):
        return "crm-webhook cases: no --crm-url (a target was given for another role)"
    if info.role == "crm-client" and not s.crm_client:
        return "crm-client cases: no --crm-client-cmd or --api-listen"
    if "crm" in info.needs and not (s.embedded or s.crm_url):
        return "round-trip cases: no --crm-url to notify of a recorded call"
    if info.role in PBX_ROLES and not (s.embedded or s.pbx_url):
        return f"{info.role} cases: no --pbx-url (a target was given for another role)"
    needs = info.needs | ({"calls", "listen"} if info.role == "pbx-events" else set())
    if "calls" in needs and s.no_calls:
        return "cases that place a call: --no-calls"
    if "listen" in needs and s.listen is None:
        return "cases that judge a placed call's notifications: no --listen"
    return None


def case_info(item: pytest.Item) -> CaseInfo | None:
    marker = item.get_closest_marker("vats_case")
    return marker.args[0] if marker else None


def case_id(item: pytest.Item, info: CaseInfo) -> str:
    if info.variant is not None:  # a row of a table of cases (verdict.case_param)
        return f"{info.id}[{info.variant}]" if info.variant else info.id
    callspec = getattr(item, "callspec", None)
    return f"{info.id}[{callspec.id}]" if callspec else info.id


def launch(session: pytest.Session) -> None:
    """Start what the collected cases need while the rest of the session gets ready.

    With no target given, the embedded references: the CRM, and the PBX emulator
    whose external address is the suite's listener (so it runs every role). The
    target fixtures wait for them to listen. Unless under -q, the ticker of the
    progress line too: what a long wait awaits and how long is left (D53).
    """
    config = session.config
    roles = collected_roles(session.items)
    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    DEADLINE.start(s.max_duration, began=run.began)
    config.add_cleanup(DEADLINE.clear)
    if config.get_verbosity() >= 0:
        progress = Progress(config, s.secrets)
        ticker = Ticker(progress.line, progress.resume)
        ticker.start()
        config.add_cleanup(ticker.stop)
    serve(config, roles)
    spawn(
        config,
        roles,
        api_url=run.api.url if run.api is not None else None,
        listener_url=run.listener.url if run.listener is not None else None,
    )
    establish(config, roles, session.items)


def collected_roles(items: list[pytest.Item]) -> set[str]:
    return {info.role for item in items if (info := case_info(item))}


def serve(config: pytest.Config, roles: set[str]) -> None:
    """The suite's own servers, in this process: the PBX API a CRM's requests are judged
    on (role crm-client) and the listener the PBX notifies (role pbx-events)."""
    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    if "crm-client" in roles:
        _launch_api(config)
    if roles & set(PBX_ROLES) and (s.embedded or s.pbx_url) and s.listen is not None:
        run.listener = _start_listener(*s.listen, s.sut_timeout)
        config.add_cleanup(run.listener.stop)


def spawn(
    config: pytest.Config, roles: set[str], *, api_url: str | None, listener_url: str | None
) -> None:
    """The embedded references, as child processes (a run without targets): the CRM,
    whose client side fetches recordings from the suite's PBX API (``api_url``), and
    the PBX emulator, which notifies the suite's listener (``listener_url``)."""
    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    if not s.embedded:
        return
    if roles & {"crm-webhook", "crm-client"}:
        api = ("--pbx-url", api_url) if api_url is not None else ()
        run.crm_child = _embedded("conformance.reference.crm", s, "--oracle", *api)
        config.add_cleanup(run.crm_child.stop)
    if roles & set(PBX_ROLES):
        assert listener_url is not None
        run.pbx_child = _embedded(
            "conformance.reference.pbx",
            s,
            "--no-limits",
            "--external-address",
            listener_url,
            VATS_ADMIN_TOKEN=s.pbx_admin_token or "",
        )
        config.add_cleanup(run.pbx_child.stop)  # before the listener (cleanups run last first)


def establish(config: pytest.Config, roles: set[str], items: list[pytest.Item]) -> None:
    """The CRM's controls, when the collected cases (``items``) speak to a CRM."""
    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    if "crm-webhook" in roles or ("crm-client" in roles and (s.embedded or s.crm_url)):
        _establish_crm(config)
    if run.controls is not None:  # D57: a skip for an unanswered state names this case
        run.controls.judged = any(
            (info := case_info(item)) is not None and info.id == JUDGE_OF_TIME
            for item in items
        )


def _launch_api(config: pytest.Config) -> None:
    """Serve the PBX API a CRM's requests are judged on (``--api-listen``)."""
    from conformance.api_server import ApiServer

    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    assert s.api_listen is not None
    host, port = s.api_listen
    api = ApiServer(s.client_id, s.client_key)
    try:
        api.start(host, port, s.sut_timeout)
    except OSError as exc:
        raise pytest.UsageError(f"--api-listen: cannot listen on {host}:{port}: {exc}") from None
    run.api = api
    config.add_cleanup(api.stop)
    say_api(config, api.url)


def say_api(config: pytest.Config, url: str) -> None:
    """Where the PBX API is served, when the CRM must be pointed there (``--api-listen``,
    ``--crm-client-cmd``)."""
    s = config.stash[SETTINGS]
    if s.client_given:
        until = (
            "until --crm-client-cmd exits"
            if s.crm_client_cmd
            else f"for {s.client_timeout:g} s (--client-timeout)"
        )
        say(
            config,
            f"crm-client: the suite serves the PBX API at {url}; point the CRM "
            f"there (call_back, get_record). Its requests are collected {until}.",
        )


def say(config: pytest.Config, line: str) -> None:
    """One line on the terminal now, in pytest's style: something the user must act on
    or know (where to point the CRM), so said under -q too (not under -qq)."""
    if config.get_verbosity() < -1:
        return
    with _terminal(config) as reporter:
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(line)


@contextlib.contextmanager
def _terminal(config: pytest.Config) -> Iterator[Any]:
    """pytest's terminal reporter (None without one), written to past the capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        yield reporter


class Progress:
    """The progress lines of long waits (transport/waits.py), among pytest's results.

    A line starts on a line of its own; the test file whose results it interrupted is
    named again once the waits end, so the letters that follow still stand after its
    name. Secrets are redacted (what is awaited names URLs and counts only).
    """

    def __init__(self, config: pytest.Config, secrets: list[str]) -> None:
        self.config = config
        self.secrets = secrets
        #: What the interrupted line began with: a file (letters follow), or under -v
        #: a case's location (its outcome follows).
        self.interrupted: Path | str | None = None

    def line(self, text: str) -> None:
        with _terminal(self.config) as reporter:
            if reporter is None:
                return
            # pytest keeps a file (Path), a case's location (str) or, once an outcome is
            # written, a marker (-2) there: only the first two are a line to take up again.
            if isinstance(reporter.currentfspath, Path | str):
                self.interrupted = reporter.currentfspath
            reporter.ensure_newline()
            reporter.write_line(redact(text, self.secrets))

    def resume(self) -> None:
        where, self.interrupted = self.interrupted, None
        with _terminal(self.config) as reporter:
            if reporter is None or where is None or reporter.currentfspath is not None:
                return
            if isinstance(where, Path):
                reporter.write(os.path.relpath(where, reporter.startpath) + " ")
            else:
                reporter.write(where)
            reporter.currentfspath = where


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
            run.crm_ready = run.crm_ready or process.wait_listening(run.crm_child)
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


def crm_url(config: pytest.Config) -> str | None:
    """The CRM's webhook base URL: ``--crm-url``, or the embedded reference's once it
    listens (None when there is none)."""
    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    if s.crm_url:
        return s.crm_url
    return run.crm_ready.url if run.crm_ready is not None else None


def collect_client(config: pytest.Config, log: list[Exchange]) -> Traffic:
    """Make the CRM send, and collect what it sent (role crm-client), once per run.

    The command first (``--crm-client-cmd``, or the reference CRM's client in an
    embedded run), with a recorded call it may fetch; then, when there is a CRM to
    notify, the round trip. Without a command, the collection lasts
    ``--client-timeout`` whatever else happens.
    """
    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    if run.traffic is not None:
        return run.traffic
    api = run.api
    assert api is not None, "the PBX API is served once crm-client cases are collected"
    started = time.monotonic()
    command = s.crm_client_cmd
    if command is None and s.embedded:
        command = f"{shlex.quote(sys.executable)} -m conformance.reference.crm_client"
    done = None
    if command is not None:
        recorded = unique_session("command-recorded")
        api.pbx.adopt_call(api.client_id, recorded, finished=True, recorded=True)
        env = crm_client.command_env(api.url, s.client_id, s.client_key, recorded)
        done = crm_client.run_command(command, env, DEADLINE.cap(s.client_timeout), s.secrets)
        time.sleep(crm_client.AFTER_EXIT_S)
    trip = None
    url = crm_url(config)
    if url is not None and run.controls_error is None:
        trip = crm_client.round_trip_sessions()
        api.adopt(trip.recorded, trip.unready, trip.redirected)
        crm = CrmWebhook(run.http(s), Target(url, s.client_id, s.client_key), s, log, [])
        if run.controls is not None and run.controls.baseline is not None:
            crm.use(run.controls.spelling, run.controls.adapt)
        began = time.monotonic()
        crm_client.notify_calls(crm, trip)
        if trip.accepted:
            what = f"the CRM's get_record of the round trip's calls, and a download, at {api.url}"
            wait = DEADLINE.cap(s.events_timeout)
            with waiting(f"{what} (--events-timeout)", wait):
                api.inbox.wait(crm_client.round_trip_done(trip, api.links), wait)
            time.sleep(crm_client.ROUND_TRIP_GRACE_S)
        trip.waited_s = time.monotonic() - began
    if command is None:
        left = DEADLINE.cap(started + s.client_timeout - time.monotonic())
        if left > 0:
            with waiting(f"the CRM's requests at {api.url} (--client-timeout)", left):
                time.sleep(left)
    over_time("the CRM's requests (role crm-client)")
    run.traffic = Traffic(
        api.url,
        api.decoy_url,
        api.inbox.snapshot(),
        dict(api.links),
        done,
        trip,
        waited_s=time.monotonic() - started,
    )
    if not run.traffic.requests:
        say(config, f"crm-client: the CRM sent no request to {api.url} ({run.traffic.how()})")
    return run.traffic


def _embedded(module: str, s: Settings, *args: str, **env: str) -> Launched:
    """Start the reference ``module`` on loopback, as the run's child."""
    from conformance.reference import process

    common = ["--host", "127.0.0.1", "--port", "0", "--quiet", "--with-parent"]
    return process.launch(
        module,
        [*common, *args, "--client-id", s.client_id],
        {"VATS_CLIENT_KEY": s.client_key, **env},
    )


def _start_listener(host: str, port: int, timeout: float) -> Listener:
    listener = Listener(host, port, timeout)
    try:
        listener.start()
    except ListenerError as exc:
        raise pytest.UsageError(f"--listen: cannot listen on {host}:{port}: {exc}") from None
    return listener


def target(
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
            launched
            if isinstance(launched, process.Child | process.Elsewhere)
            else process.wait_listening(launched)
        )
    except process.StartError as exc:
        pytest.exit(f"the embedded {what} did not start: {exc}", returncode=3)
    run.targets[role] = {"url": child.url, "embedded": True}
    try:
        yield Target(child.url, s.client_id, s.client_key, embedded=True)
    finally:
        child.stop()
