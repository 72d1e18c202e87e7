"""What a run tests, and what it says about itself: the oracle's start-up check,
``--no-calls``, roles without a target, and the suite's own errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from conformance.reference.crm import ReferenceCrm
from tests.support import CLIENT_ID, CLIENT_KEY, crm_args, oracle, run_suite, serving
from tests.test_pbx_faults import REFERENCE, serving_pbx

if TYPE_CHECKING:
    from pathlib import Path


def test_an_oracle_that_cannot_tell_is_a_usage_error(tmp_path: Path) -> None:
    """A --crm-oracle that answers the same for an accepted call and an unknown one."""
    with serving(ReferenceCrm(CLIENT_ID, CLIENT_KEY, oracle=True)) as url:
        run = run_suite(
            crm_args(url, "--crm-oracle", f"{url}/nowhere/{{session_id}}"), tmp_path / "r"
        )
    assert run.returncode == 4, run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, run.stderr
    assert errors[0].startswith("ERROR: --crm-oracle: it does not tell a call the CRM accepted")
    assert "answered HTTP 404" in errors[0]
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "r" / "results.json").exists()


def test_a_working_oracle_is_used(tmp_path: Path) -> None:
    with serving(ReferenceCrm(CLIENT_ID, CLIENT_KEY, oracle=True)) as url:
        run = run_suite(crm_args(url, *oracle(url), "-k", "crm.sign.missing"), tmp_path)
    assert run.returncode == 0, run.stdout
    assert run.results["controls"]["crm-webhook"]["oracle"] == "explicit"
    case = next(c for c in run.results["cases"] if c["id"] == "crm.sign.missing")
    urls = [ex["request"]["url"] for ex in case["exchanges"]]
    assert any("/oracle/" in u for u in urls), urls


def test_roles_without_a_target_are_not_run(tmp_path: Path) -> None:
    """--crm-url alone: the PBX roles are deselected and said so, not reported as skips."""
    with serving(ReferenceCrm(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite(crm_args(url), tmp_path)
    assert run.returncode == 0, run.stdout
    roles = {c["role"] for c in run.results["cases"]}
    assert roles == {"crm-webhook"}
    deselected = run.results["deselected"]
    assert any(reason.startswith("pbx-api cases: no --pbx-url") for reason in deselected)
    assert any(reason.startswith("pbx-events cases") for reason in deselected)
    assert "not run:" in run.stdout
    assert run.results["summary"]["skip"] == 0


def test_no_calls_runs_only_what_places_no_call(tmp_path: Path) -> None:
    with serving_pbx(REFERENCE) as (url, _listen):
        args = ["--pbx-url", url, "--client-id", CLIENT_ID, "--client-key", CLIENT_KEY]
        run = run_suite([*args, "--no-calls", "--examples", "3"], tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    ran = {c["id"].split("[")[0] for c in run.results["cases"]}
    assert ran, run.stdout
    assert "pbx.get-record.unknown-session" in ran
    assert not any(
        case_id.startswith(("pbx.sign.", "events.", "pbx.call-back.")) for case_id in ran
    )
    assert "cases that place a call: --no-calls" in run.results["deselected"]
    assert f"ran {len(run.results['cases'])} of" in run.stdout
    assert run.results["summary"]["skip"] <= 2  # the opt-in destructive cases


def test_the_suites_own_fault_is_an_error_not_a_fail(tmp_path: Path) -> None:
    with serving(ReferenceCrm(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite(
            crm_args(url, "-p", "tests.suite_bug", "-k", "name_case or charset"), tmp_path
        )
    assert run.returncode == 3, run.stdout + run.stderr
    verdicts = set(run.verdicts().values())
    assert verdicts == {"error"}, run.verdicts()
    assert run.results["summary"]["fail"] == 0
    assert run.results["summary"]["error"] == len(run.results["cases"])
    detail = run.results["cases"][0]["detail"]
    assert "suite error, not a finding about the target: ZeroDivisionError" in detail
    assert "SUITE ERRORS" in run.stdout
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("errors") == str(len(run.results["cases"]))
    assert suite.get("failures") == "0"
    assert suite.find("testcase/error") is not None
