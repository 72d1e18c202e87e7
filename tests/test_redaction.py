"""The client key appears in no output: not the terminal, not results.json, not Allure."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest

from conformance.reference.crm import Answer, ReferenceCrm
from conformance.reference.web import Request, Response
from conformance.transport.redact import pattern, redact, redact_bytes
from tests.support import CLIENT_ID, CLIENT_KEY, FAST, crm_args, run_suite, serving


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


def test_a_diagnosis_quoting_the_key_is_redacted(tmp_path: Path) -> None:
    """Diagnoses are made from the redacted document but may decode what they quote
    (tests/leaky_diagnosis.py adds one quoting the key): results.json, index.html and
    junit.xml show it redacted."""
    with serving(ReferenceCrm(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite(
            [*crm_args(url), "-p", "tests.leaky_diagnosis", "-k", "test_1_4_1_headers"],
            tmp_path / "report",
        )
    assert any(d["id"] == "leak" for d in run.results["diagnoses"]), run.stdout[-2000:]
    assert CLIENT_KEY not in _all_text(tmp_path / "report")
    assert "decoded: [REDACTED]" in (tmp_path / "report" / "results.json").read_text("utf-8")


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


# -- every form of the key (D54) ---------------------------------------------------------

#: A key with what every escaping touches: case, JSON (", /, \\), URL (space, +, &, =) and HTML.
ODD_KEY = 'Se\\cret/Key+With "Quotes" &<Amp>=1'


def _leaks(text: str, secret: str) -> bool:
    """Whether ``text`` shows ``secret`` to anyone who undoes one common encoding: any case,
    JSON string escapes, percent escapes (``+`` as space too), HTML references, base64 (either
    alphabet, from any character of a run) of the secret as given, lower or upper case; and
    escapes escaped once more (a Python repr of a JSON text)."""
    needle = secret.lower()
    readings = [text, unquote(text), unquote_plus(text), html.unescape(text), _unescape_json(text)]
    readings.append(_unescape_json(readings[-1]))  # a repr() of JSON text, as a detail quotes it
    if any(needle in r.lower() for r in readings):
        return True
    raw = {v.encode() for v in (secret, secret.lower(), secret.upper())}
    for found in re.findall(r"[A-Za-z0-9+/_-]{8,}", text):
        run = found.translate(str.maketrans("-_", "+/"))
        for start in range(4):
            part = run[start:]
            part = part[: len(part) - 1] if len(part) % 4 == 1 else part
            decoded = base64.b64decode(part + "=" * (-len(part) % 4))
            if any(r in decoded for r in raw):
                return True
    return False


def _unescape_json(text: str) -> str:
    """JSON's string escapes undone wherever they are (a whole file need not be JSON)."""
    short = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        return chr(int(code[1:], 16)) if code[0] == "u" else short.get(code, code)

    return re.sub(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])', one, text)


def _b64_inside(secret: str, prefix: bytes, *, urlsafe: bool = False) -> str:
    """base64 of ``secret`` inside a longer value, after ``prefix`` (its alignment)."""
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(prefix + secret.encode() + b" and more").decode()


FORMS: dict[str, Callable[[str], str]] = {
    "as given": lambda k: k,
    "lower case": str.lower,
    "upper case": str.upper,
    "mixed case": str.swapcase,
    "JSON": lambda k: json.dumps(k)[1:-1],
    "JSON, ensure_ascii": lambda k: json.dumps(k + "é", ensure_ascii=True)[1:-1],
    "JSON, every character escaped": lambda k: "".join(f"\\u{ord(c):04X}" for c in k),
    "JSON, slashes escaped (PHP)": lambda k: json.dumps(k)[1:-1].replace("/", "\\/"),
    "repr of JSON": lambda k: repr(json.dumps(k))[2:-2],
    "repr": lambda k: repr(k + "'")[1:-1],
    "quote": lambda k: quote(k, safe=""),
    "quote, path": quote,
    "quote_plus": quote_plus,
    "percent, lower hex": lambda k: "".join(f"%{b:02x}" for b in k.encode()),
    "percent, upper hex": lambda k: "".join(f"%{b:02X}" for b in k.encode()),
    "HTML": html.escape,
    "base64": lambda k: base64.b64encode(k.encode()).decode(),
    "base64, unpadded": lambda k: base64.b64encode(k.encode()).decode().rstrip("="),
    "base64, urlsafe": lambda k: base64.urlsafe_b64encode(k.encode()).decode(),
    "base64 of the lower case": lambda k: base64.b64encode(k.lower().encode()).decode(),
    "base64 inside, aligned": lambda k: _b64_inside(k, b"{}"),
    "base64 inside, after 1 byte": lambda k: _b64_inside(k, b"{"),
    "base64 inside, after 2 bytes": lambda k: _b64_inside(k, b"{ab"),
    "base64 inside, urlsafe, after 1 byte": lambda k: _b64_inside(k, b"?", urlsafe=True),
    "base64 inside, urlsafe, after 2 bytes": lambda k: _b64_inside(k, b"?>", urlsafe=True),
}


@pytest.mark.parametrize("key", [CLIENT_KEY, ODD_KEY], ids=["hex", "odd"])
@pytest.mark.parametrize("form", FORMS)
def test_each_form_of_the_key_is_redacted(form: str, key: str) -> None:
    text = f"expected sha256(id+body+{FORMS[form](key)}), got 1f2e"
    assert _leaks(text, key)  # the detector sees it: the test can fail
    redacted = redact(text, [key])
    assert not _leaks(redacted, key), redacted
    assert redacted.startswith("expected sha256(id+body+")
    assert "[REDACTED]" in redacted
    assert redacted.endswith(", got 1f2e") or "base64" in form  # a run's tail may stay


@pytest.mark.parametrize("form", FORMS)
def test_each_form_is_redacted_in_bytes(form: str) -> None:
    """What the client records from an answer (any charset) is scrubbed the same way."""
    data = b"\xff\xfe " + FORMS[form](ODD_KEY).encode() + b" \xff"
    redacted = redact_bytes(data, [ODD_KEY])
    assert not _leaks(redacted.decode("latin-1"), ODD_KEY)
    assert redacted.startswith(b"\xff\xfe ")
    assert b"[REDACTED]" in redacted


def test_redaction_leaves_other_text_alone() -> None:
    text = "call_id 00000716, state connected; MDAwMDA3MTZ; %30%30; \\u0030; &#48; Bearer x"
    assert redact(text, [CLIENT_KEY, "admin-token-that-must-not-leak"]) == text
    assert redact(text, []) == text
    assert redact(text, [""]) == text


def test_redaction_is_compiled_once_per_set_of_secrets() -> None:
    redact("warm", [CLIENT_KEY, ODD_KEY])
    before = pattern.cache_info().hits
    for _ in range(3):
        redact("text", [CLIENT_KEY, ODD_KEY])
    assert pattern.cache_info().hits == before + 3


class _EchoesEveryForm:
    """A careless CRM that echoes the key in every form ``FORMS`` lists, in its answers'
    bodies and headers, to every request."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: Request) -> Response:
        forms = {name: make(self.key) for name, make in FORMS.items()}
        # The key in the JSON answer (JSON-escaped once), then every form as it is.
        body = json.dumps({"result": 1, "resultMessage": f"bad sign, expected {self.key}"})
        body += "\n" + "\n".join(forms.values())
        headers = [
            (f"X-Debug-{n}", forms[name])
            for n, name in enumerate(("quote", "percent, upper hex", "base64", "lower case"))
        ]
        return Response(403, body.encode(), [("Content-Type", "application/json"), *headers])


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_a_run_against_a_crm_echoing_every_form_of_the_key_shows_none(tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    with serving(_EchoesEveryForm(ODD_KEY)) as url:
        run = run_suite(
            ["--crm-url", url, *FAST, "-rA", "-v"],
            report_dir,
            env={"VATS_CLIENT_ID": CLIENT_ID, "VATS_CLIENT_KEY": ODD_KEY},
        )
    assert run.returncode == 1, run.stdout[-2000:]  # it refuses everything: fails to print
    assert not _leaks(run.stdout + run.stderr, ODD_KEY)
    for name in ("junit.xml", "index.html"):
        assert not _leaks((report_dir / name).read_text(encoding="utf-8"), ODD_KEY), name
    strings = _strings(run.results)
    assert any("[REDACTED]" in s for s in strings)
    leaking = [s[:200] for s in strings if _leaks(s, ODD_KEY)]
    assert not leaking
