"""Judging the X-Client-Sign of a request a CRM sent, and saying how it was made (1.4.1, 1.4.2).

A wrong signature alone tells a CRM's developer little. Most wrong signatures in
the wild are the right hash of the wrong bytes or the wrong hash of the right
ones: the parts in another order (``sha256(key + body)``), a body re-encoded
before hashing (PHP's ``json_encode`` writes ``\\/`` and ``\\uXXXX``), a body in
cp1251. So ``check_signature`` tries such guesses one by one, and the first
whose hash is the signature received names the cause and the fix.

Theory of operation. Guesses are made lazily, most common first, and the first
match wins, so a signature that matches costs only the guesses before it. A
random wrong one costs them all, so the set is bounded: digests of another
length than the one received are never computed (SHA-1 only for 40 hex digits,
MD5 for 32); the orders of the parts share their prefixes' hashing; and a body
is re-encoded only when it is small (``REENCODE_MAX_BYTES``,
``REENCODE_MAX_TOKENS``: far beyond any body of Appendix А; re-encoding a
megabyte of JSON a dozen times would cost more than all the rest). Every other
guess is one pass of a hash over the body; benchmarks/signatures.py prints the
time of the worst case.

Not guessed: a signature made with another client id. It would verify with the
key over some id, but which id cannot be found from the hash.

No sentence contains the key (explanations go into reports): the sentences are
this module's own, and what they describe of a body is its spelling
(``jsonfeatures.differences``: separators, escapes, key order), never its text.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from conformance.grading.jsonfeatures import differences, spelling
from conformance.spec import signing
from conformance.spec.jsontext import TextStyle, render
from conformance.spec.mutations import ORDERS

if TYPE_CHECKING:
    from _hashlib import HASH

Status = Literal["correct", "uppercase", "missing", "wrong"]

#: Bodies re-encoded at most: bytes, and ``,``/``:``/``[``/``{`` bytes (a bound on values).
REENCODE_MAX_BYTES = 64 * 1024
REENCODE_MAX_TOKENS = 512


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on one X-Client-Sign and, when it is wrong, what the sender evidently hashed.

    ``explanation`` is "" for a correct signature, and for a wrong one that no guess
    explains; otherwise one sentence naming the cause and the fix.
    """

    status: Status
    explanation: str
    #: For a bodiless GET signed over the JSON of its parameters ("json-params": E5's
    #: other reading of "client_id + json + key") or over nothing ("empty"); else "".
    reading: str = ""


UPPERCASE = (
    "Signed correctly, in uppercase hex: the guide prints lowercase hex, and a receiver "
    "that compares case-sensitively refuses it (1.4.2, D5)."
)
MISSING = "No X-Client-Sign, or an empty one: every request carries it (1.4.1)."

_HEX = re.compile(r"[0-9a-fA-F]+")
_ALGORITHMS = {64: "sha256", 40: "sha1", 32: "md5"}


def check_signature(  # noqa: PLR0917 -- the signature the issue 10 contract fixes
    client_id: str, key: str, method: str, url: str, body: bytes, got: str | None
) -> SignatureCheck:
    """Grade ``got`` as the X-Client-Sign of ``method url`` with ``body``, sent by ``client_id``.

    Correct is ``sha256hex(client_id + signed data + key)`` in lowercase hex, the
    signed data being the raw body, or a bodiless GET's raw query string (D21).
    ``url`` is the request's URL; given with its scheme and host, a signature over
    the full URL is recognised too.
    """
    if got is None or not got.strip():
        return SignatureCheck("missing", MISSING)
    correct = signing.sign(client_id, signing.signed_data(method, url, body), key)
    if got == correct:
        return SignatureCheck("correct", "")
    if got.lower() == correct:
        return SignatureCheck("uppercase", UPPERCASE)
    algorithm = _ALGORITHMS.get(len(got))
    if algorithm is None or not _HEX.fullmatch(got):
        return SignatureCheck("wrong", "")
    wanted = got.lower()
    part = "query string" if signing.signs_query(method, body) else "body"
    for digest, guess in guesses(client_id, key, method, url, body, algorithm=algorithm):
        if digest == wanted:
            return SignatureCheck("wrong", guess.explain(part, upper=got != wanted), guess.reading)
    return SignatureCheck("wrong", "")


@dataclass(frozen=True)
class Guess:
    """How a sender may have signed: "Signed {what}: {cause}. {fix}." (``{part}`` filled in).

    A re-encoded body's cause is worked out only when it is the answer: how the
    bytes hashed (``reencoded[0]``) are spelled unlike those sent (``reencoded[1]``).
    """

    what: str
    fix: str
    cause: str = ""
    reencoded: tuple[bytes, bytes] | None = None
    reading: str = ""  # SignatureCheck.reading

    def explain(self, part: str, *, upper: bool = False) -> str:
        cause = self.cause if self.reencoded is None else _how_spelled(*self.reencoded)
        head = self.what + (f": {cause}" if cause else "")
        sentence = f"Signed {head}. {self.fix}.".replace("{part}", part)
        return sentence + (f" {_UPPER}." if upper else "")


_FORMULA = "X-Client-Sign is sha256hex(client_id + {part} + key), in that order (1.4.1)"
_AS_SENT = "The signature covers the {part} exactly as sent, byte for byte (1.4.1, 1.4.2)"
_UPPER = "In uppercase hex, too, where the guide prints lowercase (1.4.2, D5)"
_QUERY = (
    "A GET without a body signs its raw query string as sent: "
    "sha256hex(client_id + query string + key) (1.4.1, D21)"
)

#: The orders of the parts tried: mutations.ORDERS (the suite's own wrong orders),
#: then the two other permutations, the two other pairs and the data alone.
_ORDERS = (*ORDERS, "key-id-body", "body-key-id", "body-key", "body-id", "body")
_NAMES = {"id": "client_id", "key": "key", "body": "{part}"}
_LEFT_OUT = {"id": "the client id", "key": "the key"}


def _order_guess(order: str) -> Guess:
    """``key-body`` -> ``sha256(key + {part})``: the client id left out, the rest reordered."""
    parts = order.split("-")
    missing = [_LEFT_OUT[p] for p in ("id", "key") if p not in parts]
    if parts == ["key", "body", "id"]:
        faults = ["the client id and the key swapped"]
    else:
        both = " both" if len(missing) == 2 else ""
        faults = [f"{' and '.join(missing)}{both} left out"] if missing else []
        if parts != [p for p in ("id", "body", "key") if p in parts]:
            faults.append("the parts in another order")
    formula = f"sha256({' + '.join(_NAMES[p] for p in parts)})"
    return Guess(formula, _FORMULA, "; ".join(faults))


def _appended(what: str) -> Guess:
    return Guess(f"the {{part}} with {what} added, not the bytes sent", _AS_SENT)


#: Guesses that hash the parts in a sequence: each prefix is hashed once (``_sha256``).
_SEQUENCES: tuple[tuple[tuple[str, ...], Guess], ...] = (
    *((tuple(order.split("-")), _order_guess(order)) for order in _ORDERS),
    (("id", "body", "lf", "key"), _appended("a trailing newline")),
    (("id", "body", "crlf", "key"), _appended("a trailing CRLF")),
)

#: How encoders senders use write JSON, and a few combinations: JSON.stringify and
#: compact Python; PHP's json_encode (\/ and \uXXXX) and its flags; Python's
#: json.dumps (", " and ": ", \uXXXX), sorted, indented; pretty-printing.
ENCODINGS: tuple[TextStyle, ...] = (
    TextStyle(item_sep=",", key_sep=":"),
    TextStyle(),
    TextStyle(item_sep=",", key_sep=":", ascii_escapes=True, escape_slash=True),
    TextStyle(item_sep=",", key_sep=":", escape_slash=True),
    TextStyle(item_sep=",", key_sep=":", ascii_escapes=True),
    TextStyle(ascii_escapes=True),
    TextStyle(key_order="sorted", ascii_escapes=True),
    TextStyle(item_sep=",", key_sep=":", key_order="sorted"),
    TextStyle(indent=4, item_sep=",", key_sep=": ", ascii_escapes=True, escape_slash=True),
    TextStyle(indent=4, item_sep=",", key_sep=": "),
    TextStyle(indent=2, item_sep=",", key_sep=": ", ascii_escapes=True),
    TextStyle(indent=2, item_sep=",", key_sep=": "),
)


def guesses(
    client_id: str, key: str, method: str, url: str, body: bytes, *, algorithm: str = "sha256"
) -> Iterator[tuple[str, Guess]]:
    """Every guess at this request's signature under ``algorithm``: (lowercase hex, guess).

    Lazily, most common first; each digest once, and never the correct signature.
    """
    data = signing.signed_data(method, url, body)
    cid, secret = client_id.encode(), key.encode()
    if algorithm != "sha256":
        name = {"sha1": "SHA-1", "md5": "MD5"}[algorithm]
        what = f"{algorithm}(client_id + {{part}} + key)"
        digest = hashlib.new(algorithm, cid + data + secret).hexdigest()
        yield digest, Guess(what, _FORMULA, f"{name}, not SHA-256")
        return
    parts = {"id": cid, "key": secret, "body": data, "lf": b"\n", "crlf": b"\r\n"}
    states: dict[tuple[str, ...], HASH] = {(): hashlib.sha256()}
    made = {_sha256(("id", "body", "key"), parts, states)}
    sequences = ((_sha256(seq, parts, states), guess) for seq, guess in _SEQUENCES)
    others = (
        (signing.sign(client_id, text, key), guess)
        for text, guess in _other_data(url, data, query=signing.signs_query(method, body))
        if text != data
    )
    for digest, guess in itertools.chain(sequences, others, _keyed(cid, secret, data)):
        if digest not in made:
            made.add(digest)
            yield digest, guess


def _keyed(cid: bytes, secret: bytes, data: bytes) -> Iterator[tuple[str, Guess]]:
    """HMAC-SHA256 with the key, over the data and over the client id and the data."""
    keyed = "a keyed hash, not a plain SHA-256 of the three parts"
    hashed = hmac.new(secret, data, "sha256").hexdigest()
    yield hashed, Guess("HMAC-SHA256(key, {part})", _FORMULA, keyed)
    hashed = hmac.new(secret, cid + data, "sha256").hexdigest()
    yield hashed, Guess("HMAC-SHA256(key, client_id + {part})", _FORMULA, keyed)


def _sha256(
    sequence: tuple[str, ...], parts: dict[str, bytes], states: dict[tuple[str, ...], HASH]
) -> str:
    """The SHA-256 of ``parts`` joined in ``sequence``, hashing each prefix only once.

    The body is long and the rest short: ten orders cost five passes over the body.
    """
    for end in range(1, len(sequence) + 1):
        if sequence[:end] not in states:
            state = states[sequence[: end - 1]].copy()
            state.update(parts[sequence[end - 1]])
            states[sequence[:end]] = state
    return states[sequence].hexdigest()


def _other_data(url: str, data: bytes, *, query: bool) -> Iterator[tuple[bytes, Guess]]:
    """Other bytes a sender may have signed in the right formula, each with its guess."""
    reencoded = "a re-encoding of the {part}, not the bytes sent"
    for text in _reencodings(data):
        yield text, Guess(reencoded, _AS_SENT, reencoded=(text, data))
    recharset = _in_other_charset(data)
    if recharset is not None:
        yield recharset[0], Guess("the {part} in another charset", _AS_SENT, recharset[1])
    yield (
        data.strip(),
        Guess("the {part} with the whitespace around it stripped, not the bytes sent", _AS_SENT),
    )
    if query:
        yield from _query_guesses(url)


def _in_other_charset(data: bytes) -> tuple[bytes, str] | None:
    """``data`` as a sender in the other charset hashed it (UTF-8 sent, cp1251 hashed, or back)."""
    if data.isascii():
        return None
    for sent, hashed in (("UTF-8", "cp1251"), ("cp1251", "UTF-8")):
        try:
            text = data.decode(sent)
        except UnicodeDecodeError:
            continue
        try:
            return text.encode(hashed), f"{hashed}, while the {{part}} sent is {sent}"
        except UnicodeEncodeError:
            return None
    return None


def _reencodings(data: bytes) -> Iterable[bytes]:
    """``data`` written in each of ``ENCODINGS``; nothing when it is not small JSON."""
    if len(data) > REENCODE_MAX_BYTES:
        return ()
    if sum(data.count(ch) for ch in (b",", b":", b"[", b"{")) > REENCODE_MAX_TOKENS:
        return ()
    try:
        value: Any = json.loads(data)
        return [render(value, style) for style in ENCODINGS]
    except (ValueError, RecursionError):
        return ()


def _how_spelled(hashed: bytes, sent: bytes) -> str:
    """How the re-encoding hashed is spelled unlike the body sent (compact, escapes, ...)."""

    def spelt(text: bytes) -> dict[str, str]:
        value = json.loads(text)
        decoded = text.decode(json.detect_encoding(text), "replace")
        return spelling(decoded, value if isinstance(value, dict) else {})

    return differences(spelt(hashed), spelt(sent))


def _query_guesses(url: str) -> Iterator[tuple[bytes, Guess]]:
    """What a sender may have signed for a bodiless GET instead of its raw query string."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    for style in ENCODINGS:
        yield (
            render(params, style),
            Guess(
                "the JSON of the query parameters, not the raw query string",
                _QUERY,
                reading="json-params",
            ),
        )
    others = (
        (f"{parts.path}?{parts.query}", "the path and the query string"),
        (url, "the full URL"),
        (f"?{parts.query}", "the query string with its leading '?'"),
        (unquote_plus(parts.query), "the query string percent-decoded"),
        ("", "an empty string"),
    )
    for text, what in others:
        reading = "empty" if not text else ""
        yield (
            text.encode("utf-8"),
            Guess(f"{what}, not the raw query string", _QUERY, reading=reading),
        )
