"""Section 1.4.1/1.4.2: the signature, checked against the guide's own vector."""

from __future__ import annotations

import json

import pytest

from conformance.spec import signing
from conformance.spec.paths import FIXTURES

VECTORS = json.loads((FIXTURES / "signature_vectors.json").read_text(encoding="utf-8"))["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_known_answer_vectors(vector: dict[str, str]) -> None:
    body = vector["body"].encode("utf-8")
    assert signing.sign(vector["client_id"], body, vector["key"]) == vector["sign"]
    assert signing.verify(vector["client_id"], body, vector["key"], vector["sign"])


def test_guide_vector_is_the_exact_bytes_of_section_1_4_2() -> None:
    guide = next(v for v in VECTORS if v["name"] == "guide-1.4.2")
    assert (
        guide["body"]
        == '{"request_number": "+74951234567","from_sipuri": "test_user@cloudpbx.rt.ru"}'
    )
    assert guide["sign"] == "fc95a524342dc68df90f7488e6d821c5a8a3b667d585490b50ebf939f1202c36"


def test_every_byte_counts() -> None:
    v = VECTORS[0]
    spellings = {
        signing.sign(v["client_id"], b.encode(), v["key"])
        for b in (v["body"], v["body"] + " ", v["body"].replace(": ", ":"))
    }
    assert len(spellings) == 3


@pytest.mark.parametrize("received", [None, "", "0" * 64, "fc95a524", "zz" * 32, "ф" * 64])
def test_verify_rejects_wrong_signatures(received: str | None) -> None:
    v = VECTORS[0]
    assert not signing.verify(v["client_id"], v["body"].encode(), v["key"], received)


def test_verify_accepts_uppercase_hex() -> None:
    v = VECTORS[0]
    assert signing.verify(v["client_id"], v["body"].encode(), v["key"], v["sign"].upper())


def test_verify_uses_the_given_id_and_key() -> None:
    v = VECTORS[0]
    body = v["body"].encode()
    assert not signing.verify(v["client_id"][::-1], body, v["key"], v["sign"])
    assert not signing.verify(v["client_id"], body, v["key"][::-1], v["sign"])
