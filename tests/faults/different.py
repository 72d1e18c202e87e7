# Over 400 lines: a catalogue, one small class per correct-but-different receiver.
"""Receivers that are correct but not the reference: the suite must grade none of them ``fail``.

* ``stdlib_receiver`` -- written from scratch on ``http.server``: its own
  routing, header handling, signature check and JSON checks; 204 No Content on
  success, 401 for a wrong identity or signature.
* ``HtmlRefusals`` -- a correct receiver behind a proxy that turns every refusal
  into ``403 Forbidden`` with an HTML page.
* ``GuideStrictCrm`` -- accepts only the shapes of the 2017 guide's table; the
  suite records its choices (info) and its refusal of unknown fields
  (non-strict) but must not fail it.
* ``AcknowledgesAnything`` -- checks identity and signature correctly, then
  acknowledges whatever the body holds; hiding bad input is non-strict only.
* ``EmptyOkToEverything`` -- a correct receiver behind a handler that catches
  every exception and answers 200 with an empty body to everything, forgeries
  included (which it discards): the wire cannot show a refusal, so refusal
  cases are non-strict without an oracle and pass with one.
* ``IgnoresClientId`` -- never looks at X-Client-ID; verifies the signature
  against its configured id and key. Only the key holder can make what it
  accepts: non-strict, never fail.
* ``LifecycleStrictCrm`` -- answers 409 to a notification of a call it never
  saw and to a repeated one (its own reading of E12); the suite's refusal
  cases must not be fooled by it, nor fail it.
* ``PathologicalCrashes`` -- a framework's JSON parsing without guards: a 500
  for deep nesting, non-object JSON, invalid UTF-8 and malformed JSON, input
  no PBX sends; non-strict while it keeps answering.
* ``ReplayWindowCrm`` -- refuses notifications dated more than a day from its
  clock (replay protection): the suite's calls are dated now.
* ``QueuedCrm`` -- answers 202 at once and records a moment later (a queue),
  with a correct oracle: the oracle is waited for, not declared broken.
* ``WarmingUpCrm`` -- a proxy in front answers 502 to the first requests, as
  while the application starts: no verdict on that.
* ``LifecycleStrictForIncoming`` -- 409 to a later state of an incoming call it
  never saw, while it acknowledges (and drops) those of other calls: its
  lifecycle is an oracle for incoming calls only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from conformance.reference.crm import Answer, ReferenceCrm
from conformance.reference.web import Response

if TYPE_CHECKING:
    from conformance.reference.web import Handler, Request

# -- (a) a receiver on the standard library ------------------------------------

MAX_BODY = 1 << 20
TYPES = frozenset({"incoming", "outbound", "internal"})
STATES = frozenset({"new", "connected", "disconnected"})
REQUIRED = ("session_id", "timestamp", "type", "state", "from_number", "request_number")
E164 = re.compile(r"\+?[0-9]{5,15}")
SIP_URI = re.compile(r"(sips?:)?[^@\s:/]+@[^@\s/]+")


def _is_number(value: Any) -> bool:
    return isinstance(value, str) and bool(E164.fullmatch(value) or SIP_URI.fullmatch(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problems(doc: dict[str, Any]) -> list[str]:
    """This receiver's own reading of Table А.2 (both readings of E4 and E6 accepted)."""
    out = [f"{key} is missing" for key in REQUIRED if key not in doc]
    if out:
        return out
    if not isinstance(doc["session_id"], str) or not doc["session_id"]:
        out.append("session_id: a non-empty string")
    stamp = doc["timestamp"]
    if not (
        (isinstance(stamp, str) and stamp.isascii() and stamp.isdigit())
        or (_is_int(stamp) and stamp >= 0)
    ):
        out.append("timestamp: Unix seconds")
    if not (isinstance(doc["type"], str) and doc["type"] in TYPES):
        out.append("type: incoming, outbound or internal")
    if not (isinstance(doc["state"], str) and doc["state"] in STATES):
        out.append("state: new, connected or disconnected")
    out += [
        f"{key}: E.164 or SIP-URI"
        for key in ("from_number", "request_number")
        if not _is_number(doc[key])
    ]
    out += [
        f"{key}: a number"
        for key in ("from_pin", "request_pin")
        if doc.get(key) is not None and not _is_int(doc[key])
    ]
    if doc.get("disconnect_reason") is not None and not isinstance(doc["disconnect_reason"], str):
        out.append("disconnect_reason: a string")
    if doc.get("is_record") is not None and not isinstance(doc["is_record"], bool):
        out.append("is_record: a boolean")
    return out


class _Handler(BaseHTTPRequestHandler):
    """One request: route, method, size, identity, signature, JSON, fields; 204 when accepted."""

    protocol_version = "HTTP/1.1"
    timeout = 10.0  # a client that stalls mid-request does not hold the thread forever
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, text: str = "") -> None:
        body = json.dumps({"result": 1, "resultMessage": text}).encode() if text else b""
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read(self) -> bytes | None:
        """The body, or None after answering (too large, no length); unread bytes close."""
        raw = self.headers.get("Content-Length")
        if raw is None:
            self.close_connection = True
            self._reply(411, "Content-Length required")
            return None
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._reply(413 if length > MAX_BODY else 400, "bad Content-Length")
            return None
        return self.rfile.read(length)

    def _not_post(self) -> None:
        if self._read() is not None:
            self.send_response(405)
            self.send_header("Allow", "POST")
            self.send_header("Content-Length", "0")
            self.end_headers()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_post

    def do_POST(self) -> None:
        body = self._read()
        if body is None:
            return
        if self.path.split("?")[0] != "/call_events":
            self._reply(404, "no such method")
            return
        cid, key = self.server.client_id, self.server.client_key
        if self.headers.get("X-Client-ID") != cid:  # email.message: any letter case
            self._reply(401, "unknown client")
            return
        expected = hashlib.sha256(cid.encode() + body + key.encode()).hexdigest()
        received = (self.headers.get("X-Client-Sign") or "").strip().lower()
        if not hmac.compare_digest(expected.encode(), received.encode("utf-8", "replace")):
            self._reply(401, "bad signature")
            return
        try:
            doc = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            self._reply(400, "not JSON")
            return
        problems = _problems(doc) if isinstance(doc, dict) else ["not an object"]
        if problems:
            self._reply(400, "; ".join(problems))
            return
        self._reply(204)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the suite's burst opens 20 connections at once

    def __init__(self, client_id: str, client_key: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.client_id = client_id
        self.client_key = client_key


@contextmanager
def stdlib_receiver(client_id: str, client_key: str) -> Iterator[str]:
    """Serve the ``http.server`` receiver on 127.0.0.1 for the block; yields its base URL."""
    server = _Server(client_id, client_key)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- (b) HTML refusals ---------------------------------------------------------

PAGE = (
    "<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head>\n"
    "<body><h1>403 Forbidden</h1><hr><p>nginx</p></body></html>\n"
)


class HtmlRefusals:
    """A correct receiver behind a proxy that turns every refusal into 403 and an HTML page."""

    def __init__(self, inner: Handler) -> None:
        self.inner = inner

    def __call__(self, request: Request) -> Response:
        answer = self.inner(request)
        if answer.status >= 400:
            return Response(403, PAGE.encode(), [("Content-Type", "text/html")])
        return answer


# -- (c) strict about the guide's table ----------------------------------------

FIELDS = frozenset({*REQUIRED, "from_pin", "request_pin", "disconnect_reason", "is_record"})


class GuideStrictCrm(ReferenceCrm):
    """Accepts only the shapes of Table А.2 as printed in 2017; 400 for anything else."""

    def validate(self, doc: dict[str, Any]) -> list[str]:
        out = [f"unknown field {key}" for key in sorted(set(doc) - FIELDS)]
        out += [f"{key} is missing" for key in REQUIRED if key not in doc]
        if out:
            return out
        stamp = doc["timestamp"]
        if not (isinstance(stamp, str) and stamp.isascii() and stamp.isdigit()):
            out.append("timestamp: Unix seconds in a string, as the examples send")
        if not all(
            isinstance(doc[key], str) and doc[key] in allowed
            for key, allowed in (("state", STATES), ("type", TYPES))
        ):
            out.append("state/type: the table's values only")
        if not isinstance(doc["session_id"], str) or not doc["session_id"]:
            out.append("session_id: a non-empty string")
        out += [
            f"{key}: E.164 or SIP-URI"
            for key in ("from_number", "request_number")
            if not _is_number(doc[key])
        ]
        out += [
            f"{key}: Число"
            for key in ("from_pin", "request_pin")
            if doc.get(key) is not None and not _is_int(doc[key])
        ]
        reason = doc.get("disconnect_reason")
        if reason is not None and not isinstance(reason, str):
            out.append("disconnect_reason: Строка")
        if "is_record" in doc and doc["state"] != "disconnected":
            out.append("is_record: only on disconnected")
        if doc.get("is_record") is not None and not isinstance(doc["is_record"], bool):
            out.append("is_record: Boolean")
        return out


# -- (d) acknowledges anything correctly signed --------------------------------


class AcknowledgesAnything(ReferenceCrm):
    """Checks identity and signature correctly, then answers 200 to whatever the body holds."""

    def handle(self, request: Request) -> Answer:
        if request.path != self.path:
            return Answer(404, "no such method")
        if request.method != "POST":
            return Answer(405, "POST only", [("Allow", "POST")])
        body = self.read_body(request)
        if not (self.identity_ok(request) and self.signature_ok(request, body)):
            return Answer(403, "bad identity or signature")
        return Answer(200, "ok")


# -- (e) 200 with an empty body to everything ------------------------------------


class EmptyOkToEverything:
    """A correct receiver whose every call_events answer becomes 200 with an empty body."""

    def __init__(self, inner: ReferenceCrm) -> None:
        self.inner = inner

    def __call__(self, request: Request) -> Response:
        answer = self.inner(request)
        if not request.path.endswith("/call_events"):
            return answer  # its oracle, if any, answers as it is
        return Response(200)


# -- (f) X-Client-ID ignored -----------------------------------------------------


class IgnoresClientId(ReferenceCrm):
    """Never looks at X-Client-ID: the signature over its configured id and key decides."""

    def identity_ok(self, request: Request) -> bool:
        return True


# -- (g) strict about the lifecycle ------------------------------------------------


class LifecycleStrictCrm(ReferenceCrm):
    """Answers 409 to a notification of a call it never saw, and to one it already has."""

    def record(self, doc: dict[str, Any]) -> Answer:
        states = self.sessions.get(doc["session_id"])
        if doc["state"] != "new" and states is None:
            return Answer(409, "unknown call")
        if states is not None and str(doc["state"]) in states:
            return Answer(409, "already recorded")
        return super().record(doc)


# -- (h) a framework's unguarded JSON parsing ----------------------------------------


class PathologicalCrashes(ReferenceCrm):
    """Parses with ``json.loads`` unguarded and assumes an object: 500 on pathological input."""

    def parse(self, body: bytes) -> Any:
        return dict(json.loads(body.decode("utf-8")))


# -- (i) replay protection --------------------------------------------------------------

#: How far from its own clock a notification may be dated.
REPLAY_WINDOW_S = 86_400


def _seconds(stamp: Any) -> float | None:
    """A timestamp in any shape the guide or production uses, as Unix seconds."""
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        return float(stamp)
    if isinstance(stamp, str) and re.fullmatch(r"[0-9]+(\.[0-9]+)?", stamp):
        return float(stamp)
    if isinstance(stamp, str) and re.fullmatch(r"20[0-9]{2}-[0-9]{2}-[0-9]{2} .*", stamp):
        from datetime import datetime, timedelta, timezone

        moscow = timezone(timedelta(hours=3))
        return datetime.fromisoformat(stamp).replace(tzinfo=moscow).timestamp()
    return None


class ReplayWindowCrm(ReferenceCrm):
    """Refuses a notification dated more than a day from its own clock (a replay)."""

    def validate(self, doc: dict[str, Any]) -> list[str]:
        when = _seconds(doc.get("timestamp"))
        if when is not None and abs(when - time.time()) > REPLAY_WINDOW_S:
            return ["timestamp outside the replay window"]
        return super().validate(doc)


# -- (j) a queue behind the webhook ----------------------------------------------------------

QUEUE_DELAY_S = 0.1


class QueuedCrm(ReferenceCrm):
    """Answers 202 at once and records the notification a moment later."""

    def record(self, doc: dict[str, Any]) -> Answer:
        timer = threading.Timer(QUEUE_DELAY_S, ReferenceCrm.record, (self, doc))
        timer.daemon = True
        timer.start()
        return Answer(202, "queued")


# -- (k) a proxy that is warming up -----------------------------------------------------------

WARMING_UP = 4


class WarmingUpCrm(ReferenceCrm):
    """Behind a proxy that answers 502 to the first notifications, as while the app starts."""

    def handle(self, request: Request) -> Answer:
        seen = self.__dict__.setdefault("seen", [0])
        if request.path == self.path and seen[0] < WARMING_UP:
            seen[0] += 1
            return Answer(502, "bad gateway: the application is starting")
        return super().handle(request)


# -- (l) lifecycle-strict for incoming calls only ----------------------------------------------


class LifecycleStrictForIncoming(ReferenceCrm):
    """409 to a later state of an incoming call it never saw; other unknown calls' later
    states are acknowledged and dropped."""

    def record(self, doc: dict[str, Any]) -> Answer:
        if doc["state"] != "new" and doc["session_id"] not in self.sessions:
            if doc["type"] == "incoming":
                return Answer(409, "unknown call")
            return Answer(200, "ignored: not a call of ours")
        return super().record(doc)


# -- (m) the table's reading of E4 only ----------------------------------------------------------


class NumberTimestampOnly(ReferenceCrm):
    """Takes timestamp only as the table's Timestamp, a JSON number (E4)."""

    def validate(self, doc: dict[str, Any]) -> list[str]:
        stamp = doc.get("timestamp")
        if not (isinstance(stamp, int) and not isinstance(stamp, bool)):
            return ["timestamp: a number (Table А.2, Timestamp)"]
        return super().validate(doc)
