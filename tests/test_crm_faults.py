"""Every check fires: each broken receiver of ``tests/faults/crm.py`` is graded ``fail``.

Each fault is served on loopback and the real suite is run against it in a
child process (the real command line, exit status and results.json), given the
receiver's side-effect oracle unless the fault is one the wire alone must show.
The reference receiver, served the same way, is the control: no ``fail`` at all.
The runs the selected tests need start together, a few at a time (``Background``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from conformance.reference.crm import Answer, ReferenceCrm
from tests.faults.crm import (
    FAULTS,
    NAMES_AS_SENT,
    OPTIONS,
    SOFT_FAULTS,
    WITHOUT_ORACLE,
    IsRecordStringOnly,
)
from tests.support import (
    CLIENT_ID,
    CLIENT_KEY,
    Background,
    SuiteRun,
    crm_args,
    oracle,
    run_suite,
    serving,
)

if TYPE_CHECKING:
    from pathlib import Path

    from conformance.reference.web import Request

#: Every run this module reads: name -> (receiver class, suite options, given its oracle).
RUNS: dict[str, tuple[type[ReferenceCrm], tuple[str, ...], bool]] = {
    **{
        name: (cls, OPTIONS.get(name, ()), name not in WITHOUT_ORACLE)
        for name, (cls, _) in FAULTS.items()
    },
    **{f"soft:{name}": (cls, options, True) for name, (cls, options, _) in SOFT_FAULTS.items()},
    "reference:guide": (ReferenceCrm, ("--profile", "guide"), True),
    "reference:field": (ReferenceCrm, ("--profile", "field"), True),
    "content-bug:field": (IsRecordStringOnly, ("--profile", "field"), True),
}


def run_against(
    app: ReferenceCrm,
    options: Iterable[str],
    report_dir: Path,
    *,
    with_oracle: bool = True,
    names_as_sent: bool = False,
) -> SuiteRun:
    """The whole suite (``FAST``) against ``app`` served on 127.0.0.1, given its oracle."""
    with serving(app, names_as_sent=names_as_sent) as url:
        extra = oracle(url) if with_oracle and app.oracle_path else ()
        return run_suite(crm_args(url, *options, *extra), report_dir)


def make(cls: type[ReferenceCrm]) -> ReferenceCrm:
    return cls(CLIENT_ID, CLIENT_KEY, oracle=True)


def _run(name: str, report_dir: Path) -> SuiteRun:
    cls, options, with_oracle = RUNS[name]
    return run_against(
        make(cls),
        options,
        report_dir,
        with_oracle=with_oracle,
        names_as_sent=name in NAMES_AS_SENT,
    )


def _names(item: pytest.Item) -> list[str]:
    """The runs a test of this module reads."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    name, profile = params.get("name"), params.get("profile")
    by_test = {
        "test_fault_is_failed": [name],
        "test_the_root_cause_is_diagnosed": [name],
        "test_soft_fault_is_graded": [f"soft:{name}"],
        "test_reference_has_no_failures": [f"reference:{profile}"],
        "test_a_content_bug_is_not_blamed_on_signatures": [
            "is-record-string-only" if profile == "guide" else "content-bug:field"
        ],
        "test_a_crm_that_stops_answering_is_failed_once": ["dies-after-deep-nesting"],
        "test_the_case_that_killed_it_fails_and_no_other": ["dies-on-second-long-body"],
    }
    return [n for n in by_test.get(getattr(item, "originalname", item.name), []) if n in RUNS]


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Background]:
    started = Background(tmp_path_factory.mktemp("crm-runs"), _run)
    started.start_selected(request, _names)
    yield started
    started.close()


def explain(run: SuiteRun, cases: Iterable[str] = ()) -> str:
    """What a failed assertion needs: exit status, verdicts, and the output about ``cases``."""
    if not (run.report_dir / "results.json").exists():
        return (
            f"no results.json (exit {run.returncode})\nstdout:\n{run.stdout[-3000:]}\n"
            f"stderr:\n{run.stderr[-3000:]}"
        )
    verdicts = run.verdicts()
    wanted = sorted(set(cases))
    lines = [
        f"exit status {run.returncode}",
        f"fail: {sorted(run.with_verdict('fail'))}",
        f"non-strict: {sorted(run.with_verdict('non-strict'))}",
        f"info: {sorted(run.with_verdict('info'))}",
    ]
    lines += [
        f"  {case_id}: {verdict}"
        for case_id, verdict in sorted(verdicts.items())
        if case_id.split("[")[0] in wanted
    ]
    for case in run.results["cases"]:
        if case["id"].split("[")[0] in wanted and case["verdict"] != "pass":
            lines += [f"--- {case['id']} ({case['verdict']}):", case["detail"][:800]]
    lines += [line for line in run.stdout.splitlines() if line.startswith("verdicts:")]
    return "\n".join(lines)


def test_catalogue_is_complete() -> None:
    assert len(FAULTS) >= 18
    for name, (cls, expected) in FAULTS.items():
        assert expected, f"{name}: no case named to catch it"
        assert cls.__doc__, f"{name}: no docstring naming the fault"
        assert "\n" not in cls.__doc__.strip(), f"{name}: a one-line docstring"
        own = {attr for attr in vars(cls) if not attr.startswith("__")}
        assert len(own) == 1, f"{name}: overrides {sorted(own)}, not exactly one step"
    assert set(NAMES_AS_SENT) <= set(FAULTS), "served apart: a fault of the catalogue"


@pytest.mark.parametrize("profile", ["guide", "field"])
def test_reference_has_no_failures(profile: str, runs: Background) -> None:
    run = runs.get(f"reference:{profile}")
    assert run.with_verdict("fail") == set(), explain(run, run.base_ids("fail"))
    assert run.returncode == 0, explain(run)
    assert run.results["controls"]["crm-webhook"]["oracle"] == "explicit"


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_is_failed(name: str, runs: Background) -> None:
    run = runs.get(name)
    _, expected = FAULTS[name]
    assert (run.report_dir / "results.json").exists(), explain(run)
    missed = expected - run.base_ids("fail")
    assert not missed, f"{name}: not graded fail by {sorted(missed)}\n{explain(run, expected)}"
    assert run.returncode == 1, explain(run, expected)


@pytest.mark.parametrize("name", sorted(SOFT_FAULTS))
def test_soft_fault_is_graded(name: str, runs: Background) -> None:
    _, _, expected = SOFT_FAULTS[name]
    run = runs.get(f"soft:{name}")
    everything = set().union(*expected.values())
    for verdict, cases in expected.items():
        missed = cases - run.base_ids(verdict)
        assert not missed, (
            f"{name}: not graded {verdict} by {sorted(missed)}\n{explain(run, everything)}"
        )
    assert run.with_verdict("fail") == set(), explain(run, run.base_ids("fail"))
    assert run.returncode == 0, explain(run, everything)


CONTENT_ONLY = ("crm.content.", "crm.field.")


@pytest.mark.parametrize("profile", ["guide", "field"])
def test_a_content_bug_is_not_blamed_on_signatures(profile: str, runs: Background) -> None:
    """A 500 on the guide's boolean is_record fails content cases only, under either profile:
    the baseline carries no is_record, and the other cases write it as the CRM reads it."""
    run = runs.get("is-record-string-only" if profile == "guide" else "content-bug:field")
    failed = run.with_verdict("fail")
    assert failed, explain(run)
    assert all(case_id.startswith(CONTENT_ONLY) for case_id in failed), explain(run, failed)
    assert not any(case_id.startswith("crm.field.") for case_id in failed), explain(run, failed)
    assert run.results["readings"]["crm-webhook"]["is_record"]["used"] == "string"


#: Faults whose root cause a diagnosis names: fault -> (diagnosis id, the case that isolates it).
DIAGNOSED = {
    "is-record-string-only": ("field-shape:call_events:is_record:boolean", "crm.reading.is-record"),
    "php-reencoded": ("reserialised-body:call_events", None),
    "cp1251-hash": ("reserialised-body:call_events", None),
    "reserialised-json": ("reserialised-body:call_events", None),
    "key-body-order": ("no-baseline:crm-webhook", "crm.sign.valid"),
}


@pytest.mark.parametrize("name", sorted(DIAGNOSED))
def test_the_root_cause_is_diagnosed(name: str, runs: Background) -> None:
    """One diagnosis names the cause; the cases it explains include every failing one of
    the fault's named cases (results.json "diagnoses")."""
    run = runs.get(name)
    wanted, isolating = DIAGNOSED[name]
    diagnoses = {d["id"]: d for d in run.results["diagnoses"]}
    assert wanted in diagnoses, sorted(diagnoses)
    found = diagnoses[wanted]
    if isolating:
        assert found["isolated_by"] == isolating, found
    failing = {c for c in run.with_verdict("fail") if c.split("[")[0] in FAULTS[name][1]}
    assert failing <= set(found["cases"]), (failing - set(found["cases"]), found)
    assert found["fix"]
    assert found["section"]


def test_a_crm_that_stops_answering_is_failed_once(runs: Background) -> None:
    """The case whose fault killed it fails; later cases prove nothing and say why."""
    run = runs.get("dies-after-deep-nesting")
    assert run.with_verdict("fail") == {"crm.input.deeply-nested"}, explain(run)
    later = [c for c in run.results["cases"] if "stopped answering after" in c["detail"]]
    assert any(c["verdict"] == "skip" for c in later), explain(run)


def test_the_case_that_killed_it_fails_and_no_other(runs: Background) -> None:
    """A 500 to one long body, death at the next: two fails, each for what it did."""
    run = runs.get("dies-on-second-long-body")
    assert run.base_ids("fail") == {"crm.sign.long-body", "crm.sign.body-altered-tail"}, explain(
        run
    )
    tail = next(c for c in run.results["cases"] if c["id"] == "crm.sign.body-altered-tail")
    assert "stopped answering after" in tail["detail"]


class _RestartsAfterDeepNesting(ReferenceCrm):
    """Down for a moment after a deep body (a restart), then up again; 500 to a repeat."""

    def handle(self, request: Request) -> Answer:
        down = self.__dict__.setdefault("down_until", [0.0])
        if time.monotonic() < down[0]:
            return Answer(503, "restarting")
        answer = super().handle(request)
        if "nests too deeply" in answer.message:
            down[0] = time.monotonic() + 1.5
            return Answer(500, "internal error: RecursionError")
        return answer

    def record(self, doc: dict[str, Any]) -> Answer:
        if str(doc["state"]) in self.sessions.get(doc["session_id"], []):
            raise KeyError("duplicate")
        return super().record(doc)


def test_a_crm_that_restarts_is_judged_again(tmp_path: Path) -> None:
    """Down longer than the timeout after one fault, then back: its later 500s are failed
    again, not skipped as if it were still down."""
    run = run_against(
        make(_RestartsAfterDeepNesting), ("--sut-timeout", "1"), tmp_path, with_oracle=True
    )
    assert "crm.input.deeply-nested" in run.base_ids("fail"), explain(run)
    assert "crm.lifecycle.duplicate" in run.base_ids("fail"), explain(run)
