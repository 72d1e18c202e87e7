"""Judging a CRM's X-Client-Sign (grading/signatures.py): the verdict, and how it was made.

Every sender below makes its signature its own way, written here independently of
the module (hashlib, hmac and json.dumps, not the module's guesses), and must be
told apart by the exact sentence the report will show.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conformance.grading.signatures import (
    MISSING,
    UPPERCASE,
    SignatureCheck,
    check_signature,
    guesses,
)
from conformance.spec import examples, jsontext, signing
from conformance.spec.mutations import ORDERS

CID = "000003C405E6525C64C184258C44EC99"
KEY = "00000716ABDA6D4DFF10F82BCBBFC532"
GUIDE_BODY = b'{"request_number": "+74951234567","from_sipuri": "test_user@cloudpbx.rt.ru"}'
GUIDE_SIGN = "fc95a524342dc68df90f7488e6d821c5a8a3b667d585490b50ebf939f1202c36"
CALL_BACK = "https://pbx.test/api/call_back"

#: A body every re-encoding changes: the guide's own spacing (", " nowhere, ": " after
#: keys), Cyrillic, a "/", and keys that are not sorted.
VALUE = {"request_number": "+74951234567", "from_sipuri": "sip:оператор@cloudpbx.rt.ru/офис"}
BODY = b'{"request_number": "+74951234567","from_sipuri": "%s"}' % VALUE["from_sipuri"].encode()

FORMULA = "X-Client-Sign is sha256hex(client_id + body + key), in that order (1.4.1)."
AS_SENT = "The signature covers the body exactly as sent, byte for byte (1.4.1, 1.4.2)."
QUERY = (
    "A GET without a body signs its raw query string as sent: "
    "sha256hex(client_id + query string + key) (1.4.1, D21)."
)
#: What the re-encodings change, in jsonfeatures' words, against BODY's own spelling.
COMPACT = "layout compact (',' and ':')"
SPACED = "layout spaced (', ' and ': ')"
LINES = "layout multi-line, LF line breaks"
ESCAPED = "non-ASCII \\uXXXX escapes"
SLASH = "slash \\/ escapes"
SORTED = "keys in another order"

Sender = Callable[[bytes, bytes, bytes], str]  # (client id, key, body) -> X-Client-Sign


def sha(*parts: bytes) -> str:
    return hashlib.sha256(b"".join(parts)).hexdigest()


def reencoded(dumps: Callable[[object], str]) -> Sender:
    """Signs, correctly, a re-encoding of the body it sends."""
    return lambda cid, key, body: sha(cid, dumps(json.loads(body)).encode(), key)


def order(fault: str, formula: str) -> str:
    return f"Signed {formula}: {fault}. {FORMULA}"


def reencoding(cause: str) -> str:
    return f"Signed a re-encoding of the body, not the bytes sent: {cause}. {AS_SENT}"


def php(value: object, **kw: Any) -> str:
    """PHP's json_encode escapes "/" as "\\/"; its other habits are json.dumps' own."""
    return json.dumps(value, **kw).replace("/", "\\/")


#: name -> (how the sender signs, the explanation it must get).
SENDERS: dict[str, tuple[Sender, str]] = {
    # The orders of mutations.ORDERS, each made by the table itself.
    **{
        f"order {name}": (
            lambda cid, key, body, name=name: sha(ORDERS[name](cid.decode(), body, key.decode())),
            text,
        )
        for name, text in {
            "key-body-id": order(
                "the client id and the key swapped", "sha256(key + body + client_id)"
            ),
            "body-id-key": order("the parts in another order", "sha256(body + client_id + key)"),
            "id-key-body": order("the parts in another order", "sha256(client_id + key + body)"),
            "key-body": order(
                "the client id left out; the parts in another order", "sha256(key + body)"
            ),
            "id-body": order("the key left out", "sha256(client_id + body)"),
        }.items()
    },
    "order key-id-body": (
        lambda cid, key, body: sha(key, cid, body),
        order("the parts in another order", "sha256(key + client_id + body)"),
    ),
    "order body-key-id": (
        lambda cid, key, body: sha(body, key, cid),
        order("the parts in another order", "sha256(body + key + client_id)"),
    ),
    "order body-key": (
        lambda cid, key, body: sha(body, key),
        order("the client id left out", "sha256(body + key)"),
    ),
    "order body-id": (
        lambda cid, key, body: sha(body, cid),
        order("the key left out; the parts in another order", "sha256(body + client_id)"),
    ),
    "order body": (
        lambda cid, key, body: sha(body),
        order("the client id and the key both left out", "sha256(body)"),
    ),
    "PHP json_encode": (
        reencoded(lambda v: php(v, separators=(",", ":"))),
        reencoding(f"{COMPACT}; {ESCAPED}; {SLASH}"),
    ),
    "PHP JSON_UNESCAPED_UNICODE": (
        reencoded(lambda v: php(v, separators=(",", ":"), ensure_ascii=False)),
        reencoding(f"{COMPACT}; {SLASH}"),
    ),
    "PHP JSON_UNESCAPED_SLASHES": (
        reencoded(lambda v: json.dumps(v, separators=(",", ":"))),
        reencoding(f"{COMPACT}; {ESCAPED}"),
    ),
    "PHP JSON_PRETTY_PRINT": (
        reencoded(lambda v: php(v, indent=4)),
        reencoding(f"{LINES}; {ESCAPED}; {SLASH}"),
    ),
    "JSON.stringify": (
        reencoded(lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False)),
        reencoding(COMPACT),
    ),
    "JSON.stringify, indent 2": (
        reencoded(lambda v: json.dumps(v, indent=2, ensure_ascii=False)),
        reencoding(LINES),
    ),
    "json.dumps": (reencoded(json.dumps), reencoding(f"{SPACED}; {ESCAPED}")),
    "json.dumps ensure_ascii=False": (
        reencoded(lambda v: json.dumps(v, ensure_ascii=False)),
        reencoding(SPACED),
    ),
    "json.dumps sort_keys": (
        reencoded(lambda v: json.dumps(v, sort_keys=True)),
        reencoding(f"{SPACED}; {ESCAPED}; {SORTED}"),
    ),
    "compact, sorted": (
        reencoded(
            lambda v: json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        ),
        reencoding(f"{COMPACT}; {SORTED}"),
    ),
    "json.dumps indent 2": (
        reencoded(lambda v: json.dumps(v, indent=2)),
        reencoding(f"{LINES}; {ESCAPED}"),
    ),
    "cp1251": (
        lambda cid, key, body: sha(cid, body.decode().encode("cp1251"), key),
        "Signed the body in another charset: cp1251, while the body sent is UTF-8. " + AS_SENT,
    ),
    "trailing newline": (
        lambda cid, key, body: sha(cid, body + b"\n", key),
        f"Signed the body with a trailing newline added, not the bytes sent. {AS_SENT}",
    ),
    "trailing CRLF": (
        lambda cid, key, body: sha(cid, body + b"\r\n", key),
        f"Signed the body with a trailing CRLF added, not the bytes sent. {AS_SENT}",
    ),
    "HMAC over the body": (
        lambda cid, key, body: hmac.new(key, body, "sha256").hexdigest(),
        "Signed HMAC-SHA256(key, body): a keyed hash, not a plain SHA-256 of the three "
        f"parts. {FORMULA}",
    ),
    "HMAC over id + body": (
        lambda cid, key, body: hmac.new(key, cid + body, "sha256").hexdigest(),
        "Signed HMAC-SHA256(key, client_id + body): a keyed hash, not a plain SHA-256 of "
        f"the three parts. {FORMULA}",
    ),
    "SHA-1": (
        lambda cid, key, body: hashlib.sha1(cid + body + key).hexdigest(),
        f"Signed sha1(client_id + body + key): SHA-1, not SHA-256. {FORMULA}",
    ),
    "MD5": (
        lambda cid, key, body: hashlib.md5(cid + body + key).hexdigest(),
        f"Signed md5(client_id + body + key): MD5, not SHA-256. {FORMULA}",
    ),
}


def check(got: str | None, body: bytes = BODY, *, key: str = KEY) -> SignatureCheck:
    return check_signature(CID, key, "POST", CALL_BACK, body, got)


def test_the_guides_vector_is_correct() -> None:
    assert check(GUIDE_SIGN, GUIDE_BODY) == SignatureCheck("correct", "")


def test_a_correct_signature_in_uppercase_is_uppercase() -> None:
    assert check(GUIDE_SIGN.upper(), GUIDE_BODY) == SignatureCheck("uppercase", UPPERCASE)


@pytest.mark.parametrize("got", [None, "", "   ", "\t"])
def test_no_signature_is_missing(got: str | None) -> None:
    assert check(got, GUIDE_BODY) == SignatureCheck("missing", MISSING)


@pytest.mark.parametrize(
    "got",
    [
        hashlib.sha256(b"signed by nobody").hexdigest(),
        hashlib.sha1(b"signed by nobody").hexdigest(),
        hashlib.md5(b"signed by nobody").hexdigest(),
        GUIDE_SIGN[:63],
        GUIDE_SIGN + "0",
        "zz" * 32,
        "Ж" * 64,
    ],
    ids=["sha256", "sha1", "md5", "short", "long", "not-hex", "not-ascii"],
)
def test_a_signature_no_guess_explains_is_wrong_without_an_explanation(got: str) -> None:
    assert check(got, GUIDE_BODY) == SignatureCheck("wrong", "")


@pytest.mark.parametrize("name", SENDERS)
def test_each_way_of_signing_wrongly_is_named(name: str) -> None:
    sender, explanation = SENDERS[name]
    assert check(sender(CID.encode(), KEY.encode(), BODY)) == SignatureCheck("wrong", explanation)


def test_uppercase_hex_is_said_on_top_of_the_cause() -> None:
    sender, explanation = SENDERS["order key-body"]
    got = check(sender(CID.encode(), KEY.encode(), BODY).upper())
    assert got == SignatureCheck(
        "wrong",
        f"{explanation} In uppercase hex, too, where the guide prints lowercase (1.4.2, D5).",
    )


def test_a_body_sent_in_cp1251_and_signed_in_utf8() -> None:
    sent = BODY.decode().encode("cp1251")
    assert check(signing.sign(CID, BODY, KEY), sent) == SignatureCheck(
        "wrong",
        f"Signed the body in another charset: UTF-8, while the body sent is cp1251. {AS_SENT}",
    )


def test_whitespace_stripped_before_signing() -> None:
    sent = b"\r\n" + BODY + b"\n"
    assert check(signing.sign(CID, BODY, KEY), sent) == SignatureCheck(
        "wrong",
        f"Signed the body with the whitespace around it stripped, not the bytes sent. {AS_SENT}",
    )


def test_a_body_that_is_not_json_skips_the_reencodings() -> None:
    sent = b"request_number=+74951234567"
    assert check(signing.sign(CID, sent + b"\n", KEY), sent).explanation.startswith(
        "Signed the body with a trailing newline added"
    )
    assert check(hashlib.sha256(CID.encode() + b"{}" + KEY.encode()).hexdigest(), sent) == (
        SignatureCheck("wrong", "")
    )


# A bodiless GET signs its raw query string (D21).

GET_URL = "https://pbx.test/api/get_record?session_id=1674-aFEQBQE%2F1&format=wav"
QUERY_STRING = b"session_id=1674-aFEQBQE%2F1&format=wav"
PARAMS = {"session_id": "1674-aFEQBQE/1", "format": "wav"}


def get(got: str) -> SignatureCheck:
    return check_signature(CID, KEY, "GET", GET_URL, b"", got)


def test_a_get_signs_its_raw_query_string() -> None:
    assert get(sha(CID.encode(), QUERY_STRING, KEY.encode())) == SignatureCheck("correct", "")


def test_a_get_with_a_body_signs_the_body() -> None:
    body = json.dumps(PARAMS).encode()
    got = signing.sign(CID, body, KEY)
    assert check_signature(CID, KEY, "GET", GET_URL, body, got) == SignatureCheck("correct", "")


@pytest.mark.parametrize(
    ("signed", "what"),
    [
        (json.dumps(PARAMS).encode(), "the JSON of the query parameters"),
        (json.dumps(PARAMS, separators=(",", ":")).encode(), "the JSON of the query parameters"),
        (GET_URL.encode(), "the full URL"),
        (b"/api/get_record?" + QUERY_STRING, "the path and the query string"),
        (b"?" + QUERY_STRING, "the query string with its leading '?'"),
        (b"session_id=1674-aFEQBQE/1&format=wav", "the query string percent-decoded"),
        (b"", "an empty string"),
    ],
)
def test_what_a_get_signed_instead_of_its_query_string(signed: bytes, what: str) -> None:
    got = sha(CID.encode(), signed, KEY.encode())
    reading = {"the JSON of the query parameters": "json-params", "an empty string": "empty"}
    assert get(got) == SignatureCheck(
        "wrong", f"Signed {what}, not the raw query string. {QUERY}", reading.get(what, "")
    )


def test_a_get_in_another_order_names_the_query_string() -> None:
    assert get(sha(KEY.encode(), QUERY_STRING)) == SignatureCheck(
        "wrong",
        "Signed sha256(key + query string): the client id left out; the parts in another "
        "order. X-Client-Sign is sha256hex(client_id + query string + key), in that order "
        "(1.4.1).",
    )


# Properties.

#: Keys as they are issued (hex, base64) and then some: letters, digits, Cyrillic and the
#: base64 punctuation, long enough that no run of them is a word of an explanation.
KEYS = st.text(
    alphabet=string.ascii_letters + string.digits + "+/=_-абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    min_size=16,
    max_size=64,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=KEYS)
def test_no_explanation_contains_the_key(key: str) -> None:
    assume(key != CID)  # the id and the key swapped would be the correct signature
    for sender, explanation in SENDERS.values():
        got = check(sender(CID.encode(), key.encode(), BODY), key=key)
        assert got == SignatureCheck("wrong", explanation)
        assert key not in got.explanation


def _ordinary_requests() -> list[tuple[str, str, bytes]]:
    """The guide's examples in every spelling of jsontext, and a few GETs."""
    names = [entry["file"].removesuffix(".json") for entry in examples.index()]
    bodies = [GUIDE_BODY, BODY, *(examples.raw(name) for name in names)]
    for name in names:
        value = examples.value(name)
        bodies += [jsontext.render(value, style) for style in jsontext.STYLES.values()]
    gets = [
        ("GET", "https://pbx.test/api/get_record?session_id=1674-aFEQBQE", b""),
        ("GET", "/get_record?session_id=a+b%2F", b""),
        ("GET", "/get_record", b""),
    ]
    return [("POST", CALL_BACK, body) for body in bodies] + gets


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "md5"])
def test_no_guess_is_the_correct_signature_of_an_ordinary_request(algorithm: str) -> None:
    for method, url, body in _ordinary_requests():
        correct = signing.sign(CID, signing.signed_data(method, url, body), KEY)
        made = [d for d, _ in guesses(CID, KEY, method, url, body, algorithm=algorithm)]
        assert correct not in made, (method, url, body)
        assert check_signature(CID, KEY, method, url, body, correct).status == "correct"
