"""CRM clients for the crm-client role: broken ones, one fault each, and correct ones
written differently.

Every class overrides exactly one step of the reference ``CrmClient``
(conformance/reference/crm_client.py) and nothing else, so the case that grades
it proves it catches that fault and only that one.

* ``BROKEN``: name -> (class, the case that must grade it, that verdict): ``fail``,
  or ``non-strict`` where the contract grades the fault so (uppercase hex).
* ``DIFFERENT``: name -> class; correct clients written otherwise than the
  reference: none may get a ``fail``.

Each runs as the CRM's command (what ``--crm-client-cmd`` runs; the reference's
``main`` with the class)::

    python -m tests.faults.crm_client NAME

and each can be the client side of a reference receiver:
``ReferenceCrm(id, key, client=Class(api_url, id, key))``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from typing import Any

import httpx

from conformance.reference.crm_client import CrmClient, Reply
from conformance.reference.crm_client import main as reference_main
from conformance.spec import signing

#: The user of the guide's 1.4.2 example: user 101 of the emulator (and of the suite's PBX).
USER_SIPURI = "test_user@cloudpbx.rt.ru"
#: An id that is not the client's: the guide's, last digit changed.
OTHER_ID = "000003C405E6525C64C184258C44EC98"
FORM = "application/x-www-form-urlencoded"

# -- the signature (1.4.1, 1.4.2) ------------------------------------------------


class SignsCompactSendsSpaced(CrmClient):
    """Signs the body re-encoded as compact JSON, but sends it as json.dumps spaced it."""

    def signed_data(self, method: str, url: httpx.URL, body: bytes) -> bytes:
        if not body:
            return super().signed_data(method, url, body)
        doc = json.loads(body)
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class KeyThenBody(CrmClient):
    """Signs sha256(key + body): no client id, the key first."""

    def sign(self, data: bytes) -> str:
        return hashlib.sha256(self._key.encode() + data).hexdigest()


class BodyIdKey(CrmClient):
    """Signs sha256(body + id + key): the parts in another order."""

    def sign(self, data: bytes) -> str:
        return hashlib.sha256(data + self.client_id.encode() + self._key.encode()).hexdigest()


class UppercaseHex(CrmClient):
    """Sends the right signature in uppercase hex."""

    def sign(self, data: bytes) -> str:
        return super().sign(data).upper()


class SignsAnotherId(CrmClient):
    """Sends its own X-Client-ID but signs with another id."""

    def sign(self, data: bytes) -> str:
        return signing.sign(OTHER_ID, data, self._key)


class GetRecordByGetUnsigned(CrmClient):
    """Asks get_record by GET with the session in the query, and no X-Client-Sign at all."""

    def get_record(self, session_id: str) -> Reply:
        url = httpx.URL(self.url("get_record"), params={"session_id": session_id})
        headers = {signing.CLIENT_ID_HEADER: self.client_id}
        return self.read_answer("get_record", self.send("GET", url, b"", headers))


# -- the body and its headers (1.4.1) ----------------------------------------------


class Cp1251Body(CrmClient):
    """Sends call_back with a Cyrillic comment in cp1251 (signed over those bytes)."""

    def encode(self, doc: dict[str, Any]) -> bytes:
        if "request_number" not in doc:
            return super().encode(doc)
        doc = {**doc, "comment": "перезвонить клиенту"}
        return json.dumps(doc, ensure_ascii=False).encode("cp1251")


class NoContentType(CrmClient):
    """Sends its JSON bodies without a Content-Type."""

    def headers(self, signature: str, body: bytes) -> dict[str, str]:
        return {signing.CLIENT_ID_HEADER: self.client_id, signing.SIGN_HEADER: signature}


class FormLabel(CrmClient):
    """Labels its JSON bodies application/x-www-form-urlencoded (curl's and PHP's default)."""

    def headers(self, signature: str, body: bytes) -> dict[str, str]:
        return {**super().headers(signature, body), "Content-Type": FORM}


class AnotherClientId(CrmClient):
    """Sends another X-Client-ID than the one the PBX issued."""

    def headers(self, signature: str, body: bytes) -> dict[str, str]:
        return {**super().headers(signature, body), signing.CLIENT_ID_HEADER: OTHER_ID}


class NoClientId(CrmClient):
    """Sends no X-Client-ID."""

    def headers(self, signature: str, body: bytes) -> dict[str, str]:
        headers = super().headers(signature, body)
        del headers[signing.CLIENT_ID_HEADER]
        return headers


class CallBackByGet(CrmClient):
    """Sends call_back with GET (its parameters in the query)."""

    def http_method(self, api_method: str) -> str:
        return "GET" if api_method == "call_back" else "POST"


class WrongPath(CrmClient):
    """Sends call_back to {api}/callback."""

    def url(self, api_method: str) -> str:
        return f"{self.api_url}/callback" if api_method == "call_back" else super().url(api_method)


# -- the parameters (А.3, А.4) ----------------------------------------------------------


class PinJunk(CrmClient):
    """Puts "ext-101" in from_pin: no internal number."""

    def call_back_document(
        self,
        request_number: str,
        *,
        from_pin: str | None = None,
        from_sipuri: str | None = None,
    ) -> dict[str, Any]:
        return {"request_number": request_number, "from_pin": f"ext-{from_pin or '101'}"}


class NationalNumber(CrmClient):
    """Calls 84951234567, the national form, not E.164."""

    def call_back_document(
        self,
        request_number: str,
        *,
        from_pin: str | None = None,
        from_sipuri: str | None = None,
    ) -> dict[str, Any]:
        return {"request_number": "84951234567", "from_pin": from_pin or "101"}


class SessionIdAsNumber(CrmClient):
    """Sends session_id as a JSON number (its digits), as a CRM that stores ids as integers."""

    def get_record_document(self, session_id: str) -> dict[str, Any]:
        digits = "".join(ch for ch in session_id if ch.isdigit())[:15]
        return {"session_id": int(digits or "0")}


# -- the link and the refusals (А.4, 3.1.3) ---------------------------------------------


class LinkTwice(CrmClient):
    """Downloads a recording link twice (the second time to "verify" the file)."""

    def download(self, url: str) -> Reply:
        first = super().download(url)
        super().download(url)
        return first


class FollowsRedirectSigned(CrmClient):
    """Fetches a link with its signed headers and follows any redirect, off-origin too."""

    def download(self, url: str) -> Reply:
        target = httpx.URL(self.api_url).join(url)
        signature = self.sign(self.signed_data("GET", target, b""))
        headers = self.headers(signature, b"")
        return self.read_download(self.send("GET", target, b"", headers, follow_redirects=True))


class LinkByPost(CrmClient):
    """Fetches a recording link with POST (production is reported to answer it)."""

    def download(self, url: str) -> Reply:
        target = httpx.URL(self.api_url).join(url)
        return self.read_download(self.send("POST", target, b"", {}))


class RetryStorm(CrmClient):
    """Asks a refused get_record again 10 times, with no pause."""

    def retry_pauses(self) -> tuple[float, ...]:
        return (0.0,) * 10


#: name -> (class, the case that must grade it, the verdict it must give).
BROKEN: dict[str, tuple[type[CrmClient], str, str]] = {
    "signs-compact-sends-spaced": (SignsCompactSendsSpaced, "client.signature", "fail"),
    "key-then-body": (KeyThenBody, "client.signature", "fail"),
    "body-id-key": (BodyIdKey, "client.signature", "fail"),
    "uppercase-hex": (UppercaseHex, "client.signature", "non-strict"),
    "signs-another-id": (SignsAnotherId, "client.signature", "fail"),
    "get-record-by-get-unsigned": (GetRecordByGetUnsigned, "client.signature", "fail"),
    "cp1251-body": (Cp1251Body, "client.json", "fail"),
    "no-content-type": (NoContentType, "client.content-type", "fail"),
    "form-label": (FormLabel, "client.content-type", "non-strict"),
    "another-client-id": (AnotherClientId, "client.identity", "fail"),
    "no-client-id": (NoClientId, "client.identity", "fail"),
    "call-back-by-get": (CallBackByGet, "client.method", "fail"),
    "wrong-path": (WrongPath, "client.path", "fail"),
    "pin-junk": (PinJunk, "client.call-back.body", "fail"),
    "national-number": (NationalNumber, "client.call-back.body", "fail"),
    "session-id-as-number": (SessionIdAsNumber, "client.get-record.body", "fail"),
    "link-twice": (LinkTwice, "client.link.once", "fail"),
    "follows-redirect-signed": (FollowsRedirectSigned, "client.link.redirect", "fail"),
    "retry-storm": (RetryStorm, "client.retry", "fail"),
    "link-by-post": (LinkByPost, "client.method", "non-strict"),
}


# -- correct, written differently -------------------------------------------------------


class CompactJson(CrmClient):
    """Sends (and signs) compact JSON."""

    def encode(self, doc: dict[str, Any]) -> bytes:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class CharsetParameter(CrmClient):
    """Labels its bodies Content-Type: application/json; charset=utf-8."""

    def headers(self, signature: str, body: bytes) -> dict[str, str]:
        headers = super().headers(signature, body)
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return headers


class SipUriWithScheme(CrmClient):
    """Names the user by from_sipuri with the sip: scheme."""

    def call_back_document(
        self,
        request_number: str,
        *,
        from_pin: str | None = None,
        from_sipuri: str | None = None,
    ) -> dict[str, Any]:
        return {"request_number": request_number, "from_sipuri": f"sip:{USER_SIPURI}"}


class SipUriWithoutScheme(CrmClient):
    """Names the user by from_sipuri without a scheme, as the guide's 1.4.2 example."""

    def call_back_document(
        self,
        request_number: str,
        *,
        from_pin: str | None = None,
        from_sipuri: str | None = None,
    ) -> dict[str, Any]:
        return {"request_number": request_number, "from_sipuri": USER_SIPURI}


class GetRecordByGet(CrmClient):
    """Asks get_record by GET (Table А.4, E5), signed over the raw query string (D21)."""

    def http_method(self, api_method: str) -> str:
        return "GET" if api_method == "get_record" else "POST"


class GetRecordByGetSignedAsJson(GetRecordByGet):
    """Asks get_record by GET, signed over its parameters as JSON (E5's other reading)."""

    def signed_data(self, method: str, url: httpx.URL, body: bytes) -> bytes:
        if method == "GET" and not body:
            params = dict(url.params)
            return json.dumps(params, ensure_ascii=False).encode("utf-8")
        return super().signed_data(method, url, body)


class GetRecordByGetSignedOverNothing(GetRecordByGet):
    """Asks get_record by GET, signed over an empty string: the session is not signed."""

    def signed_data(self, method: str, url: httpx.URL, body: bytes) -> bytes:
        if method == "GET" and not body:
            return b""
        return super().signed_data(method, url, body)


#: Broken too, built on a correct client above (one step more).
BROKEN["get-record-by-get-signed-over-nothing"] = (
    GetRecordByGetSignedOverNothing,
    "client.signature",
    "non-strict",
)


class RetriesEveryRefusal(CrmClient):
    """Asks any refused get_record again, twice, 2 s apart (not only a "later" refusal)."""

    def try_later(self, reply: Reply) -> bool:
        return not reply.ok and reply.status is not None


class LowercaseHeaderNames(CrmClient):
    """Spells its header names in lowercase (x-client-id, x-client-sign, content-type)."""

    def headers(self, signature: str, body: bytes) -> dict[str, str]:
        return {name.lower(): value for name, value in super().headers(signature, body).items()}


DIFFERENT: dict[str, type[CrmClient]] = {
    "compact-json": CompactJson,
    "charset-parameter": CharsetParameter,
    "sip-uri-with-scheme": SipUriWithScheme,
    "sip-uri-without-scheme": SipUriWithoutScheme,
    "get-record-by-get": GetRecordByGet,
    "get-record-by-get-signed-as-json": GetRecordByGetSignedAsJson,
    "retries-every-refusal": RetriesEveryRefusal,
    "lowercase-header-names": LowercaseHeaderNames,
}

#: Every client by name: the catalogue's, and the reference itself.
CLIENTS: dict[str, type[CrmClient]] = {
    "reference": CrmClient,
    **{name: cls for name, (cls, _, _) in BROKEN.items()},
    **DIFFERENT,
}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.faults.crm_client NAME``: the reference command, with that client."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in CLIENTS:
        print(
            f"usage: python -m tests.faults.crm_client NAME; NAME is one of: {', '.join(CLIENTS)}",
            file=sys.stderr,
        )
        return 2
    name = args[0]
    return reference_main([], client_class=CLIENTS[name], prog=f"crm-client:{name}")


if __name__ == "__main__":
    sys.exit(main())
