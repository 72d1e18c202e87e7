"""The log of requests and answers, both directions (3.2.3).

Every request to the API's methods and every notification sent is one entry,
newest last; at most ``LOG_MAX`` entries, bodies clipped to ``BODY_IN_LOG``
characters.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Direction = Literal["to_crm", "from_crm"]
DIRECTIONS: tuple[Direction, ...] = ("to_crm", "from_crm")
LOG_MAX = 2000
BODY_IN_LOG = 4096  # characters of a body kept in the log

_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def now_iso() -> str:
    """The time in UTC to the millisecond: ``2017-05-04T10:11:12.345Z``."""
    global _second  # noqa: PLW0603 - a one-entry cache: one second formatted once
    ms = time.time_ns() // 1_000_000
    second, milli = divmod(ms, 1000)
    if _second[0] != second:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (second, text)
    return f"{_second[1]}.{milli:03d}Z"


@dataclass
class LogEntry:
    """One exchange, as the log of 3.2.3 shows it."""

    id: int
    time: str
    client_id: str | None
    method: str
    direction: Direction
    url: str
    remote: str | None
    request_headers: dict[str, str]
    request_body: str
    status: int | None = None
    response_body: str = ""
    error: str | None = None
    elapsed_ms: float = 0.0
    test: bool = False
    answered_as: dict[str, Any] | None = None  # from_crm: the answers.Style it was answered in

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def clip(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    return text if len(text) <= BODY_IN_LOG else text[:BODY_IN_LOG] + "…"


class RequestLog:
    """3.2.3: every request and answer, both directions, newest last, bounded."""

    def __init__(self, size: int = LOG_MAX) -> None:
        self._lock = threading.Lock()
        self._entries: deque[LogEntry] = deque(maxlen=size)
        self._next = 1

    def add(self, **fields: Any) -> LogEntry:
        with self._lock:
            entry = LogEntry(id=self._next, time=now_iso(), **fields)
            self._next += 1
            self._entries.append(entry)
        return entry

    def query(
        self,
        *,
        client: str | None = None,
        method: str | None = None,
        direction: str | None = None,
        limit: int = LOG_MAX,
    ) -> list[LogEntry]:
        with self._lock:
            found = [
                e
                for e in self._entries
                if (client is None or e.client_id == client)
                and (method is None or e.method == method)
                and (direction is None or e.direction == direction)
            ]
        return found[-limit:] if limit else []

    def clear(self, client: str | None = None) -> int:
        with self._lock:
            before = len(self._entries)
            kept = [e for e in self._entries if client is not None and e.client_id != client]
            self._entries.clear()
            self._entries.extend(kept)
            return before - len(kept)
