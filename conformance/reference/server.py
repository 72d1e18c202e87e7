"""Serve a WSGI app on loopback in a background thread.

``serve`` runs werkzeug's threaded server: a thread per connection, each answer
closing its connection. Used for the reference CRM, the PBX emulator's HTTPS
listener, the self-tests' broken receivers (which read
``environ["vats.raw_headers"]``) and the benchmarks. Every connection has a
socket timeout, so a client that stalls mid-request cannot hold a thread
forever.

``serve_evented`` serves the PBX emulator's plain-HTTP listener (its throughput
under concurrent load: benchmarks/pbx_call_back.py). One thread runs an asyncio
event loop that reads every connection (HTTP/1.1 parsed by h11, connections kept
alive) and calls the app itself: no thread hand-off per request, so no fight
over the GIL. Requests the ``offload`` predicate names -- those that may wait on
something -- run on a small pool of threads instead. A connection that sends
nothing for ``SOCKET_TIMEOUT`` seconds (idle, or stalled mid-request) is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import formatdate
from functools import cache
from http import HTTPStatus
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urlsplit

import h11
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SOCKET_TIMEOUT = 10.0
MAX_HEAD = 64 * 1024  # bytes of a request line and headers (http.server reads 64 KiB lines)
MAX_BODY = 1024 * 1024  # bytes of a body read for the app; past it the app sees the size only
OFFLOAD_THREADS = 8  # threads for the requests serve_evented offloads
STOP_WAIT = 5.0  # seconds stop() waits for the serving thread


class QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 keep-alive, no per-request log line, raw header names kept.

    WSGI folds header names into ``HTTP_X_CLIENT_ID``; the exact spelling that
    arrived is put in ``environ["vats.raw_headers"]`` for whoever needs it.
    """

    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT

    def make_environ(self) -> Any:
        environ = super().make_environ()
        environ["vats.raw_headers"] = list(self.headers.items())
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        pass


@cache
def status_line(code: int) -> str:
    """``"404 Not Found"``: the WSGI status line for ``code``."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Status"


def _url(host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; ``OSError`` if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=128)


@dataclass
class Running:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return _url(self.server.host, self.server.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Start ``app`` on ``host:port`` (0 picks a free port) and return at once.

    The socket is bound here, so that a busy port raises ``OSError`` to the
    caller (werkzeug would print its own advice and exit the process).
    """
    sock = _listen(host, port)
    sock.set_inheritable(True)
    try:
        server = make_server(
            host,
            sock.getsockname()[1],
            app,
            threaded=True,
            request_handler=QuietHandler,
            fd=sock.fileno(),
        )
    finally:
        sock.close()  # werkzeug serves a duplicate of the descriptor
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"wsgi:{server.port}",
        daemon=True,
    )
    thread.start()
    return Running(server, thread)


# -- serve_evented: one event loop, the app called in it ----------------------
#: Statuses whose answers carry no body (RFC 9110 6.4.1).
_NO_BODY = frozenset({204, 304})
_date_cache: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    """The ``Date`` header's value, made once a second."""
    global _date_cache  # noqa: PLW0603 - a one-entry cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode("ascii"))
    return _date_cache[1]


def _latin1(text: str) -> str:
    """PEP 3333's "bytes as latin-1" spelling of a decoded string (as werkzeug does)."""
    return text.encode("utf-8").decode("latin-1")


class _Answer:
    """What the app answered: status, headers, body (made where the app ran)."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status, self.reason, self.headers = status, reason, headers
        self.body = b""


def _call(app: WSGIApp, environ: dict[str, Any]) -> _Answer:
    """Call a WSGI app and gather its whole answer; a failure is a bare 500."""
    started: list[_Answer] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if started and not exc_info:
            raise AssertionError("start_response called twice without exc_info")
        code, _, reason = status.partition(" ")
        started[:] = [
            _Answer(
                int(code),
                reason.encode("latin-1"),
                [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            )
        ]
        return written.append  # the legacy write() callable

    try:
        result = app(environ, start_response)
        try:
            chunks = [*written, *result]
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        answer = started[0]
        answer.body = b"".join(chunks)
    except Exception:  # noqa: BLE001 - the server answers whatever the app does
        answer = _Answer(500, b"Internal Server Error", [(b"Content-Type", b"text/plain")])
        answer.body = b"internal server error"
    return answer


class _Connection(asyncio.Protocol):
    """One client connection: h11 reads requests, the app answers them in order."""

    def __init__(self, server: _EventServer) -> None:
        self.server = server
        self.loop = server.loop
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.request: h11.Request | None = None
        self.body: list[bytes] = []
        self.size = 0
        self.busy = False  # an offloaded request is being answered
        self.paused = False  # the client does not read fast enough: read no more
        self.last = 0.0  # when the client last sent something or the app last answered
        self.backlog = 0  # bytes waiting to be sent at the last timer check
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        self.server.connections.add(self)
        self.last = self.loop.time()
        self.timer = self.loop.call_later(SOCKET_TIMEOUT, self.check_time)

    def data_received(self, data: bytes) -> None:
        self.last = self.loop.time()
        self.conn.receive_data(data)
        self.advance()

    def eof_received(self) -> bool:
        self.conn.receive_data(b"")
        self.advance()
        return True  # the transport stays open for an answer still being made

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def close(self, *, abort: bool = False) -> None:
        """Close after what is written has left (or at once, ``abort``)."""
        if self.transport is not None and not self.transport.is_closing():
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None
        if self.timer is not None:
            self.timer.cancel()

    def pause_writing(self) -> None:
        self.paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.busy:
            self.transport.resume_reading()
            self.advance()

    def check_time(self) -> None:
        """Close a connection that has sent nothing for ``SOCKET_TIMEOUT`` seconds,
        unless the app is still answering it or its answer is still leaving."""
        if self.transport is None:
            return
        backlog = self.transport.get_write_buffer_size()
        if self.busy or (backlog and backlog != self.backlog):  # answering, or sending it
            self.last = self.loop.time()
        self.backlog = backlog
        idle = self.loop.time() - self.last
        if idle >= SOCKET_TIMEOUT:
            self.close(abort=True)
            return
        self.timer = self.loop.call_later(SOCKET_TIMEOUT - idle, self.check_time)

    # -- HTTP
    def advance(self) -> None:
        """Act on what h11 has read, until it needs more or a request is answered."""
        while self.open and not self.busy and not self.paused:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                self.refuse(exc.error_status_hint)
                return
            if event is h11.NEED_DATA:
                if self.request is not None and self.conn.they_are_waiting_for_100_continue:
                    self.write(
                        self.conn.send(h11.InformationalResponse(status_code=100, headers=[]))
                    )
                return
            if isinstance(event, h11.ConnectionClosed):
                self.close()
                return
            if event is h11.PAUSED:  # a request is answered and the connection closes
                return
            if isinstance(event, h11.Request):
                self.request, self.body, self.size = event, [], 0
                declared = _content_length(event)
                if declared is not None and declared > MAX_BODY:
                    self.answer(complete=False)  # not read: the app sees the size only
            elif isinstance(event, h11.Data):
                self.size += len(event.data)
                self.body.append(event.data)
                if self.size > MAX_BODY:
                    self.answer(complete=False)
            elif isinstance(event, h11.EndOfMessage):
                self.answer(complete=True)

    def answer(self, *, complete: bool) -> None:
        """Hand the request to the app: here, or on a thread if it is offloaded."""
        request = self.request
        assert request is not None
        environ = self.environ(request, complete)
        self.request, self.body = None, []
        offload = self.server.offload
        if offload is None or not offload(environ):
            self.respond(request, _call(self.server.app, environ), complete)
            return
        self.busy = True
        assert self.transport is not None
        self.transport.pause_reading()
        self.server.run_offloaded(environ, lambda answer: self.offloaded(request, answer, complete))

    def offloaded(self, request: h11.Request, answer: _Answer, complete: bool) -> None:
        self.busy = False
        self.last = self.loop.time()
        self.respond(request, answer, complete)
        if self.open and not self.paused:
            assert self.transport is not None
            self.transport.resume_reading()
            self.advance()

    def respond(self, request: h11.Request, answer: _Answer, complete: bool) -> None:
        """Send the answer; then read on, or close if the request was not read whole
        or either side wants the connection closed."""
        if not self.open:
            return
        assert self.transport is not None
        headers = answer.headers
        names = {name.lower() for name, _ in headers}
        body = answer.body
        if request.method == b"HEAD" or answer.status in _NO_BODY or answer.status < 200:
            body = b""
        elif b"content-length" not in names:
            headers = [*headers, (b"Content-Length", str(len(body)).encode("ascii"))]
        if b"date" not in names:
            headers = [*headers, (b"Date", _date())]
        if not complete:
            headers = [*headers, (b"Connection", b"close")]
        try:
            out = self.conn.send(
                h11.Response(status_code=answer.status, headers=headers, reason=answer.reason)
            )
            if body:
                out += self.conn.send(h11.Data(data=body))
            out += self.conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:  # e.g. a Content-Length the body does not match
            self.close(abort=True)
            return
        self.write(out)
        if self.conn.our_state is h11.MUST_CLOSE or self.conn.their_state is not h11.DONE:
            self.close()
            return
        self.conn.start_next_cycle()
        self.last = self.loop.time()

    def refuse(self, status: int) -> None:
        """Answer a request h11 could not read, and close."""
        assert self.transport is not None
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = HTTPStatus(status).phrase.encode("ascii")
            headers = [
                (b"Content-Type", b"text/plain"),
                (b"Content-Length", str(len(body)).encode("ascii")),
                (b"Date", _date()),
                (b"Connection", b"close"),
            ]
            response = h11.Response(
                status_code=status, headers=headers, reason=HTTPStatus(status).phrase
            )
            with contextlib.suppress(h11.LocalProtocolError):
                self.write(
                    self.conn.send(response)
                    + self.conn.send(h11.Data(data=body))
                    + self.conn.send(h11.EndOfMessage())
                )
        self.close()

    def write(self, data: bytes | None) -> None:
        if data and self.open:
            assert self.transport is not None
            self.transport.write(data)

    def environ(self, request: h11.Request, complete: bool) -> dict[str, Any]:
        """The WSGI environ werkzeug's server would build for this request."""
        target = request.target.decode("latin-1")
        url = urlsplit(target)
        path = f"/{url.netloc}{url.path}" if not url.scheme and url.netloc else url.path
        server = self.server
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": BytesIO(b"".join(self.body)),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "SERVER_SOFTWARE": "vats-reference",
            "REQUEST_METHOD": request.method.decode("ascii"),
            "SCRIPT_NAME": "",
            "PATH_INFO": _latin1(unquote(path)),
            "QUERY_STRING": _latin1(url.query),
            "REQUEST_URI": _latin1(target),
            "RAW_URI": _latin1(target),
            "REMOTE_ADDR": self.peer[0],
            "REMOTE_PORT": self.peer[1],
            "SERVER_NAME": server.address,
            "SERVER_PORT": server.port_text,
            "SERVER_PROTOCOL": "HTTP/" + request.http_version.decode("ascii"),
        }
        for raw_name, raw_value in request.headers:
            name = raw_name.decode("latin-1")
            if "_" in name:  # as werkzeug: "X_Client_ID" must not pass for X-Client-ID
                continue
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            value = raw_value.decode("latin-1")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        if environ.get("HTTP_TRANSFER_ENCODING", "").strip().lower() == "chunked":
            environ["wsgi.input_terminated"] = True  # the body is whole, or more than MAX_BODY
        elif not complete:
            environ["wsgi.input"] = BytesIO()  # the app sees CONTENT_LENGTH only
        return environ


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is digits
    return None


class _EventServer:
    """The loop, its listening server and connections, and the offload threads."""

    def __init__(
        self,
        app: WSGIApp,
        sock: socket.socket,
        host: str,
        offload: Callable[[dict[str, Any]], bool] | None,
    ) -> None:
        self.app = app
        self.host = host
        self.address: str = sock.getsockname()[0]
        self.port: int = sock.getsockname()[1]
        self.port_text = str(self.port)
        self.offload = offload
        self.connections: set[_Connection] = set()
        self.pool = ThreadPoolExecutor(OFFLOAD_THREADS, thread_name_prefix=f"wsgi:{self.port}")
        self.loop = asyncio.new_event_loop()
        try:
            self.listener = self.loop.run_until_complete(
                self.loop.create_server(lambda: _Connection(self), sock=sock, backlog=128)
            )
        except BaseException:
            self.loop.close()
            raise

    def run(self) -> None:
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def run_offloaded(self, environ: dict[str, Any], done: Callable[[_Answer], None]) -> None:
        def work() -> None:
            answer = _call(self.app, environ)
            with contextlib.suppress(RuntimeError):  # the loop has been closed meanwhile
                self.loop.call_soon_threadsafe(done, answer)

        try:
            self.pool.submit(work)
        except RuntimeError:  # stopping: the pool takes no more
            done(_Answer(503, b"Service Unavailable", [(b"Content-Length", b"0")]))

    def close(self) -> None:
        """In the loop: stop listening, drop every connection, end the loop."""
        self.listener.close()
        for connection in list(self.connections):
            connection.close(abort=True)
        self.loop.call_soon(self.loop.stop)  # after the connections' own clean-up


@dataclass
class Evented:
    """A server made by ``serve_evented``; its event loop runs in ``thread``."""

    server: _EventServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return _url(self.server.host, self.server.port)

    def shutdown(self) -> None:
        """Stop serving: the listener and every connection close, the loop ends.
        Returns at once; safe from any thread or a signal handler, more than once."""
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            self.server.loop.call_soon_threadsafe(self.server.close)

    def stop(self) -> None:
        """Stop serving and wait (bounded) for the loop's thread to end. Offloaded
        requests still running finish on their own; their answers are dropped."""
        self.shutdown()
        self.thread.join(timeout=STOP_WAIT)
        self.server.pool.shutdown(wait=False, cancel_futures=True)


def serve_evented(
    app: WSGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    offload: Callable[[dict[str, Any]], bool] | None = None,
) -> Evented:
    """Start ``app`` on ``host:port`` in an event loop of its own; return at once.

    Like ``serve``: the socket is bound here (``OSError`` to the caller), the URL
    names ``host`` as given, the environ is the one werkzeug builds (without
    ``vats.raw_headers``), and answers are the app's. Unlike it: connections are
    kept alive, and the app is called in the loop's thread, so it must not wait on
    anything -- except for requests ``offload(environ)`` is true of, which run on
    one of ``OFFLOAD_THREADS`` threads. A body is read up to ``MAX_BODY`` bytes; a
    larger one is not read, the app sees its ``CONTENT_LENGTH`` (or, chunked, its
    first ``MAX_BODY`` bytes and more) and the connection closes after the answer.
    """
    sock = _listen(host, port)
    try:
        server = _EventServer(app, sock, host, offload)
    except BaseException:
        sock.close()
        raise
    thread = threading.Thread(target=server.run, name=f"wsgi-loop:{server.port}", daemon=True)
    thread.start()
    return Evented(server, thread)
