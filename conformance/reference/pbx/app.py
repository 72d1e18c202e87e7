"""The emulator as one object: state, call engine, the two HTTP faces.

``Pbx`` is a WSGI app. Its routes:

* ``POST {api}/call_back``, ``POST|GET {api}/get_record`` -- Appendix А (``api.Api``);
* ``GET {api}/records/<token>`` -- a recording's single-use link (А.4);
* ``/admin/...`` -- the admin API (``admin.Admin``), token required.

``start`` serves it on two listeners: plain HTTP (``serve_evented``: one event
loop that calls the app itself, connections kept alive) and HTTPS with the
emulator's own certificate (1.4.3; werkzeug's threaded server). Which one a
client must use is its SSL switch (3.2.1).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request

from conformance.reference.pbx import tls
from conformance.reference.pbx.admin import Admin, Reply
from conformance.reference.pbx.answers import Answer, Result, refuse
from conformance.reference.pbx.api import Api
from conformance.reference.pbx.calls import CallEngine
from conformance.reference.pbx.delivery import Notifier
from conformance.reference.pbx.log import RequestLog
from conformance.reference.pbx.plans import Scenario
from conformance.reference.pbx.records import DEFAULT_TTL, Links
from conformance.reference.pbx.state import Registry
from conformance.reference.server import Evented, Running, WSGIApp, serve_evented, status_line

API_METHODS = ("call_back", "get_record")


@dataclass
class Settings:
    """Emulator-wide choices where the guide contradicts itself or is silent."""

    result_type: str = "number"  # Table А.3 says Число; the examples send "0" (E2)
    record_link_ttl: float = DEFAULT_TTL

    @property
    def result_as_string(self) -> bool:
        return self.result_type == "string"

    def to_json(self) -> dict[str, Any]:
        return {"result_type": self.result_type, "record_link_ttl": self.record_link_ttl}


class Pbx:
    """The reference PBX emulator (a WSGI app; ``secure`` tells the listeners apart)."""

    def __init__(
        self,
        *,
        admin_token: str | None = None,
        scenario: Scenario | None = None,
        certificate_hosts: tuple[str, ...] = (),
    ) -> None:
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.registry = Registry()
        self.log = RequestLog()
        self.notifier = Notifier(self.registry, self.log)
        self.engine = CallEngine(self.registry, self.notifier)
        if scenario is not None:
            self.engine.scenario = scenario
        self.links = Links()
        self.settings = Settings()
        self.http_url: str | None = None
        self.https_url: str | None = None
        self._hosts = certificate_hosts
        self._identity: tls.Identity | None = None
        self._identity_lock = threading.Lock()
        self.api = Api(self)
        self.admin = Admin(self)

    def identity(self) -> tls.Identity:
        """The emulator's certificate, made on first use."""
        with self._identity_lock:
            if self._identity is None:
                self._identity = tls.self_signed(self._hosts)
            return self._identity

    # -- WSGI ---------------------------------------------------------------
    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        return self.respond(environ, start_response, secure=False)

    def secure_app(self) -> WSGIApp:
        """The same app, for the HTTPS listener."""

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            return self.respond(environ, start_response, secure=True)

        return app

    def respond(
        self, environ: dict[str, Any], start_response: Callable[..., Any], *, secure: bool
    ) -> Iterable[bytes]:
        request = Request(environ, populate_request=False)  # no request<->environ cycle for the GC
        try:
            status, headers, body = self.route(request, secure)
        except Exception as exc:  # noqa: BLE001 - the last line of defence answers
            status, headers = 500, [("Content-Type", "application/json")]
            body = json.dumps({"error": f"internal error: {type(exc).__name__}"}).encode()
        headers = [*headers, ("Content-Length", str(len(body)))]
        start_response(status_line(status), headers)
        return [b""] if request.method == "HEAD" else [body]

    def route(self, request: Request, secure: bool) -> tuple[int, list[tuple[str, str]], bytes]:
        path = request.path
        answer: Answer | Reply
        if path == "/admin" or path.startswith("/admin/"):
            answer = self.admin.handle(request)
            return (
                answer.status,
                [("Content-Type", answer.content_type), *answer.headers],
                answer.body(),
            )
        method = path.strip("/")
        if method in API_METHODS:
            answer = self.api.handle(method, request, secure)
        elif path.startswith("/records/") and path.count("/") == 2:
            answer = self.api.download(path.rsplit("/", 1)[1], request)
        else:
            answer = refuse(
                404,
                Result.NO_SUCH_METHOD,
                f"no method {path!r}; the API has {', '.join('/' + m for m in API_METHODS)}",
            )
        body = answer.body(self.settings.result_as_string)
        return answer.status, [("Content-Type", answer.content_type), *answer.headers], body

    # -- serving ------------------------------------------------------------
    @staticmethod
    def may_wait(environ: dict[str, Any]) -> bool:
        """Whether a request may wait on something (the admin API's test notification
        waits for the external system): the plain-HTTP listener answers those on a
        thread, and every other request -- the guide's methods, which never wait --
        in its event loop."""
        path: str = environ.get("PATH_INFO", "")
        return path == "/admin" or path.startswith("/admin/")

    def start(self, host: str = "127.0.0.1", port: int = 0, https_port: int = 0) -> Listening:
        """Listen on ``host:port`` (HTTP) and ``host:https_port`` (HTTPS); return at once.

        ``OSError`` if either port cannot be had (nothing is left listening).
        """
        http = serve_evented(self, host, port, offload=self.may_wait)
        try:
            https = tls.serve_tls(self.secure_app(), self.identity().context, host, https_port)
        except OSError:
            http.stop()
            raise
        self.http_url, self.https_url = http.url, tls.https_url(https)
        return Listening(self, http, https)


@dataclass
class Listening:
    pbx: Pbx
    http: Evented
    https: Running

    def stop(self) -> None:
        """Stop calls first (their next step never comes), then the listeners."""
        self.pbx.engine.shutdown()
        self.http.stop()
        self.https.stop()
