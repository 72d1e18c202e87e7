"""The PBX API the suite serves a CRM (role crm-client), every request recorded.

The answers are the reference emulator's own (conformance/reference/pbx/): one
client with the run's credentials, no limits, no notifications of its own. What
this module adds is the record -- every request byte for byte, the answer it
got and which of the guide's readings that answer took -- and the choice of
reading per request: each method's requests are answered in turn as
``ROTATION`` says (E1 success as "1", E2 result as a string, errors as 4xx and
as HTTP 200 with result > 0), so a CRM meets every answer it must parse.

The round trip's calls are made known to the emulator (``adopt``); the link of
the ``redirected`` one answers 302 to a decoy on another port (another origin),
which records whoever follows it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

from conformance.grading import client as judge
from conformance.reference.pbx import PRODUCTION, Pbx, Style
from conformance.reference.server import MAX_BODY, Served, no_request, serve
from conformance.reference.web import Request, Response
from conformance.sut.crm_client import MAX_READ, Link, session_of
from conformance.transport.inbox import Inbox
from conformance.transport.listener import Received, parse_json

#: At most this many requests are kept; later ones are answered, counted and dropped.
MAX_KEPT = 20_000
#: The readings each method's answers take in turn (the first request gets the first).
ROTATION = (
    Style(links_accept_post=True),
    PRODUCTION,
    Style(result_type="string", success_result=1, links_accept_post=True),
    Style(errors_as_200=True, links_accept_post=True),
)
#: Links answer a POST too, as production is reported to (the case grades it).
LINK_STYLE = ROTATION[0]
METHODS = ("call_back", "get_record")
assert MAX_BODY == MAX_READ, "the cases say how much of a body the server reads"
DECOY_BODY = b"RIFF"  # not a recording: whoever followed the redirect gets four bytes


def kind_of(path: str) -> str:
    """Which face of the API a path reaches, as the emulator routes it."""
    name = path.strip("/")
    if name in METHODS:
        return name
    if path.startswith("/records/") and path.count("/") == 2:
        return "link"
    return "other"


def answered_as(request: Received) -> str:
    """What the suite's answer to ``request`` said, in the terms of the readings
    (results.json, the report); success and refusal as the cases read them."""
    status = request.status
    if request.kind == "link":
        if status in (301, 302, 303, 307, 308):
            return "a redirect to another origin (the decoy)"
        return "the recording" if status == 200 else f"a refusal, HTTP {status}"
    if not isinstance(parse_json(request.answer_body), dict):
        return f"HTTP {status}, not JSON"
    result = judge.result_of(request)
    tags = []
    if isinstance(result, str):
        tags.append("result as a string, E2")
    if judge.refused(request):
        tags.append(
            "an error as HTTP 200 with result > 0, as production"
            if status == 200
            else f"an error as HTTP {status}"
        )
    elif str(result) == "1":
        tags.append("success as the guide's example writes it, E1")
    shown = json.dumps(result, ensure_ascii=False)
    return f"HTTP {status}, result {shown}" + (f" ({'; '.join(tags)})" if tags else "")


class ApiServer:
    """The suite's PBX API on ``host:port``, and the decoy beside it."""

    def __init__(self, client_id: str, client_key: str) -> None:
        self.client_id = client_id
        self.pbx = Pbx()
        self.pbx.registry.create(
            {
                "client_id": client_id,
                "client_key": client_key,
                "enabled": True,
                "external_address": "127.0.0.1:9",  # never used: notifications are off
                "notifications": {"call_events": False},
                "limits": {"call_back": None, "get_record": None},
            }
        )
        self.inbox: Inbox[Received] = Inbox(MAX_KEPT)
        self.links: dict[str, Link] = {}
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._redirected: set[str] = set()  # sessions whose links redirect
        self._served: Served | None = None
        self._decoy: Served | None = None
        self.url = ""
        self.decoy_url = ""

    # -- serving ------------------------------------------------------------
    def start(self, host: str, port: int, deadline: float | None = None) -> None:
        """Listen on ``host:port`` and the decoy on ``host``, another port; ``OSError``
        when either cannot be had (then nothing is left listening). ``deadline``: the
        seconds a request may take to arrive whole, as at the listener (D60)."""
        self._served = serve(self, host, port, offload=no_request, deadline=deadline)
        try:
            self._decoy = serve(self.decoy, host, 0, offload=no_request, deadline=deadline)
        except OSError:
            self._served.stop()
            raise
        self.url = _reachable(self._served.url)
        self.decoy_url = _reachable(self._decoy.url)

    def stop(self) -> None:
        for served in (self._served, self._decoy):
            if served is not None:
                served.shutdown()
        for served in (self._served, self._decoy):
            if served is not None:
                served.stop()
        self.pbx.engine.shutdown()

    # -- the calls a round trip notifies --------------------------------------
    def adopt(self, recorded: str, unready: str, redirected: str) -> None:
        self.pbx.adopt_call(self.client_id, recorded, finished=True, recorded=True)
        self.pbx.adopt_call(self.client_id, unready, finished=False, recorded=True)
        self.pbx.adopt_call(self.client_id, redirected, finished=True, recorded=True)
        with self._lock:
            self._redirected.add(redirected)

    # -- the handlers ---------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        kind = kind_of(request.path)
        token = request.path.rsplit("/", 1)[-1] if kind == "link" else ""
        with self._lock:
            n = self._counts[kind]
            self._counts[kind] += 1
            link = self.links.get(token)
        if link is not None and link.redirected:
            response = Response(302, b"", [("Location", self._decoy_for(request))])
        else:
            style = ROTATION[n % len(ROTATION)] if kind in METHODS else LINK_STYLE
            try:
                response = self.pbx.route(request, style)
            except Exception as exc:  # noqa: BLE001 - recorded as answered, never a traceback
                body = json.dumps({"error": f"internal error: {type(exc).__name__}"}).encode()
                response = Response(500, body, [("Content-Type", "application/json")])
        item = _received(request, response, kind, self.url)
        if kind == "get_record":
            self._issued(item)
        self.inbox.add(item)
        return response

    def _decoy_for(self, request: Request) -> str:
        """The decoy's address as the CRM reaches this server (its ``Host``, the decoy's
        port): another origin, reachable wherever the API is."""
        parts = urlsplit(request.base_url)
        decoy = urlsplit(self.decoy_url)
        host = parts.hostname
        if not host or decoy.port is None:
            return f"{self.decoy_url}{request.path}"
        shown = f"[{host}]" if ":" in host else host
        return f"{decoy.scheme}://{shown}:{decoy.port}{request.path}"

    def decoy(self, request: Request) -> Response:
        """Another origin: records whoever followed the redirect there."""
        response = Response(200, DECOY_BODY, [("Content-Type", "audio/wav")])
        self.inbox.add(_received(request, response, "decoy", self.decoy_url))
        return response

    def _issued(self, asked: Received) -> None:
        """Remember the link a successful get_record gave, and for which call."""
        doc = parse_json(asked.answer_body)
        url = doc.get("url") if isinstance(doc, dict) else None
        if asked.status != 200 or not isinstance(url, str):
            return
        session_id = session_of(asked)
        token = url.rsplit("/", 1)[-1]
        with self._lock:
            self.links[token] = Link(
                token,
                session_id or "",
                time.time(),
                self.pbx.settings.record_link_ttl,
                redirected=session_id in self._redirected,
            )


def _received(request: Request, response: Response, kind: str, base: str) -> Received:
    """The request as the cases read it, with the suite's answer (made once, here)."""
    item = Received(
        at=time.time(),
        method=request.method,
        path=request.path,
        headers=list(request.headers.items()),
        body=request.body,
        remote=request.remote or "",
        status=response.status,
        doc=parse_json(request.body) if request.body and request.complete else None,
        url=base + request.target,
        answer_headers=list(response.headers),
        answer_body=(
            f"[{len(response.body)} bytes of audio]".encode()
            if kind in ("link", "decoy") and response.status == 200
            else response.body
        ),
        kind=kind,
        complete=request.complete,
    )
    item.answered_as = answered_as(item) if kind != "decoy" else None
    _ = item.exchange  # made now: every reader shares this one
    return item


def _reachable(url: str) -> str:
    """The URL a local client can reach: a wildcard address becomes loopback."""
    return url.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:")
