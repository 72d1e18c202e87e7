"""The emulator as one object: state, call engine, the two HTTP faces.

``Pbx`` is a handler (conformance/reference/web.py). Its routes:

* ``POST {api}/call_back``, ``POST|GET {api}/get_record`` -- Appendix А (``api.Api``);
* ``GET {api}/records/<token>`` -- a recording's single-use link (А.4);
* ``/admin/...`` -- the admin API (``admin.Admin``), token required;
* ``/console/...`` -- the web console (``console.Console``), a client of the admin API.

How an answer is written (``answers.Style``) is the client's: the one
``X-Client-ID`` names, or for a recording link the one it was issued to; a
client that set none, or a request of no known client, gets the emulator-wide
default (``Settings``). ``route(request, style)`` overrides it for one request
(the suite's ``crm-client`` role varies it per request).

``start`` serves it on two listeners (conformance/reference/server.py: uvicorn):
plain HTTP, and HTTPS with the emulator's own certificate (1.4.3). Which one a
client must use is its SSL switch (3.2.1); a request knows which it came by
(``Request.secure``). The guide's methods never wait and are answered in the
event loop; admin requests, which may (a test notification waits for the
external system), on threads.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from conformance.reference.pbx import tls
from conformance.reference.pbx.admin import Admin
from conformance.reference.pbx.answers import GUIDE, STRING_RESULTS, Answer, Result, Style, refuse
from conformance.reference.pbx.api import Api
from conformance.reference.pbx.calls import CallEngine
from conformance.reference.pbx.console import Console
from conformance.reference.pbx.delivery import Notifier
from conformance.reference.pbx.log import RequestLog
from conformance.reference.pbx.plans import Scenario
from conformance.reference.pbx.records import DEFAULT_TTL, Links
from conformance.reference.pbx.state import Registry
from conformance.reference.server import Served, serve
from conformance.reference.web import Request, Response
from conformance.spec import signing

API_METHODS = ("call_back", "get_record")


@dataclass
class Settings:
    """Emulator-wide choices where the guide contradicts itself or is silent."""

    result_type: str = "number"  # Table А.3 says Число; the examples send "0" (E2)
    record_link_ttl: float = DEFAULT_TTL

    @property
    def result_as_string(self) -> bool:
        return self.result_type == "string"

    @property
    def style(self) -> Style:
        """The answers of a client that set no style of its own (and of no client)."""
        return STRING_RESULTS if self.result_as_string else GUIDE

    def to_json(self) -> dict[str, Any]:
        return {"result_type": self.result_type, "record_link_ttl": self.record_link_ttl}


class Pbx:
    """The reference PBX emulator: a handler, served by ``start``."""

    def __init__(
        self,
        *,
        admin_token: str | None = None,
        scenario: Scenario | None = None,
        certificate_hosts: tuple[str, ...] = (),
    ) -> None:
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.settings = Settings()
        self.registry = Registry(default_style=lambda: self.settings.style)
        self.log = RequestLog()
        self.notifier = Notifier(self.registry, self.log)
        self.engine = CallEngine(self.registry, self.notifier)
        if scenario is not None:
            self.engine.scenario = scenario
        self.links = Links()
        self.http_url: str | None = None
        self.https_url: str | None = None
        self._hosts = certificate_hosts
        self._identity: tls.Identity | None = None
        self._identity_lock = threading.Lock()
        self.api = Api(self)
        self.admin = Admin(self)
        self.console = Console(self)

    def identity(self) -> tls.Identity:
        """The emulator's certificate, made on first use."""
        with self._identity_lock:
            if self._identity is None:
                self._identity = tls.self_signed(self._hosts)
            return self._identity

    # -- the handler ----------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        try:
            return self.route(request)
        except Exception as exc:  # noqa: BLE001 - the last line of defence answers
            body = json.dumps({"error": f"internal error: {type(exc).__name__}"}).encode()
            return Response(500, body, [("Content-Type", "application/json")])

    def route(self, request: Request, style: Style | None = None) -> Response:
        """Answer one request. ``style``: how to write every answer to it (refusals
        before the client is known included); None, the client's (module docstring)."""
        path = request.path
        if path == "/admin" or path.startswith("/admin/"):
            reply = self.admin.handle(request)
            return Response(
                reply.status, reply.body(), [("Content-Type", reply.content_type), *reply.headers]
            )
        if path == "/console" or path.startswith("/console/"):
            return self.console.handle(request)
        method = path.strip("/")
        answer: Answer
        if path.startswith("/records/") and path.count("/") == 2:
            token = path.rsplit("/", 1)[1]
            style = style or self.registry.style_of(self.links.client_of(token))
            answer = self.api.download(token, request, style)
        else:
            style = style or self.registry.style_of(request.headers.get(signing.CLIENT_ID_HEADER))
            if method in API_METHODS:
                answer = self.api.handle(method, request, style)
            else:
                answer = refuse(
                    404,
                    Result.NO_SUCH_METHOD,
                    f"no method {path!r}; the API has {', '.join('/' + m for m in API_METHODS)}",
                )
        return Response(
            answer.status_in(style),
            answer.body(style),
            [("Content-Type", answer.content_type), *answer.headers],
        )

    # -- calls placed elsewhere -----------------------------------------------
    def adopt_call(
        self, client_id: str, session_id: str, *, finished: bool, recorded: bool
    ) -> None:
        """Know a call the emulator did not place (the suite notifies a CRM of it), so
        that ``get_record`` answers for it as for its own calls: a link when it is
        finished and recorded, CALL_IN_PROGRESS (409) while not finished, NOT_RECORDED
        when finished without a recording. Nothing is sent and nothing is timed; adopting
        the same ``session_id`` again updates it. ``NotFound`` without such a client;
        ``ValueError`` for an empty id or one of the emulator's own calls."""
        self.registry.get_or_raise(client_id)
        self.engine.adopt(client_id, session_id, finished=finished, recorded=recorded)

    # -- serving ------------------------------------------------------------
    @staticmethod
    def may_wait(request: Request) -> bool:
        """Whether a request may wait on something (the admin API's test notification
        waits for the external system, and the console sends it through the admin API):
        those are answered on a thread, every other request -- the guide's methods,
        which never wait -- in the event loop."""
        return any(
            request.path == prefix or request.path.startswith(prefix + "/")
            for prefix in ("/admin", "/console")
        )

    def start(self, host: str = "127.0.0.1", port: int = 0, https_port: int = 0) -> Listening:
        """Listen on ``host:port`` (HTTP) and ``host:https_port`` (HTTPS); return at once.

        ``OSError`` if either port cannot be had (nothing is left listening).
        """
        http = serve(self, host, port, offload=self.may_wait)
        try:
            https = serve(
                self, host, https_port, offload=self.may_wait, tls=self.identity().context
            )
        except OSError:
            http.stop()
            raise
        self.http_url, self.https_url = http.url, https.url
        return Listening(self, http, https)


@dataclass
class Listening:
    pbx: Pbx
    http: Served
    https: Served

    def stop(self) -> None:
        """Stop calls first (their next step never comes), then both listeners at once."""
        self.pbx.engine.shutdown()
        self.http.shutdown()
        self.https.shutdown()
        self.http.stop()
        self.https.stop()
