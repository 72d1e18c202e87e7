"""The recording HTTP client: every request the suite sends, and what came back.

Bounded everywhere: one timeout per request (``--sut-timeout``), no redirects
followed, response bodies read up to ``MAX_BODY`` bytes. Nothing here judges;
checks read the recorded ``Exchange``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from conformance import __version__

MAX_BODY = 1 << 20
Headers = list[tuple[str, str]]


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: Headers
    request_body: bytes
    status: int | None = None
    response_headers: Headers = field(default_factory=list)
    response_body: bytes = b""
    elapsed_ms: float = 0.0
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.status is not None

    def summary(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        body = self.response_body[:200].decode("utf-8", "replace")
        return f"HTTP {self.status} in {self.elapsed_ms:.0f} ms, body {body!r}"

    def to_json(self) -> dict[str, Any]:
        response = None
        if self.status is not None:
            response = {
                "status": self.status,
                "headers": self.response_headers,
                **_body_json(self.response_body),
            }
        out: dict[str, Any] = {
            "request": {
                "method": self.method,
                "url": self.url,
                "headers": self.request_headers,
                **_body_json(self.request_body),
            },
            "response": response,
            "elapsed_ms": round(self.elapsed_ms, 3),
        }
        if self.error:
            out["error"] = self.error
        return out


def _body_json(body: bytes) -> dict[str, str]:
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode("ascii"), "body_encoding": "base64"}


class Client:
    """One connection pool for the whole run; thread-safe (bursts share it)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            trust_env=False,
        )
        # httpx's defaults (Accept, Accept-Encoding) are not what a PBX sends;
        # the SUT should see only what the case sets, plus who is asking.
        self._http.headers = httpx.Headers({"User-Agent": f"vats-conformance/{__version__}"})

    def close(self) -> None:
        self._http.close()

    def send(
        self, method: str, url: str, body: bytes, headers: Iterable[tuple[str, str]]
    ) -> Exchange:
        sent: Headers = list(headers)
        ex = Exchange(method=method, url=url, request_headers=sent, request_body=body)
        start = time.perf_counter()
        try:
            with self._http.stream(method, url, content=body, headers=sent) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_raw():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= MAX_BODY:
                        break
                    if time.perf_counter() - start > self.timeout:
                        # httpx's timeout is per read: a body trickling in byte by
                        # byte would never trip it. The whole answer has one deadline.
                        raise httpx.ReadTimeout("answer not complete in time")
                ex.status = response.status_code
                ex.response_headers = [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
                ]
                ex.response_body = b"".join(chunks)[:MAX_BODY]
        except httpx.TimeoutException:
            ex.error = f"no answer within {self.timeout:g} s (--sut-timeout)"
        except httpx.HTTPError as exc:
            ex.error = f"{type(exc).__name__}: {exc}"
        ex.elapsed_ms = (time.perf_counter() - start) * 1000
        return ex
