"""Delivering ``call_events`` to a client's external system (1.3, 1.4, 3.2.1, 3.2.3).

The body is serialised once, signed over those exact bytes with the client's
key (1.4.1), POSTed to ``{external address}/call_events`` with the client's
timeout (3.2.1), and logged (3.2.3). A failed delivery is logged and the call
goes on: the guide promises no retries (E12).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from conformance.reference.pbx import tls
from conformance.reference.pbx.log import RequestLog, clip
from conformance.reference.pbx.state import Registry, monotonic
from conformance.spec import signing

MAX_ANSWER = 64 * 1024  # bytes of a CRM's answer read and logged


@dataclass
class Delivery:
    """What became of one notification."""

    delivered: bool
    status: int | None = None
    error: str | None = None
    skipped: str | None = None
    log_id: int | None = None
    response: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Notifier:
    """Signs and sends ``call_events`` to a client's external system."""

    def __init__(self, registry: Registry, log: RequestLog) -> None:
        self.registry = registry
        self.log = log

    def skipped(self, client_id: str, *, test: bool = False) -> Delivery | None:
        """What ``send`` would answer right now without sending anything (the service
        or the method is off, no address, no client), or None: it would send."""
        with self.registry.lock:
            client = self.registry.get(client_id)
            if client is None:
                return Delivery(False, skipped="the client was deleted")
            if not test and not client.enabled:
                return Delivery(False, skipped="the service is off (3.1.1)")
            if not test and not client.notifications.get("call_events", True):
                return Delivery(False, skipped="call_events is switched off (3.1.3)")
            if client.external_address is None:
                return Delivery(False, skipped="no external system address (3.1.1)")
        return None

    def send(self, client_id: str, note: dict[str, Any], *, test: bool = False) -> Delivery:
        """Send now (bounded by the client's timeout). ``test`` notifications (3.2.2)
        go out whatever the service status and the method's switch: debugging
        comes before switching the service on (Appendix В.1)."""
        with self.registry.lock:  # one look at the settings: the checks and what they allow
            skipped = self.skipped(client_id, test=test)
            if skipped is not None:
                return skipped
            client = self.registry.get(client_id)
            url = None if client is None else client.notification_url()
            assert client is not None  # checked under this lock
            assert url is not None
            key, timeout, trusted = client.key, client.timeout, client.external_certificate
        body = json.dumps(note, ensure_ascii=False).encode("utf-8")
        headers = signing.signed_headers(client_id, body, key)
        started = monotonic()
        status: int | None = None
        answer, error = b"", None
        try:
            status, answer = _post(url, body, headers, timeout, tls.client_context(trusted))
        except httpx.TimeoutException:
            error = f"no answer within {timeout:g} s (3.2.1)"
        except (httpx.HTTPError, OSError) as exc:  # refused, TLS, protocol errors
            error = f"{type(exc).__name__}: {exc}"[:500]
        ok = status is not None and 200 <= status < 300
        entry = self.log.add(
            client_id=client_id,
            method="call_events",
            direction="to_crm",
            url=url,
            remote=None,
            request_headers=dict(headers),
            request_body=clip(body),
            status=status,
            response_body=clip(answer),
            error=error,
            elapsed_ms=round((monotonic() - started) * 1000, 1),
            test=test,
        )
        with self.registry.lock:
            found = self.registry.get(client_id)
            if found is not None:
                found.stats.add("call_events", ok, monotonic())
        return Delivery(ok, status, error, None, entry.id, clip(answer))


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, context: Any
) -> tuple[int, bytes]:
    """POST and read at most ``MAX_ANSWER`` bytes of the answer, within one deadline.

    httpx's timeout bounds each connect, write and read; the deadline below
    bounds a body that trickles in, so a delivery never takes much more than
    ``timeout`` (at most one more read).
    """
    deadline = monotonic() + timeout
    with (
        httpx.Client(
            timeout=timeout, verify=context, follow_redirects=False, trust_env=False
        ) as http,
        http.stream("POST", url, content=body, headers=headers) as response,
    ):
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_ANSWER:
                break
            if monotonic() > deadline:
                raise httpx.ReadTimeout("the answer trickled past the deadline")
        return response.status_code, b"".join(chunks)[:MAX_ANSWER]
