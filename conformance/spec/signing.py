"""Section 1.4.1/1.4.2: ``X-Client-Sign = sha256hex(client_id + json + key)``.

The signature covers the exact bytes that travel. Everything here takes and
returns bytes for the body; nothing re-serialises JSON.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

CLIENT_ID_HEADER = "X-Client-ID"
SIGN_HEADER = "X-Client-Sign"


class Signature(str):
    """A signature made with the client's own id and key, and the data it covers.

    Whoever signs for the client (``Signed.sign`` in sut/drivers.py) returns one;
    every other value -- altered, truncated, made with another key or id -- is a
    plain ``str`` (slicing or changing a ``Signature`` gives one). So a request
    knows when it is sent whether it carries the correct signature of what it
    carries (``covers`` equals its ``signed_data``), and nobody works it out again.
    """

    covers: bytes

    def __new__(cls, value: str, covers: bytes) -> Signature:
        made = super().__new__(cls, value)
        made.covers = covers
        return made


def signs_query(method: str, body: bytes) -> bool:
    """Whether a request signs its raw query string rather than its body: a bodiless GET (D21)."""
    return not body and method.upper() == "GET"


def signed_data(method: str, url: str, body: bytes) -> bytes:
    """What ``X-Client-Sign`` covers: the body, or a bodiless GET's raw query string (D21)."""
    if signs_query(method, body):
        return urlsplit(url).query.encode("utf-8")
    return body


def sign(client_id: str, body: bytes, key: str) -> str:
    """Return the lowercase hex signature of ``body`` (section 1.4.1)."""
    digest = hashlib.sha256()
    digest.update(client_id.encode("utf-8"))
    digest.update(body)
    digest.update(key.encode("utf-8"))
    return digest.hexdigest()


def verify(client_id: str, body: bytes, key: str, received: str | None) -> bool:
    """Recompute and compare in constant time (section 1.4.2).

    Hex is compared case-insensitively: the guide prints lowercase but does not
    forbid uppercase digits, and both denote the same hash.
    """
    if not received:
        return False
    expected = sign(client_id, body, key)
    candidate = received.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected.encode("ascii"), candidate)


def signed_headers(client_id: str, body: bytes, key: str) -> dict[str, str]:
    """The two headers of section 1.4.1 plus the content type it names."""
    return {
        CLIENT_ID_HEADER: client_id,
        SIGN_HEADER: sign(client_id, body, key),
        "Content-Type": "application/json",
    }
