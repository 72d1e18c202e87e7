# Over 400 lines: one handler per page and form of docs/PBX_EMULATOR.md's console table.
"""The web console: the guide's "Интеграционный API" pages (3.1, 3.2; figures 2-5) as
plain HTML forms, served under ``/console`` (docs/PBX_EMULATOR.md, "The web console").

The console is a client of the admin API (admin.py): every read and every change is
an in-process ``Request`` to ``Admin.handle`` carrying the admin token in a header, so
the admin API stays the one source of truth and its validation the only one.

Security (docs/DECISIONS.md, D49): the admin token is typed once into the login form
and never appears in a URL or a page; a login opens a session, an HttpOnly,
SameSite=Strict cookie of 32 random bytes, kept in memory (at most ``MAX_SESSIONS``,
``SESSION_TTL``); every change is a POST carrying the session's CSRF token, compared
in constant time; every page is rendered with autoescaping under a CSP that allows its
one inline stylesheet and no script (there is none). After a change the answer is a
303 to a page (POST-redirect-GET); what the change produced (an error, the test
notification's result, the revealed key) is kept in the session for that next page.
"""

from __future__ import annotations

import email.parser
import email.policy
import hmac
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from jinja2 import Template

from conformance import templating
from conformance.reference.pbx.admin import Reply
from conformance.reference.web import Headers, Request, Response, TooLarge

if TYPE_CHECKING:
    from conformance.reference.pbx.app import Pbx

PREFIX = "/console"
COOKIE = "vats_console"
MAX_SESSIONS = 1000
SESSION_TTL = 8 * 3600.0  # seconds
MAX_FORM = 64 * 1024  # bytes of a form body, the certificate upload included

_PACKAGE = "conformance.reference.pbx"

#: The guide's pages: (path, nav id, h1, section).
PAGES = (
    ("settings", "nav-settings", "Настройка параметров", "3.1.1"),
    ("allow-list", "nav-allow-list", "Белый список IP-адресов", "3.1.2"),
    ("methods", "nav-methods", "Методы API", "3.1.3"),
    ("debug", "nav-debug", "Отладка взаимодействия", "3.2"),
    ("emulator", "nav-emulator", "Эмулятор", "emulator only"),
)
#: 3.2.2: the test notification's states, as the guide names them.
TEST_STATES = (
    ("new", "Новый вызов"),
    ("connected", "Начало разговора"),
    ("disconnected", "Завершение вызова"),
)
#: 3.2.3: the log's filters (value, label); "all" is the admin API's "all" too.
LOG_METHODS = (
    ("all", "Все"),
    ("call_events", "Уведомление о вызовах (call_events)"),
    ("call_back", "Запрос на совершение исходящего вызова (call_back)"),
    ("get_record", "Запрос записи разговора (get_record)"),
)
LOG_DIRECTIONS = (
    ("all", "Все"),
    ("to_crm", "К внешней системе"),
    ("from_crm", "От внешней системы"),
)
#: 3.1.3: the statistics' periods, in seconds. The emulator keeps a day of statistics
#: (state.STATS_KEEP), so a week shows that day.
#: The periods statistics are shown over: the emulator keeps one day of them (3.1.3).
PERIODS = (("hour", "Час", 3600), ("day", "Сутки", 86400))
MASKED_KEY = "••••••••"
#: The forms that act on no client.
CLIENTLESS = ("/logout", "/emulator/clients/create", "/emulator/scenario")


def csp() -> str:
    """Every console answer's Content-Security-Policy: its own stylesheet, no script."""
    return (
        f"default-src 'none'; style-src {_style().csp}; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


@cache
def _style() -> templating.Inline:
    return templating.inline(_PACKAGE, "static/console.css", "style")


@cache
def _template(name: str) -> Template:
    return templating.environment(_PACKAGE, "templates").get_template(f"console/{name}.html.j2")


@dataclass
class Session:
    """One login: its CSRF token, when it ends, and what the next page shows once."""

    csrf: str
    expires: float
    flash: dict[str, Any] = field(default_factory=dict)


class Console:
    """The console's pages and forms, a client of ``pbx.admin``."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    # -- sessions -----------------------------------------------------------
    def _open(self) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(32), time.monotonic() + SESSION_TTL)
        with self._lock:
            self._sessions[sid] = session
            while len(self._sessions) > MAX_SESSIONS:  # the oldest login goes first
                self._sessions.popitem(last=False)
        return sid, session

    def _session(self, request: Request) -> tuple[str, Session] | None:
        sid = _cookie(request, COOKIE)
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if session.expires < time.monotonic():
                del self._sessions[sid]
                return None
            return sid, session

    def _close(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)

    # -- the admin API, in process --------------------------------------------
    def admin(self, verb: str, path: str, body: Any = None, /, **query: str) -> Reply:
        """``method /admin{path}`` with the admin token; ``body``: JSON, or bytes as they are."""
        raw = (
            body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
        )
        qs = urlencode(query).encode("ascii")
        full = "/admin" + path
        request = Request(
            method=verb,
            path=full,
            query=qs,
            headers=Headers(
                [("X-Admin-Token", self.pbx.admin_token), ("Content-Type", "application/json")]
            ),
            body=raw,
            complete=True,
            remote=None,
            base_url=self.pbx.http_url or "http://127.0.0.1",
            target=quote(full) + ("?" + qs.decode() if qs else ""),
        )
        return self.pbx.admin.handle(request)

    def _doc(self, verb: str, path: str, body: Any = None, /, **query: str) -> Any:
        return self.admin(verb, path, body, **query).doc

    # -- entry ----------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Answer one console request; whatever goes wrong is a 500 with the console's own
        headers (its CSP among them), never the emulator's bare last-resort answer."""
        try:
            return self._handle(request)
        except Exception as exc:  # noqa: BLE001 - the last line of defence answers
            return _plain(500, f"internal error: {type(exc).__name__}")

    def _handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        sub = path[len(PREFIX) :]
        if sub == "/login":
            if request.method == "POST":
                return self.login(request)
            return self.page("login", 200, logged_in=False, failed=False)
        found = self._session(request)
        if found is None:
            return _redirect(PREFIX + "/login")
        sid, session = found
        if request.method == "POST":
            try:
                form = _form(request)
            except TooLarge:
                return _plain(413, "form larger than 64 KiB")
            except ValueError as exc:
                return _plain(400, str(exc))
            given = form.get("csrf", "")
            if not isinstance(given, str) or not hmac.compare_digest(
                given.encode("utf-8", "replace"), session.csrf.encode("ascii")
            ):
                return self.page("csrf", 403, logged_in=False)
            return self.change(sub, form, sid, session)
        if request.method != "GET":
            return _plain(405, "the console takes GET and POST", Allow="GET, POST")
        return self.show(sub, request.args(), session)

    def login(self, request: Request) -> Response:
        try:
            form = _form(request)
        except (TooLarge, ValueError):
            form = {}
        token = form.get("token", "")
        ok = isinstance(token, str) and hmac.compare_digest(
            token.encode("utf-8", "replace"), self.pbx.admin_token.encode("utf-8")
        )
        if not ok:
            return self.page("login", 403, logged_in=False, failed=True)
        sid, _ = self._open()
        cookie = f"{COOKIE}={sid}; HttpOnly; SameSite=Strict; Path={PREFIX}"
        if request.secure:
            cookie += "; Secure"
        return _redirect(PREFIX + "/settings", ("Set-Cookie", cookie))

    # -- pages ----------------------------------------------------------------
    def page(self, name: str, status: int = 200, **values: Any) -> Response:
        defaults: dict[str, Any] = {
            "error": None,
            "page": "",
            "client": None,
            "clients": [],
            "csrf": "",
        }
        html = _template(name).render(css=_style().text, pages=PAGES, **{**defaults, **values})
        return Response(status, html.encode("utf-8"), _headers("text/html; charset=utf-8"))

    def _client(self, wanted: str | None) -> tuple[str | None, list[str]]:
        ids: list[str] = [c["client_id"] for c in self._doc("GET", "/clients")["clients"]]
        if wanted in ids:
            return wanted, ids
        return (ids[0] if ids else None), ids

    def show(self, sub: str, args: dict[str, str], session: Session) -> Response:
        if sub in ("", "/"):
            return _redirect(PREFIX + "/settings")
        cid, ids = self._client(args.get("client"))
        flash, session.flash = session.flash, {}
        common: dict[str, Any] = {
            "logged_in": True,
            "csrf": session.csrf,
            "client": cid,
            "clients": ids,
            "error": flash.get("error"),
        }
        if sub == "/certificate":
            reply = self.admin("GET", "/certificate")
            return Response(
                reply.status,
                reply.body(),
                [*_headers(reply.content_type), *reply.headers],
            )
        if sub == "/emulator":
            return self.emulator_page(common)
        if cid is None:
            page = next((p for p in PAGES if "/" + p[0] == sub), None)
            if page is None:
                return self.page("not_found", 404, **common, page="")
            return self.page("no_client", 200, **common, page=page[0])
        base = f"/clients/{quote(cid, safe='')}"
        if sub == "/settings":
            client = self._doc("GET", base)
            return self.page(
                "settings",
                **common,
                page="settings",
                c=client,
                api_http=self.pbx.http_url,
                api_https=self.pbx.https_url,
                key=client["client_key"] if flash.get("reveal") else MASKED_KEY,
            )
        if sub == "/allow-list":
            needle = args.get("filter", "")
            listed = self._doc("GET", base + "/allow-list", filter=needle)["allow_list"]
            whole = self._doc("GET", base + "/allow-list")["allow_list"]
            return self.page(
                "allow_list",
                **common,
                page="allow-list",
                ips=listed,
                empty=not whole,
                filter=needle,
            )
        if sub == "/methods":
            period = args.get("period", "hour")
            seconds = next((s for name, _, s in PERIODS if name == period), None)
            if seconds is None:
                period, seconds = "hour", 3600
            doc = self._doc("GET", base + "/methods", period=str(seconds))
            return self.page(
                "methods",
                **common,
                page="methods",
                methods=doc["methods"],
                period=period,
                periods=PERIODS,
            )
        if sub == "/debug":
            return self.debug_page(common, base, args, flash)
        match = re.fullmatch(r"/debug/log/([0-9]{1,12})", sub)
        if match:
            entry = next(
                (e for e in self._doc("GET", base + "/log")["entries"] if e["id"] == int(match[1])),
                None,
            )
            if entry is None:
                return self.page("not_found", 404, **common, page="debug")
            return self.page("entry", **common, page="debug", e=entry, directions=LOG_DIRECTIONS)
        return self.page("not_found", 404, **common, page="")

    def debug_page(
        self, common: dict[str, Any], base: str, args: dict[str, str], flash: dict[str, Any]
    ) -> Response:
        method = args.get("method", "all")
        method = method if method in dict(LOG_METHODS) else "all"
        direction = args.get("direction", "all")
        direction = direction if direction in dict(LOG_DIRECTIONS) else "all"
        entries = self._doc("GET", base + "/log", method=method, direction=direction)["entries"]
        client = self._doc("GET", base)
        return self.page(
            "debug",
            **common,
            page="debug",
            c=client,
            # 3.2.1: «Адрес для отправки» is the API's address for debugging (the same
            # server here), in the scheme the client's SSL switch asks for.
            api_test=self.pbx.https_url if client.get("ssl") else self.pbx.http_url,
            states=TEST_STATES,
            test_result=flash.get("test_result"),
            entries=list(reversed(entries)),
            method=method,
            direction=direction,
            log_methods=LOG_METHODS,
            log_directions=LOG_DIRECTIONS,
        )

    def emulator_page(self, common: dict[str, Any]) -> Response:
        clients = self._doc("GET", "/clients")["clients"]
        current = next((c for c in clients if c["client_id"] == common["client"]), None)
        return self.page(
            "emulator",
            **common,
            page="emulator",
            all_clients=clients,
            current=current,
            scenario=self._doc("GET", "/scenario"),
        )

    # -- changes --------------------------------------------------------------
    def change(  # noqa: PLR0912, PLR0915 - one case per form, as admin.route has per endpoint
        self, sub: str, form: dict[str, Any], sid: str, session: Session
    ) -> Response:
        cid = form.get("client") if isinstance(form.get("client"), str) else None
        base = f"/clients/{quote(cid or '', safe='')}"
        text = {k: v for k, v in form.items() if isinstance(v, str)}
        if not cid and sub not in CLIENTLESS:
            return _plain(400, "no client chosen: pick one under «Клиент» and send the form again")
        back = "settings"
        reply: Reply | None = None
        match sub:
            case "/logout":
                self._close(sid)
                cookie = f"{COOKIE}=; HttpOnly; SameSite=Strict; Path={PREFIX}; Max-Age=0"
                return _redirect(PREFIX + "/login", ("Set-Cookie", cookie))
            case "/settings":
                changes = {
                    "external_address": text.get("external_address", "").strip() or None,
                    "enabled": "enabled" in text,
                }
                reply = self.admin("PATCH", base, changes)
            case "/settings/reveal":
                reply = self.admin("GET", base)
                if reply.status == 200:
                    session.flash["reveal"] = True
            case "/settings/key":
                reply = self.admin("POST", base + "/key", {})
            case "/settings/certificate":
                upload = form.get("certificate")
                if not isinstance(upload, bytes) or not upload.strip():
                    session.flash["error"] = "выберите файл сертификата (PEM)"
                else:
                    reply = self.admin("PUT", base + "/external-certificate", upload)
            case "/allow-list/add":
                reply = self.admin("POST", base + "/allow-list", {"ip": text.get("ip", "").strip()})
                back = "allow-list"
            case "/allow-list/delete":
                reply = self.admin("DELETE", base + "/allow-list", {"ip": text.get("ip", "")})
                back = "allow-list"
            case "/methods":
                on = "call_events" in text
                reply = self.admin("PATCH", base + "/methods/call_events", {"enabled": on})
                back = "methods"
            case "/debug/settings":
                back = "debug"
                try:
                    timeout = float(text.get("timeout", ""))
                except ValueError:
                    session.flash["error"] = "timeout: expected a number of seconds"
                else:
                    test_settings: dict[str, Any] = {"timeout": timeout, "ssl": "ssl" in text}
                    reply = self.admin("PATCH", base, test_settings)
            case "/debug/test":
                back = "debug"
                reply = self.admin(
                    "POST", base + "/test-notification", {"state": text.get("state")}
                )
                if reply.status == 200:
                    session.flash["test_result"] = _delivery(reply.doc["delivery"])
            case "/debug/clear":
                back = "debug"
                reply = self.admin("DELETE", base + "/log")
            case "/emulator/clients/create":
                spec = {"client_id": text["client_id"]} if text.get("client_id") else {}
                reply = self.admin("POST", "/clients", spec)
                back = "emulator"
                if reply.status == 201:
                    cid = reply.doc["client_id"]
            case "/emulator/clients/delete":
                reply = self.admin("DELETE", base)
                back = "emulator"
                if reply.status == 200:
                    cid = None
            case "/emulator/style":
                reply = self.admin("PATCH", base, {"answer_as": text.get("answer_as")})
                back = "emulator"
            case "/emulator/scenario":
                back = "emulator"
                try:
                    changes = _scenario_changes(text)
                except ValueError as exc:
                    session.flash["error"] = str(exc)
                else:
                    reply = self.admin("PATCH", "/scenario", changes)
            case _:
                return self.page("not_found", 404, logged_in=False)
        if reply is not None and reply.status >= 400:
            session.flash["error"] = (reply.doc or {}).get("error", f"HTTP {reply.status}")
        target = f"{PREFIX}/{back}" + (f"?{urlencode({'client': cid})}" if cid else "")
        return _redirect(target)


def _scenario_changes(text: dict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("ring_ms", "announcement_ms", "talk_ms"):
        value = text.get(name, "").strip()
        if value:
            if not re.fullmatch(r"[0-9]{1,9}", value):
                raise ValueError(f"{name}: expected whole milliseconds")
            changes[name] = int(value)
    for name in ("call_back_outcome", "hangup_by"):
        if text.get(name):
            changes[name] = text[name]
    return changes


def _delivery(delivery: dict[str, Any]) -> str:
    """The test notification's result (3.2.2) in one line."""
    if delivery.get("skipped"):
        return f"не отправлено: {delivery['skipped']}"
    if delivery.get("status") is not None:
        return f"ответ внешней системы: HTTP {delivery['status']}"
    return f"нет ответа: {delivery.get('error') or 'unknown error'}"


def _headers(content_type: str) -> list[tuple[str, str]]:
    return [
        ("Content-Type", content_type),
        ("Content-Security-Policy", csp()),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ]


def _redirect(location: str, *extra: tuple[str, str]) -> Response:
    return Response(
        303, b"", [*_headers("text/plain; charset=utf-8"), ("Location", location), *extra]
    )


def _plain(status: int, text: str, **extra: str) -> Response:
    return Response(
        status, text.encode("utf-8"), [*_headers("text/plain; charset=utf-8"), *extra.items()]
    )


def _cookie(request: Request, name: str) -> str | None:
    for part in request.headers.get("Cookie", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def _form(request: Request) -> dict[str, str | bytes]:
    """A POST's form: url-encoded, or multipart (the certificate upload); first value wins.

    ``TooLarge`` past ``MAX_FORM``; ``ValueError`` for a body that is neither."""
    body = request.read(MAX_FORM)
    kind = request.headers.get("Content-Type", "")
    out: dict[str, str | bytes] = {}
    if kind.lower().startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + kind.encode("latin-1") + b"\r\n\r\n" + body
        )
        if not message.is_multipart():
            raise ValueError("a multipart form without its parts")
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str) or name in out:
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            out[name] = data if part.get_filename() else data.decode("utf-8", "replace")
        return out
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the form is not UTF-8") from None
    for name, value in parse_qsl(text, keep_blank_values=True):
        out.setdefault(name, value)
    return out
