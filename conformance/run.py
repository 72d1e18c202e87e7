"""One session's state: its settings, what it started, and what its cases produced.

``Run`` is the record the hooks (plugin.py) and fixtures (fixtures.py) share
through the config's stash; ``launch`` starts what the collected cases need
(the embedded references, the listener) and establishes the CRM's controls
before the first case; ``target`` hands a role its system under test.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from conformance.grading.verdict import CaseInfo
from conformance.report.results import CaseResult
from conformance.settings import Settings
from conformance.sut.calls import Lines
from conformance.sut.controls import CrmControls
from conformance.sut.drivers import RUN_TAG, PbxApi, Target
from conformance.transport.client import Client, Exchange
from conformance.transport.listener import Listener, ListenerError

if TYPE_CHECKING:
    from conformance.reference.process import Launched

SETTINGS = pytest.StashKey[Settings]()
RUN = pytest.StashKey["Run"]()
LOG = pytest.StashKey[list[Exchange]]()
NOTES = pytest.StashKey[list[str]]()
RESULT = pytest.StashKey[CaseResult]()


class Run:
    """What one session collects."""

    def __init__(self) -> None:
        self.results: list[CaseResult] = []
        #: Tags the session ids this run makes up (drivers.RUN_TAG; results.json).
        self.session_tag = RUN_TAG
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
        #: ``-p conformance`` with no paths: the run was asked for this package's cases.
        self.cases_asked = False

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
    target fixtures wait for them to listen.
    """
    config = session.config
    roles = {info.role for item in session.items if (info := case_info(item))}
    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    if s.embedded and "crm-webhook" in roles:
        run.crm_child = _embedded("conformance.reference.crm", s, "--oracle")
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

    s = config.stash[SETTINGS]
    run = config.stash[RUN]
    if not roles & set(PBX_ROLES) or not (s.embedded or s.pbx_url):
        return
    if s.listen is not None:
        run.listener = _start_listener(*s.listen)
    if s.embedded:
        assert run.listener is not None
        run.pbx_child = _embedded(
            "conformance.reference.pbx",
            s,
            "--no-limits",
            "--external-address",
            run.listener.url,
            VATS_ADMIN_TOKEN=s.pbx_admin_token or "",
        )


def _embedded(module: str, s: Settings, *args: str, **env: str) -> Launched:
    """Start the reference ``module`` on loopback, as the run's child."""
    from conformance.reference import process

    common = ["--host", "127.0.0.1", "--port", "0", "--quiet", "--with-parent"]
    return process.launch(
        module,
        [*common, *args, "--client-id", s.client_id],
        {"VATS_CLIENT_KEY": s.client_key, **env},
    )


def _start_listener(host: str, port: int) -> Listener:
    listener = Listener(host, port)
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
            launched if isinstance(launched, process.Child) else process.wait_listening(launched)
        )
    except process.StartError as exc:
        pytest.exit(f"the embedded {what} did not start: {exc}", returncode=3)
    run.targets[role] = {"url": child.url, "embedded": True}
    try:
        yield Target(child.url, s.client_id, s.client_key, embedded=True)
    finally:
        child.stop()


