"""One run across pytest-xdist's workers (``pytest conformance -n 2``), as with ``-n 0``.

Registered by plugin.py (``pytest_plugins``); every hook here is inert in a run
without pytest-xdist (``optionalhook``) or without cases. The division of labour
(D62):

- The **controller** (the process without ``workerinput``) makes up what every
  process must share before any of them reads its settings (the embedded run's
  credentials, the emulator's admin token, the session tag: ``GENERATED``) and
  hands it to each worker. It reads no ``VATS_*`` setting and starts nothing
  until the worker that owns the suite's servers says the run has cases; then
  it starts the embedded references, once, as its own children (they outlive
  every worker), and tells the workers where they listen. At the end it
  rebuilds the run's results from the workers' reports and writes the one
  report (plugin.py's ``pytest_sessionfinish``).
- The **owner**, worker ``gw0``, runs every case that reads what one process
  holds: the listener's record and the calls placed (roles pbx-api and
  pbx-events), the PBX API's inbox (role crm-client). It starts the listener and
  the PBX API, in its own process, as ``-n 0`` does, and the scheduler
  (``Pinning``) sends it all those cases as one unit.
- **Every worker** runs crm-webhook cases as they come, establishes the CRM's
  controls before its first case, and sends each case's result with its report
  (``vats_result``, which pytest's report serialization carries) and, at its
  end, what it counted (``workeroutput``).

Workers and the controller share files in one private folder (``plan.json``:
the owner's roles and servers; ``children.json``: the references' URLs), named
by the controller and made by the owner only when the run has cases.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance.grading.verdict import CaseInfo
from conformance.report import results
from conformance.run import (
    RESULT,
    RUN,
    SETTINGS,
    case_info,
    collected_roles,
    establish,
    say_api,
    serve,
    spawn,
)
from conformance.settings import GENERATED, from_config
from conformance.sut import drivers
from conformance.transport.budget import DEADLINE

if TYPE_CHECKING:
    from conformance.reference.process import Child

#: The key of what the controller hands each worker (``workerinput``) and each worker
#: hands back (``workeroutput``).
KEY = "vats_conformance"
#: The key of a worker's bad setting, in its ``workeroutput``.
USAGE = "vats_conformance_usage_error"
#: The worker that runs the cases bound to one process, and serves the listener and API.
OWNER = "gw0"
#: The scheduler's one unit of those cases.
GROUP = "vats-conformance: cases bound to one process"
#: How long a worker waits for the controller's word on the references.
WAIT_S = 60.0

_SHARED = pytest.StashKey[dict[str, Any]]()
_PLAN = pytest.StashKey[dict[str, Any]]()
_ROLES = pytest.StashKey[set[str]]()
_ATTACHED = pytest.StashKey[bool]()
_COLLECTED = pytest.StashKey[bool]()


def on_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")


def bound(info: CaseInfo) -> bool:
    """Whether a case reads state one process holds (the listener's record, the placed
    calls, the PBX API's inbox): every role but crm-webhook."""
    return info.role != "crm-webhook"


# -- both sides ---------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """The values every process of the run must share, made up once by the controller."""
    if on_worker(config):
        shared = config.workerinput.get(KEY)  # type: ignore[attr-defined]
        if shared is None:
            return
        workerid = config.workerinput["workerid"]  # type: ignore[attr-defined]
        index = int(workerid.removeprefix("gw")) if workerid[2:].isdigit() else -1
        count = int(config.workerinput["workercount"])  # type: ignore[attr-defined]
        if 0 <= index < count:  # a replacement for a crashed worker keeps a tag of its own
            drivers.share_tag(shared["tag"], index, count)
    elif _controller(config):
        shared = {
            "dir": str(Path(tempfile.gettempdir()) / f"vats-xdist-{secrets.token_hex(8)}"),
            "client_id": secrets.token_hex(16).upper(),
            "client_key": secrets.token_hex(16).upper(),
            "admin_token": secrets.token_urlsafe(18),
            "tag": drivers.RUN_TAG,
            # --max-duration counts from the controller's start on every worker: the
            # monotonic clock is the machine's, one for all its processes (Linux).
            "began": config.stash[RUN].began,
        }
        config.add_cleanup(lambda: shutil.rmtree(shared["dir"], ignore_errors=True))
        config.pluginmanager.register(Gatherer(config), "vats-conformance-gatherer")
    else:
        return
    config.stash[_SHARED] = shared
    config.stash[GENERATED] = {k: shared[k] for k in ("client_id", "client_key", "admin_token")}
    config.stash[RUN].session_tag = shared["tag"]


# -- the controller -------------------------------------------------------------


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    shared = node.config.stash.get(_SHARED, None)
    if shared is not None:
        node.workerinput[KEY] = shared


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist load`` (``-n``'s own), a scheduler that is xdist's own until the
    run turns out to have cases (``Pinning``)."""
    if config.getvalue("dist") != "load":
        return None
    return Pinning(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: Sequence[str]) -> None:
    """Once the owner collected: when the run has cases, read the settings and start the
    embedded references, before the scheduler sends any case."""
    config = node.config
    if node.gateway.id != OWNER or _SHARED not in config.stash:
        return
    plan_file = Path(config.stash[_SHARED]["dir"]) / "plan.json"
    if not plan_file.exists():
        return  # no case collected: a run of the user's own tests
    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    config.stash[_PLAN] = plan
    if config.getvalue("dist") != "load":
        _tell(config, {"error": "--dist: conformance cases run under --dist load only"})
        raise pytest.UsageError(
            f"--dist {config.getvalue('dist')}: the conformance cases run under pytest-xdist's "
            "default --dist load only (the cases bound to the listener and the PBX API run "
            "on one worker)"
        )
    config.stash[SETTINGS] = from_config(config)
    roles = set(plan["roles"])
    _header(config)
    if plan["api_url"] is not None:
        say_api(config, plan["api_url"])  # gw0 serves it, but has no terminal
    spawn(config, roles, api_url=plan["api_url"], listener_url=plan["listener_url"])
    run = config.stash[RUN]
    urls: dict[str, str | None] = {"crm_url": None, "pbx_url": None}
    for name, attr, what in (
        ("crm_url", "crm_child", "reference CRM"),
        ("pbx_url", "pbx_child", "reference PBX emulator"),
    ):
        launched = getattr(run, attr)
        if launched is None:
            continue
        child = _listening(config, launched, what)
        setattr(run, attr, child)
        urls[name] = child.url
    _tell(config, urls)


def _listening(config: pytest.Config, launched: Any, what: str) -> Child:
    from conformance.reference import process

    try:
        child = process.wait_listening(launched)
    except process.StartError as exc:
        _tell(config, {"error": f"the embedded {what} did not start: {exc}"})
        pytest.exit(f"the embedded {what} did not start: {exc}", returncode=3)
    config.add_cleanup(child.stop)
    return child


def _tell(config: pytest.Config, word: dict[str, Any]) -> None:
    """The controller's word to the workers on the references (``children.json``)."""
    _write(Path(config.stash[_SHARED]["dir"]) / "children.json", word)


def _header(config: pytest.Config) -> None:
    """The run's header lines (plugin.py), which the controller, collecting nothing,
    would not print."""
    from conformance.plugin import pytest_report_collectionfinish

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    reporter.ensure_newline()
    for line in pytest_report_collectionfinish(config, []):
        reporter.write_line(line)


class Gatherer:
    """On the controller: the workers' results and counts, into the one ``Run``."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        #: (worker, its exchange id) -> the exchange's id in the run.
        self.ids: dict[tuple[str, int], int] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A case's result, as its worker judged it."""
        data = getattr(report, "vats_result", None)
        if not isinstance(data, dict):
            return
        run = self.config.stash[RUN]
        node = getattr(report, "node", None)
        worker = str(node.gateway.id) if node is not None else "?"

        def renumber(worker_id: int) -> int:
            return self.ids.setdefault((worker, worker_id), len(self.ids) + 1)

        result = results.from_wire(data["case"], renumber)
        run.results.append(result)
        # Its part of the report, now, while the workers run on; if that fails, the
        # report makes it again at the end and says why there, as -n 0 would.
        with contextlib.suppress(Exception):
            run.prepared[id(result)] = results.prepare(result, self.config.stash[SETTINGS])
        start, stop = data["start"], data["stop"]
        run.first_case = min(run.first_case or start, start)
        run.last_case = max(run.last_case or stop, stop)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A worker's end: what it counted and established; or the bad setting that ended
        it, one ``ERROR:`` line and exit status 4 as with ``-n 0``."""
        workeroutput = getattr(node, "workeroutput", {})
        if workeroutput.get(USAGE):
            raise pytest.UsageError(workeroutput[USAGE])
        out = workeroutput.get(KEY)
        if out is None:
            return
        run = self.config.stash[RUN]
        run.gathered.requests += out["requests"]
        run.gathered.latency_ms += out["latency_ms"]
        if out["failure"]:
            run.gathered.failures.append(out["failure"])
        run.gathered.controls = run.gathered.controls or out["controls"]
        for role, dims in out["readings"].items():
            run.readings.setdefault(role, {}).update(dims)
        run.targets.update(out["targets"])
        if not run.deselected:  # every worker deselected the same cases
            run.deselected.update(out["deselected"])


# -- a worker ---------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config) -> Generator[None, None, None]:
    """On a worker: a bad setting (plugin.py reads them here) goes to the controller,
    which says it; xdist would otherwise report a crashed worker."""
    try:
        return (yield)
    except pytest.UsageError as exc:
        if on_worker(config):
            config.workeroutput[USAGE] = "\n".join(map(str, exc.args))  # type: ignore[attr-defined]
        raise


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """On a worker with cases: the owner serves the listener and the PBX API and tells the
    controller what the run needs (``plan.json``), before xdist reports the collection."""
    config = session.config
    if not on_worker(config) or _SHARED not in config.stash or SETTINGS not in config.stash:
        return
    if config.option.collectonly:
        return
    roles = config.stash[_ROLES] = collected_roles(session.items)
    DEADLINE.start(config.stash[SETTINGS].max_duration, began=config.stash[_SHARED]["began"])
    config.add_cleanup(DEADLINE.clear)
    if config.workerinput["workerid"] != OWNER:  # type: ignore[attr-defined]
        return
    serve(config, roles)
    run = config.stash[RUN]
    cases = [(item.nodeid, info) for item in session.items if (info := case_info(item))]
    plan = {
        "roles": sorted(roles),
        "bound": [nodeid for nodeid, info in cases if bound(info)],
        # handed out first: a case that lasts as long as its examples, begun last, would
        # keep one worker busy while the others had nothing left (D62)
        "first": [nodeid for nodeid, info in cases if info.generated and not bound(info)],
        "api_url": run.api.url if run.api is not None else None,
        "listener_url": run.listener.url if run.listener is not None else None,
    }
    folder = Path(config.stash[_SHARED]["dir"])
    folder.mkdir(mode=0o700)
    _write(folder / "plan.json", plan)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a worker's first case: where the controller's references listen, and the
    CRM's controls (as ``run.launch`` does before the first case of ``-n 0``)."""
    config = item.config
    info = case_info(item)
    if not on_worker(config) or _ROLES not in config.stash or info is None:
        return
    owner = config.workerinput["workerid"] == OWNER  # type: ignore[attr-defined]
    if not owner and bound(info):
        # xdist hands a crashed worker's cases to another: these read the listener and
        # the PBX API only gw0 held, and would be judged without them (a skip naming
        # --listen, an empty inbox). -n 0 would have ended; here each is the suite's error.
        raise RuntimeError(
            f"worker {OWNER}, which held the listener and the PBX API this case reads, "
            "ended before the case ran (a crashed worker); it cannot run on another worker"
        )
    if owner and info.role != "crm-client":
        _collected(config)  # the crm-client cases, first in the owner's unit, are done
    if config.stash.get(_ATTACHED, False):
        return
    config.stash[_ATTACHED] = True
    from conformance.reference.process import Elsewhere

    folder = Path(config.stash[_SHARED]["dir"])
    word = _wait(folder / "children.json", WAIT_S)
    if "error" in word:
        pytest.exit(word["error"], returncode=3)
    run = config.stash[RUN]
    if word.get("crm_url"):
        run.crm_ready = Elsewhere(word["crm_url"])
    if word.get("pbx_url"):
        run.pbx_child = Elsewhere(word["pbx_url"])
    roles = config.stash[_ROLES]
    if not owner and "crm-client" in roles:
        # What the CRM sends the suite's PBX API is collected before any other worker
        # speaks to the CRM, as in -n 0 where the crm-client cases come first: the
        # recordings a CRM fetches after crm-webhook's notifications are not the
        # crm-client cases' to judge.
        s = config.stash[SETTINGS]
        _wait(folder / "client.json", s.client_timeout + s.events_timeout + WAIT_S)
    establish(config, roles, item.session.items)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> Any:
    """On the owner: once the CRM's requests are collected (``client_traffic``), the
    other workers may speak to the CRM."""
    try:
        return (yield)
    finally:
        if fixturedef.argname == "client_traffic" and on_worker(request.config):
            _collected(request.config)


def _collected(config: pytest.Config) -> None:
    """Say that the crm-client collection is over (``client.json``), once."""
    if _SHARED not in config.stash or config.stash.get(_COLLECTED, False):
        return
    config.stash[_COLLECTED] = True
    _write(Path(config.stash[_SHARED]["dir"]) / "client.json", {})


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` whole or not at all: readers wait for it."""
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data), encoding="utf-8")
    os.replace(part, path)


def _wait(path: Path, timeout: float) -> dict[str, Any]:
    """The JSON file ``path`` another process writes, waited for at most ``timeout``
    seconds. The controller's word on the references is written before the first case
    is sent, so that wait is a bound, not a delay."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.exit(
                f"pytest-xdist: {path.name} did not come within {timeout:g} s: the "
                f"controller or worker {OWNER} ended, or the workers do not run on the "
                "controller's machine (only local workers, -n N, share a run: D62)",
                returncode=3,
            )
        time.sleep(0.05)
    word: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return word


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """On a worker: the case's result rides on its report to the controller."""
    outcome = yield
    if not on_worker(item.config) or _SHARED not in item.config.stash:
        return
    report = outcome.get_result()
    result = item.stash.get(RESULT, None)
    if result is None or not hasattr(report, "vats_verdict") or result is _sent(item):
        return
    item.stash[_SENT] = result
    report.vats_result = {
        "case": results.to_wire(result),
        "start": call.start,
        "stop": call.stop,
    }


_SENT = pytest.StashKey[Any]()


def _sent(item: pytest.Item) -> Any:
    return item.stash.get(_SENT, None)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a worker: what it counted and established goes back to the controller."""
    config = session.config
    if not on_worker(config) or SETTINGS not in config.stash:
        return
    if config.workerinput["workerid"] == OWNER:  # type: ignore[attr-defined]
        _collected(config)  # whatever happened: no worker waits for it any longer
    run = config.stash[RUN]
    sent, latency_ms = run.client.tally() if run.client is not None else (0, [])
    received = run.listener.count if run.listener is not None else 0
    received += run.api.inbox.count if run.api is not None else 0
    config.workeroutput[KEY] = {  # type: ignore[attr-defined]
        "requests": sent + received,
        "latency_ms": latency_ms,
        "failure": run.listener_failure(),
        "controls": results.controls(run),
        "readings": run.readings,
        "targets": run.targets,
        "deselected": dict(run.deselected),
    }


# -- the scheduler ------------------------------------------------------------------


class Pinning:
    """pytest-xdist's ``--dist load`` scheduler, until the run turns out to have cases;
    then one that sends the owner every case bound to one process, as one unit, and
    spreads the others (``Pinned``).

    Both are fed the nodes and collections until ``schedule``, when the owner's plan
    (read by ``pytest_xdist_node_collection_finished`` just before) decides.
    """

    def __init__(self, config: pytest.Config, log: Any) -> None:
        from xdist.scheduler import LoadScheduling

        self.config = config
        self.plain = LoadScheduling(config, log)
        self.pinned = _pinned(config, log)
        self.chosen: Any = None

    @property
    def _active(self) -> Any:
        return self.chosen if self.chosen is not None else self.plain

    def _each(self) -> list[Any]:
        return [self.chosen] if self.chosen is not None else [self.plain, self.pinned]

    @property
    def nodes(self) -> list[Any]:
        nodes: list[Any] = self._active.nodes
        return nodes

    @property
    def collection_is_completed(self) -> bool:
        return bool(self._active.collection_is_completed)

    @property
    def tests_finished(self) -> bool:
        return bool(self._active.tests_finished)

    @property
    def has_pending(self) -> bool:
        return bool(self._active.has_pending)

    def add_node(self, node: Any) -> None:
        for scheduler in self._each():
            scheduler.add_node(node)

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        for scheduler in self._each():
            scheduler.add_node_collection(node, collection)

    def remove_node(self, node: Any) -> str | None:
        crashed: str | None = None
        for scheduler in self._each():
            crashed = scheduler.remove_node(node) or crashed
        return crashed

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self._active.mark_test_complete(node, item_index, duration)

    def mark_test_pending(self, item: str) -> None:
        self._active.mark_test_pending(item)

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        self._active.remove_pending_tests_from_node(node, indices)

    def schedule(self) -> None:
        if self.chosen is None:
            plan = self.config.stash.get(_PLAN, None)
            # Pinned also when nothing is bound (a run with --crm-url only): it hands
            # out the generated cases first; with no bound unit, it is that alone.
            if plan is not None and (plan["bound"] or plan.get("first")):
                self.pinned.bound = frozenset(plan["bound"])
                self.pinned.first = frozenset(plan.get("first", ()))
                self.chosen = self.pinned
            else:
                self.chosen = self.plain
        self.chosen.schedule()


def _pinned(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class Pinned(LoadScopeScheduling):  # type: ignore[misc]
        """Each case is a unit of its own, but the cases bound to one process are one
        unit (``GROUP``), sent to the owner first."""

        bound: frozenset[str] = frozenset()
        #: Cases sent before the others (generated ones: the longest), in their order.
        first: frozenset[str] = frozenset()
        ordered = False
        assigned_work: dict[Any, Any]
        workqueue: OrderedDict[str, dict[str, bool]]

        def _split_scope(self, nodeid: str) -> str:
            return GROUP if nodeid in self.bound else nodeid

        def schedule(self) -> None:
            if self.collection is None:
                # The owner first: with fewer units than nodes, the last nodes are let go.
                self.assigned_work = dict(
                    sorted(self.assigned_work.items(), key=lambda kv: kv[0].gateway.id != OWNER)
                )
            super().schedule()

        def _reschedule(self, node: Any) -> None:
            # xdist's, but a worker holds one case behind the one it runs, not two: a
            # generated case may last many seconds, and the last ones should not wait
            # behind each other while the other worker has nothing left.
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) > 1:
                return
            self._assign_work_unit(node)

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:  # the queue is built whole before the first unit goes
                self.ordered = True
                for scope in [u for u in self.workqueue if u not in self.first and u != GROUP]:
                    self.workqueue.move_to_end(scope)
            if GROUP in self.workqueue:
                owner_here = any(n.gateway.id == OWNER for n in self.assigned_work)
                if node.gateway.id == OWNER or not owner_here:
                    self.workqueue.move_to_end(GROUP, last=False)
                else:
                    self.workqueue.move_to_end(GROUP)
                    if next(iter(self.workqueue)) == GROUP:
                        return  # only the owner's unit is left: nothing for this node
            super()._assign_work_unit(node)

    return Pinned(config, log)
