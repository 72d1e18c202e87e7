"""The recording HTTP client: every request the suite sends, and what came back.

Bounded everywhere: one timeout per request (``--sut-timeout``), no redirects
followed, response bodies read up to ``MAX_BODY`` bytes: a longer answer is no answer,
unless the sender asked for its first bytes only (a recording, D59). Nothing here
judges; checks read the recorded ``Exchange``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import heapq
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance import __version__
from conformance.transport.redact import redact_bytes
from conformance.transport.waits import waiting

MAX_BODY = 1 << 20
Headers = list[tuple[str, str]]
#: Numbers the run's exchanges (``Exchange.id``); ``next`` on it is atomic.
_SERIAL = itertools.count(1)


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
    #: What the case meant the request to get: ``"accept"`` (a valid, correctly
    #: signed request), ``"refuse"`` (a deliberate fault), or None (no claim).
    #: Read by the diagnoses, never by the grading.
    expect: str | None = None
    #: Whether the run's previous answer (any request, when this one was sent) was a
    #: 5xx or none: a failure here may be that one's, not this request's.
    after_crash: bool = field(default=False, repr=False, compare=False)
    #: Whether ``X-Client-Sign`` was the correct signature of what the request carried,
    #: recorded by whoever signed it when it was sent (sut/drivers.py); for a request the
    #: listener received, by the case that checked the PBX's signature. False when there
    #: is no ``X-Client-Sign``; None: nobody knows (a received request no case checked).
    signed_correctly: bool | None = None
    #: The fault the request was made with: a row of spec/mutations.py
    #: (``sign.altered[first-digit]``) or the table's name of the fault a case applied.
    mutation: str | None = None
    #: A request the suite's listener received (the PBX's), answered by the suite: no
    #: round trip was measured, so it has no ``elapsed_ms`` and no latency counts it.
    received: bool = False
    #: For a request the suite received and answered as the PBX (role crm-client): which
    #: of the readings the guide allows its answer took (E1, E2, errors as HTTP 200, E11).
    answered_as: str | None = None
    #: Unique in the run: a case citing an exchange another case cites holds the same one.
    id: int = field(default_factory=lambda: next(_SERIAL), compare=False)

    @property
    def crashed(self) -> bool:
        """No answer, or a server error."""
        return self.status is None or self.status >= 500

    @property
    def answered(self) -> bool:
        return self.status is not None

    def summary(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        body = self.response_body[:200].decode("utf-8", "replace")
        if self.received:
            given = f" ({self.answered_as})" if self.answered_as else ""
            return f"received, answered HTTP {self.status} by the suite{given}"
        return f"HTTP {self.status} in {self.elapsed_ms:.0f} ms, body {body!r}"

    def to_json(self) -> dict[str, Any]:
        response = None
        if self.status is not None:
            response = {
                "status": self.status,
                "headers": self.response_headers,
                **_body_json(self.response_body),
            }
        request: dict[str, Any] = {
            "method": self.method,
            "url": self.url,
            "headers": self.request_headers,
            **_body_json(self.request_body),
        }
        if self.signed_correctly is not None:
            request["signed_correctly"] = self.signed_correctly
        if self.mutation:
            request["mutation"] = self.mutation
        out: dict[str, Any] = {"id": self.id, "request": request, "response": response}
        if self.received:
            out["received"] = True
            if self.answered_as:
                out["answered_as"] = self.answered_as
        else:
            out["elapsed_ms"] = round(self.elapsed_ms, 3)
        if self.error:
            out["error"] = self.error
        if self.expect:
            out["expect"] = self.expect
        return out


def first_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (any case) in ``headers``, as it was given."""
    return next((value for key, value in headers if key.lower() == name.lower()), None)


def _body_json(body: bytes) -> dict[str, str]:
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body": base64.b64encode(body).decode("ascii"), "body_encoding": "base64"}


class Watchdog:
    """One thread that calls each registered callback at its deadline, unless cancelled.

    Cheaper than a ``threading.Timer`` (a thread) per request.
    """

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._cancelled: set[int] = set()
        self._serial = itertools.count()
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="vats-watchdog", daemon=True)
        self._thread.start()

    def arm(self, seconds: float, callback: Callable[[], None]) -> int:
        with self._wake:
            ticket = next(self._serial)
            entry = (time.monotonic() + seconds, ticket, callback)
            heapq.heappush(self._due, entry)
            if self._due[0] is entry:  # else the thread already wakes before this deadline
                self._wake.notify()
            return ticket

    def disarm(self, ticket: int) -> None:
        with self._wake:
            self._cancelled.add(ticket)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    timeout = self._due[0][0] - time.monotonic() if self._due else None
                    self._wake.wait(timeout)
                _, ticket, callback = heapq.heappop(self._due)
                if ticket in self._cancelled:
                    self._cancelled.discard(ticket)
                    continue
            callback()


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: a Set-Cookie is recorded, never sent back.

    Not storing also spares the per-answer cost of httpx's urllib adapters (some 5%
    of the CRM role's CPU while its cases ran)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class Client:
    """One client for the whole run; thread-safe (bursts share it).

    Every request has one deadline, ``timeout`` seconds for the whole exchange:
    httpx's own timeouts apply to each read, so a server trickling its headers
    or body a byte at a time would never trip them. A watchdog shuts the
    request's socket down at the deadline; connections are therefore not kept
    alive between requests (each request owns its socket).

    Secrets the SUT echoes back are replaced in what is recorded, at the source,
    so that no later summary, cut or encoding can expose them.
    """

    def __init__(
        self, timeout: float, secrets: Iterable[str] = (), ca_files: Iterable[str | None] = ()
    ) -> None:
        self.timeout = timeout
        self._watchdog = Watchdog()
        self._secrets = tuple(s for s in secrets if s)
        verify: ssl.SSLContext | bool = True
        cas = [ca for ca in ca_files if ca]
        if cas:
            verify = ssl.create_default_context()
            for ca in cas:
                verify.load_verify_locations(cafile=ca)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=0),
            trust_env=False,
            verify=verify,
        )
        # httpx's defaults (Accept, Accept-Encoding) are not what a PBX sends;
        # the SUT should see only what the case sets, plus who is asking.
        self._http.headers = httpx.Headers({"User-Agent": f"vats-conformance/{__version__}"})
        # Nor a cookie it set on an earlier answer: httpx keeps a jar per client, as a
        # browser would. (httpx has no public switch; the jar is the client's own.)
        self._http._cookies = _NoCookies()
        self._last = threading.local()  # per thread: explore's workers each have their own
        self._tally_lock = threading.Lock()
        self._sent = 0
        self._answered_ms: list[float] = []

    def tally(self) -> tuple[int, list[float]]:
        """How many requests were sent, and how long each answered one took (ms).

        Every request counts once, whichever cases cite it, and controls and probes
        that no case cites count too (results.json ``requests``, ``latency_ms``).
        """
        with self._tally_lock:
            return self._sent, list(self._answered_ms)

    def close(self) -> None:
        self._http.close()

    def _scrub(self, data: bytes) -> bytes:
        return redact_bytes(data, self._secrets)

    def send(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: Iterable[tuple[str, str]],
        *,
        expect: str | None = None,
        signed_correctly: bool | None = None,
        mutation: str | None = None,
        whole: bool = True,
    ) -> Exchange:
        """Send one request; ``signed_correctly`` and ``mutation`` are the sender's facts
        about it (``Exchange``), recorded as given.

        ``whole``: the answer must be read whole, and one over ``MAX_BODY`` bytes is an
        error, not an answer (D59: an API answer or a webhook's acknowledgement the suite
        could not read is not one it may judge); otherwise its first ``MAX_BODY`` bytes
        are the answer (a recording)."""
        sent: Headers = list(headers)
        ex = Exchange(
            method=method,
            url=url,
            request_headers=sent,
            request_body=body,
            expect=expect,
            after_crash=getattr(self._last, "crashed", False),
            signed_correctly=signed_correctly,
            mutation=mutation,
        )
        streams: list[Any] = []
        expired = threading.Event()

        def trace(event: str, info: dict[str, Any]) -> None:
            if event.endswith("connect_tcp.complete") and info.get("return_value") is not None:
                streams.append(info["return_value"])

        def expire() -> None:
            expired.set()
            for stream in streams:
                sock = stream.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

        # Around the timed span, not in it: entering and leaving a wait takes the progress
        # line's lock, which a line being written holds (transport/waits.py).
        unsent = False
        with waiting(f"an answer to {method} {where(url)} (--sut-timeout)", self.timeout):
            start = time.perf_counter()
            ticket = self._watchdog.arm(self.timeout, expire)
            try:
                with self._http.stream(
                    method, url, content=body, headers=sent, extensions={"trace": trace}
                ) as response:
                    self._read(ex, response, expired, whole=whole)
            except httpx.InvalidURL as exc:  # nothing sent: a bad URL (a PBX's recording url)
                ex.error = f"InvalidURL: {exc}"
                unsent = True
            except httpx.TimeoutException:
                ex.error = f"no answer within {self.timeout:g} s (--sut-timeout)"
            except httpx.HTTPError as exc:
                if expired.is_set():
                    ex.error = f"no answer within {self.timeout:g} s (--sut-timeout)"
                else:
                    ex.error = f"{type(exc).__name__}: {exc}"
            finally:
                self._watchdog.disarm(ticket)
            ex.elapsed_ms = (time.perf_counter() - start) * 1000
        if not unsent:  # a URL that could not be sent says nothing of the target's health
            self._last.crashed = ex.crashed
        with self._tally_lock:
            self._sent += 1
            if ex.answered:
                self._answered_ms.append(ex.elapsed_ms)
        return ex

    def _read(
        self, ex: Exchange, response: httpx.Response, expired: threading.Event, *, whole: bool
    ) -> None:
        """The answer into ``ex``: at most ``MAX_BODY`` bytes, scrubbed of the secrets.

        An answer longer than that is not read further (an endless one would never end),
        and with ``whole`` it is recorded as an error naming its status, not as an answer.
        """
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY:
                break
        if expired.is_set():
            raise httpx.ReadTimeout("answer not complete in time")
        ex.request_headers = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.request.headers.raw
        ]
        if whole and size > MAX_BODY:
            ex.error = (
                f"HTTP {response.status_code} with a body over {MAX_BODY} bytes: not read "
                "whole, so not an answer the suite judges (D59)"
            )
            return
        ex.status = response.status_code
        ex.response_headers = [
            (self._scrub(k).decode("latin-1"), self._scrub(v).decode("latin-1"))
            for k, v in response.headers.raw
        ]
        ex.response_body = self._scrub(b"".join(chunks)[:MAX_BODY])


def where(url: str) -> str:
    """``url`` without its query, user info or fragment: what a progress line names."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [: send says what is wrong with it
        return "a URL that is not one"
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def body_bytes(part: Mapping[str, Any]) -> bytes:
    """The exact bytes of a recorded request or response body (results.json form)."""
    body = part.get("body") or ""
    if not isinstance(body, str):
        body = str(body)
    if part.get("body_encoding") == "base64":
        with contextlib.suppress(binascii.Error, ValueError):
            return base64.b64decode(body, validate=True)
    return body.encode("utf-8", "surrogatepass")
