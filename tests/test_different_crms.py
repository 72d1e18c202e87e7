"""Correct but different receivers get no ``fail``: the suite grades behaviour, not the reference.

Each is served on loopback and the real suite is run against it in a child
process; the soft verdicts a receiver earns by its choices are asserted too,
so that these tests prove the grading and not only an absence of failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.reference.crm import ReferenceCrm
from tests.faults.different import (
    AcknowledgesAnything,
    GuideStrictCrm,
    HtmlRefusals,
    stdlib_receiver,
)
from tests.support import CLIENT_ID, CLIENT_KEY, SuiteRun, crm_args, run_suite, serving
from tests.test_crm_faults import explain

if TYPE_CHECKING:
    from pathlib import Path

    from conformance.reference.server import WSGIApp


def run_against(app: WSGIApp, tmp_path: Path) -> SuiteRun:
    with serving(app) as url:
        return run_suite(crm_args(url), tmp_path)


def assert_no_failure(run: SuiteRun) -> None:
    assert (run.report_dir / "results.json").exists(), explain(run)
    assert run.with_verdict("fail") == set(), explain(run, run.base_ids("fail"))
    assert run.returncode == 0, explain(run)


def assert_graded(run: SuiteRun, verdict: str, cases: set[str]) -> None:
    missed = cases - run.base_ids(verdict)
    assert not missed, f"not graded {verdict}: {sorted(missed)}\n{explain(run, cases)}"


def test_stdlib_receiver_with_204_and_401(tmp_path: Path) -> None:
    with stdlib_receiver(CLIENT_ID, CLIENT_KEY) as url:
        run = run_suite(crm_args(url), tmp_path)
    assert_no_failure(run)
    # It accepts every shape of the guide and both readings of E4: nothing left to record
    # but the uppercase-hex choice and the production shapes it does not know.
    assert run.base_ids("non-strict") == set(), explain(run, run.base_ids("non-strict"))
    statuses = {
        ex["response"]["status"]
        for case in run.results["cases"]
        for ex in case["exchanges"]
        if ex["response"]
    }
    assert {204, 401} <= statuses, statuses


def test_html_403_refusals(tmp_path: Path) -> None:
    run = run_against(HtmlRefusals(ReferenceCrm(CLIENT_ID, CLIENT_KEY)), tmp_path)
    assert_no_failure(run)
    assert run.base_ids("non-strict") == set(), explain(run, run.base_ids("non-strict"))
    refusal = next(
        ex
        for case in run.results["cases"]
        if case["id"] == "crm.sign.wrong-key"
        for ex in case["exchanges"]
    )
    assert refusal["response"]["status"] == 403
    assert refusal["response"]["body"].startswith("<!DOCTYPE html>")


def test_strict_about_the_guide_types(tmp_path: Path) -> None:
    run = run_against(GuideStrictCrm(CLIENT_ID, CLIENT_KEY), tmp_path)
    assert_no_failure(run)
    assert_graded(
        run,
        "info",
        {"crm.field.shape", "crm.content.timestamp-number", "crm.content.guide-example-connected"},
    )
    assert_graded(run, "non-strict", {"crm.content.extra-fields"})
    refused = {
        case_id
        for case_id, verdict in run.verdicts().items()
        if case_id.startswith("crm.field.shape[") and verdict == "info"
    }
    assert {
        "crm.field.shape[timestamp-datetime]",
        "crm.field.shape[pins-as-strings]",
        "crm.field.shape[state-calling]",
        "crm.field.shape[is-record-string]",
    } <= refused, explain(run, {"crm.field.shape"})


def test_acknowledges_anything_signed(tmp_path: Path) -> None:
    run = run_against(AcknowledgesAnything(CLIENT_ID, CLIENT_KEY), tmp_path)
    assert_no_failure(run)
    assert_graded(
        run,
        "non-strict",
        {
            "crm.input.malformed-json",
            "crm.input.non-object",
            "crm.input.empty-body",
            "crm.input.invalid-utf8",
            "crm.input.deeply-nested",
            "crm.input.missing-required",
            "crm.input.wrong-value",
            "crm.input.explore-invalid",
        },
    )
