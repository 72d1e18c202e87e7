"""Recordings (А.4): a real audio file and single-use, expiring links to it.

Every recorded call "has" the same recording: one second of a 440 Hz tone,
8 kHz, 16-bit mono PCM WAV, made with the standard library. A link is a random
token; it may be downloaded once, before it expires. A used or expired token
answers 410, an unknown one 404.
"""

from __future__ import annotations

import io
import math
import secrets
import sys
import threading
import wave
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Literal

DEFAULT_TTL = 300.0  # seconds a link stays valid; the guide says only "временная" (А.4)
MAX_TTL = 86400.0
MAX_LINKS = 10_000

Taken = Literal["ok", "used", "expired", "unknown"]


@cache
def tone_wav(seconds: float = 1.0, frequency: float = 440.0, rate: int = 8000) -> bytes:
    """A short sine tone as a WAV file (little-endian 16-bit PCM, mono)."""
    samples = array(
        "h",
        (
            int(0.3 * 32767 * math.sin(2 * math.pi * frequency * i / rate))
            for i in range(int(rate * seconds))
        ),
    )
    if sys.byteorder == "big":
        samples.byteswap()
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return out.getvalue()


@dataclass
class Link:
    session_id: str
    expires: float
    used: bool = False
    client_id: str | None = None  # whom it was issued to: its answers are in that client's style


class Links:
    """Single-use tokens for recordings, bounded (the oldest are forgotten first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._links: OrderedDict[str, Link] = OrderedDict()

    def issue(self, session_id: str, now: float, ttl: float, client_id: str | None = None) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._links[token] = Link(session_id, now + ttl, client_id=client_id)
            while len(self._links) > MAX_LINKS:
                self._links.popitem(last=False)
        return token

    def client_of(self, token: str) -> str | None:
        """The client a link was issued to (None: no such link); the link is not used."""
        with self._lock:
            link = self._links.get(token)
            return None if link is None else link.client_id

    def take(self, token: str, now: float) -> tuple[Taken, str | None]:
        """Use the link once: ``ok`` and its session the first time, never again."""
        with self._lock:
            link = self._links.get(token)
            if link is None:
                return "unknown", None
            if link.used:
                return "used", link.session_id
            if now >= link.expires:
                return "expired", link.session_id
            link.used = True
            return "ok", link.session_id
