"""pytest-xdist: ``-n 2`` is one run, with the verdicts and the report of ``-n 0`` (D62).

Each test runs the real suite in child processes (tests/support.py), small
(``--examples 5``), with and without ``-n 2`` where it compares them; the pairs run
side by side.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conformance import contract, xdist
from conformance.reference.crm import ReferenceCrm
from conformance.report import html as report_html
from tests.faults.crm import FAULTS
from tests.support import (
    CLIENT_ID,
    CLIENT_KEY,
    FAST,
    SuiteRun,
    crm_args,
    oracle,
    run_suite,
    serving,
)

pytest.importorskip("xdist", reason="pytest-xdist is the `xdist` extra (in `dev`)")

SEED = ("--seed", "1")


def _side_by_side(
    runs: dict[str, list[str]], base: Path, env: dict[str, dict[str, str]] | None = None
) -> dict[str, SuiteRun]:
    """The suite runs ``name -> args``, at once, each reporting into ``base / name``."""
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = {
            name: pool.submit(run_suite, args, base / name, env=(env or {}).get(name))
            for name, args in runs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def _exchanges(run: SuiteRun) -> dict[str, int]:
    return {c["id"]: len(c["exchanges"]) for c in run.results["cases"]}


def _starts(path: Path) -> Counter[str]:
    return Counter(line.split()[0] for line in path.read_text(encoding="utf-8").splitlines())


def test_an_embedded_run_is_one_run(tmp_path: Path) -> None:
    """The same verdicts and exchanges as -n 0, one complete report, and one start of each
    reference, of the listener and of the PBX API."""
    counts = {n: tmp_path / f"starts-{n}" for n in ("0", "2")}
    runs = _side_by_side(
        {n: [*FAST, *SEED, "-p", "tests.counting_starts", "-n", n] for n in ("0", "2")},
        tmp_path,
        env={n: {"COUNT_STARTS_FILE": str(counts[n])} for n in ("0", "2")},
    )
    plain, spread = runs["0"], runs["2"]
    assert plain.returncode == 0, plain.stdout[-3000:] + plain.stderr[-3000:]
    assert spread.returncode == 0, spread.stdout[-3000:] + spread.stderr[-3000:]
    # Every role ran, and every case is in the one results.json with its verdict.
    assert set(spread.results["roles"]) == {"crm-webhook", "crm-client", "pbx-api", "pbx-events"}
    assert spread.verdicts() == plain.verdicts()
    # The examples are the same (--seed): so is every case's count of exchanges.
    assert _exchanges(spread) == _exchanges(plain)
    for key in ("summary", "readings", "controls", "deselected", "seed", "settings"):
        assert spread.results[key] == plain.results[key], key
    assert spread.results["requests"] >= plain.results["requests"]
    assert spread.results["latency_ms"]["count"] > 0
    assert spread.results["cases_run_s"] > 0
    # Every session id the run made up carries its one tag.
    tag = spread.results["session_tag"]
    made_up = [
        c["id"] for c in spread.results["cases"] if any(tag in str(ex) for ex in c["exchanges"])
    ]
    assert made_up
    # junit.xml and index.html: one each, with every case.
    report = sorted(p.name for p in (tmp_path / "2").iterdir())
    assert report.count("junit.xml") == report.count("index.html") == 1, report
    suite = ET.parse(tmp_path / "2" / "junit.xml").getroot()
    assert len(suite.findall("testcase")) == len(plain.results["cases"])
    page = (tmp_path / "2" / "index.html").read_text(encoding="utf-8")
    assert all(c["id"].split("[")[0] in page for c in plain.results["cases"])
    # The cases' blocks the controller made as their results arrived (D62) make the
    # page that results.json gives when it is rendered whole.
    assert page == report_html.render(spread.results, beside=list(contract.FILES.values()))
    # One start of each, the references by one process, the listener and the API by one.
    one_of_each = {"conformance.reference.crm", "conformance.reference.pbx", "listener", "api"}
    assert _starts(counts["2"]) == Counter(one_of_each), counts["2"].read_text()
    assert _starts(counts["0"]) == Counter(one_of_each)
    by = {line.split()[0]: line.split()[1] for line in counts["2"].read_text().splitlines()}
    assert by["conformance.reference.crm"] == by["conformance.reference.pbx"]
    assert by["listener"] == by["api"] != by["conformance.reference.crm"]


def test_a_crm_fault_is_caught_the_same(tmp_path: Path) -> None:
    """A broken CRM (tests/faults/crm.py) gets the same verdicts, and exit status 1."""
    cls, expected = FAULTS["prefix-comparison"]
    with serving(cls(CLIENT_ID, CLIENT_KEY, oracle=True)) as url:
        args = crm_args(url, *SEED, *oracle(url))
        runs = _side_by_side(
            {"0": [*args, "-n", "0"], "2": [*args, "-n", "2"], "2x": [*args, "-n", "2", "-x"]},
            tmp_path,
        )
    plain, spread, stopped = runs["0"], runs["2"], runs["2x"]
    assert plain.returncode == spread.returncode == 1, spread.stdout[-3000:]
    assert expected <= spread.base_ids("fail")
    assert spread.verdicts() == plain.verdicts()
    assert _exchanges(spread) == _exchanges(plain)
    # -x: xdist ends the run as interrupted (2); stopped at a failure, it is a failed run.
    assert stopped.returncode == 1, stopped.stdout[-3000:]
    assert stopped.with_verdict("fail")


def test_max_duration_holds_on_every_worker(tmp_path: Path) -> None:
    """--max-duration counts from the controller's start on each worker: the cases not
    begun by then skip naming it, and the run exits 2 (D56). The workers never started
    the deadline, and ran every case (the test failed before)."""
    app = ReferenceCrm(CLIENT_ID, CLIENT_KEY, oracle=True)
    with serving(app) as url:
        run = run_suite(
            [*crm_args(url, *oracle(url)), "--max-duration", "8", "--examples", "300", "-n", "2"],
            tmp_path / "report",
            paths=("conformance/roles/crm_webhook",),
        )
    over = [
        c
        for c in run.results["cases"]
        if c["verdict"] == "skip" and "the run reached --max-duration (8 s)" in c["detail"]
    ]
    assert over, run.stdout[-3000:]
    assert run.results["max_duration"] == {"seconds": 8.0, "skipped": len(over)}
    assert run.returncode == 2, run.stdout[-3000:]


def test_cases_of_a_crashed_owner_are_suite_errors(tmp_path: Path) -> None:
    """When gw0 dies, the cases bound to its listener and PBX API cannot run elsewhere:
    each is the suite's own error on the worker given it, and the run exits 3. They
    were run there, without the listener (a skip naming --listen) and without the API."""
    run = run_suite(
        [*FAST, *SEED, "-n", "2", "-p", "tests.crashing_owner"],
        tmp_path / "report",
        paths=("conformance/roles/pbx_api", "conformance/roles/pbx_events"),
    )
    assert run.returncode == 3, run.stdout[-3000:]
    errors = [c for c in run.results["cases"] if c["verdict"] == "error"]
    assert errors, run.stdout[-3000:]
    assert all("gw0" in c["detail"] for c in errors), errors[0]["detail"]
    skipped = [c for c in run.results["cases"] if c["verdict"] == "skip"]
    assert not any("--listen" in c["detail"] for c in skipped), skipped


def test_the_pbx_api_address_is_said(tmp_path: Path) -> None:
    """Worker gw0 serves the PBX API on a free port; the controller says where."""
    run = run_suite(
        [
            *("--api-listen", "127.0.0.1:0", "--client-timeout", "1"),
            *("--client-id", CLIENT_ID, "--client-key", CLIENT_KEY, "-n", "2"),
        ],
        tmp_path,
        paths=("conformance/roles/crm_client",),
    )
    assert re.search(r"the suite serves the PBX API at http://127\.0\.0\.1:\d+", run.stdout), (
        run.stdout[-3000:] + run.stderr[-3000:]
    )
    assert run.results["cases"]


def test_a_listener_failure_is_a_suite_error(tmp_path: Path) -> None:
    """The owner's listener fails on every notification: the cases and the exit status
    (3) say so on the controller."""
    run = run_suite(
        ["-p", "tests.listener_bug", "--events-timeout", "5", *FAST, "-n", "2"],
        tmp_path,
        paths=("conformance/roles/pbx_events",),
    )
    assert run.returncode == 3, run.stdout[-3000:]
    assert {c["verdict"] for c in run.results["cases"]} == {"error"}
    assert "a bug planted in the listener" in run.stdout


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        ([], {"VATS_SEED": "bogus"}, "ERROR: VATS_SEED: expected a number, got 'bogus'"),
        (["--dist", "loadfile"], {}, "ERROR: --dist loadfile: the conformance cases run under"),
    ],
    ids=["bad-setting", "other-dist"],
)
def test_a_usage_error_is_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], said: str
) -> None:
    run = run_suite(
        [*FAST, "-n", "2", *args], tmp_path, env=env, paths=("conformance/roles/crm_webhook",)
    )
    assert run.returncode == 4, run.stdout[-3000:] + run.stderr[-3000:]
    assert said in run.stdout + run.stderr
    assert "INTERNALERROR" not in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_an_interrupted_run_exits_2_with_its_report(tmp_path: Path) -> None:
    run = run_suite(
        [*FAST, "-n", "2", "-p", "tests.interrupting"],
        tmp_path,
        paths=("conformance/roles/crm_webhook",),
    )
    assert run.returncode == 2, run.stdout[-3000:]
    assert run.results["cases"]


# -- the scheduler, without a run ---------------------------------------------------


class _Node:
    """What xdist's schedulers use of a worker."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduler(
    ids: list[str], bound: list[str] | None, first: Sequence[str] = ()
) -> tuple[Any, dict[str, _Node]]:
    """A ``Pinning`` fed two workers (gw1 ready first) that collected ``ids``, with gw0's
    plan naming ``bound`` (None: a run without cases) and the generated cases ``first``."""
    options = {"tx": ["popen"] * 2, "maxschedchunk": None, "dist": "load"}
    config = SimpleNamespace(
        stash=pytest.Stash(),
        getvalue=options.get,
        getoption=options.get,
        option=SimpleNamespace(loadscopereorder=True),
    )
    if bound is not None:
        config.stash[xdist._PLAN] = {"bound": bound, "first": list(first)}
    scheduler = xdist.Pinning(config, None)  # type: ignore[arg-type]
    nodes = {name: _Node(name) for name in ("gw1", "gw0")}
    for node in nodes.values():
        scheduler.add_node(node)
    for node in nodes.values():
        scheduler.add_node_collection(node, ids)
    scheduler.schedule()
    return scheduler, nodes


def _finish(scheduler: Any, nodes: dict[str, _Node]) -> dict[str, list[int]]:
    """Complete every case sent, in turn, until the scheduler has none left to send
    (xdist then lets the workers finish what they hold)."""
    done: dict[str, list[int]] = {name: [] for name in nodes}
    while True:
        left = [(name, node) for name, node in nodes.items() if len(done[name]) < len(node.sent)]
        if not left:
            assert scheduler.tests_finished, "the scheduler holds cases no worker was sent"
            return done
        for name, node in left:
            index = node.sent[len(done[name])]
            done[name].append(index)
            scheduler.mark_test_complete(node, index)


def test_the_scheduler_sends_gw0_the_bound_cases_first_and_only_to_it() -> None:
    ids = [f"w{i}" for i in range(4)] + ["b0", "b1", "b2"] + [f"w{i}" for i in range(4, 8)]
    scheduler, nodes = _scheduler(ids, ["b0", "b1", "b2"])
    assert [ids[i] for i in nodes["gw0"].sent[:3]] == ["b0", "b1", "b2"]
    done = _finish(scheduler, nodes)
    assert not {ids[i] for i in done["gw1"]} & {"b0", "b1", "b2"}
    assert sorted(done["gw0"] + done["gw1"]) == list(range(len(ids)))  # each once


def test_the_scheduler_hands_out_the_generated_cases_first() -> None:
    """The long cases (generated, D62) go before the short ones, so that the run's
    last case is a short one; the bound unit still goes to gw0 first."""
    ids = ["s0", "g0", "s1", "b0", "b1", "s2", "g1", "s3"]
    scheduler, nodes = _scheduler(ids, ["b0", "b1"], first=["g0", "g1"])
    assert [ids[i] for i in nodes["gw0"].sent[:2]] == ["b0", "b1"]
    assert [ids[i] for i in nodes["gw1"].sent[:2]] == ["g0", "g1"]
    done = _finish(scheduler, nodes)
    order = [ids[i] for i in done["gw1"]]
    assert order[:2] == ["g0", "g1"]
    assert sorted(done["gw0"] + done["gw1"]) == list(range(len(ids)))  # each once


def test_the_generated_cases_go_first_when_nothing_is_bound() -> None:
    """A run against a CRM alone (--crm-url) binds no case to gw0: the generated cases
    still go out first, to whichever worker is free (found in review)."""
    ids = ["s0", "g0", "s1", "s2", "g1", "s3"]
    scheduler, nodes = _scheduler(ids, [], first=["g0", "g1"])
    assert sorted(ids[node.sent[0]] for node in nodes.values()) == ["g0", "g1"]
    done = _finish(scheduler, nodes)
    assert sorted(done["gw0"] + done["gw1"]) == list(range(len(ids)))  # each once


def test_the_scheduler_keeps_gw0_when_only_bound_cases_run() -> None:
    _, nodes = _scheduler(["b0", "b1"], ["b0", "b1"])
    assert nodes["gw0"].sent == [0, 1]
    assert nodes["gw1"].sent == []
    assert nodes["gw1"].shutting_down


def test_the_scheduler_is_xdists_own_in_a_run_without_cases() -> None:
    from xdist.scheduler import LoadScheduling

    scheduler, nodes = _scheduler(["t0", "t1", "t2", "t3"], None)
    assert isinstance(scheduler.chosen, LoadScheduling)
    done = _finish(scheduler, nodes)
    assert sorted(done["gw0"] + done["gw1"]) == [0, 1, 2, 3]
