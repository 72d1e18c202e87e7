# Over 400 lines: one handler per endpoint of the admin tables in docs/PBX_EMULATOR.md.
"""The admin API: every setting of the guide's web pages (3.1, 3.2) and every
trigger, as JSON over HTTP under ``/admin``. Documented in docs/PBX_EMULATOR.md.

Every request needs the admin token (``Authorization: Bearer TOKEN`` or
``X-Admin-Token: TOKEN``). Answers are JSON; errors are ``{"error": "..."}``
with 400 (bad value), 401 (token), 404 (no such thing), 405, 409, 413 or 429.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conformance.reference.pbx.calls import CapacityError
from conformance.reference.pbx.log import DIRECTIONS, LOG_MAX
from conformance.reference.pbx.plans import call_plan, test_notification, triggered_parties
from conformance.reference.pbx.records import MAX_TTL
from conformance.reference.pbx.state import (
    METHODS,
    OUTBOUND,
    STATS_KEEP,
    NotFound,
    monotonic,
)
from conformance.reference.pbx.values import ConfigError, parse_certificate, parse_ip
from conformance.reference.web import Request, TooLarge
from conformance.spec import lifecycle

if TYPE_CHECKING:
    from conformance.reference.pbx.app import Pbx

MAX_ADMIN_BODY = 256 * 1024


@dataclass
class Reply:
    status: int
    doc: Any = None
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.doc, ensure_ascii=False, indent=1).encode("utf-8")


def error(status: int, message: str, **headers: str) -> Reply:
    return Reply(status, {"error": message}, headers=list(headers.items()))


class BadRequest(ValueError):
    """The admin request itself is malformed (not JSON, bad query parameter)."""


Handler = Callable[[], Reply]


class Admin:
    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx

    # -- entry --------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        if not self.authorised(request):
            return error(
                401,
                "admin token required: Authorization: Bearer TOKEN or X-Admin-Token: TOKEN",
                **{"WWW-Authenticate": 'Bearer realm="vats-reference-pbx"'},
            )
        parts = [p for p in request.path.split("/")[2:] if p]
        try:
            return self.route(request, parts)
        except (ConfigError, BadRequest) as exc:
            return error(400, str(exc))
        except NotFound as exc:
            return error(404, str(exc.args[0]) if exc.args else "not found")
        except CapacityError as exc:
            return error(429, str(exc))
        except TooLarge:
            return error(413, f"body larger than {MAX_ADMIN_BODY} bytes")

    def authorised(self, request: Request) -> bool:
        given = request.headers.get("X-Admin-Token", "")
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        return bool(given) and hmac.compare_digest(
            given.encode("utf-8", "replace"), self.pbx.admin_token.encode("utf-8")
        )

    def route(self, request: Request, parts: list[str]) -> Reply:  # noqa: PLR0912 - one case per endpoint
        r = request
        match parts:
            case []:
                return self.on(r, GET=self.overview)
            case ["settings"]:
                return self.on(r, GET=self.settings, PATCH=lambda: self.patch_settings(r))
            case ["scenario"]:
                return self.on(r, GET=self.scenario, PATCH=lambda: self.patch_scenario(r))
            case ["certificate"]:
                return self.on(r, GET=self.certificate)
            case ["log"]:
                return self.on(r, GET=lambda: self.log(r, None), DELETE=lambda: self.clear(r, None))
            case ["clients"]:
                return self.on(r, GET=self.clients, POST=lambda: self.create(r))
            case ["clients", cid]:
                return self.on(
                    r,
                    GET=lambda: self.client(cid),
                    PATCH=lambda: self.patch_client(r, cid),
                    DELETE=lambda: self.delete(cid),
                )
            case ["clients", cid, "key"]:
                return self.on(r, POST=lambda: self.new_key(r, cid))
            case ["clients", cid, "allow-list"]:
                return self.on(
                    r,
                    GET=lambda: self.allow_list(r, cid),
                    PUT=lambda: self.put_allow_list(r, cid),
                    POST=lambda: self.add_ip(r, cid),
                    DELETE=lambda: self.remove_ip(r, cid),
                )
            case ["clients", cid, "methods"]:
                return self.on(r, GET=lambda: self.methods(r, cid))
            case ["clients", cid, "methods", method]:
                return self.on(r, PATCH=lambda: self.patch_method(r, cid, method))
            case ["clients", cid, "stats"]:
                return self.on(r, GET=lambda: self.stats(r, cid))
            case ["clients", cid, "external-certificate"]:
                return self.on(
                    r,
                    GET=lambda: self.external_certificate(cid),
                    PUT=lambda: self.put_certificate(r, cid),
                    DELETE=lambda: self.patched(cid, {"external_certificate": None}),
                )
            case ["clients", cid, "test-notification"]:
                return self.on(r, POST=lambda: self.test_notification(r, cid))
            case ["clients", cid, "calls"]:
                return self.on(r, GET=lambda: self.calls(cid), POST=lambda: self.trigger(r, cid))
            case ["clients", cid, "calls", session_id]:
                return self.on(r, GET=lambda: self.call(cid, session_id))
            case ["clients", cid, "log"]:
                return self.on(r, GET=lambda: self.log(r, cid), DELETE=lambda: self.clear(r, cid))
        return error(404, f"no admin endpoint {request.path}; see docs/PBX_EMULATOR.md")

    @staticmethod
    def on(request: Request, **handlers: Handler) -> Reply:
        handler = handlers.get(request.method)
        if handler is None:
            allowed = ", ".join(handlers)
            return error(405, f"{request.path} takes {allowed}", Allow=allowed)
        return handler()

    # -- request helpers ----------------------------------------------------
    @staticmethod
    def raw_body(request: Request) -> bytes:
        return request.read(MAX_ADMIN_BODY)

    def json_body(self, request: Request, *, empty_ok: bool = False) -> dict[str, Any]:
        body = self.raw_body(request)
        if not body.strip() and empty_ok:
            return {}
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise BadRequest("the body must be a JSON object") from None
        if not isinstance(doc, dict):
            raise BadRequest("the body must be a JSON object")
        return doc

    @staticmethod
    def number_arg(request: Request, name: str, default: float, low: float, high: float) -> float:
        text = request.args().get(name)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            raise BadRequest(f"{name}: expected a number, got {text!r}") from None
        if not low <= value <= high:
            raise BadRequest(f"{name}: expected {low:g} to {high:g}")
        return value

    @staticmethod
    def choice_arg(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
        value = request.args().get(name) or None
        if value not in (None, "all", *choices):
            raise BadRequest(f"{name}: expected one of {', '.join(choices)} or all")
        return None if value == "all" else value

    # -- emulator-wide ------------------------------------------------------
    def overview(self) -> Reply:
        pbx = self.pbx
        return Reply(
            200,
            {
                "service": "vats-reference-pbx",
                "api": {"http": pbx.http_url, "https": pbx.https_url},
                "methods": {
                    "call_back": "POST {api}/call_back",
                    "get_record": "POST {api}/get_record, or GET {api}/get_record?session_id=",
                    "records": "GET {api}/records/{token}",
                },
                "clients": pbx.registry.ids(),
                "settings": pbx.settings.to_json(),
                "scenario": pbx.engine.scenario.to_json(),
            },
        )

    def settings(self) -> Reply:
        return Reply(200, self.pbx.settings.to_json())

    def patch_settings(self, request: Request) -> Reply:
        changes = self.json_body(request)
        unknown = sorted(set(changes) - {"result_type", "record_link_ttl"})
        if unknown:
            raise ConfigError(
                f"unknown setting {unknown[0]!r}; settable: result_type, record_link_ttl"
            )
        result_type = changes.get("result_type", self.pbx.settings.result_type)
        if result_type not in ("number", "string"):
            raise ConfigError(
                "result_type: expected 'number' (Table А.3) or 'string' (examples, E2)"
            )
        ttl = changes.get("record_link_ttl", self.pbx.settings.record_link_ttl)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 1 <= ttl <= MAX_TTL:
            raise ConfigError(f"record_link_ttl: expected 1 to {MAX_TTL:g} seconds")
        self.pbx.settings.result_type = result_type
        self.pbx.settings.record_link_ttl = float(ttl)
        return self.settings()

    def scenario(self) -> Reply:
        return Reply(200, self.pbx.engine.scenario.to_json())

    def patch_scenario(self, request: Request) -> Reply:
        engine = self.pbx.engine
        engine.scenario = engine.scenario.updated(self.json_body(request))
        return self.scenario()

    def certificate(self) -> Reply:
        pem = self.pbx.identity().certificate_pem.encode("ascii")
        return Reply(
            200,
            raw=pem,
            content_type="application/x-pem-file",
            headers=[("Content-Disposition", 'attachment; filename="vats-reference-pbx.pem"')],
        )

    def log(self, request: Request, client_id: str | None) -> Reply:
        if client_id is not None:
            self.pbx.registry.get_or_raise(client_id)
        entries = self.pbx.log.query(
            client=client_id if client_id is not None else request.args().get("client") or None,
            method=self.choice_arg(request, "method", METHODS),
            direction=self.choice_arg(request, "direction", DIRECTIONS),
            limit=int(self.number_arg(request, "limit", LOG_MAX, 1, LOG_MAX)),
        )
        return Reply(200, {"entries": [e.to_json() for e in entries]})

    def clear(self, request: Request, client_id: str | None) -> Reply:
        if client_id is not None:
            self.pbx.registry.get_or_raise(client_id)
        target = client_id if client_id is not None else request.args().get("client") or None
        return Reply(200, {"removed": self.pbx.log.clear(target)})

    # -- clients (3.1.1) ----------------------------------------------------
    def clients(self) -> Reply:
        registry = self.pbx.registry
        with registry.lock:
            found = [
                c.to_json(registry.default_style())
                for cid in registry.ids()
                if (c := registry.get(cid))
            ]
        return Reply(200, {"clients": found})

    def create(self, request: Request) -> Reply:
        client = self.pbx.registry.create(self.json_body(request, empty_ok=True))
        with self.pbx.registry.lock:
            return Reply(201, client.to_json(self.pbx.registry.default_style()))

    def client(self, client_id: str) -> Reply:
        with self.pbx.registry.client(client_id) as client:
            return Reply(200, client.to_json(self.pbx.registry.default_style()))

    def patched(self, client_id: str, changes: Mapping[str, Any]) -> Reply:
        with self.pbx.registry.client(client_id) as client:
            self.pbx.registry.update(client, changes)
            return Reply(200, client.to_json(self.pbx.registry.default_style()))

    def patch_client(self, request: Request, client_id: str) -> Reply:
        return self.patched(client_id, self.json_body(request))

    def delete(self, client_id: str) -> Reply:
        self.pbx.registry.delete(client_id)
        return Reply(200, {"deleted": client_id})

    def new_key(self, request: Request, client_id: str) -> Reply:
        body = self.json_body(request, empty_ok=True)
        key = self.pbx.registry.regenerate_key(client_id, body.get("key"))
        return Reply(200, {"client_id": client_id, "client_key": key})

    # -- allow-list (3.1.2) -------------------------------------------------
    def allow_list(self, request: Request, client_id: str) -> Reply:
        needle = request.args().get("filter", "")
        with self.pbx.registry.client(client_id) as client:
            return Reply(200, {"allow_list": [ip for ip in client.allow_list if needle in ip]})

    def put_allow_list(self, request: Request, client_id: str) -> Reply:
        body = self.json_body(request)
        self.patched(client_id, {"allow_list": body.get("allow_list")})
        return self.allow_list(request, client_id)

    def _ip(self, request: Request) -> str:
        given = request.args().get("ip")
        if given is None:
            given = self.json_body(request).get("ip")
        return parse_ip(given)

    def add_ip(self, request: Request, client_id: str) -> Reply:
        ip = self._ip(request)
        with self.pbx.registry.client(client_id) as client:
            self.pbx.registry.update(client, {"allow_list": [*client.allow_list, ip]})
            return Reply(200, {"allow_list": list(client.allow_list)})

    def remove_ip(self, request: Request, client_id: str) -> Reply:
        ip = self._ip(request)
        with self.pbx.registry.client(client_id) as client:
            if ip not in client.allow_list:
                raise NotFound(f"{ip} is not in the allow-list")
            client.allow_list = [i for i in client.allow_list if i != ip]
            return Reply(200, {"allow_list": list(client.allow_list)})

    # -- methods, limits, statistics (3.1.3) --------------------------------
    def methods(self, request: Request, client_id: str) -> Reply:
        period = self.number_arg(request, "period", 3600, 1, STATS_KEEP)
        with self.pbx.registry.client(client_id) as client:
            return Reply(200, {"period": period, "methods": client.methods(period, monotonic())})

    def patch_method(self, request: Request, client_id: str, method: str) -> Reply:
        if method not in METHODS:
            raise NotFound(f"no method {method!r}; methods: {', '.join(METHODS)}")
        body = self.json_body(request)
        unknown = sorted(set(body) - {"enabled", "limit"})
        if unknown:
            raise ConfigError(f"unknown method setting {unknown[0]!r}; settable: enabled, limit")
        changes: dict[str, Any] = {}
        if "enabled" in body:
            if method not in OUTBOUND:
                raise ConfigError(
                    f"{method}: requests from the external system are always on (3.1.3)"
                )
            changes["notifications"] = {method: body["enabled"]}
        if "limit" in body:
            if method in OUTBOUND:
                raise ConfigError(f"{method}: limits apply to requests from the external system")
            changes["limits"] = {method: body["limit"]}
        self.patched(client_id, changes)
        return self.methods(request, client_id)

    def stats(self, request: Request, client_id: str) -> Reply:
        period = self.number_arg(request, "period", 3600, 1, STATS_KEEP)
        with self.pbx.registry.client(client_id) as client:
            now = monotonic()
            counts = {m: client.stats.count(m, period, now) for m in METHODS}
        return Reply(200, {"period": period, "stats": counts})

    # -- certificates (1.4.3, 3.1.1) ----------------------------------------
    def external_certificate(self, client_id: str) -> Reply:
        with self.pbx.registry.client(client_id) as client:
            pem = client.external_certificate
        if pem is None:
            raise NotFound("no certificate uploaded for the external system")
        return Reply(200, raw=pem.encode("ascii"), content_type="application/x-pem-file")

    def put_certificate(self, request: Request, client_id: str) -> Reply:
        raw = self.raw_body(request)
        if raw.lstrip().startswith(b"-----BEGIN"):
            pem: Any = raw.decode("ascii", "replace")
        else:
            pem = self.json_body(request).get("pem")
        self.patched(client_id, {"external_certificate": parse_certificate(pem)})
        return Reply(200, {"client_id": client_id, "external_certificate": True})

    # -- debugging (3.2.2) and calls ----------------------------------------
    def test_notification(self, request: Request, client_id: str) -> Reply:
        body = self.json_body(request, empty_ok=True)
        state = body.get("state", "new")
        if state not in lifecycle.STATES:
            raise ConfigError(f"state: expected one of {', '.join(lifecycle.STATES)}")
        session_id = body.get("session_id") or f"test-{uuid.uuid4()}"
        if not isinstance(session_id, str):
            raise ConfigError("session_id: expected a string")
        self.pbx.registry.get_or_raise(client_id)
        note = test_notification(state, session_id)
        delivery = self.pbx.notifier.send(client_id, note, test=True)
        return Reply(200, {"notification": note, "delivery": delivery.to_json()})

    def calls(self, client_id: str) -> Reply:
        self.pbx.registry.get_or_raise(client_id)
        return Reply(200, {"calls": [c.to_json() for c in self.pbx.engine.of_client(client_id)]})

    def call(self, client_id: str, session_id: str) -> Reply:
        call = self.pbx.engine.get(session_id)
        if call is None or call.client_id != client_id:
            raise NotFound(f"no call {session_id!r} for client {client_id!r}")
        return Reply(200, call.to_json())

    def trigger(self, request: Request, client_id: str) -> Reply:
        body = self.json_body(request, empty_ok=True)
        kind = body.get("type", "incoming")
        if kind not in lifecycle.CALL_TYPES:
            raise ConfigError(f"type: expected one of {', '.join(lifecycle.CALL_TYPES)}")
        name = body.get("scenario", "answered")
        if name not in lifecycle.SCENARIOS:
            raise ConfigError(f"scenario: expected one of {', '.join(lifecycle.SCENARIOS)}")
        with self.pbx.registry.client(client_id) as client:
            parties = triggered_parties(client, kind, body)
            warning = None
            if not client.enabled:
                warning = "the service is off: the call is played, no notification is sent"
            elif not client.notifications.get("call_events", True):
                warning = "call_events is switched off: no notification is sent"
        plan = call_plan(kind, name, parties, self.pbx.engine.scenario)
        call = self.pbx.engine.start(client_id, kind, name, plan)
        return Reply(202, {**call.to_json(), "warning": warning})
