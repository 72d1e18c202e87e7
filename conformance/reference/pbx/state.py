"""What the emulator remembers of its clients: their settings (3.1.1), the
allow-list (3.1.2), per-method limits, switches and statistics (3.1.3) and the
debug settings (3.2.1). Each value's parser is in values.py; the log (3.2.3) in
log.py.

Everything is held in memory and guarded by one lock (``Registry.lock``). Admin
changes are validated as a whole before any is applied: a request that sets
five fields and gets one wrong changes nothing.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from conformance.reference.pbx.answers import GUIDE, STYLE_SETTINGS, Style
from conformance.reference.pbx.values import (
    ConfigError,
    parse_address,
    parse_allow_list,
    parse_bool,
    parse_certificate,
    parse_number,
    parse_timeout,
    parse_users,
    same_uri,
)

#: Methods the external system calls (А.3, А.4) and the one the PBX calls (А.2).
INBOUND = ("call_back", "get_record")
OUTBOUND = ("call_events",)
METHODS = (*OUTBOUND, *INBOUND)

DEFAULT_TIMEOUT = 5.0  # seconds; the guide gives none (E12), the suite waits 5 s too (D15)
DEFAULT_LIMIT = (100, 3600.0)  # "не более 100 обращений в час" (3.1.3)
MAX_LIMIT_COUNT = 1_000_000
MAX_PERIOD = 7 * 86400.0
STATS_KEEP = 86400.0  # statistics cover the last day
STATS_MAX = 100_000  # per client and method

#: The directory of a new client's domain: PIN -> SIP-URI. 101 is the user of
#: the guide's 1.4.2 example, so the guide's requests name a known user.
DEFAULT_USERS = {
    "101": "test_user@cloudpbx.rt.ru",
    "102": "user102@cloudpbx.rt.ru",
    "103": "user103@cloudpbx.rt.ru",
}
DEFAULT_DOMAIN_NUMBER = "+74951112233"

ID_RE = re.compile(r"\A[A-Za-z0-9_.-]{1,64}\Z")
KEY_RE = re.compile(r"\A[\x21-\x7e]{1,128}\Z")


class NotFound(LookupError):
    """No such client (or call, or entry)."""


def new_secret() -> str:
    """32 uppercase hex digits, the form of the guide's id and key (1.4.2)."""
    return secrets.token_hex(16).upper()


@dataclass(frozen=True)
class Limit:
    """At most ``count`` requests in any ``period`` seconds (3.1.3)."""

    count: int
    period: float

    @staticmethod
    def parse(method: str, value: Any) -> Limit | None:
        if value is None:
            return None
        if not isinstance(value, dict) or set(value) - {"count", "period"}:
            raise ConfigError(
                f"limits.{method}: expected {{'count': N, 'period': seconds}} or null"
            )
        count, period = value.get("count", DEFAULT_LIMIT[0]), value.get("period", DEFAULT_LIMIT[1])
        if (
            isinstance(count, bool)
            or not isinstance(count, int)
            or not 1 <= count <= MAX_LIMIT_COUNT
        ):
            raise ConfigError(f"limits.{method}.count: expected 1 to {MAX_LIMIT_COUNT}")
        if (
            isinstance(period, bool)
            or not isinstance(period, int | float)
            or not 1 <= period <= MAX_PERIOD
        ):
            raise ConfigError(f"limits.{method}.period: expected 1 to {MAX_PERIOD:g} seconds")
        return Limit(count, float(period))

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "period": self.period}


class Window:
    """A sliding window: the times of the last ``count`` admitted requests."""

    def __init__(self, limit: Limit | None) -> None:
        self.limit = limit
        self._times: deque[float] = deque(maxlen=limit.count if limit else 1)

    def admit(self, now: float) -> bool:
        if self.limit is None:
            return True
        full = len(self._times) == self.limit.count
        if full and now - self._times[0] < self.limit.period:
            return False
        self._times.append(now)
        return True

    def used(self, now: float) -> int:
        if self.limit is None:
            return 0
        return sum(1 for t in self._times if now - t < self.limit.period)


class Stats:
    """Requests per method over a period (3.1.3): each one's time and whether it succeeded."""

    def __init__(self) -> None:
        self._events: dict[str, deque[tuple[float, bool]]] = {
            m: deque(maxlen=STATS_MAX) for m in METHODS
        }

    def add(self, method: str, ok: bool, now: float) -> None:
        events = self._events[method]
        events.append((now, ok))
        while events and now - events[0][0] > STATS_KEEP:
            events.popleft()

    def count(self, method: str, period: float, now: float) -> dict[str, int]:
        total = ok = 0
        for t, success in self._events[method]:
            if now - t <= period:
                total += 1
                ok += success
        return {"total": total, "ok": ok, "failed": total - ok}


@dataclass
class Client:
    """One "Интеграционный API" subscription: the settings page of 3.1 and 3.2.1."""

    client_id: str
    key: str
    enabled: bool = False  # "по умолчанию статус находится в состоянии «Выключен»" (3.1.1)
    external_address: str | None = None
    external_certificate: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    ssl: bool = False
    record_calls: bool = True
    allow_list: list[str] = field(default_factory=list)
    notifications: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(OUTBOUND, True))
    limits: dict[str, Limit | None] = field(
        default_factory=lambda: dict.fromkeys(INBOUND, Limit(*DEFAULT_LIMIT))
    )
    domain_number: str = DEFAULT_DOMAIN_NUMBER
    users: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_USERS))
    #: How its answers are written (answers.Style); None: the emulator-wide default.
    style: Style | None = None
    windows: dict[str, Window] = field(default_factory=dict, repr=False)
    stats: Stats = field(default_factory=Stats, repr=False)

    def __post_init__(self) -> None:
        self.windows = {m: Window(self.limits.get(m)) for m in INBOUND}

    def notification_url(self) -> str | None:
        """Where ``call_events`` go: the address, the method appended (1.3), scheme per SSL."""
        if self.external_address is None:
            return None
        return f"{'https' if self.ssl else 'http'}://{self.external_address}/call_events"

    def allows(self, remote: str | None) -> bool:
        """3.1.2: an empty list admits every address."""
        if not self.allow_list:
            return True
        try:
            address = ipaddress.ip_address(remote or "")
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(net) for net in self.allow_list)

    def user_by_pin(self, pin: str) -> str | None:
        return self.users.get(pin)

    def pin_of(self, uri: str) -> str | None:
        return next((pin for pin, known in self.users.items() if same_uri(known, uri)), None)

    def methods(self, period: float, now: float) -> dict[str, dict[str, Any]]:
        """Figure 2's table: status, limit, statistics, per method."""
        out: dict[str, dict[str, Any]] = {}
        for method in METHODS:
            limit = self.limits.get(method)
            row: dict[str, Any] = {
                "direction": "to_crm" if method in OUTBOUND else "from_crm",
                "enabled": self.notifications.get(method, True),
                "limit": limit.to_json() if limit else None,
                "stats": self.stats.count(method, period, now),
            }
            if method in self.windows:
                row["used"] = self.windows[method].used(now)
            out[method] = row
        return out

    def to_json(self, default_style: Style = GUIDE) -> dict[str, Any]:
        """The client as the admin API shows it; ``default_style`` is the emulator-wide
        style, which a client that set none of its own answers with."""
        style = self.style or default_style
        return {
            "client_id": self.client_id,
            "client_key": self.key,
            "enabled": self.enabled,
            "external_address": self.external_address,
            "notification_url": self.notification_url(),
            "external_certificate": self.external_certificate is not None,
            "timeout": self.timeout,
            "ssl": self.ssl,
            "record_calls": self.record_calls,
            "allow_list": list(self.allow_list),
            "notifications": dict(self.notifications),
            "limits": {m: (lim.to_json() if lim else None) for m, lim in self.limits.items()},
            "domain_number": self.domain_number,
            "users": dict(self.users),
            "style": style.to_json(),
            "answer_as": style.preset(),
        }


#: The fields PATCH /admin/clients/{id} takes, each with its parser.
_SETTERS: dict[str, Callable[[Any], Any]] = {
    "enabled": parse_bool("enabled"),
    "external_address": parse_address,
    "external_certificate": parse_certificate,
    "timeout": parse_timeout,
    "ssl": parse_bool("ssl"),
    "record_calls": parse_bool("record_calls"),
    "allow_list": parse_allow_list,
    "domain_number": parse_number("domain_number"),
    "users": parse_users,
}
EDITABLE = (*_SETTERS, "notifications", "limits", *STYLE_SETTINGS)


def _parse_notifications(value: Any, current: Mapping[str, bool]) -> dict[str, bool]:
    if not isinstance(value, dict) or set(value) - set(OUTBOUND):
        raise ConfigError(f"notifications: expected an object with {', '.join(OUTBOUND)}")
    out = dict(current)
    for method, on in value.items():
        out[method] = parse_bool(f"notifications.{method}")(on)
    return out


def _parse_limits(value: Any, current: Mapping[str, Limit | None]) -> dict[str, Limit | None]:
    if not isinstance(value, dict) or set(value) - set(INBOUND):
        raise ConfigError(
            f"limits: expected an object with {' and/or '.join(INBOUND)} "
            "(limits apply to requests from the external system, 3.1.3)"
        )
    out = dict(current)
    for method, spec in value.items():
        out[method] = Limit.parse(method, spec)
    return out


class Registry:
    """The clients, by id. Every read and change of a client happens under ``lock``."""

    def __init__(self, default_style: Callable[[], Style] = lambda: GUIDE) -> None:
        self.lock = threading.RLock()
        self._clients: dict[str, Client] = {}
        #: The style of a client that set none of its own (the emulator-wide setting).
        self.default_style = default_style

    def style_of(self, client_id: str | None) -> Style:
        """How to answer a request of ``client_id``: the client's style, else the default
        (also for an unknown or missing id)."""
        client = self.get(client_id)
        style = client.style if client is not None else None
        return style or self.default_style()

    @contextmanager
    def client(self, client_id: str) -> Iterator[Client]:
        """The client, locked for the block; ``NotFound`` if there is none."""
        with self.lock:
            found = self._clients.get(client_id)
            if found is None:
                raise NotFound(f"no client {client_id!r}")
            yield found

    def get(self, client_id: str | None) -> Client | None:
        with self.lock:
            return self._clients.get(client_id or "")

    def get_or_raise(self, client_id: str) -> Client:
        found = self.get(client_id)
        if found is None:
            raise NotFound(f"no client {client_id!r}")
        return found

    def ids(self) -> list[str]:
        with self.lock:
            return list(self._clients)

    def create(self, spec: Mapping[str, Any]) -> Client:
        client_id = spec.get("client_id") or new_secret()
        key = spec.get("client_key") or new_secret()
        if not isinstance(client_id, str) or not ID_RE.match(client_id):
            raise ConfigError("client_id: expected 1 to 64 letters, digits, '_', '.' or '-'")
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise ConfigError("client_key: expected 1 to 128 printable ASCII characters")
        client = Client(client_id, key)
        with self.lock:
            if client_id in self._clients:
                raise ConfigError(f"client_id: {client_id!r} exists already")
            self.update(
                client, {k: v for k, v in spec.items() if k not in ("client_id", "client_key")}
            )
            self._clients[client_id] = client
        return client

    def delete(self, client_id: str) -> None:
        with self.lock:
            if self._clients.pop(client_id, None) is None:
                raise NotFound(f"no client {client_id!r}")

    def update(self, client: Client, changes: Mapping[str, Any]) -> None:
        """Validate every change, then apply them all (or none)."""
        unknown = sorted(set(changes) - set(EDITABLE))
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r}; settable: {', '.join(EDITABLE)}")
        with self.lock:
            parsed = {name: _SETTERS[name](v) for name, v in changes.items() if name in _SETTERS}
            if "notifications" in changes:
                parsed["notifications"] = _parse_notifications(
                    changes["notifications"], client.notifications
                )
            if "limits" in changes:
                parsed["limits"] = _parse_limits(changes["limits"], client.limits)
            style_changes = {k: v for k, v in changes.items() if k in STYLE_SETTINGS}
            if style_changes:  # answers.Style: a preset (answer_as) first, then the fields
                base = client.style or self.default_style()
                parsed["style"] = base.updated(style_changes)
            enabled = parsed.get("enabled", client.enabled)
            address = parsed.get("external_address", client.external_address)
            if enabled and address is None:
                raise ConfigError(
                    "enabled: set external_address before switching the service on (3.1.1)"
                )
            for name, value in parsed.items():
                setattr(client, name, value)
            if "limits" in parsed:
                for method in INBOUND:
                    if client.windows[method].limit != client.limits[method]:
                        client.windows[method] = Window(client.limits[method])

    def regenerate_key(self, client_id: str, key: Any = None) -> str:
        if key is not None and (not isinstance(key, str) or not KEY_RE.match(key)):
            raise ConfigError("key: expected 1 to 128 printable ASCII characters")
        with self.client(client_id) as client:
            client.key = key or new_secret()
            return client.key


def monotonic() -> float:
    return time.monotonic()
