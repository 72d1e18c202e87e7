"""Requests and answers of the reference systems, apart from the server that carries them.

A reference system (the reference CRM, the PBX emulator, the self-tests' broken
receivers) is a *handler*: a plain function of a ``Request`` to a ``Response``.
The server (server.py: uvicorn) reads the request and its body, up to a bound,
and writes the answer; the handler never sees the server. Header names are
looked up without regard to case (RFC 9110 5.1); ``Headers.items`` gives them
as the server kept them -- lowercase under uvicorn (ASGI lowercases them), as
sent under the self-tests' ``http.server`` stack (tests/support.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import overload
from urllib.parse import parse_qsl


class TooLarge(Exception):
    """The body is larger than the reader allows (or was not read whole)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body larger than {limit} bytes")
        self.limit = limit


class Headers:
    """A request's headers: looked up by any spelling of the name; repeated ones joined
    with ``,`` (RFC 9110 5.3)."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = tuple(items)
        index: dict[str, str] = {}
        for name, value in self._items:
            key = name.lower()
            index[key] = f"{index[key]},{value}" if key in index else value
        self._index = index

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        return self._index.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def items(self) -> tuple[tuple[str, str], ...]:
        """Every header as it came, in order, names in the spelling the server kept."""
        return self._items

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, read.

    ``path`` is percent-decoded; ``target`` is the path and query as sent.
    ``body`` holds what was read: all of it when ``complete``, else (too large
    to read, ``server.MAX_BODY``) a part or nothing. ``base_url`` is the scheme
    and the ``Host`` the request was addressed to.
    """

    method: str
    path: str
    query: bytes
    headers: Headers
    body: bytes
    complete: bool
    remote: str | None
    base_url: str
    target: str

    @property
    def secure(self) -> bool:
        """Whether the request came over TLS."""
        return self.base_url.startswith("https:")

    @property
    def url(self) -> str:
        return self.base_url + self.target

    @property
    def content_length(self) -> int | None:
        """The declared ``Content-Length`` (None: none, or not a number)."""
        text = self.headers.get("Content-Length")
        return int(text) if text is not None and text.strip().isdigit() else None

    def read(self, limit: int) -> bytes:
        """The body; ``TooLarge`` when it is longer than ``limit`` bytes or was not
        read whole."""
        if not self.complete or len(self.body) > limit:
            raise TooLarge(limit)
        return self.body

    def args(self) -> dict[str, str]:
        """The query's parameters, decoded (UTF-8); a repeated name keeps its first value."""
        out: dict[str, str] = {}
        for name, value in parse_qsl(self.query.decode("latin-1"), keep_blank_values=True):
            out.setdefault(name, value)
        return out


@dataclass(frozen=True, slots=True)
class Response:
    """An answer: the server adds ``Content-Length`` (and ``Date``)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Response]


def respond(handler: Handler, request: Request) -> Response:
    """``handler(request)``; whatever it raises becomes a bare 500 (never a traceback)."""
    try:
        return handler(request)
    except Exception:  # noqa: BLE001 - the last line of defence answers, never crashes
        return Response(
            500, b"internal server error", [("Content-Type", "text/plain; charset=utf-8")]
        )
