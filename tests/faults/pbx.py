# Over 400 lines: a catalogue, one small class per fault, and the table that grades them.
"""Deliberately broken PBXs: the reference emulator with one fault each.

Every fault is a subclass of one piece of ``conformance.reference.pbx`` that
overrides exactly one method and nothing else:

* ``Api`` -- how ``call_back``/``get_record`` are checked and answered, and the
  recording download;
* ``Pbx`` (its ``route``) -- the answer as it leaves, rewritten (a middleware);
* ``CallEngine`` and ``Notifier`` -- how calls are played and what each
  ``call_events`` notification says;
* ``Links`` -- the recording links;
* ``Relay`` (below) -- the notification on the wire (path, headers, signed
  bytes): the reference's notifications pass through it on their way to the
  suite, so the reference stays untouched and the fault is the rewrite alone.

``build`` puts a piece into a fresh reference emulator. ``FAULTS`` maps a fault
to the cases that must grade it ``fail``; ``SOFT_FAULTS`` are faults the cases
grade softer by design (non-strict or info), and ``DIFFERENT`` are PBXs that
are correct but unlike the reference -- neither may get a ``fail``.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from conformance.reference.pbx import Pbx
from conformance.reference.pbx.answers import GUIDE, SUCCESS, Answer, Result, Style, refuse
from conformance.reference.pbx.api import Api
from conformance.reference.pbx.calls import MAX_ACTIVE, MAX_KEPT, Call, CallEngine, CapacityError
from conformance.reference.pbx.delivery import Delivery, Notifier
from conformance.reference.pbx.plans import Scenario, Step
from conformance.reference.pbx.records import Links
from conformance.reference.pbx.state import Client, monotonic
from conformance.reference.web import Request, Response
from conformance.spec import signing
from conformance.spec.lifecycle import CallType, Party

#: The admin token of every emulator here (the destructive cases use its admin API).
ADMIN_TOKEN = "pbx-faults-admin-token"
#: Calls of a few tens of milliseconds: a run waits for each one to end.
SCENARIO = Scenario(ring_ms=5, announcement_ms=5, talk_ms=10)
#: Calls of about a second, as people take: long enough to be in one when the next comes.
LONG_CALLS = Scenario(ring_ms=300, announcement_ms=100, talk_ms=400)
#: Seconds the relay waits for the suite's listener.
RELAY_TIMEOUT = 5.0

API = "conformance/roles/pbx_api"
EVENTS = "conformance/roles/pbx_events"
SETTINGS = "conformance/roles/pbx_api/test_3_1_settings.py"
IDENTITY = "conformance/roles/pbx_api/test_1_4_identity.py"
GENERATED = "conformance/roles/pbx_api/test_generated.py"


def _json(body: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _api_call(request: Request) -> str | None:
    """``call_back`` or ``get_record`` when ``request`` is one, else None."""
    method = request.path.strip("/")
    return method if method in ("call_back", "get_record") else None


# -- identity and signature (1.4.1, 1.4.2) ---------------------------------------


class AnySignature(Api):
    """Never checks X-Client-Sign: any signature, or none, is accepted."""

    def signature(
        self, client: Client, request: Request, signed: bytes, what: str
    ) -> Answer | None:
        return None


class PrefixComparison(Api):
    """Compares only the first 16 hex digits of X-Client-Sign."""

    def signature(
        self, client: Client, request: Request, signed: bytes, what: str
    ) -> Answer | None:
        expected = signing.sign(client.client_id, signed, client.key)
        got = (request.headers.get(signing.SIGN_HEADER) or "").lower()
        if got[:16] == expected[:16]:
            return None
        return super().signature(client, request, signed, what)


class BusyWhileInCall(Api):
    """Refuses a call_back while a call of the client's is still going on: 200, result 40."""

    def call_back(self, client: Client, doc: dict[str, Any]) -> Answer:
        if any(not call.finished for call in self.pbx.engine.of_client(client.client_id)):
            return refuse(200, Result.TOO_MANY_CALLS, "Абонент занят: идёт разговор")
        return super().call_back(client, doc)


class BusyWithoutSignatureCheck(BusyWhileInCall):
    """Busy while a call goes on, and never checks X-Client-Sign."""

    def signature(
        self, client: Client, request: Request, signed: bytes, what: str
    ) -> Answer | None:
        return None


class StartswithComparison(Api):
    """Refuses an empty signature, then compares with ``expected.startswith(received)``."""

    def signature(
        self, client: Client, request: Request, signed: bytes, what: str
    ) -> Answer | None:
        got = request.headers.get(signing.SIGN_HEADER)
        if got and signing.sign(client.client_id, signed, client.key).startswith(got):
            return None
        return super().signature(client, request, signed, what)


class RemembersSignatures(Api):
    """Caches verified signatures and trusts a known one whatever body comes with it."""

    def signature(
        self, client: Client, request: Request, signed: bytes, what: str
    ) -> Answer | None:
        seen: set[str] = self.__dict__.setdefault("seen", set())
        got = request.headers.get(signing.SIGN_HEADER) or ""
        if got in seen:
            return None
        refusal = super().signature(client, request, signed, what)
        if refusal is None:
            seen.add(got)
        return refusal


class ReserialisedSignature(Api):
    """Verifies the signature over ``json.dumps(json.loads(body))``, not the bytes that came."""

    def signature(
        self, client: Client, request: Request, signed: bytes, what: str
    ) -> Answer | None:
        try:
            again = json.dumps(json.loads(signed)).encode()
        except ValueError:
            again = signed
        return super().signature(client, request, again, what)


class IgnoresClientId(Api):
    """Single-tenant: every request is the first client's, whatever X-Client-ID says."""

    def identify(self, request: Request) -> tuple[Client | None, Answer | None]:
        registry = self.pbx.registry
        return registry.get(registry.ids()[0]), None


class DefaultTenant(Api):
    """Gives an unknown X-Client-ID the default client's key and settings."""

    def identify(self, request: Request) -> tuple[Client | None, Answer | None]:
        client, refusal = super().identify(request)
        claimed = request.headers.get(signing.CLIENT_ID_HEADER)
        if client is None and claimed:
            registry = self.pbx.registry
            default = registry.get(registry.ids()[0])
            assert default is not None
            return replace(default, client_id=claimed), None
        return client, refusal


class IgnoresAllowList(Api):
    """Never consults the client's IP allow-list."""

    def allow_list(self, client: Client, request: Request) -> Answer | None:
        return None


class IgnoresLimits(Api):
    """Never counts requests against the method's limit."""

    def limit(self, client: Client, method: str) -> Answer | None:
        return None


# -- call_back's parameters (А.3) -------------------------------------------------


class NoE164Check(Api):
    """Takes any non-empty string as request_number: no E.164 check."""

    def call_back_problem(self, doc: dict[str, Any]) -> Answer | None:
        number = doc.get("request_number")
        if isinstance(number, str) and number:
            doc = {**doc, "request_number": "+74950000000"}
        return super().call_back_problem(doc)


class DefaultCaller(Api):
    """A call_back naming no user rings the domain's first user."""

    def call_back(self, client: Client, doc: dict[str, Any]) -> Answer:
        if not doc.get("from_sipuri") and not doc.get("from_pin"):
            doc = {**doc, "from_pin": next(iter(client.users))}
        return super().call_back(client, doc)


class PinDigits(Api):
    """Reads a PIN out of whatever from_pin holds: the digits of a list or an object."""

    def call_back(self, client: Client, doc: dict[str, Any]) -> Answer:
        pin = doc.get("from_pin")
        if isinstance(pin, list | dict):
            doc = {**doc, "from_pin": re.sub(r"\D", "", json.dumps(pin))}
        return super().call_back(client, doc)


class FromPinWins(Api):
    """Uses from_pin when both are given, though А.3 says from_sipuri is used."""

    def resolve_user(self, client: Client, doc: dict[str, Any]) -> Party | Answer:
        if doc.get("from_pin") is not None:
            doc = {k: v for k, v in doc.items() if k != "from_sipuri"}
        return super().resolve_user(client, doc)


class NonJsonCrashes(Api):
    """Lets the JSON parser's exception escape: a body that is not JSON gets a 500."""

    def parse(self, request: Request, body: bytes) -> dict[str, Any] | Answer:
        if request.method == "GET" and not body:
            return super().parse(request, body)
        doc = json.loads(body)
        return doc if isinstance(doc, dict) else super().parse(request, body)


class NumberCoerced(Api):
    """Turns a request_number given as a JSON number into '+digits' and dials it."""

    def call_back(self, client: Client, doc: dict[str, Any]) -> Answer:
        number = doc.get("request_number")
        if isinstance(number, int) and not isinstance(number, bool):
            doc = {**doc, "request_number": f"+{number}"}
        return super().call_back(client, doc)


class UnknownFieldsRefused(Api):
    """Refuses a call_back with fields А.3 does not list (no forward compatibility)."""

    def call_back_problem(self, doc: dict[str, Any]) -> Answer | None:
        unknown = sorted(set(doc) - {"request_number", "from_sipuri", "from_pin"})
        if unknown:
            return refuse(400, Result.NOT_OBJECT, f"unknown parameter {unknown[0]!r} (Table А.3)")
        return super().call_back_problem(doc)


class UppercaseRefused(Api):
    """Refuses X-Client-Sign in uppercase hex (the guide does not say the case)."""

    def signature(
        self, client: Client, request: Request, signed: bytes, what: str
    ) -> Answer | None:
        got = request.headers.get(signing.SIGN_HEADER) or ""
        if got != got.lower():
            return refuse(403, Result.BAD_SIGNATURE, "X-Client-Sign is lowercase hex (1.4.2)")
        return super().signature(client, request, signed, what)


class PostOnlyGetRecord(Api):
    """Serves get_record by POST with JSON only, as 1.4.1 and the example send it (E5)."""

    def decide(self, method: str, request: Request) -> tuple[Answer, bytes, Client | None]:
        if method == "get_record" and request.method == "GET":
            refusal = refuse(
                405,
                Result.HTTP_METHOD,
                "get_record is sent with POST (1.4.1)",
                headers=[("Allow", "POST")],
            )
            return refusal, b"", None
        return super().decide(method, request)


class GetWithJsonBodyOnly(Api):
    """Serves get_record only as the table's GET carrying the example's JSON body (E5)."""

    def decide(self, method: str, request: Request) -> tuple[Answer, bytes, Client | None]:
        if method == "get_record" and request.method == "POST":
            refusal = refuse(
                405,
                Result.HTTP_METHOD,
                "get_record is a GET request (Table А.4)",
                headers=[("Allow", "GET")],
            )
            return refusal, b"", None
        if method == "get_record" and not request.body:
            return refuse(400, Result.NOT_JSON, "get_record carries its JSON body (А.4)"), b"", None
        return super().decide(method, request)


# -- get_record and the recording (А.4) ---------------------------------------------


class LinkForUnknownSession(Api):
    """Answers get_record for a session it never had with a link (to an empty recording)."""

    def get_record(self, client: Client, doc: dict[str, Any], request: Request) -> Answer:
        answer = super().get_record(client, doc, request)
        if answer.result != Result.UNKNOWN_SESSION:
            return answer
        token = self.pbx.links.issue(str(doc["session_id"]), monotonic(), 60)
        return Answer(200, Result.OK, SUCCESS, {"url": f"{request.base_url}/records/{token}"})


class SessionIdCrashes(Api):
    """Reads ``doc["session_id"].strip()`` first: an absent or null session_id gets a 500."""

    def get_record(self, client: Client, doc: dict[str, Any], request: Request) -> Answer:
        doc["session_id"].strip()
        return super().get_record(client, doc, request)


class HtmlRecording(Api):
    """The link opens an HTML player page, not the audio file."""

    def download(self, token: str, request: Request, style: Style = GUIDE) -> Answer:
        answer = super().download(token, request, style)
        if answer.content is None:
            return answer
        page = b"<!DOCTYPE html><html><body><audio src='/player.wav' controls></audio></body>"
        return replace(answer, content=page, content_type="text/html; charset=utf-8", headers=[])


class ReusableLink(Links):
    """A link works until it expires, as often as it is opened."""

    def take(self, token: str, now: float) -> tuple[Any, str | None]:
        taken, session_id = super().take(token, now)
        return ("ok" if taken == "used" else taken), session_id


# -- the answer as it leaves (А.3, А.4) ---------------------------------------------


class SuccessWithoutSessionId(Pbx):
    """Answers a successful call_back without its session_id."""

    def route(self, request: Request) -> Response:
        answer = super().route(request)
        doc = _json(answer.body)
        if _api_call(request) == "call_back" and doc is not None and answer.status == 200:
            doc.pop("session_id", None)
            return replace(answer, body=json.dumps(doc, ensure_ascii=False).encode())
        return answer


class EmptyResultMessage(Pbx):
    """Every answer's resultMessage is empty."""

    def route(self, request: Request) -> Response:
        answer = super().route(request)
        doc = _json(answer.body)
        if _api_call(request) and doc is not None:
            doc["resultMessage"] = ""
            return replace(answer, body=json.dumps(doc, ensure_ascii=False).encode())
        return answer


class SessionIdInRefusals(Pbx):
    """Allocates the session before validating: refused call_backs carry a session_id too."""

    def route(self, request: Request) -> Response:
        answer = super().route(request)
        doc = _json(answer.body)
        if _api_call(request) == "call_back" and doc is not None and "session_id" not in doc:
            doc["session_id"] = str(uuid.uuid4())
            return replace(answer, body=json.dumps(doc, ensure_ascii=False).encode())
        return answer


class HtmlLabel(Pbx):
    """Labels its JSON answers Content-Type text/html (PHP's default)."""

    def route(self, request: Request) -> Response:
        answer = super().route(request)
        if _api_call(request):
            headers = [
                ("Content-Type", "text/html; charset=UTF-8")
                if name.lower() == "content-type"
                else (name, value)
                for name, value in answer.headers
            ]
            return replace(answer, headers=headers)
        return answer


class ExampleSuccessValue(Pbx):
    """Answers a success with result 1, as the А.3 example does (E1)."""

    def route(self, request: Request) -> Response:
        answer = super().route(request)
        doc = _json(answer.body)
        if _api_call(request) and doc is not None and doc.get("result") == 0:
            doc["result"] = 1
            return replace(answer, body=json.dumps(doc, ensure_ascii=False).encode())
        return answer


class ErrorsAs200(Pbx):
    """Answers every refusal with HTTP 200 and result > 0 (E12: the guide names no status)."""

    def route(self, request: Request) -> Response:
        answer = super().route(request)
        if _api_call(request) and 400 <= answer.status < 500 and _json(answer.body) is not None:
            return replace(answer, status=200)
        return answer


# -- the call and its notifications (А.2, А.3) ---------------------------------------


class SharedSessionId(CallEngine):
    """Gives every call the session_id of the first one (an id cached per client)."""

    def start(self, client_id: str, kind: CallType, name: str, steps: list[Step]) -> Call:
        with self.registry.lock:
            client = self.registry.get(client_id)
            record = client is not None and client.record_calls
        shared: str = self.__dict__.setdefault("shared", str(uuid.uuid4()))
        call = Call(
            session_id=shared,
            client_id=client_id,
            type=kind,
            scenario=name,
            recorded=record and any(step.state == "connected" for step in steps),
            states=[step.state for step in steps],
        )
        with self._lock:
            if self._stop.is_set() or self._active >= MAX_ACTIVE:
                raise CapacityError("no room for another call")
            self._active += 1
            self._calls[call.session_id] = call
            while len(self._calls) > MAX_KEPT:
                self._calls.popitem(last=False)
        self._pool.submit(self._play, call, steps)
        return call


class DropsCalls(CallEngine):
    """Accepts the call_back, then never places the call: nothing is notified."""

    def _play(self, call: Call, steps: list[Step]) -> None:
        super()._play(call, [])


class ForeignSessionId(Notifier):
    """Notifies under the channel's own id, not the session_id call_back returned."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        channel = str(uuid.uuid5(uuid.NAMESPACE_URL, str(note["session_id"])))
        return super().send(client_id, {**note, "session_id": channel}, test=test)


class NoDisconnected(Notifier):
    """Never sends the disconnected notification."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        if note["state"] == "disconnected":
            return Delivery(False, skipped="not sent")
        return super().send(client_id, note, test=test)


class ConnectedBeforeNew(Notifier):
    """Holds new back until the call connects, then sends it after connected, time unchanged."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        held: dict[str, dict[str, Any]] = self.__dict__.setdefault("held", {})
        session_id = str(note["session_id"])
        if note["state"] == "new" and not test:
            held[session_id] = note
            return Delivery(False, skipped="held back")
        delivery = super().send(client_id, note, test=test)
        if session_id in held:
            super().send(client_id, held.pop(session_id), test=test)
        return delivery


class StampedWhenSent(Notifier):
    """Stamps notifications when sent (Unix seconds, a fraction); sends new after connected."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        held: dict[str, dict[str, Any]] = self.__dict__.setdefault("held", {})
        session_id = str(note["session_id"])
        if note["state"] == "new" and not test:
            held[session_id] = note
            return Delivery(False, skipped="held back")
        now = {"timestamp": f"{time.time():.6f}"}
        delivery = super().send(client_id, {**note, **now}, test=test)
        if session_id in held:
            late = {**held.pop(session_id), "timestamp": f"{time.time():.6f}"}
            super().send(client_id, late, test=test)
        return delivery


class ConcurrentDeliveries(Notifier):
    """Hands each notification to a thread of its own, which sends it 0-30 ms later."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        deliver = super().send

        def later() -> None:
            time.sleep(random.uniform(0, 0.03))  # a queue, a pool, a network: order varies
            deliver(client_id, note, test=test)

        threading.Thread(target=later, name="pbx-delivery", daemon=True).start()
        return Delivery(False, skipped="handed to its own delivery thread")


def _utc_written(note: dict[str, Any], spelling: str) -> dict[str, Any]:
    """``note`` with its Unix-seconds timestamp written as a UTC date-time without a zone."""
    moment = datetime.fromtimestamp(int(note["timestamp"]), UTC)
    return {**note, "timestamp": moment.strftime(spelling)}


def _uris(note: dict[str, Any], rewrite: Callable[[str], str]) -> dict[str, Any]:
    """``note`` with ``rewrite`` applied to each number that is a SIP-URI."""
    changed = {
        name: rewrite(value)
        for name in ("from_number", "request_number")
        if "@" in (value := str(note.get(name, "")))
    }
    return {**note, **changed}


class UriParameters(Notifier):
    """Writes SIP-URIs with port and URI parameters (RFC 3261), times as UTC without a zone."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        note = _uris(note, lambda uri: f"sip:{uri.removeprefix('sip:')}:5060;transport=udp")
        return super().send(client_id, _utc_written(note, "%Y-%m-%dT%H:%M:%S"), test=test)


class OneLabelHost(Notifier):
    """Writes SIP-URIs with a one-label host (user@pbx), times as 'YYYY-MM-DD HH:MM:SS.mmm' UTC."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        note = _uris(note, lambda uri: re.sub(r"@.*", "@pbx", uri))
        return super().send(client_id, _utc_written(note, "%Y-%m-%d %H:%M:%S.000"), test=test)


class E164WithoutPlus(Notifier):
    """Writes E.164 numbers as digits only, without the leading +."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        digits = {
            name: value[1:]
            for name in ("from_number", "request_number")
            if str(value := note.get(name, "")).startswith("+")
        }
        return super().send(client_id, {**note, **digits}, test=test)


class MillisecondTimestamps(Notifier):
    """Sends timestamp in milliseconds since the epoch, not seconds."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        millis = str(int(note["timestamp"]) * 1000)
        return super().send(client_id, {**note, "timestamp": millis}, test=test)


class NoType(Notifier):
    """Leaves the required field type out of every notification."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        return super().send(client_id, {k: v for k, v in note.items() if k != "type"}, test=test)


class IsRecordAlwaysTrue(Notifier):
    """Says is_record true whether or not the call was recorded."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        if "is_record" in note:
            note = {**note, "is_record": True}
        return super().send(client_id, note, test=test)


class IncomingType(Notifier):
    """Reports a call_back call as incoming (the user's phone rings first)."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        return super().send(client_id, {**note, "type": "incoming"}, test=test)


class RecordOnConnected(Notifier):
    """Also says is_record on connected, as the guide's example does (E6)."""

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        if note["state"] == "connected":
            client = self.registry.get(client_id)
            note = {**note, "is_record": bool(client and client.record_calls)}
        return super().send(client_id, note, test=test)


# -- the notification on the wire (1.3, 1.4) ------------------------------------------

#: The headers of a notification the relay passes on (1.4.1), in the spelling that came.
FORWARDED = ("content-type", "x-client-id", "x-client-sign")


class Relay:
    """Between the reference's notifier and the suite: passes each notification on.

    Served on ``http.server`` (tests/support.py ``serving(names_as_sent=True)``), whose
    headers keep their names as sent: uvicorn would hand them over lowercased, and the
    relay would pass on a spelling the reference never sent.

    The PBX's external address is the relay's; the relay POSTs what came (after
    ``rewrite``) to ``target`` and answers with what the suite answered.
    """

    def __init__(self, target: str, key: str) -> None:
        self.target = target
        self.key = key

    def rewrite(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, dict[str, str], bytes]:
        return path, headers, body

    def __call__(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
        path, headers, body = self.rewrite(request.path, headers, request.body)
        try:
            with httpx.Client(timeout=RELAY_TIMEOUT, trust_env=False) as http:
                answer = http.post(self.target + path, content=body, headers=headers)
            status, content = answer.status_code, answer.content
        except httpx.HTTPError as exc:
            status, content = 502, f"relay: {type(exc).__name__}".encode()
        return Response(status, content, [("Content-Type", "application/json")])


def _set(headers: dict[str, str], name: str, value: str | None) -> dict[str, str]:
    """``headers`` with ``name`` (any spelling) replaced by ``value``, or removed."""
    out = {k: v for k, v in headers.items() if k.lower() != name.lower()}
    if value is not None:
        out[name] = value
    return out


def _get(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


class WrongPath(Relay):
    """POSTs notifications to {external address}/events, not /call_events."""

    def rewrite(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, dict[str, str], bytes]:
        return path.removesuffix("/call_events") + "/events", headers, body


class NoClientIdHeader(Relay):
    """Sends notifications without X-Client-ID."""

    def rewrite(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, dict[str, str], bytes]:
        return path, _set(headers, signing.CLIENT_ID_HEADER, None), body


class SignedReencoded(Relay):
    """Signs the body re-encoded with \\uXXXX escapes but sends the UTF-8 bytes."""

    def rewrite(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, dict[str, str], bytes]:
        escaped = json.dumps(json.loads(body)).encode()
        client_id = _get(headers, signing.CLIENT_ID_HEADER)
        sign = signing.sign(client_id, escaped, self.key)
        return path, _set(headers, signing.SIGN_HEADER, sign), body


class UppercaseSignature(Relay):
    """Writes X-Client-Sign in uppercase hex."""

    def rewrite(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, dict[str, str], bytes]:
        sign = _get(headers, signing.SIGN_HEADER).upper()
        return path, _set(headers, signing.SIGN_HEADER, sign), body


class UnlabelledNotifications(Relay):
    """Sends notifications without a Content-Type."""

    def rewrite(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, dict[str, str], bytes]:
        return path, _set(headers, "Content-Type", None), body


class TextPlainNotifications(Relay):
    """Labels notifications Content-Type text/plain."""

    def rewrite(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, dict[str, str], bytes]:
        return path, _set(headers, "Content-Type", "text/plain; charset=utf-8"), body


# -- building -------------------------------------------------------------------------

PIECES: tuple[type, ...] = (Api, Pbx, CallEngine, Notifier, Links, Relay)


def build(
    piece: type, settings: Mapping[str, Any] | None = None, scenario: Scenario = SCENARIO
) -> Pbx:
    """A fresh reference emulator with ``piece`` in place (a ``Relay`` is served apart)."""
    pbx: Pbx = (
        piece(admin_token=ADMIN_TOKEN, scenario=scenario)
        if issubclass(piece, Pbx)
        else Pbx(admin_token=ADMIN_TOKEN, scenario=scenario)
    )
    if issubclass(piece, Api):
        pbx.api = piece(pbx)
    elif issubclass(piece, Notifier):
        pbx.notifier = piece(pbx.registry, pbx.log)
        pbx.engine.notifier = pbx.notifier
    elif issubclass(piece, CallEngine):
        pbx.engine.shutdown()  # no call was ever started on it
        pbx.engine = piece(pbx.registry, pbx.notifier)
        pbx.engine.scenario = scenario
    elif issubclass(piece, Links):
        pbx.links = piece()
    for name, value in (settings or {}).items():
        setattr(pbx.settings, name, value)
    return pbx


# -- the catalogue -----------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A PBX to run the suite against, and what the suite must say about it."""

    piece: type  # the fault (one override of one piece), or a reference piece itself
    expect: Mapping[str, frozenset[str]]  # verdict -> case ids (without parameters)
    paths: tuple[str, ...] = (API,)  # what to run: the files that hold those cases
    client: Mapping[str, Any] = field(default_factory=dict)  # client settings it needs
    settings: Mapping[str, Any] = field(default_factory=dict)  # emulator-wide settings
    options: tuple[str, ...] = ()  # suite options it needs
    #: verdict -> case ids permitted but not required (the verdict varies from run to run)
    allow: Mapping[str, frozenset[str]] = field(default_factory=dict)
    scenario: Scenario = SCENARIO  # how long its calls take


def _entry(piece: type, verdict: str, cases: Iterable[str], **kw: Any) -> Entry:
    return Entry(piece, {verdict: frozenset(cases)}, **kw)


#: The rows of spec/mutations.py a PBX that checks no signature lets through.
SIGN_REFUSALS = {
    "pbx.sign.missing",
    "pbx.sign.empty",
    "pbx.sign.altered",
    "pbx.sign.truncated",
    "pbx.sign.extended",
    "pbx.sign.body-respaced",
    "pbx.sign.wrong-key",
    "pbx.sign.wrong-order",
}
DESTRUCTIVE = ("--destructive", "--pbx-admin-token", ADMIN_TOKEN)

FAULTS: dict[str, Entry] = {
    # identity and signature
    "any-signature": _entry(AnySignature, "fail", SIGN_REFUSALS),
    "prefix-comparison": _entry(PrefixComparison, "fail", {"pbx.sign.altered"}),
    # Refused as busy while in a call, forged or not: call_back faults are sent only once
    # the calls before them have ended, so the missing check shows (call_back rows only).
    "busy-without-signature-check": _entry(
        BusyWithoutSignatureCheck,
        "fail",
        SIGN_REFUSALS,
        paths=(IDENTITY,),
        options=("-k", "call_back"),
        scenario=LONG_CALLS,
    ),
    # Every prefix of the signature passes: only a truncated signature shows it.
    "startswith-comparison": _entry(StartswithComparison, "fail", {"pbx.sign.truncated"}),
    "remembers-signatures": _entry(RemembersSignatures, "fail", {"pbx.sign.body-respaced"}),
    # Only generated spellings differ from Python's own: enough of them to be sure.
    "reserialised-signature": _entry(
        ReserialisedSignature,
        "fail",
        {"pbx.call-back.explore-valid"},
        paths=(GENERATED,),
        options=("--examples", "25"),
    ),
    "ignores-allow-list": _entry(
        IgnoresAllowList,
        "fail",
        {"pbx.allow-list.refused"},
        paths=(SETTINGS,),
        options=DESTRUCTIVE,
    ),
    # The case sets a limit of 3 through the admin API, then sends 5 requests.
    "ignores-limits": _entry(
        IgnoresLimits,
        "fail",
        {"pbx.limits.rate-limit"},
        paths=(SETTINGS,),
        options=DESTRUCTIVE,
    ),
    # call_back
    "no-e164-check": _entry(
        NoE164Check,
        "fail",
        {"pbx.call-back.request-number-invalid", "pbx.call-back.explore-invalid"},
    ),
    "default-caller": _entry(DefaultCaller, "fail", {"pbx.call-back.no-caller"}),
    "pin-digits": _entry(PinDigits, "fail", {"pbx.call-back.pin-junk"}),
    "from-pin-wins": _entry(FromPinWins, "fail", {"pbx.call-back.sipuri-wins"}),
    "non-json-crashes": _entry(NonJsonCrashes, "fail", {"pbx.call-back.not-an-object"}),
    # answers
    "success-without-session-id": _entry(
        SuccessWithoutSessionId,
        "fail",
        {"pbx.sign.valid", "pbx.call-back.caller", "pbx.call-back.explore-valid"},
    ),
    "empty-result-message": _entry(EmptyResultMessage, "fail", {"pbx.answer.message"}),
    "shared-session-id": _entry(SharedSessionId, "fail", {"pbx.answer.session-id"}),
    # get_record and the recording
    "link-for-unknown-session": _entry(
        LinkForUnknownSession,
        "fail",
        {"pbx.get-record.unknown-session", "pbx.get-record.explore"},
    ),
    "session-id-crashes": _entry(SessionIdCrashes, "fail", {"pbx.get-record.no-session"}),
    "html-recording": _entry(HtmlRecording, "fail", {"pbx.get-record.single-use"}),
    "reusable-link": _entry(ReusableLink, "fail", {"pbx.get-record.single-use"}),
    # notifications
    "drops-calls": _entry(DropsCalls, "fail", {"events.arrival"}, paths=(EVENTS,)),
    "foreign-session-id": _entry(
        ForeignSessionId, "fail", {"events.session-id", "events.arrival"}, paths=(EVENTS,)
    ),
    "no-disconnected": _entry(NoDisconnected, "fail", {"events.arrival"}, paths=(EVENTS,)),
    # Stamped when sent, new after connected: its own clock says the call went backwards.
    "stamped-when-sent": _entry(StampedWhenSent, "fail", {"events.order"}, paths=(EVENTS,)),
    "millisecond-timestamps": _entry(
        MillisecondTimestamps, "fail", {"events.timestamps"}, paths=(EVENTS,)
    ),
    "no-type": _entry(NoType, "fail", {"events.schema"}, paths=(EVENTS,)),
    "is-record-always-true": _entry(
        IsRecordAlwaysTrue,
        "fail",
        {"events.is-record", "pbx.get-record.link"},
        paths=(EVENTS, API),
        client={"record_calls": False},
    ),
    "wrong-path": _entry(WrongPath, "fail", {"events.path"}, paths=(EVENTS,)),
    "no-client-id-header": _entry(NoClientIdHeader, "fail", {"events.headers"}, paths=(EVENTS,)),
    "unlabelled-notifications": _entry(
        UnlabelledNotifications, "fail", {"events.headers"}, paths=(EVENTS,)
    ),
    "signed-reencoded": _entry(SignedReencoded, "fail", {"events.signature"}, paths=(EVENTS,)),
}

#: Faults the cases grade softer than fail by design: no fail, these verdicts.
SOFT_FAULTS: dict[str, Entry] = {
    # А.3 permits an empty session_id when result > 0; a non-empty one is odd, not wrong.
    "session-id-in-refusals": _entry(
        SessionIdInRefusals,
        "non-strict",
        {"pbx.sign.missing", "pbx.call-back.no-caller", "pbx.call-back.explore-invalid"},
    ),
    # Coercing is lenient, not wrong (the case's requirement).
    "number-coerced": _entry(NumberCoerced, "non-strict", {"pbx.call-back.request-number-type"}),
    # Later editions add fields; refusing them is not forward compatible.
    "unknown-fields-refused": _entry(
        UnknownFieldsRefused, "non-strict", {"pbx.call-back.extra-fields"}
    ),
    "html-label": _entry(HtmlLabel, "non-strict", {"pbx.answer.json"}),
    # What it accepts, only the key holder can sign (D6): lenient, not a breach.
    "ignores-client-id": _entry(
        IgnoresClientId, "non-strict", {"pbx.identity.missing", "pbx.identity.empty"}
    ),
    "default-tenant": _entry(DefaultTenant, "non-strict", {"pbx.identity.foreign-signed"}),
    "uppercase-signature": _entry(
        UppercaseSignature, "non-strict", {"events.signature"}, paths=(EVENTS,)
    ),
    "text-plain-notifications": _entry(
        TextPlainNotifications, "non-strict", {"events.headers"}, paths=(EVENTS,)
    ),
    "incoming-type": _entry(
        IncomingType,
        "non-strict",
        {"events.call-parties", "events.fields-per-state"},
        paths=(EVENTS,),
    ),
    # А.2 says "в формате E.164" and every example writes the +; digits alone are odd, not wrong.
    "e164-without-plus": _entry(E164WithoutPlus, "non-strict", {"events.schema"}, paths=(EVENTS,)),
}

#: The arrival order of a call's notifications is no defect (E12); where the timestamps cannot
#: order two of them (same second) and they arrived out of order, events.order says non-strict.
ARRIVAL_ORDER = {"non-strict": frozenset({"events.order"})}

#: Correct PBXs unlike the reference: no fail, and exactly the soft verdicts named here
#: (besides those an entry's ``allow`` permits: verdicts that vary from run to run).
DIFFERENT: dict[str, Entry] = {
    # The relay alone, rewriting nothing: what the wire faults add is their rewrite only.
    "relayed": Entry(Relay, {}, paths=(EVENTS,)),
    "errors-as-200": Entry(ErrorsAs200, {}, paths=(API, EVENTS)),
    "record-on-connected": _entry(
        RecordOnConnected, "info", {"events.fields-per-state"}, paths=(API, EVENTS)
    ),
    # The guide prints both readings of E1 and E2: recorded, never held against a PBX.
    "result-as-string": _entry(
        Pbx,
        "info",
        {"pbx.reading.result-type"},
        paths=(API, EVENTS),
        settings={"result_type": "string"},
    ),
    "example-success-value": _entry(
        ExampleSuccessValue, "info", {"pbx.reading.success-value"}, paths=(API, EVENTS)
    ),
    "post-only-get-record": _entry(
        PostOnlyGetRecord, "info", {"pbx.reading.get-record"}, paths=(API, EVENTS)
    ),
    # Refuses a call_back while a call goes on: the suite waits for its calls to end.
    "busy-while-in-call": _entry(
        BusyWhileInCall, "info", {"pbx.reading.success-value"}, scenario=LONG_CALLS
    ),
    "get-with-json-body-only": _entry(
        GetWithJsonBodyOnly, "info", {"pbx.reading.get-record"}, paths=(API, EVENTS)
    ),
    "uppercase-refused": _entry(UppercaseRefused, "info", {"pbx.sign.uppercase-hex"}),
    # Delivery order is not promised (E12): the timestamps, event times, order the states.
    "connected-before-new": Entry(ConnectedBeforeNew, {}, paths=(EVENTS,), allow=ARRIVAL_ORDER),
    "concurrent-deliveries": Entry(ConcurrentDeliveries, {}, paths=(EVENTS,), allow=ARRIVAL_ORDER),
    # What the guide does not exclude: RFC 3261 SIP-URIs, Timestamp (UTC) without its zone.
    "uri-parameters": Entry(UriParameters, {"pass": frozenset({"events.schema"})}, paths=(EVENTS,)),
    "one-label-host": Entry(OneLabelHost, {"pass": frozenset({"events.schema"})}, paths=(EVENTS,)),
}

#: Faults a case does not grade as it should yet: name -> why (reported; the test is xfail).
#: Faults a case is known to grade wrongly (their tests are strict xfails): none now.
MISGRADED: dict[str, str] = {}
