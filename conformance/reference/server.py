"""Serve a WSGI app on loopback in a background thread (werkzeug's threaded server).

Used for the embedded references, the self-tests' broken receivers and the
benchmarks. Every connection has a socket timeout, so a client that stalls
mid-request cannot hold a thread forever.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SOCKET_TIMEOUT = 10.0


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


def status_line(code: int) -> str:
    """``"404 Not Found"``: the WSGI status line for ``code``."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Status"


@dataclass
class Running:
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host = self.server.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.server.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Start ``app`` on ``host:port`` (0 picks a free port) and return at once.

    The socket is bound here, so that a busy port raises ``OSError`` to the
    caller (werkzeug would print its own advice and exit the process).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=128)
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
