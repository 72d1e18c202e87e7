"""Serve a handler (web.py) on loopback: uvicorn, with its h11 parser on the standard asyncio loop.

One stack serves both reference systems, in their own processes (their
command lines) and in a thread of a process that starts them (the self-tests,
the benchmarks). ``serve(handler, host, port)`` binds the socket -- a busy port
raises ``OSError`` to the caller -- starts uvicorn on it in a thread of its own
and returns a ``Served`` with the URL and ``stop()``.

uvicorn does the HTTP: parsing (h11, pure Python, no C extras), keep-alive,
pipelining, ``Expect: 100-continue``, ``Date``; it closes a kept-alive
connection idle for ``timeout_keep_alive``, bounds a request's head
(``h11_max_incomplete_event_size``) and answers 503 past ``limit_concurrency``
connections. What is ours:

* ``Asgi`` puts the handler behind ASGI. It reads the body up to ``MAX_BODY``
  (a larger one is not read: the handler sees ``complete=False`` and the
  connection closes after the answer), then calls the handler in the event loop
  itself -- no thread hand-off for the requests that never wait -- or, for the
  requests ``offload`` names (those that may wait on something), on a pool of
  ``OFFLOAD_THREADS`` threads.
* ``_Protocol`` is uvicorn's h11 protocol with a watch on stalled connections:
  uvicorn times out only an idle kept-alive connection, not one that connects
  and says nothing or stops mid-request. A connection that has sent nothing for
  ``IDLE_TIMEOUT`` seconds, while no answer is being made for it, is closed.
  (Under TLS the handshake comes first, bounded by asyncio's 60 s.) With
  ``serve(deadline=...)`` a request must also have arrived whole within that
  many seconds of when the connection began to wait for it: a client trickling a
  byte a second is never idle (the suite's PBX API, D60; the references do not
  set it).
* TLS is uvicorn's, with the ``ssl.SSLContext`` given (``ssl_context_factory``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from conformance.reference.web import Handler, Headers, Request, Response, respond

MAX_BODY = 1024 * 1024  # bytes of a body read for the handler; past it, it sees the size only
MAX_HEAD = 64 * 1024  # bytes of a request line and headers (http.server reads 64 KiB lines)
IDLE_TIMEOUT = 10.0  # seconds a connection may send nothing while no answer is being made
MAX_CONNECTIONS = 512  # open connections (or requests in progress) before uvicorn answers 503
BACKLOG = 128  # connections waiting to be accepted
OFFLOAD_THREADS = 32  # threads for the requests a server offloads
GRACE = 2  # seconds answers in progress get to finish when the server stops
START_WAIT = 10.0  # seconds serve() waits for the server to start
STOP_WAIT = 5.0  # seconds stop() waits for the server's thread
_NO_BODY = frozenset({204, 304})  # statuses whose answers carry no body (RFC 9110 6.4.1)

Offload = Callable[[Request], bool]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def every_request(_: Request) -> bool:
    """Offload every request: for handlers that may block (the self-tests' receivers)."""
    return True


def no_request(_: Request) -> bool:
    """Offload none: every request is answered in the event loop."""
    return False


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection that stalls (see the module docstring)."""

    _heard = 0.0  # loop time the client last sent something, or an answer was being made
    _backlog = 0  # bytes waiting to be sent at the last look
    _watch: asyncio.TimerHandle | None = None
    #: Seconds a request may take to arrive whole (None: no bound but ``IDLE_TIMEOUT``).
    deadline: float | None = None
    #: Loop time the current request began: the connection opening, then the first byte
    #: of each next one (None between requests: idle time is IDLE_TIMEOUT's, not the
    #: request's; a kept-alive connection may wait a while before its next request).
    _began: float | None = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._heard = self._began = self.loop.time()
        self._watch = self.loop.call_later(
            min(IDLE_TIMEOUT, self.deadline or IDLE_TIMEOUT), self._look
        )

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._began = None

    def data_received(self, data: bytes) -> None:
        self._heard = self.loop.time()
        if self._began is None:
            self._began = self._heard
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watch is not None:
            self._watch.cancel()
        super().connection_lost(exc)

    def _look(self) -> None:
        transport = self.transport
        if transport.is_closing():
            return
        now = self.loop.time()
        cycle = self.cycle
        backlog = transport.get_write_buffer_size()
        answering = cycle is not None and not cycle.more_body and not cycle.response_complete
        if (answering and not backlog) or (backlog and backlog != self._backlog):
            self._heard = now  # the handler is at work, or its answer is leaving
        self._backlog = backlog
        idle = now - self._heard
        if idle >= IDLE_TIMEOUT:
            transport.abort()
            return
        wait = IDLE_TIMEOUT - idle
        # the request still arriving: none yet, the next one, or the body of this one
        arriving = cycle is None or cycle.response_complete or cycle.more_body
        if self.deadline is not None and arriving and self._began is not None:
            left = self.deadline - (now - self._began)
            if left <= 0:
                transport.abort()
                return
            wait = min(wait, left)
        self._watch = self.loop.call_later(wait, self._look)

    def abort(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()


class Asgi:
    """``handler`` as an ASGI app: the body read (bounded), then the handler called
    in the loop or, for requests ``offload`` names, on ``pool``."""

    def __init__(self, handler: Handler, offload: Offload, pool: ThreadPoolExecutor) -> None:
        self.handler = handler
        self.offload = offload
        self.pool = pool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is off; nothing else is served
            return
        declared = _content_length(scope["headers"])
        body, complete = b"", declared is None or declared <= MAX_BODY
        if complete:
            read = await _read(receive)
            if read is None:  # the client went away
                return
            body, complete = read
        request = _request(scope, body, complete)
        if self.offload(request):
            try:
                response = await asyncio.get_running_loop().run_in_executor(
                    self.pool, respond, self.handler, request
                )
            except RuntimeError:  # the pool takes no more: stopping
                response = Response(503, b"stopping")
        else:
            response = respond(self.handler, request)
        headers, body = _answer(response, complete)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is digits
    return None


async def _read(receive: Receive) -> tuple[bytes, bool] | None:
    """The body and whether it is whole (not past ``MAX_BODY``); None if the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY:
                return b"".join(chunks), False
        if not message.get("more_body", False):
            return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), True


def _request(scope: Scope, body: bytes, complete: bool) -> Request:
    headers = Headers((n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"])
    host = headers.get("host")
    if host is None:  # HTTP/1.0 may leave it out
        server = scope.get("server") or ("", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    query: bytes = scope["query_string"]
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    target = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    client = scope.get("client")
    return Request(
        method=scope["method"],
        path=scope["path"],
        query=query,
        headers=headers,
        body=body,
        complete=complete,
        remote=client[0] if client else None,
        base_url=f"{scope['scheme']}://{host}",
        target=target,
    )


def _answer(response: Response, complete: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The answer's headers as ASGI has them (lowercase names), with its length, and its
    body; ``Connection: close`` when the request's body was not read whole."""
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers
        if name.lower() != "content-length"
    ]
    body = response.body
    if response.status in _NO_BODY or response.status < 200:
        body = b""
    else:
        headers.append((b"content-length", str(len(body)).encode("ascii")))
    if not complete:
        headers.append((b"connection", b"close"))
    return headers, body


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; ``OSError`` if it cannot be had.

    ``IPPROTO_TCP`` is spelled out: asyncio sets ``TCP_NODELAY`` on the accepted
    sockets only when it sees it, and without it an answer written in parts
    stalls some 40 ms (Nagle's algorithm against delayed ACKs).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name == "posix":  # as socket.create_server: a port in TIME_WAIT can be had
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class Served:
    """A server started by ``serve``; uvicorn runs in ``thread``."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    pool: ThreadPoolExecutor

    def shutdown(self) -> None:
        """Ask the server to stop and return at once: safe from any thread, from a
        signal handler, and more than once."""
        self.server.should_exit = True

    def wait(self, timeout: float | None = None) -> None:
        """Until the server has stopped (or ``timeout`` seconds)."""
        self.thread.join(timeout)

    def stop(self) -> None:
        """Stop serving and wait (bounded) for it: connections close, answers in
        progress get ``GRACE`` seconds; offloaded requests still running finish on
        their own."""
        self.shutdown()
        self.thread.join(STOP_WAIT)
        self.pool.shutdown(wait=False, cancel_futures=True)


class _NoCancelled(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" for a request cancelled at
    shutdown (past ``GRACE``): a client that was still sending is no error of ours,
    and a traceback on stderr would say otherwise. Every other error still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


_UVICORN_ERRORS = logging.getLogger("uvicorn.error")
if not any(isinstance(f, _NoCancelled) for f in _UVICORN_ERRORS.filters):
    _UVICORN_ERRORS.addFilter(_NoCancelled())


async def _run(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    finally:  # connections that outlived the grace period
        for connection in list(server.server_state.connections):
            if isinstance(connection, _Protocol):
                connection.abort()
        await asyncio.sleep(0)


def serve(
    handler: Handler,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    offload: Offload = every_request,
    tls: ssl.SSLContext | None = None,
    deadline: float | None = None,
) -> Served:
    """Serve ``handler`` on ``host:port`` (0: a free port) and return once it listens.

    ``offload(request)`` says which requests are answered on a thread (by default
    all: a handler may block); the others are answered in the event loop and must
    not wait on anything. ``tls``: serve HTTPS with this context. ``deadline``: the
    seconds a request may take to arrive whole (``_Protocol``).
    """
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    pool = ThreadPoolExecutor(OFFLOAD_THREADS, thread_name_prefix=f"serve:{bound}")
    config = uvicorn.Config(
        Asgi(handler, offload, pool),
        http=_Protocol
        if deadline is None
        else type("_Bounded", (_Protocol,), {"deadline": deadline}),
        ws="none",  # an Upgrade: websocket request is a plain request to the handler
        loop="asyncio",
        interface="asgi3",
        lifespan="off",
        log_config=None,  # the process's logging is its own: uvicorn configures nothing
        log_level="error",  # a client's malformed request is answered, not logged
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For must not change who is calling (3.1.2)
        server_header=False,
        backlog=BACKLOG,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=int(IDLE_TIMEOUT),
        timeout_graceful_shutdown=GRACE,
        h11_max_incomplete_event_size=MAX_HEAD,
        ssl_context_factory=None if tls is None else lambda _config, _default: tls,
    )
    server = uvicorn.Server(config)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(_run(server, sock))
        except BaseException as exc:  # noqa: BLE001 - reported by serve(), never a traceback
            failed.append(exc)

    thread = threading.Thread(target=run, name=f"serve:{bound}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_WAIT
    while not server.started:
        if failed or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(STOP_WAIT)
            sock.close()
            pool.shutdown(wait=False)
            why = f": {failed[0]}" if failed else ""
            raise OSError(f"the server on {host}:{bound} did not start{why}")
        time.sleep(0.001)
    scheme = "http" if tls is None else "https"
    shown = f"[{host}]" if ":" in host else host
    return Served(f"{scheme}://{shown}:{bound}", server, thread, pool)
