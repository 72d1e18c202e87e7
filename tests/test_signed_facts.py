"""Facts known when a request is sent are recorded then: signed correctly or not, which fault.

Whoever signs knows: a driver's own signature over what it sends is correct, one
given to it (altered, made with another key, over other bytes) is not, a request
without ``X-Client-Sign`` is not, and a row of the mutation table says what it did.
Each recorded fact is held here against the signature computed again with the key:
what the report once worked out afterwards (and now never sees the key for).
"""

from __future__ import annotations

from typing import Any, cast

import pytest

from conformance.settings import Settings
from conformance.spec import mutations, signing
from conformance.sut.drivers import CrmWebhook, PbxApi, Signed, Target
from conformance.transport.client import Client, Exchange, Headers, first_header
from tests.support import CLIENT_ID, CLIENT_KEY

FOREIGN_ID = "0000000000000000000000000000BEEF"
TARGET = Target("http://127.0.0.1:9", CLIENT_ID, CLIENT_KEY)
DOC = {"session_id": "s-1", "state": "new", "type": "incoming"}
CREDENTIALS = (CLIENT_ID, CLIENT_KEY)


class Recorder:
    """Sends nothing: hands back the exchange the driver asked for, with its facts."""

    def send(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: Headers,
        *,
        whole: bool = True,  # Client.send's: how much of an answer is read (D59)
        **facts: Any,
    ) -> Exchange:
        return Exchange(method, url, list(headers), body, 200, **facts)


def driver(kind: type[Signed]) -> Any:
    return kind(cast(Client, Recorder()), TARGET, cast(Settings, None), [], [])


def correct(ex: Exchange) -> bool:
    """The oracle: X-Client-Sign is exactly the signature of the data sent, for our id."""
    data = signing.signed_data(ex.method, ex.url, ex.request_body)
    wanted = signing.sign(CLIENT_ID, data, CLIENT_KEY)
    return first_header(ex.request_headers, signing.SIGN_HEADER) == wanted


def test_what_the_drivers_sign_they_know() -> None:
    crm: CrmWebhook = driver(CrmWebhook)
    pbx: PbxApi = driver(PbxApi)
    body = crm.body(DOC)
    altered = crm.body({**DOC, "type": "outbound"})
    flipped = mutations.flip(crm.sign(body), 0)
    other_key = crm.sign(body, key=mutations.other_key(CLIENT_KEY))
    sent = {
        "notify": (crm.notify(DOC, announce=False), True),
        "raw": (crm.raw(body), True),
        "header names recased": (
            crm.post(body, [(name.lower(), value) for name, value in crm.headers(body)]),
            True,
        ),
        "signed, then another body sent": (crm.post(altered, crm.headers(body)), False),
        "a digit changed": (crm.post(body, crm.headers(body, sign=flipped)), False),
        "another key": (crm.post(body, crm.headers(body, sign=other_key)), False),
        "signed over another id": (crm.post(body, crm.headers(body, client_id=FOREIGN_ID)), False),
        "call_back": (pbx.call_back({"from_pin": "101", "request_number": "+7495"}), True),
        **{
            f"get_record by {t}": (pbx.get_record("s-1", transport=t), True)
            for t in PbxApi.TRANSPORTS
        },
        "get_record, signature given": (pbx.get_record("s-1", sign="0" * 64), False),
        "a download, unsigned": (pbx.download("http://127.0.0.1:9/records/x"), False),
    }
    for name, (ex, expected) in sent.items():
        assert ex.signed_correctly is expected, name
        assert ex.signed_correctly is correct(ex), name
        assert ex.mutation is None, name
        assert ex.to_json()["request"]["signed_correctly"] is expected, name


@pytest.mark.parametrize("row", mutations.TABLE, ids=lambda row: row.label)
def test_a_row_of_the_mutation_table_says_what_it_did(row: mutations.Mutation) -> None:
    pbx: PbxApi = driver(PbxApi)
    body = pbx.body({"from_pin": "101", "request_number": "+74951234567"})
    respelled = pbx.body({"from_pin": "101", "request_number": "+74951234567"}, "spaced-colon")
    altered = body.replace(b"101", b"102")
    verb, url, data, empty = pbx.get_record_parts("s-1", "get")  # signs the query (D21)
    call_back = mutations.Request(*CREDENTIALS, body, body, altered, respelled)
    get = mutations.Request(*CREDENTIALS, data, empty)  # no other bytes to send
    requests = [("POST", pbx.url("call_back"), call_back), (verb, url, get)]
    for method, to, request in requests:
        faulted = row.apply(request)
        if faulted is None:
            continue  # the row does not apply to this request
        ex = pbx.faulted(method, to, faulted)
        assert ex.mutation == row.label
        assert ex.signed_correctly is correct(ex), f"{row.label} {method}"
        assert ex.to_json()["request"]["mutation"] == row.label


def test_rows_that_keep_the_signature_say_so() -> None:
    kept = {row.label for row in mutations.TABLE if row.make(_request()).signed_correctly}
    assert kept == {"identity.missing", "identity.empty", "identity.foreign"}


def _request() -> mutations.Request:
    return mutations.Request(CLIENT_ID, CLIENT_KEY, b"{}", b"{}", b'{"a": 1}', b"{ }")
