"""Sections 1.4.1 and 1.4.2 from the PBX's side: it identifies the caller and checks the signature.

"при получении запроса принимающая сторона проводит для каждого запроса
повторное вычисление подписи и сравнивает получившееся значение со
значением из заголовка «header.X-Client-Sign»." A request that fails is not
carried out: no call is placed, no link is given.
"""

from __future__ import annotations

import hashlib

import pytest

from conformance.engine import answers
from conformance.engine.drivers import PbxApi
from conformance.engine.verdict import info
from conformance.roles.pbx_api._common import pbx_case
from conformance.spec import signing


def _flip(sign: str, position: int) -> str:
    return sign[:position] + ("0" if sign[position] != "0" else "1") + sign[position + 1 :]


@pbx_case(
    "pbx.sign.valid",
    section="1.4.2",
    title="A correctly signed call_back is carried out",
    requirement="A call_back whose X-Client-Sign is sha256hex(id + body + key) is answered "
    "with success and a session_id.",
)
def test_valid(pbx: PbxApi) -> None:
    answers.succeeded(pbx.call_back(pbx.call()), "session_id")


@pbx_case(
    "pbx.id.missing",
    section="1.4.1",
    title="A call_back without X-Client-ID is refused",
    requirement="A request that does not say which client sends it is not carried out.",
)
def test_id_missing(pbx: PbxApi) -> None:
    body = pbx.body(pbx.call())
    headers = [h for h in pbx.headers(body) if h[0] != signing.CLIENT_ID_HEADER]
    answers.refused(
        pbx.send("POST", pbx.url("call_back"), body, headers), "session_id", why="no X-Client-ID"
    )


@pbx_case(
    "pbx.id.unknown",
    section="1.4.1",
    title="A call_back from an unknown client id is refused",
    requirement="A request signed consistently but under a client id the PBX never issued "
    "is not carried out.",
)
def test_id_unknown(pbx: PbxApi) -> None:
    body = pbx.body(pbx.call())
    foreign = hashlib.md5(pbx.target.client_id.encode(), usedforsecurity=False).hexdigest().upper()
    ex = pbx.send("POST", pbx.url("call_back"), body, pbx.headers(body, client_id=foreign))
    answers.refused(ex, "session_id", why="an X-Client-ID the PBX never issued")


@pbx_case(
    "pbx.id.empty",
    section="1.4.1",
    title="A call_back with an empty X-Client-ID is refused",
    requirement="An empty X-Client-ID identifies no client; the request is not carried out.",
)
def test_id_empty(pbx: PbxApi) -> None:
    body = pbx.body(pbx.call())
    ex = pbx.send("POST", pbx.url("call_back"), body, pbx.headers(body, client_id=""))
    answers.refused(ex, "session_id", why="an empty X-Client-ID")


@pbx_case(
    "pbx.sign.missing",
    section="1.4.2",
    title="A call_back without X-Client-Sign is refused",
    requirement="A request that carries no signature is not carried out.",
)
def test_sign_missing(pbx: PbxApi) -> None:
    body = pbx.body(pbx.call())
    headers = [h for h in pbx.headers(body) if h[0] != signing.SIGN_HEADER]
    answers.refused(
        pbx.send("POST", pbx.url("call_back"), body, headers), "session_id", why="no X-Client-Sign"
    )


@pbx_case(
    "pbx.sign.empty",
    section="1.4.2",
    title="A call_back with an empty X-Client-Sign is refused",
    requirement="An empty signature is not a signature; the request is not carried out.",
)
def test_sign_empty(pbx: PbxApi) -> None:
    body = pbx.body(pbx.call())
    ex = pbx.send("POST", pbx.url("call_back"), body, pbx.headers(body, sign=""))
    answers.refused(ex, "session_id", why="an empty X-Client-Sign")


@pytest.mark.parametrize("position", [0, 63], ids=["first-digit", "last-digit"])
@pbx_case(
    "pbx.sign.altered",
    section="1.4.2",
    title="A signature with one digit changed is refused",
    requirement="A signature that differs from the computed one in one hex digit is refused.",
)
def test_sign_altered(pbx: PbxApi, position: int) -> None:
    body = pbx.body(pbx.call())
    ex = pbx.send(
        "POST", pbx.url("call_back"), body, pbx.headers(body, sign=_flip(pbx.sign(body), position))
    )
    answers.refused(ex, "session_id", why="a signature with one digit changed")


@pbx_case(
    "pbx.sign.body-altered",
    section="1.4.2",
    title="A body changed after signing is refused",
    requirement="The signature covers the exact bytes: a body that differs from the signed one "
    "(the same JSON, spaced otherwise) is refused.",
)
def test_body_altered(pbx: PbxApi) -> None:
    # Only the spelling changes, never the parties: a PBX that lets this through
    # still rings only the configured phones (D25).
    doc = pbx.call()
    signed = pbx.body(doc, "raw-utf8")
    sent = pbx.body(doc, "spaced-colon")
    ex = pbx.send("POST", pbx.url("call_back"), sent, pbx.headers(sent, sign=pbx.sign(signed)))
    answers.refused(ex, "session_id", why="the body is not the one signed")


@pbx_case(
    "pbx.sign.wrong-key",
    section="1.4.2",
    title="A call_back signed with another key is refused",
    requirement="Only the client's key makes a valid signature.",
)
def test_wrong_key(pbx: PbxApi) -> None:
    body = pbx.body(pbx.call())
    other = hashlib.sha256(pbx.target.client_key.encode()).hexdigest()[:32].upper()
    ex = pbx.send(
        "POST", pbx.url("call_back"), body, pbx.headers(body, sign=pbx.sign(body, key=other))
    )
    answers.refused(ex, "session_id", why="signed with another key")


@pbx_case(
    "pbx.sign.wrong-order",
    section="1.4.2",
    title="A signature over key + body + id is refused",
    requirement="The signed text is client_id, then the body, then the key; another order "
    "(a bug seen in the wild) is refused.",
)
def test_wrong_order(pbx: PbxApi) -> None:
    body = pbx.body(pbx.call())
    t = pbx.target
    wrong = hashlib.sha256(t.client_key.encode() + body + t.client_id.encode()).hexdigest()
    ex = pbx.send("POST", pbx.url("call_back"), body, pbx.headers(body, sign=wrong))
    answers.refused(ex, "session_id", why="the signature's parts in the wrong order")


@pbx_case(
    "pbx.sign.uppercase-hex",
    section="1.4.2",
    title="Uppercase hex in X-Client-Sign (reading recorded)",
    requirement="The guide does not say the hex digest's case; accepting or refusing uppercase "
    "is conformant and the choice is recorded.",
)
def test_uppercase(pbx: PbxApi) -> None:
    body = pbx.body(pbx.call())
    ex = pbx.send(
        "POST", pbx.url("call_back"), body, pbx.headers(body, sign=pbx.sign(body).upper())
    )
    if not answers.success(ex, "session_id"):
        answers.refused(ex, "session_id", why="uppercase hex")  # a 5xx or an unclear answer fails
        raise info("uppercase hex accepted (either is conformant)", f"refused: {ex.summary()}")
