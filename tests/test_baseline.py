"""``--baseline``: known deviations do not fail the run; a listed case that passes does."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.reference.crm import ReferenceCrm
from tests.faults.crm import SignatureOnlyIfPresent
from tests.support import CLIENT_ID, CLIENT_KEY, crm_args, oracle, run_suite, serving

#: The signature cases of a CRM that checks a signature only when one is sent.
SELECT = ("-k", "crm.sign.missing or crm.sign.empty or valid_signature")


def _baseline(tmp_path: Path, text: str) -> str:
    path = tmp_path / "baseline.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_known_deviations_do_not_fail_the_run(tmp_path: Path) -> None:
    baseline = _baseline(
        tmp_path,
        '[[known]]\nid = "crm.sign.missing"\nreason = "TICKET-1: fixed in 2.4"\n\n'
        '[[known]]\nid = "crm.sign.empty"\nreason = "TICKET-1"\n',
    )
    with serving(SignatureOnlyIfPresent(CLIENT_ID, CLIENT_KEY, oracle=True)) as url:
        run = run_suite(
            crm_args(url, *SELECT, *oracle(url), "--baseline", baseline), tmp_path / "r"
        )
    assert run.returncode == 0, run.stdout
    cases = {c["id"]: c for c in run.results["cases"]}
    assert cases["crm.sign.missing"]["verdict"] == "fail"
    assert cases["crm.sign.missing"]["known"] == "TICKET-1: fixed in 2.4"
    assert run.results["baseline"]["known"] == ["crm.sign.empty", "crm.sign.missing"]
    assert "2 known deviation(s)" in run.stdout
    junit = (tmp_path / "r" / "junit.xml").read_text(encoding="utf-8")
    assert 'failures="0"' in junit
    assert "KNOWN (TICKET-1: fixed in 2.4)" in junit


def test_a_listed_case_that_passes_fails_the_run(tmp_path: Path) -> None:
    baseline = _baseline(tmp_path, '[[known]]\nid = "crm.sign.missing"\nreason = "old bug"\n')
    with serving(ReferenceCrm(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite(crm_args(url, *SELECT, "--baseline", baseline), tmp_path / "r")
    assert run.returncode == 1, run.stdout
    assert run.results["baseline"]["stale"] == ["crm.sign.missing"]
    assert "STALE (now passing, remove): crm.sign.missing" in run.stdout
    assert 'type="stale"' in (tmp_path / "r" / "junit.xml").read_text(encoding="utf-8")


def test_an_id_without_parameters_covers_them_all(tmp_path: Path) -> None:
    baseline = _baseline(tmp_path, '[[known]]\nid = "crm.sign.altered"\nreason = "x"\n')
    with serving(SignatureOnlyIfPresent(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite(
            crm_args(url, "-k", "crm.sign.altered", "--baseline", baseline),
            tmp_path / "r",
        )
    # The fault does not touch altered signatures: they pass, so the entry is stale.
    assert run.returncode == 1
    assert set(run.results["baseline"]["stale"]) == {
        c["id"] for c in run.results["cases"] if c["id"].startswith("crm.sign.altered")
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "is not valid TOML"),
        ('[[known]]\nid = "x"\n', "entry 1: expected exactly the keys id and reason"),
        ('[[known]]\nid = "x"\nreason = ""\n', "entry 1 (x): reason must be given"),
        ('[[known]]\nid="x"\nreason="a"\n[[known]]\nid="x"\nreason="b"\n', "x is listed twice"),
        ('[other]\nid = "x"\n', "unexpected key 'other'"),
    ],
)
def test_bad_baseline_file(tmp_path: Path, text: str, message: str) -> None:
    run = run_suite(["--baseline", _baseline(tmp_path, text)], tmp_path / "r")
    assert run.returncode == 4
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, run.stderr
    assert message in errors[0]


def test_missing_baseline_file(tmp_path: Path) -> None:
    run = run_suite(["--baseline", str(tmp_path / "nope.toml")], tmp_path / "r")
    assert run.returncode == 4
    assert "--baseline: cannot read" in run.stderr


def test_an_interrupted_run_exits_2_whatever_its_verdicts(tmp_path: Path) -> None:
    """Interrupted after its first case, with a stale entry that would exit 1: the run did
    not finish, so its status is pytest's 2; the report of what ran is still written."""
    baseline = _baseline(tmp_path, '[[known]]\nid = "crm.sign.missing"\nreason = "old bug"\n')
    with serving(ReferenceCrm(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite(
            crm_args(
                url, "-k", "crm.sign.missing", "--baseline", baseline, "-p", "tests.interrupting"
            ),
            tmp_path / "r",
        )
    assert run.returncode == 2, run.stdout
    assert "KeyboardInterrupt" in run.stdout
    assert [c["id"] for c in run.results["cases"]] == ["crm.sign.missing"]
    assert run.results["baseline"]["stale"] == ["crm.sign.missing"]
