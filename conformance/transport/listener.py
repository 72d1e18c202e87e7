"""The suite as the CRM's webhook: receive the PBX's ``call_events`` and keep them.

A pytest-httpserver server on ``--listen`` with two handlers. What the PBX is
expected to send -- a POST to ``{external address}/call_events`` (1.3) -- is
answered 200 ``{}`` (the guide specifies no answer, E12). Anything else (another
path, another method) is answered as a webhook would (404, 405) and kept just the
same: it is evidence, and the pbx-events cases judge it. Every request is
recorded byte for byte with the answer the listener gave, as an ``Exchange`` made
once (``Received.exchange``); cases wait on the record for a call's
notifications. Nothing here judges.

Bounded: a body is read up to ``MAX_BODY`` bytes (a longer one is answered 413
and kept clipped), at most ``MAX_KEPT`` requests are kept (later ones are
answered, counted and dropped), and a request must arrive whole within the
listener's ``timeout`` (the run's ``--sut-timeout``): at that deadline its
connection is shut down, whatever the client is trickling (D60). A handler that
fails -- or anything of the server's own on the way to it or back -- is the
suite's own fault: the next read of the record raises ``ListenerError`` naming
it (``check``), and the run ends with status 3 (``Run.listener_failure``).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pytest_httpserver import HTTPServer
from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from conformance.transport import ids
from conformance.transport.client import Exchange, Headers, Watchdog, first_header
from conformance.transport.inbox import Inbox

#: At most this many requests are kept; later ones are answered, counted and dropped.
MAX_KEPT = 20_000
#: A body larger than this is answered 413 and kept clipped.
MAX_BODY = 1 << 20
#: Where the PBX sends notifications: the external address followed by /call_events
#: (1.3) -- any address path before it, as events.path reads it.
EXPECTED_PATH = re.compile(r".*/call_events/*\Z")
ANSWER = b"{}"
#: Where a request's connection keeps whether its deadline passed (``_Deadline``).
EXPIRED = "vats.expired"


class ListenerError(RuntimeError):
    """The listener failed on a request: the suite's own fault, not the PBX's."""


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
    answered_as: str | None = None  # the suite as a PBX: which reading its answer took
    #: Which of the suite's PBX API faces it reached (call_back, get_record, link, decoy,
    #: other; conformance/api_server.py); "" at the listener.
    kind: str = ""
    #: Whether ``body`` is the whole body: a larger one is kept clipped (or not at all).
    complete: bool = True

    @property
    def session_id(self) -> str | None:
        return ids.text(self.doc.get("session_id")) if isinstance(self.doc, dict) else None

    @property
    def state(self) -> Any:
        return self.doc.get("state") if isinstance(self.doc, dict) else None

    def header(self, name: str) -> str | None:
        return first_header(self.headers, name)

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
            answered_as=self.answered_as,
        )

    def show(self) -> str:
        text = self.body[:300].decode("utf-8", "replace")
        return f"{self.method} {self.path} {text!r}"


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body`` in UTF-8; None when it is none (or nests too deeply)."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _read(request: Request) -> tuple[bytes, str | None]:
    """The body, read up to one byte more than ``MAX_BODY``, and why it is incomplete:
    the PBX closed the connection before its ``Content-Length``, did not send it in
    time, or sent a chunked body that is not one. The PBX's fault, recorded as such:
    not a handler error."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= MAX_BODY:
            chunk = request.stream.read(min(1 << 16, MAX_BODY + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (ClientDisconnected, OSError, ValueError) as exc:
        expired = request.environ.get(EXPIRED)
        if isinstance(expired, threading.Event) and expired.is_set():
            return b"".join(chunks), "the body did not arrive whole in time (--sut-timeout)"
        if isinstance(exc, ClientDisconnected):
            return b"".join(chunks), "the connection closed before the whole body arrived"
        # werkzeug: "Invalid chunk header", a bad size; a connection reset
        return b"".join(chunks), f"a body that is not valid HTTP ({exc})"
    return b"".join(chunks), None


class _Deadline(WSGIRequestHandler):
    """werkzeug's request handler, with one deadline for each request.

    The socket's own timeout applies to each read, so a client trickling its headers
    or body a byte at a time would hold a thread forever: the watchdog shuts the
    connection down ``timeout`` seconds after a request began (or after the
    connection began to wait for one).
    """

    timeout_s: float = 5.0
    watchdog: Watchdog | None = None

    def handle_one_request(self) -> None:
        expired = self._expired = threading.Event()
        connection = self.connection

        def expire() -> None:
            expired.set()
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

        assert self.watchdog is not None
        ticket = self.watchdog.arm(self.timeout_s, expire)
        try:
            super().handle_one_request()
        finally:
            self.watchdog.disarm(ticket)
        if expired.is_set():
            self.close_connection = True

    def parse_request(self) -> bool:
        """http.server's parsing, and a request target werkzeug can split: one urlsplit
        refuses (``http://[::1``) made its ``make_environ`` raise, which is the sender's
        fault, not the listener's -- answered 400 as any request line that is not one
        (without ``send_error``, whose log line splits the target again)."""
        if not super().parse_request():
            return False
        try:
            urlsplit(self.path)
        except ValueError:
            self.close_connection = True
            self.send_response_only(400, "Bad request target")
            self.send_header("Connection", "close")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False
        return True

    def make_environ(self) -> Any:
        environ = super().make_environ()
        environ[EXPIRED] = self._expired
        return environ


class _Server(HTTPServer):
    """pytest-httpserver's server as a listener that runs for a whole suite run.

    Its ``application`` would read every body whole before any handler and log
    every request forever: here the handlers read at most ``MAX_BODY`` bytes and
    the listener keeps its own bounded record. ``dispatched`` runs after every
    request, a failed one too (its error is in ``handler_errors`` by then).
    ``failed`` hears of every error pytest-httpserver does not collect: one raised
    on the way to a handler or after it (``application``), or in werkzeug's own
    handling of a connection (``handle_error``, which would print a traceback).
    """

    def __init__(
        self,
        host: str,
        port: int,
        dispatched: Callable[[], None],
        failed: Callable[[BaseException], None],
        timeout: float,
    ) -> None:
        super().__init__(host=host, port=port, threaded=True)
        self.dispatched = dispatched
        self.failed = failed
        self.timeout = timeout

    def application(self, request: Request) -> Response:
        try:
            return self.dispatch(request)
        except Exception as exc:
            self.failed(exc)
            raise
        finally:
            try:
                self.dispatched()
            except Exception as exc:  # noqa: BLE001 - the suite's fault, said by check
                self.failed(exc)

    def thread_target(self) -> None:
        """Serve with ``_Deadline`` requests; every error werkzeug lets out is ``failed``."""
        server = self.server
        assert server is not None
        handler = type(
            "_ListenerHandler",
            (_Deadline,),
            {
                "timeout_s": self.timeout,
                "watchdog": Watchdog(),
                "protocol_version": "HTTP/1.1",
            },
        )
        server.RequestHandlerClass = handler

        def handle_error(request: Any, client_address: Any) -> None:
            exc = sys.exc_info()[1]
            if exc is not None and not isinstance(exc, (ConnectionError, TimeoutError)):
                self.failed(exc)

        server.handle_error = handle_error  # type: ignore[method-assign]
        server.log = self._log  # type: ignore[method-assign]
        super().thread_target()

    def _log(self, type: str, message: str, *args: Any) -> None:
        """werkzeug's server log, which it writes an "Error on request" to: an exception
        out of the application (``failed`` already) or out of werkzeug's own writing of
        the answer. Said by ``check``, not printed as a traceback."""
        if type == "error":
            lines = (message % args if args else message).strip().splitlines()
            self.failed(RuntimeError(lines[-1] if lines else message))


class Listener:
    """Receives notifications at ``{url}/call_events``; every other request is recorded too."""

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        """``timeout``: how long one request may take to arrive whole (``--sut-timeout``)."""
        self.server = _Server(host, port, self._wake, self._failed, timeout)
        self.server.expect_request(EXPECTED_PATH, method="POST").respond_with_handler(
            functools.partial(self._receive, expected=True)
        )
        self.server.expect_request(re.compile(".*")).respond_with_handler(
            functools.partial(self._receive, expected=False)
        )
        self.inbox: Inbox[Received] = Inbox(MAX_KEPT, self.check)
        self._failure: BaseException | None = None
        self._failures: list[BaseException] = []  # what pytest-httpserver does not collect

    @property
    def received(self) -> list[Received]:
        return self.inbox.items

    @property
    def count(self) -> int:
        """Every request that reached a handler, kept or not (results.json ``requests``)."""
        return self.inbox.count

    @property
    def url(self) -> str:
        host = self.server.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.server.port}"

    def start(self) -> None:
        """Listen; a port that cannot be had is one ``ListenerError`` line, nothing printed."""
        # werkzeug makes its logger when it logs its first request, in the server's
        # thread, whenever a notification arrives; pytest 9.2 walks the registry of
        # loggers unlocked as each case starts, and one added meanwhile turns that case
        # into an `error` ("dictionary changed size during iteration"). Made here, first.
        logging.getLogger("werkzeug")
        printed = io.StringIO()  # werkzeug prints why, then exits: one line instead
        try:
            with contextlib.redirect_stderr(printed):
                self.server.start()
        except (OSError, SystemExit) as exc:
            why = printed.getvalue().strip().splitlines() or [str(exc)]
            raise ListenerError(why[0]) from None

    def stop(self) -> None:
        if self.server.is_running():
            self.server.stop()

    def _receive(self, request: Request, *, expected: bool) -> Response:
        body, broken = _read(request)
        if broken is not None:
            response = Response(broken.encode(), 400, mimetype="text/plain")
        elif len(body) > MAX_BODY:
            response = Response(b"", 413)
        elif expected:
            response = Response(ANSWER, 200, mimetype="application/json")
        elif EXPECTED_PATH.match(request.path):
            response = Response(b"", 405, headers={"Allow": "POST"})
        else:
            response = Response(b"", 404)
        query = request.query_string.decode("latin-1")
        item = Received(
            at=time.time(),
            method=request.method,
            path=request.path,
            headers=list(request.headers.items()),
            body=body[:MAX_BODY],
            remote=request.remote_addr or "",
            status=response.status_code,
            doc=parse_json(body) if len(body) <= MAX_BODY and broken is None else None,
            url=self.url + request.path + (f"?{query}" if query else ""),
            answer_headers=list(response.headers.items()),
            answer_body=response.get_data(),
        )
        _ = item.exchange  # made now, in this thread: every reader shares this one
        self.inbox.add(item)
        return response

    def _wake(self) -> None:
        self.inbox.wake()

    def _failed(self, exc: BaseException) -> None:
        self._failures.append(exc)
        self.inbox.wake()

    def check(self) -> None:
        """Raise ``ListenerError`` if a handler ever failed (pytest-httpserver's ``check``).

        Every later call raises it again: a record with a request missing is not
        one the cases may judge.
        """
        if self._failure is None:
            try:
                self.server.check()
            except Exception as exc:  # noqa: BLE001 - whatever the handler raised
                self._failure = exc
        if self._failure is None and self._failures:
            self._failure = self._failures[0]
        failure = self._failure
        if failure is not None:
            raise ListenerError(
                "the suite's listener failed on a request the PBX sent (the suite's own fault, "
                f"not the PBX's): {type(failure).__name__}: {failure}"
            ) from failure

    def snapshot(self) -> list[Received]:
        return self.inbox.snapshot()

    def wait(self, done: Callable[[list[Received]], bool], timeout: float) -> list[Received]:
        """Everything received once ``done(received)`` holds, or when ``timeout`` passes."""
        return self.inbox.wait(done, timeout)

    def of_session(self, session_id: str) -> list[Received]:
        return [r for r in self.snapshot() if r.session_id == session_id]
