"""Correct but different receivers get no ``fail``: the suite grades behaviour, not the reference.

Each is served on loopback and the real suite is run against it in a child
process; the soft verdicts a receiver earns by its choices are asserted too,
so that these tests prove the grading and not only an absence of failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conformance.reference.crm import ReferenceCrm
from tests.faults.crm import SIGN_REFUSAL
from tests.faults.different import (
    AcknowledgesAnything,
    EmptyOkToEverything,
    GuideStrictCrm,
    HtmlRefusals,
    IgnoresClientId,
    LifecycleStrictCrm,
    LifecycleStrictForIncoming,
    NumberTimestampOnly,
    PathologicalCrashes,
    QueuedCrm,
    ReplayWindowCrm,
    WarmingUpCrm,
    stdlib_receiver,
)
from tests.support import CLIENT_ID, CLIENT_KEY, SuiteRun, crm_args, oracle, run_suite, serving
from tests.test_crm_faults import explain

if TYPE_CHECKING:
    from pathlib import Path

    from conformance.reference.web import Handler


def run_against(app: Handler, tmp_path: Path, *, with_oracle: bool = False) -> SuiteRun:
    with serving(app) as url:
        return run_suite(crm_args(url, *(oracle(url) if with_oracle else ())), tmp_path)


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


#: The refusal cases of forged notifications (rows of spec/mutations.py, the long body).
FORGERIES = SIGN_REFUSAL | {"crm.sign.body-altered-tail", "crm.identity.none"}


def test_200_with_an_empty_body_to_everything(tmp_path: Path) -> None:
    """It discards forgeries but says 200 to them: nothing on the wire shows a refusal."""
    run = run_against(EmptyOkToEverything(ReferenceCrm(CLIENT_ID, CLIENT_KEY)), tmp_path / "a")
    assert_no_failure(run)
    assert run.results["controls"]["crm-webhook"]["oracle"] == "none"
    assert_graded(run, "non-strict", FORGERIES)
    forged = next(c for c in run.results["cases"] if c["id"] == "crm.sign.missing")
    assert "--crm-oracle" in forged["detail"]


def test_200_with_an_empty_body_to_everything_with_an_oracle(tmp_path: Path) -> None:
    """Given its oracle, the same receiver shows it processed none of them: pass."""
    app = EmptyOkToEverything(ReferenceCrm(CLIENT_ID, CLIENT_KEY, oracle=True))
    run = run_against(app, tmp_path, with_oracle=True)
    assert_no_failure(run)
    assert_graded(run, "pass", FORGERIES)


def test_ignores_client_id(tmp_path: Path) -> None:
    """What it accepts only the key holder can sign: non-strict, never fail (D6)."""
    run = run_against(
        IgnoresClientId(CLIENT_ID, CLIENT_KEY, oracle=True), tmp_path, with_oracle=True
    )
    assert_no_failure(run)
    assert_graded(
        run, "non-strict", {"crm.identity.missing", "crm.identity.empty", "crm.identity.foreign"}
    )
    assert_graded(run, "pass", {"crm.identity.none", "crm.identity.foreign-signed"})


def test_strict_about_the_lifecycle(tmp_path: Path) -> None:
    """409 to calls it never saw and to repeats: refusal cases are neither fooled nor failing."""
    run = run_against(LifecycleStrictCrm(CLIENT_ID, CLIENT_KEY), tmp_path)
    assert_no_failure(run)
    assert run.results["controls"]["crm-webhook"]["oracle"] == "lifecycle"
    assert_graded(run, "pass", FORGERIES)
    assert_graded(run, "non-strict", {"crm.lifecycle.duplicate", "crm.lifecycle.out-of-order"})


def test_server_errors_on_pathological_bodies(tmp_path: Path) -> None:
    """A framework's unguarded parsing: non-strict on input no PBX sends, while it answers."""
    run = run_against(PathologicalCrashes(CLIENT_ID, CLIENT_KEY), tmp_path)
    assert_no_failure(run)
    assert_graded(
        run,
        "non-strict",
        {
            "crm.input.deeply-nested",
            "crm.input.invalid-utf8",
            "crm.input.malformed-json",
            "crm.input.empty-body",
            "crm.input.non-object",
        },
    )


def test_replay_protection(tmp_path: Path) -> None:
    """It refuses notifications dated a day away: the suite's calls are dated now."""
    run = run_against(ReplayWindowCrm(CLIENT_ID, CLIENT_KEY), tmp_path)
    assert_no_failure(run)
    assert run.results["controls"]["crm-webhook"]["baseline"] is not None


def test_a_queue_behind_the_webhook(tmp_path: Path) -> None:
    """202 at once, recorded a moment later: the oracle is waited for, not declared broken."""
    run = run_against(QueuedCrm(CLIENT_ID, CLIENT_KEY, oracle=True), tmp_path, with_oracle=True)
    assert_no_failure(run)
    assert run.results["controls"]["crm-webhook"]["oracle"] == "explicit"
    assert_graded(run, "pass", {"crm.sign.missing", "crm.sign.altered"})


def test_a_proxy_warming_up(tmp_path: Path) -> None:
    """502 to the first requests: the baseline is sent again, and found in the guide's spacing."""
    run = run_against(WarmingUpCrm(CLIENT_ID, CLIENT_KEY), tmp_path)
    assert_no_failure(run)
    assert run.verdicts()["crm.sign.valid"] == "pass"
    assert run.results["controls"]["crm-webhook"]["baseline"]["spelling"] == "raw-utf8"


def test_lifecycle_strict_for_incoming_calls_only(tmp_path: Path) -> None:
    """Its lifecycle tells for incoming calls only: no forgery of another kind is failed
    for what the lifecycle cannot tell."""
    run = run_against(LifecycleStrictForIncoming(CLIENT_ID, CLIENT_KEY), tmp_path)
    assert_no_failure(run)
    assert run.results["controls"]["crm-webhook"]["oracle"] == "lifecycle"


def test_the_tables_timestamp_only(tmp_path: Path) -> None:
    """A JSON-number timestamp only (E4, the table's reading): the run writes it so, and the
    guide's examples, refused with the examples' string, are accepted with the number."""
    run = run_against(NumberTimestampOnly(CLIENT_ID, CLIENT_KEY), tmp_path)
    assert run.results["readings"]["crm-webhook"]["timestamp"]["used"] == "unix-number"
    assert_no_failure(run)
    assert_graded(run, "info", {"crm.content.guide-example", "crm.reading.timestamp"})


def test_strict_about_the_lifecycle_run_twice(tmp_path: Path) -> None:
    """The second run meets the guide's examples it has already (their session id is the
    guide's): refused as duplicates, accepted on a call of their own -- info, not fail."""
    app = LifecycleStrictCrm(CLIENT_ID, CLIENT_KEY)
    with serving(app) as url:
        run_suite(crm_args(url, "-k", "guide_example"), tmp_path / "first")
        run = run_suite(crm_args(url), tmp_path / "second")
    assert_no_failure(run)
    assert_graded(run, "info", {"crm.content.guide-example"})
