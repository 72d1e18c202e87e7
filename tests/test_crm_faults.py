"""Every check fires: each broken receiver of ``tests/faults/crm.py`` is graded ``fail``.

Each fault is served on loopback and the real suite is run against it in a
child process (the real command line, exit status and results.json), given the
receiver's side-effect oracle unless the fault is one the wire alone must show.
The reference receiver, served the same way, is the control: no ``fail`` at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pytest

from conformance.reference.crm import ReferenceCrm
from tests.faults.crm import FAULTS, OPTIONS, SOFT_FAULTS, WITHOUT_ORACLE, IsRecordStringOnly
from tests.support import CLIENT_ID, CLIENT_KEY, SuiteRun, crm_args, oracle, run_suite, serving

if TYPE_CHECKING:
    from pathlib import Path

RunFault = Callable[[str], SuiteRun]


def run_against(
    app: ReferenceCrm, options: Iterable[str], report_dir: Path, *, with_oracle: bool = True
) -> SuiteRun:
    """The whole suite (``FAST``) against ``app`` served on 127.0.0.1, given its oracle."""
    with serving(app) as url:
        extra = oracle(url) if with_oracle and app.oracle_path else ()
        return run_suite(crm_args(url, *options, *extra), report_dir)


def make(cls: type[ReferenceCrm]) -> ReferenceCrm:
    return cls(CLIENT_ID, CLIENT_KEY, oracle=True)


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


@pytest.fixture(scope="module")
def run_fault(tmp_path_factory: pytest.TempPathFactory) -> RunFault:
    """One suite run per fault, shared by the tests that read it."""
    runs: dict[str, SuiteRun] = {}

    def run(name: str) -> SuiteRun:
        if name not in runs:
            cls, _ = FAULTS[name]
            runs[name] = run_against(
                make(cls),
                OPTIONS.get(name, ()),
                tmp_path_factory.mktemp(name),
                with_oracle=name not in WITHOUT_ORACLE,
            )
        return runs[name]

    return run


def test_catalogue_is_complete() -> None:
    assert len(FAULTS) >= 18
    for name, (cls, expected) in FAULTS.items():
        assert expected, f"{name}: no case named to catch it"
        assert cls.__doc__, f"{name}: no docstring naming the fault"
        assert "\n" not in cls.__doc__.strip(), f"{name}: a one-line docstring"
        own = {attr for attr in vars(cls) if not attr.startswith("__")}
        assert len(own) == 1, f"{name}: overrides {sorted(own)}, not exactly one step"


@pytest.mark.parametrize("profile", ["guide", "field"])
def test_reference_has_no_failures(profile: str, tmp_path: Path) -> None:
    run = run_against(make(ReferenceCrm), ("--profile", profile), tmp_path)
    assert run.with_verdict("fail") == set(), explain(run, run.base_ids("fail"))
    assert run.returncode == 0, explain(run)
    assert run.results["controls"]["crm-webhook"]["oracle"] == "explicit"


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_is_failed(name: str, run_fault: RunFault) -> None:
    run = run_fault(name)
    _, expected = FAULTS[name]
    assert (run.report_dir / "results.json").exists(), explain(run)
    missed = expected - run.base_ids("fail")
    assert not missed, f"{name}: not graded fail by {sorted(missed)}\n{explain(run, expected)}"
    assert run.returncode == 1, explain(run, expected)


@pytest.mark.parametrize("name", sorted(SOFT_FAULTS))
def test_soft_fault_is_graded(name: str, tmp_path: Path) -> None:
    cls, options, expected = SOFT_FAULTS[name]
    run = run_against(make(cls), options, tmp_path)
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
def test_a_content_bug_is_not_blamed_on_signatures(profile: str, tmp_path: Path) -> None:
    """A 500 on the guide's boolean is_record fails content cases only, under either profile:
    the baseline carries no is_record, and the other cases write it as the CRM reads it."""
    run = run_against(make(IsRecordStringOnly), ("--profile", profile), tmp_path)
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
def test_the_root_cause_is_diagnosed(name: str, run_fault: RunFault) -> None:
    """One diagnosis names the cause; the cases it explains include every failing one of
    the fault's named cases (results.json "diagnoses")."""
    run = run_fault(name)
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


def test_a_crm_that_stops_answering_is_failed_once(run_fault: RunFault) -> None:
    """The case whose fault killed it fails; later cases prove nothing and say why."""
    run = run_fault("dies-after-deep-nesting")
    assert run.with_verdict("fail") == {"crm.input.deeply-nested"}, explain(run)
    later = [c for c in run.results["cases"] if "stopped answering after" in c["detail"]]
    assert any(c["verdict"] == "skip" for c in later), explain(run)
