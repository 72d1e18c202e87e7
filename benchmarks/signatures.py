"""How long ``check_signature`` takes on a wrong signature that no guess explains.

That is its worst case: every guess is made and hashed. Prints, per body, the
median and the slowest of ``--rounds`` checks in milliseconds, and the same for a
signature that the last guess explains (HMAC over client_id + body).

    .venv/bin/python benchmarks/signatures.py
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import statistics
import time
from collections.abc import Callable

from conformance.grading import signatures

CLIENT_ID = "000003C405E6525C64C184258C44EC99"
KEY = "00000716ABDA6D4DFF10F82BCBBFC532"
MIB = 1 << 20


def _many_values(size: int) -> bytes:
    """A JSON object of many small fields (Cyrillic, URLs) up to ``size`` bytes."""
    item = {"name": "Иван Петров", "url": "sip:101@cloudpbx.rt.ru/x", "n": 1, "ok": True}
    count = size // len(json.dumps(item, ensure_ascii=False).encode())
    text = json.dumps({"items": [item] * count}, ensure_ascii=False).encode()
    return text[: size - 3].rsplit(b"},", 1)[0] + b"}]}"


def _at_the_caps() -> bytes:
    """As many values as are re-encoded, and a Cyrillic string up to the re-encoded size."""
    item = {"name": "Иван Петров", "url": "sip:101@cloudpbx.rt.ru/x", "n": 1, "ok": True}
    tokens = sum(json.dumps(item).count(ch) for ch in ",:[{") + 1
    items = [item] * ((signatures.REENCODE_MAX_TOKENS - 8) // tokens)
    size = len(json.dumps({"items": items, "comment": ""}, ensure_ascii=False).encode())
    comment = "Ж" * ((signatures.REENCODE_MAX_BYTES - size) // 2)
    return json.dumps({"items": items, "comment": comment}, ensure_ascii=False).encode()


def _one_string(size: int, char: str) -> bytes:
    """``{"comment": "..."}`` of ``size`` bytes, the string of ``char`` repeated."""
    per = len(char.encode())
    return json.dumps({"comment": char * ((size - 16) // per)}, ensure_ascii=False).encode()


BODIES: dict[str, Callable[[], bytes]] = {
    "call_back, 90 B": lambda: (
        b'{"request_number": "+74951234567","from_sipuri": "test_user@cloudpbx.rt.ru"}'
    ),
    "JSON at both re-encoding caps, 64 KiB (re-encoded)": _at_the_caps,
    "JSON, one Cyrillic string, 64 KiB (re-encoded)": lambda: _one_string(
        signatures.REENCODE_MAX_BYTES, "Ж"
    ),
    "JSON, many values, 64 KiB (too many to re-encode)": lambda: _many_values(
        signatures.REENCODE_MAX_BYTES
    ),
    "JSON, many values, 1 MiB": lambda: _many_values(MIB),
    "JSON, one Cyrillic string, 1 MiB": lambda: _one_string(MIB, "Ж"),
    "JSON, one ASCII string with '/', 1 MiB": lambda: _one_string(MIB, "a/"),
    "not JSON, random bytes, 1 MiB": lambda: os.urandom(MIB),
}


def _time(body: bytes, got: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        signatures.check_signature(CLIENT_ID, KEY, "POST", "/call_back", body, got)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    rounds = parser.parse_args().rounds
    print(f"load average: {os.getloadavg()[0]:.2f}; {rounds} rounds; times in ms")
    print(f"{'body':48} {'bytes':>8}  {'no match':>15}  {'last guess':>15}")
    for name, make in BODIES.items():
        body = make()
        wrong = hashlib.sha256(b"nothing any sender signs" + body[:64]).hexdigest()
        last = hmac.new(KEY.encode(), CLIENT_ID.encode() + body, "sha256").hexdigest()
        cells = []
        for got in (wrong, last):
            times = _time(body, got, rounds)
            cells.append(f"{statistics.median(times):6.1f} (max {max(times):5.1f})")
        print(f"{name:48} {len(body):8}  {cells[0]:>15}  {cells[1]:>15}")


if __name__ == "__main__":
    main()
