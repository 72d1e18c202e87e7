"""Every check of the crm-client role fires: each broken client of
``tests/faults/crm_client.py`` is graded by its named case, and the reference client
and the correct-but-different ones get no ``fail``.

Each client runs twice over, as a CRM does: as the CRM's command
(``--crm-client-cmd "python -m tests.faults.crm_client NAME"``: one call_back and the
recording of ``VATS_RECORDED_SESSION_ID``) and as the client side of a reference
receiver served on loopback (``--crm-url``: the round trip's notifications make it
fetch the recordings). The suite's PBX API listens on a free loopback port chosen
here, the one the receiver's client was given. The real suite runs in a child
process; the runs the selected tests need start together, a few at a time
(``Background``).

Marked ``crm_client_role`` (``-m crm_client_role`` runs this module alone,
``-m "not crm_client_role"`` leaves it out).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from conformance.reference.crm import ReferenceCrm
from conformance.reference.crm_client import CrmClient
from tests.faults.crm_client import BROKEN, CLIENTS, DIFFERENT
from tests.faults.crm_client import main as fault_main
from tests.support import (
    CLIENT_ID,
    CLIENT_KEY,
    Background,
    SuiteRun,
    client_args,
    free_port,
    port_taken,
    run_suite,
    serving,
)
from tests.test_crm_faults import explain

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.crm_client_role

ROLE_PATHS = ("conformance/roles/crm_client",)
#: The case ids of the role (the contract of issue 10).
CASE_IDS = frozenset(
    {
        "client.path",
        "client.method",
        "client.identity",
        "client.content-type",
        "client.signature",
        "client.json",
        "client.call-back.body",
        "client.get-record.body",
        "client.link.once",
        "client.link.redirect",
        "client.retry",
        "client.roundtrip.get-record",
        "client.roundtrip.download",
        "client.answers",
    }
)
STEPS = frozenset(
    name
    for name, value in vars(CrmClient).items()
    if callable(value) and not name.startswith("_") and name not in ("close",)
)
#: Every run this module reads: run name -> the client's name in the catalogue.
RUNS: dict[str, str] = {
    "reference": "reference",
    **{name: name for name in BROKEN},
    **{f"different:{name}": name for name in DIFFERENT},
}


def _run(name: str, report_dir: Path) -> SuiteRun:
    """The role against the client ``name``: as the command, and as the receiver's client."""
    for _ in range(3):  # the runs go on side by side: another may take the port first
        run = _run_on(name, report_dir, free_port())
        if not port_taken(run):
            break
    return run


def _run_on(name: str, report_dir: Path, port: int) -> SuiteRun:
    client = RUNS[name]
    api_url = f"http://127.0.0.1:{port}"
    receiver = ReferenceCrm(
        CLIENT_ID, CLIENT_KEY, oracle=True, client=CLIENTS[client](api_url, CLIENT_ID, CLIENT_KEY)
    )
    command = f"{shlex.quote(sys.executable)} -m tests.faults.crm_client {client}"
    try:
        with serving(receiver) as url:
            return run_suite(
                ["--crm-url", url, *client_args(port, command)], report_dir, paths=ROLE_PATHS
            )
    finally:
        receiver.close()


def _names(item: pytest.Item) -> list[str]:
    """The runs a test of this module reads."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    name = str(params.get("name"))
    by_test: dict[str, list[str]] = {
        "test_reference_client_has_no_failures": ["reference"],
        "test_broken_client_is_graded": [name],
        "test_different_client_has_no_failures": [f"different:{name}"],
    }
    return [n for n in by_test.get(getattr(item, "originalname", item.name), []) if n in RUNS]


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Background]:
    started = Background(tmp_path_factory.mktemp("crm-client-runs"), _run)
    started.start_selected(request, _names)
    yield started
    started.close()


def test_catalogue_is_complete() -> None:
    assert len(BROKEN) >= 17
    assert len(DIFFERENT) >= 7
    assert not set(BROKEN) & set(DIFFERENT)
    for name, (_, case_id, verdict) in BROKEN.items():
        assert case_id in CASE_IDS, f"{name}: {case_id} is no case of the role"
        assert verdict in ("fail", "non-strict"), name
    for name, cls in {**{n: c for n, (c, _, _) in BROKEN.items()}, **DIFFERENT}.items():
        assert cls.__doc__, f"{name}: no docstring naming the fault"
        assert "\n" not in cls.__doc__.strip(), f"{name}: a one-line docstring"
        own = {attr for attr in vars(cls) if not attr.startswith("__")}
        assert len(own) == 1, f"{name}: overrides {sorted(own)}, not exactly one step"
        assert own <= STEPS, f"{name}: {sorted(own)} is no step of CrmClient"


def test_an_unknown_client_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert fault_main(["no-such-client"]) == 2
    assert "NAME is one of: reference" in capsys.readouterr().err


def test_reference_client_has_no_failures(runs: Background) -> None:
    run = runs.get("reference")
    assert (run.report_dir / "results.json").exists(), explain(run)
    bad = run.with_verdict("fail") | run.with_verdict("error")
    assert bad == set(), explain(run, {case_id.split("[")[0] for case_id in bad})
    assert run.returncode == 0, explain(run)
    # the round trip happened: it asked for the recorded call and downloaded its link
    passed = run.base_ids("pass")
    assert {"client.roundtrip.get-record", "client.roundtrip.download"} <= passed, explain(
        run, {"client.roundtrip.get-record", "client.roundtrip.download"}
    )


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_client_is_graded(name: str, runs: Background) -> None:
    run = runs.get(name)
    _, case_id, verdict = BROKEN[name]
    assert (run.report_dir / "results.json").exists(), explain(run)
    assert case_id in run.base_ids(verdict), (
        f"{name}: not graded {verdict} by {case_id}\n{explain(run, {case_id})}"
    )
    if verdict == "fail":
        assert run.returncode == 1, explain(run, {case_id})
    # One fault, one finding: no other case blames it (a content bug is not a signature's).
    blamed = {
        c.split("[")[0] for v in ("fail", "non-strict", "error") for c in run.with_verdict(v)
    }
    assert blamed == {case_id}, explain(run, blamed - {case_id})


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_different_client_has_no_failures(name: str, runs: Background) -> None:
    run = runs.get(f"different:{name}")
    assert (run.report_dir / "results.json").exists(), explain(run)
    bad = run.with_verdict("fail") | run.with_verdict("error")
    assert bad == set(), explain(run, {case_id.split("[")[0] for case_id in bad})
    assert run.returncode == 0, explain(run)
