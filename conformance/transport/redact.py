"""Redaction: every form in which a secret (the client key, the admin token) may come back.

A system under test that echoes the key rarely echoes it verbatim: it may change its
case, escape it in JSON, percent-encode it in a URL or a form, HTML-escape it in an
error page, or base64-encode it inside a larger value. ``pattern`` compiles, once per
set of secrets, one regular expression that matches all of these (D54):

- each character of the secret, independently, as itself in any case, as a JSON
  escape (``\\u00e9`` in either hex case, ``\\"``, ``\\\\``, ``\\/``, ``\\n``...), a
  percent escape of its UTF-8 bytes (either hex case; ``+`` for a space) or an HTML
  character reference (``&#233;``, ``&#xe9;``, ``&amp;``...), and each backslash
  escape also with its backslash escaped again (the ``repr`` of a JSON text, as a
  finding's detail quotes a body). So the case variants, ``json.dumps(secret)`` with
  and without ``ensure_ascii``, ``repr``, ``quote``, ``quote_plus`` and any mixture of
  them are one match;
- base64 (standard and URL-safe alphabet, padded or not) of the secret as given, in
  lower case and in upper case, wherever it starts in a longer base64 value: for each
  of the three alignments (the secret after 0, 1 or 2 bytes of the group) the
  characters that depend on the secret's bytes alone. At most two characters at each
  end (under 12 bits of the secret) may stay; a stable part shorter than
  ``MIN_BASE64`` characters is not matched (it would match unrelated text).

Not covered: a base64 form of a case mixture other than lower and upper, or of an
escaped form (JSON, URL) that differs from the secret; base64 broken across lines;
nested encodings (a percent-encoded JSON escape, ``%2541``); other text encodings than
UTF-8 (UTF-16, cp1251 of a non-ASCII key); hashes, hex and other transforms.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
#: The shortest stable base64 run matched: shorter ones occur by chance in any base64 text.
MIN_BASE64 = 8
_JSON_SHORT = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
_JSON_SHORT |= {"\r": "\\r", "\t": "\\t"}
_HTML_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret replaced by ``[REDACTED]``."""
    compiled = pattern(tuple(secrets))
    return text if compiled is None else compiled.sub(REDACTED, text)


def redact_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    """``data`` (any encoding) with every UTF-8 form of every secret replaced."""
    compiled = bytes_pattern(tuple(secrets))
    return data if compiled is None else compiled.sub(REDACTED.encode(), data)


@functools.lru_cache(maxsize=16)
def pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """The one expression for ``secrets`` (cached: redaction runs on every report string);
    ``None`` when there is nothing to redact."""
    source = _source(secrets)
    return re.compile(source) if source else None


@functools.lru_cache(maxsize=16)
def bytes_pattern(secrets: tuple[str, ...]) -> re.Pattern[bytes] | None:
    """``pattern`` for bytes: the same forms, UTF-8 encoded."""
    source = _source(secrets)
    return re.compile(source.encode("utf-8")) if source else None


def _source(secrets: tuple[str, ...]) -> str:
    """The alternatives, longest secrets first (a secret inside another is redacted whole);
    within a secret, its base64 runs before its characters. A lookahead on the characters a
    match can start with lets the engine skip the rest of the text fast (about twice as fast
    on a report's text)."""
    forms: list[str] = []
    first: set[str] = set()
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        runs = _base64_runs(secret)
        forms.extend(re.escape(run) for run in runs)
        first.update(run[0] for run in runs)
        characters = [_spellings(c) for c in secret]
        forms.append("(?i:" + "".join(_group(s) for s in characters) + ")")
        first.update(c for s in characters[0] for c in {s[0], s[0].lower(), s[0].upper()})
    if not forms:
        return ""
    starts = "".join(sorted(re.escape(c) for c in first))
    return f"(?=[{starts}])(?:{'|'.join(forms)})"


def _group(spellings: set[str]) -> str:
    # Longest first: the expression takes the first alternative that matches. Hex digits in
    # escapes match in either case through the enclosing (?i:).
    ordered = sorted(spellings, key=lambda s: (-len(s), s))
    return "(?:" + "|".join(re.escape(s) for s in ordered) + ")"


def _spellings(c: str) -> set[str]:
    """One character of a secret in each of the forms it may take."""
    spellings: set[str] = set()
    for variant in {c, c.lower(), c.upper()}:
        spellings.add(variant)
        if len(variant) != 1:  # 'ß'.upper() is 'SS': kept as text only
            continue
        spellings.add(_JSON_SHORT.get(variant, variant))
        spellings.add(_HTML_NAMED.get(variant, variant))
        code = ord(variant)
        if code > 0xFFFF:  # JSON writes it as a surrogate pair
            high, low = divmod(code - 0x10000, 0x400)
            spellings.add(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
        else:
            spellings.add(f"\\u{code:04x}")
        spellings.add(f"&#{code};")
        spellings.add(f"&#x{code:x};")
        spellings.add("".join(f"%{b:02x}" for b in variant.encode("utf-8")))
        if variant == " ":
            spellings.add("+")
        if variant == "'":
            spellings.add("\\'")  # Python's repr
    # Escaped once more: a Python repr (or a JSON string) of text that holds the escape.
    return spellings | {s.replace("\\", "\\\\") for s in spellings if "\\" in s}


def _base64_runs(secret: str) -> list[str]:
    """Every base64 run that only ``secret`` (as given, lower or upper case) can produce,
    longest first."""
    runs: set[str] = set()
    for variant in {secret, secret.lower(), secret.upper()}:
        data = variant.encode("utf-8")
        whole = base64.b64encode(data).decode("ascii")
        candidates = [whole, whole.rstrip("=")]
        for offset in range(3):
            encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
            # Character i carries bits [6i, 6i + 6), the secret bits [8 offset, 8 (offset + n)).
            start, end = (8 * offset + 5) // 6, 8 * (offset + len(data)) // 6
            candidates.append(encoded[start:end])
        for run in candidates:
            if len(run.rstrip("=")) >= MIN_BASE64:
                runs.add(run)
                runs.add(run.translate(str.maketrans("+/", "-_")))
    return sorted(runs, key=lambda s: (-len(s), s))
