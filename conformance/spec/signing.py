"""Section 1.4.1/1.4.2: ``X-Client-Sign = sha256hex(client_id + json + key)``.

The signature covers the exact bytes that travel. Everything here takes and
returns bytes for the body; nothing re-serialises JSON.
"""

from __future__ import annotations

import hashlib
import hmac

CLIENT_ID_HEADER = "X-Client-ID"
SIGN_HEADER = "X-Client-Sign"


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
