"""The suite as the CRM's webhook: receive the PBX's ``call_events`` and keep them.

A pytest-httpserver server on ``--listen``. It answers every POST with 200 and
``{}`` (the guide specifies no answer, E12) and records what arrived, byte for
byte, with the answer it gave, as an ``Exchange`` made once
(``Received.exchange``); cases wait on it for a call's notifications. Nothing
here judges.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from conformance.transport import ids
from conformance.transport.client import Exchange, Headers

#: At most this many notifications are kept; later ones are answered and dropped.
MAX_KEPT = 20_000
#: A body larger than this is answered 413 and kept clipped.
MAX_BODY = 1 << 20
ANSWER = b"{}"


@dataclass
class Received:
    """One request the PBX sent to the listener, and what the listener answered."""

    at: float  # wall clock, seconds
    method: str
    path: str
    headers: Headers
    body: bytes
    remote: str
    status: int = 200
    doc: Any = field(default=None)
    url: str = ""  # the listener's address, the path and the query; the path when unknown
    answer_headers: Headers = field(default_factory=list)
    answer_body: bytes = ANSWER

    @property
    def session_id(self) -> str | None:
        return ids.text(self.doc.get("session_id")) if isinstance(self.doc, dict) else None

    @property
    def state(self) -> Any:
        return self.doc.get("state") if isinstance(self.doc, dict) else None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @functools.cached_property
    def exchange(self) -> Exchange:
        """This request as an exchange of the run (direction: PBX to the suite).

        Made once: every case that cites it holds the same one, which the run
        counts once. It was received, not sent: no latency was measured.
        """
        return Exchange(
            method=self.method,
            url=self.url or self.path,
            request_headers=self.headers,
            request_body=self.body,
            status=self.status,
            response_headers=self.answer_headers,
            response_body=self.answer_body,
            received=True,
        )

    def show(self) -> str:
        text = self.body[:300].decode("utf-8", "replace")
        return f"{self.method} {self.path} {text!r}"


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


class Listener:
    """Receives notifications at ``{url}/call_events`` (any path is recorded)."""

    def __init__(self, host: str, port: int) -> None:
        self.server = HTTPServer(host=host, port=port, threaded=True)
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)
        self.received: list[Received] = []
        #: Every request that reached the handler, kept or not (results.json ``requests``).
        self.count = 0
        self._changed = threading.Condition()

    @property
    def url(self) -> str:
        host = self.server.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.server.port}"

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        if self.server.is_running():
            self.server.stop()

    def _handle(self, request: Request) -> Response:
        body = request.get_data(cache=False)
        status = 200 if len(body) <= MAX_BODY else 413
        response = Response(ANSWER if status == 200 else b"", status, mimetype="application/json")
        query = request.query_string.decode("latin-1")
        item = Received(
            at=time.time(),
            method=request.method,
            path=request.path,
            headers=list(request.headers.items()),
            body=body[:MAX_BODY],
            remote=request.remote_addr or "",
            status=status,
            doc=_parse(body) if status == 200 else None,
            url=self.url + request.path + (f"?{query}" if query else ""),
            answer_headers=list(response.headers.items()),
            answer_body=response.get_data(),
        )
        _ = item.exchange  # made now, in this thread: every reader shares this one
        with self._changed:
            self.count += 1
            if len(self.received) < MAX_KEPT:
                self.received.append(item)
            self._changed.notify_all()
        self.server.clear_log()
        return response

    def snapshot(self) -> list[Received]:
        with self._changed:
            return list(self.received)

    def wait(self, done: Callable[[list[Received]], bool], timeout: float) -> list[Received]:
        """Everything received once ``done(received)`` holds, or when ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return list(self.received)

    def of_session(self, session_id: str) -> list[Received]:
        return [r for r in self.snapshot() if r.session_id == session_id]
