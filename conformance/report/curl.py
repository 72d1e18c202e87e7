"""One recorded exchange as a shell command that sends the same request again.

The reproduction is a short bash script: the exact body bytes (as text in single
quotes when that is safe to paste, else as base64), the signature computed in
the shell from ``$VATS_CLIENT_ID`` and ``$VATS_CLIENT_KEY`` over those bytes, and
one ``curl`` with the headers the case set. The key is never needed here and
never written: whether the recorded ``X-Client-Sign`` was the correct signature
was recorded when the request was sent, by whoever signed it
(``Exchange.signed_correctly``: results.json ``request.signed_correctly``). A
signature that was not correct (a case sending a forged or altered one) is
reproduced literally, so the reproduction sends the same request as the case did.

What is signed (1.4.1, docs/DECISIONS.md D21): the body, or, for a GET without
a body, the raw query string.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from conformance.spec import signing
from conformance.transport.client import body_bytes

#: Headers curl sets itself (or that describe the connection): not reproduced.
DROPPED = frozenset({"host", "content-length", "user-agent", "connection"})
#: The request field of results.json that says its X-Client-Sign was correct (``Exchange``).
SIGNED_FIELD = "signed_correctly"
_HEX_SIGN = re.compile(r"[0-9a-f]{64}")
_ID_VAR = '"$VATS_CLIENT_ID"'
_KEY_VAR = '"$VATS_CLIENT_KEY"'


def signed_data(request: Mapping[str, Any]) -> bytes:
    """What ``X-Client-Sign`` covers: the body, or a bodiless GET's raw query string."""
    method, url = str(request.get("method", "")), str(request.get("url", ""))
    return signing.signed_data(method, url, body_bytes(request))


def header(headers: Iterable[Any], name: str) -> str | None:
    """The first value of header ``name`` (any case) among ``[name, value]`` pairs."""
    for pair in headers:
        if (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and str(pair[0]).lower() == name.lower()
        ):
            return str(pair[1])
    return None


def shell_word(text: str | bytes) -> str:
    """``text`` as one shell word that bash turns back into exactly its bytes.

    Printable text goes in single quotes (``shlex.quote``); anything else
    (control characters, bytes that are not UTF-8) in ``$'...'`` with escapes.
    A NUL byte cannot be in a shell word at all: bash ends the word there (URLs,
    methods and header values never hold one; bodies go through ``printf``).
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None and _pastable(decoded, newlines=False):
        return shlex.quote(decoded)
    out = []
    for byte in data:
        char = chr(byte)
        if char in "\\'":
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "$'" + "".join(out) + "'"


def _pastable(text: str, *, newlines: bool) -> bool:
    """Text that survives a copy from the page into a terminal unchanged.

    Tabs may trigger completion, carriage returns become newlines in HTML, and
    other control or invisible characters are not visible in the page.
    """
    return all(ch.isprintable() or (newlines and ch == "\n") for ch in text)


def reproduce(
    exchange: Mapping[str, Any],
    client_id: str,
    *,
    signed_correctly: bool | None = None,
) -> str:
    """A bash script that sends ``exchange``'s request again, byte for byte.

    ``client_id`` is the run's client id: an ``X-Client-ID`` equal to it becomes
    ``$VATS_CLIENT_ID``, any other value is kept literally. ``signed_correctly``
    (default: the exchange's ``request.signed_correctly``, else ``False``) says
    the recorded ``X-Client-Sign`` was ``sign(client_id, signed data, key)``;
    only then is it computed in the shell from ``$VATS_CLIENT_KEY``, otherwise
    the recorded value is sent as it was.
    """
    request = exchange.get("request")
    if not isinstance(request, Mapping):
        request = {}
    method = str(request.get("method") or "GET")
    url = str(request.get("url") or "")
    headers = [
        (str(pair[0]), str(pair[1]))
        for pair in request.get("headers") or []
        if isinstance(pair, list | tuple) and len(pair) == 2
    ]
    body = body_bytes(request)
    known = signed_correctly is not None or isinstance(request.get(SIGNED_FIELD), bool)
    if signed_correctly is None:
        signed_correctly = request.get(SIGNED_FIELD) is True
    received_sign = header(headers, signing.SIGN_HEADER)
    compute = bool(
        signed_correctly and received_sign is not None and _HEX_SIGN.fullmatch(received_sign)
    )
    uses_id = compute or header(headers, signing.CLIENT_ID_HEADER) == client_id

    lines = [f"# Sends the recorded request again: {_comment(method)} {_comment(url)}"]
    if uses_id:
        needed = ["VATS_CLIENT_ID", "VATS_CLIENT_KEY"] if compute else ["VATS_CLIENT_ID"]
        note = " (the key is never written here)" if compute else ""
        lines.append(f"# Needs {' and '.join(needed)} in the environment{note}.")
        lines.append(": " + " ".join(f'"${{{v}:?is not set}}"' for v in needed))
    else:
        lines.append("# Every header is literal: no credentials needed.")
    if received_sign is not None and not compute:
        if not known:
            why = "results.json does not say whether it was correct"
        elif signed_correctly:
            why = "correct, but not spelled as sha256sum prints it"
        else:
            why = "it was not the correct signature of this request"
        lines.append(f"# X-Client-Sign is sent as recorded: {why}.")
    feed = ""
    if body:
        text = _text(body)
        if text is not None:
            lines.append(f"BODY={shlex.quote(text)}")
            feed = "printf '%s' \"$BODY\""
        else:
            lines.append("# The body is not printable text: its exact bytes, as base64.")
            lines.append(f"BODY_B64={shlex.quote(base64.b64encode(body).decode('ascii'))}")
            feed = "printf '%s' \"$BODY_B64\" | base64 -d"
    if compute:
        data = signed_data(request)
        source = feed if data == body and feed else _printf(data)
        lines.append(
            f"SIGN=$({{ printf '%s' {_ID_VAR}; {source}; printf '%s' {_KEY_VAR}; }}"
            " | sha256sum | cut -d' ' -f1)"
        )
    command = _curl(
        method, url, headers, body, client_id=client_id, sign=received_sign if compute else None
    )
    lines.append(f"{feed} | {command}" if feed else command)
    return "\n".join(lines) + "\n"


def _printf(data: bytes) -> str:
    """A command writing ``data`` to stdout, or ``:`` (nothing) when it is empty."""
    return f"printf '%s' {shell_word(data)}" if data else ":"


def _curl(
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    client_id: str,
    sign: str | None,
) -> str:
    """The curl command; the body, if any, comes on its standard input."""
    names = {name.lower() for name, _ in headers}
    with_data = bool(body) or "content-length" in names or "transfer-encoding" in names
    args = ["curl", "-sS", "-i"]
    if with_data:
        if method != "POST":
            args += ["-X", shell_word(method)]
    elif method == "HEAD":
        args.append("-I")
    elif method != "GET":
        args += ["-X", shell_word(method)]
    args.append(shell_word(url))
    command = [" ".join(args)]
    command += [
        _header_arg(name, value, client_id, sign=sign)
        for name, value in headers
        if name.lower() not in DROPPED and not name.lower().startswith("accept")
    ]
    if with_data and "content-type" not in names:
        command.append("-H 'Content-Type:'")  # else curl adds a form content type
    if len(body) > 1024:
        command.append("-H 'Expect:'")  # send the body at once, as the case did
    if with_data:
        command.append("--data-binary @-" if body else "--data-binary ''")
    return " \\\n  ".join(command)


def _header_arg(name: str, value: str, client_id: str, *, sign: str | None) -> str:
    """One ``-H`` argument; the credentials as variables where they were the run's."""
    lowered = name.lower()
    if lowered == signing.CLIENT_ID_HEADER.lower() and value == client_id:
        return f'-H "{name}: $VATS_CLIENT_ID"'  # the name is the header's: letters, '-'
    if lowered == signing.SIGN_HEADER.lower() and sign is not None and value == sign:
        return f'-H "{name}: $SIGN"'
    raw = name.encode("latin-1", "replace")
    # curl drops a header given as "Name:" and sends "Name;" as an empty one.
    data = raw + b";" if value == "" else raw + b": " + _wire(value)
    return "-H " + shell_word(data)


def _wire(value: str) -> bytes:
    """A recorded header value back to its bytes (recorded as latin-1, else UTF-8)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _text(body: bytes) -> str | None:
    """``body`` as text safe to paste in single quotes, or ``None`` (use base64)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if _pastable(text, newlines=True) else None


def _comment(text: str) -> str:
    """``text`` fit for a ``#`` comment: one line, printable, bounded."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean[:200] + ("..." if len(clean) > 200 else "")
