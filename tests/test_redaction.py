"""The client key appears in no output: not the terminal, not results.json, not Allure."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.reference.crm import Answer, ReferenceCrm
from conformance.reference.web import Request, Response
from tests.support import CLIENT_ID, CLIENT_KEY, crm_args, run_suite, serving


class _EchoesTheKey(ReferenceCrm):
    """A careless CRM that puts the key in its error messages and its 200 answers."""

    def handle(self, request):  # type: ignore[no-untyped-def]
        answer = super().handle(request)
        return Answer(
            answer.status if answer.status != 200 else 403,
            f"{answer.message}; expected sha256({self.client_id}+body+{CLIENT_KEY})",
            [("X-Debug-Key", CLIENT_KEY)],
        )


def _all_text(root: Path) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace") for p in root.rglob("*") if p.is_file()
    )


def test_key_is_redacted_everywhere(tmp_path: Path) -> None:
    allure = tmp_path / "allure"
    with serving(_EchoesTheKey(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite([*crm_args(url), "-rA", "-v", f"--alluredir={allure}"], tmp_path / "report")
    assert run.returncode == 1  # it refuses valid notifications: plenty of fails to print
    assert run.results["summary"]["fail"] > 10
    assert CLIENT_KEY not in run.stdout + run.stderr
    assert CLIENT_KEY not in _all_text(tmp_path / "report")
    assert CLIENT_KEY not in _all_text(allure)
    assert "[REDACTED]" in _all_text(tmp_path / "report")


def test_embedded_run_never_prints_the_key(tmp_path: Path) -> None:
    """Every role, the destructive ones too (they send the admin token), with Allure."""
    key = "0123456789ABCDEF0123456789ABCDEF"
    token = "admin-token-that-must-not-leak"
    allure = tmp_path / "allure"
    run = run_suite(
        ["--examples", "2", "-rA", "--destructive", f"--alluredir={allure}"],
        tmp_path / "report",
        env={"VATS_CLIENT_KEY": key, "VATS_PBX_ADMIN_TOKEN": token},
    )
    assert run.returncode == 0, run.stdout[-2000:]
    roles = {c["role"] for c in run.results["cases"]}
    assert roles == {"crm-webhook", "crm-client", "pbx-api", "pbx-events"}
    assert {"index.html", "junit.xml", "results.json"} <= {
        p.name for p in (tmp_path / "report").iterdir()
    }
    for secret in (key, token):
        assert secret not in run.stdout + run.stderr
        assert secret not in _all_text(tmp_path / "report")
        assert secret not in _all_text(allure)
    assert "Bearer [REDACTED]" in _all_text(tmp_path / "report")
    # JUnit and Allure carry every case, with its verdict.
    junit = (tmp_path / "report" / "junit.xml").read_text(encoding="utf-8")
    cases = run.results["cases"]
    assert junit.count("<testcase ") == len(cases)
    titles = {
        json.loads(p.read_text(encoding="utf-8"))["name"].split(": ", 1)[0]
        for p in allure.glob("*-result.json")
    }
    ran = {c["id"] for c in cases if c["verdict"] != "skip"}
    assert ran <= titles
    for case in cases:
        assert f'name="{case["id"]}"' in junit
        assert f'<property name="verdict" value="{case["verdict"]}" />' in junit


class _EchoesTheKeyInCp1251(ReferenceCrm):
    """Answers in cp1251 (not UTF-8: recorded as base64) with the key inside, past 200 bytes."""

    def __call__(self, request: Request) -> Response:
        body = ("Ошибка " + "." * 195 + CLIENT_KEY).encode("cp1251")
        return Response(403, body, [("Content-Type", "text/plain; charset=cp1251")])


def test_key_is_redacted_in_binary_and_cut_bodies(tmp_path: Path) -> None:
    import base64

    with serving(_EchoesTheKeyInCp1251(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite([*crm_args(url), "-k", "sign"], tmp_path / "report")
    text = _all_text(tmp_path / "report")
    assert CLIENT_KEY not in text + run.stdout + run.stderr
    for case in run.results["cases"]:
        for ex in case["exchanges"]:
            response = ex["response"] or {}
            if response.get("body_encoding") == "base64":
                assert CLIENT_KEY.encode() not in base64.b64decode(response["body"])
    assert CLIENT_KEY[:8] not in text
