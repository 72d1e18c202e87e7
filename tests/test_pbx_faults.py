"""Every PBX-side check fires: each broken PBX of ``tests/faults/pbx.py`` gets its verdict.

Each PBX is the reference emulator with one piece replaced, served on
127.0.0.1 in this process; the real suite runs against it in a child process
(``--pbx-url``, and ``--listen`` on a free loopback port that the emulator's
client points its external address at). A run covers only the files that hold
the cases the entry names. The reference, served the same way, is the control:
no ``fail`` at all, every role, destructive cases included.

A run is mostly the child's start-up, so the runs of the selected tests are
started together, a few at a time, when the first of them asks for its run,
and the children share a bytecode cache in the session's temporary directory
(``PYTHONPYCACHEPREFIX``: nothing is written next to the sources), which a
user's runs have too -- without it each child compiles the suite anew.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from conformance.reference.pbx import Pbx
from tests.faults.pbx import (
    DESTRUCTIVE,
    DIFFERENT,
    FAULTS,
    MISGRADED,
    PIECES,
    SOFT_FAULTS,
    Entry,
    Relay,
    build,
)
from tests.support import (
    CLIENT_ID,
    CLIENT_KEY,
    Background,
    SuiteRun,
    free_port,
    pbx_args,
    run_suite,
    serving,
)
from tests.test_crm_faults import explain

if TYPE_CHECKING:
    from pathlib import Path

#: The client as the suite knows it; no request limit, so that generated cases fit.
CLIENT: dict[str, Any] = {
    "client_id": CLIENT_ID,
    "client_key": CLIENT_KEY,
    "enabled": True,
    "limits": {"call_back": None, "get_record": None},
}
#: The control: the reference itself, every role, destructive cases too.
REFERENCE = Entry(Pbx, {}, paths=("conformance",), options=DESTRUCTIVE)
ENTRIES: dict[str, Entry] = {**FAULTS, **SOFT_FAULTS, **DIFFERENT, "reference": REFERENCE}


@contextmanager
def serving_pbx(entry: Entry) -> Iterator[tuple[str, str]]:
    """Serve ``entry``'s PBX on loopback; yields its URL and the HOST:PORT to listen on."""
    listen = f"127.0.0.1:{free_port()}"
    external = f"http://{listen}"
    with ExitStack() as stack:
        if issubclass(entry.piece, Relay):  # it passes headers on as they came
            relay = entry.piece(external, CLIENT_KEY)
            external = stack.enter_context(serving(relay, names_as_sent=True))
        pbx = build(entry.piece, entry.settings, entry.scenario)
        listening = pbx.start("127.0.0.1", 0, 0)
        stack.callback(listening.stop)
        pbx.registry.create({**CLIENT, "external_address": external, **entry.client})
        assert pbx.http_url is not None
        yield pbx.http_url, listen


def run_against(entry: Entry, report_dir: Path, env: dict[str, str] | None = None) -> SuiteRun:
    """The suite against ``entry``'s PBX; once more if another socket took the listen port."""
    for _ in range(2):
        with serving_pbx(entry) as (url, listen):
            run = run_suite(
                pbx_args(url, listen, *entry.options), report_dir, env=env, paths=entry.paths
            )
        if (report_dir / "results.json").exists() or "cannot listen" not in run.stderr:
            break
    return run


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Background]:
    base = tmp_path_factory.mktemp("pbx-runs")
    env = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(base / "pycache")}
    started = Background(base, lambda name, out: run_against(ENTRIES[name], out, env))
    for item in request.session.items:  # the selected tests of this module, in their order
        if item.path != request.path:
            continue
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("name") if callspec else None
        if name is None and item.name == "test_reference_has_no_failures":
            name = "reference"
        if name in ENTRIES:
            started.start(name)
    yield started
    started.close()


def names(catalogue: dict[str, Entry]) -> list[Any]:
    """Parameters for ``catalogue``, the misgraded ones expected to fail (strictly)."""
    return [
        pytest.param(name, marks=pytest.mark.xfail(reason=MISGRADED[name], strict=True))
        if name in MISGRADED
        else name
        for name in sorted(catalogue)
    ]


def assert_graded(name: str, run: SuiteRun, entry: Entry) -> None:
    everything = set().union(*entry.expect.values())
    assert (run.report_dir / "results.json").exists(), explain(run)
    for verdict, cases in entry.expect.items():
        missed = cases - run.base_ids(verdict)
        assert not missed, (
            f"{name}: not graded {verdict} by {sorted(missed)}\n{explain(run, everything)}"
        )


def assert_no_failure(run: SuiteRun) -> None:
    assert run.with_verdict("fail") == set(), explain(run, run.base_ids("fail"))
    assert run.returncode == 0, explain(run)


def test_catalogue_is_complete() -> None:
    assert len(FAULTS) >= 18
    assert len(DIFFERENT) >= 3
    catalogues = (FAULTS, SOFT_FAULTS, DIFFERENT)
    assert sum(map(len, catalogues)) == len(ENTRIES) - 1, "a name in two catalogues"
    assert set(MISGRADED) <= set(FAULTS) | set(SOFT_FAULTS)
    pieces = {base for entry in FAULTS.values() for base in PIECES if issubclass(entry.piece, base)}
    assert set(PIECES) <= pieces, "every piece has a fault"
    for name, entry in ENTRIES.items():
        cls = entry.piece
        if cls in PIECES:
            continue  # a reference piece itself (the control, a configured reference)
        assert cls.__doc__, f"{name}: no docstring naming the fault"
        assert "\n" not in cls.__doc__.strip(), f"{name}: a one-line docstring"
        own = {attr for attr in vars(cls) if not attr.startswith("__")}
        assert len(own) == 1, f"{name}: overrides {sorted(own)}, not exactly one step"
        assert sum(issubclass(cls, base) for base in PIECES) == 1, f"{name}: one piece"
    for name, entry in FAULTS.items():
        assert set(entry.expect) == {"fail"}, f"{name}: a fault is graded fail"
        assert entry.expect["fail"], f"{name}: no case named to catch it"
    for name, entry in {**SOFT_FAULTS, **DIFFERENT}.items():
        assert "fail" not in entry.expect, f"{name}: graded fail is a fault"
    for name, entry in ENTRIES.items():
        assert "fail" not in entry.allow, f"{name}: a fail is never merely allowed"
        named = set().union(*entry.expect.values())
        assert not named & set().union(*entry.allow.values()), f"{name}: expected or allowed"


def test_reference_has_no_failures(runs: Background) -> None:
    run = runs.get("reference")
    assert (run.report_dir / "results.json").exists(), explain(run)
    assert_no_failure(run)
    ran = {case_id.split("[")[0] for case_id, v in run.verdicts().items() if v != "skip"}
    named = set().union(
        *(cases for e in ENTRIES.values() for cases in (*e.expect.values(), *e.allow.values()))
    )
    assert named <= ran, f"cases the catalogue names that did not run: {sorted(named - ran)}"


@pytest.mark.parametrize("name", names(FAULTS))
def test_fault_is_failed(name: str, runs: Background) -> None:
    entry = FAULTS[name]
    run = runs.get(name)
    assert_graded(name, run, entry)
    assert run.returncode == 1, explain(run, entry.expect["fail"])


def assert_allowed(run: SuiteRun, entry: Entry) -> None:
    """The cases ``entry`` allows a verdict got it or another one: never a fail (no case may)."""
    for verdict, cases in entry.allow.items():
        for case_id in cases:
            got = {v for c, v in run.verdicts().items() if c.split("[")[0] == case_id}
            assert got, explain(run, {case_id})  # it ran
            assert got <= {verdict, "pass", "info", "skip"}, explain(run, {case_id})


@pytest.mark.parametrize("name", names(SOFT_FAULTS))
def test_soft_fault_is_graded(name: str, runs: Background) -> None:
    entry = SOFT_FAULTS[name]
    run = runs.get(name)
    assert_graded(name, run, entry)
    assert_allowed(run, entry)
    assert_no_failure(run)


@pytest.mark.parametrize("name", names(DIFFERENT))
def test_different_pbx_is_not_failed(name: str, runs: Background) -> None:
    """No fail, and no non-strict beyond the readings it chose and the verdicts that vary."""
    entry = DIFFERENT[name]
    run = runs.get(name)
    assert_graded(name, run, entry)
    assert_allowed(run, entry)
    assert_no_failure(run)
    chosen = entry.expect.get("non-strict", frozenset())
    varies = entry.allow.get("non-strict", frozenset())
    got = run.base_ids("non-strict")
    assert chosen <= got <= chosen | varies, explain(run, got)
