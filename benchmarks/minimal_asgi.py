"""A minimal ``call_back`` server: the baseline of benchmarks/pbx_call_back.py.

A bare ASGI app that does what any correct ``call_back`` endpoint must do and
nothing more: read the body (at most 64 KiB), check ``X-Client-ID`` and
``X-Client-Sign = sha256hex(id + raw body + key)`` (1.4.1, constant-time
compare), parse the JSON, check that ``request_number`` is E.164 and that
``from_sipuri`` or ``from_pin`` is given (Table А.3), and answer the
emulator's success JSON with a fresh uuid4 ``session_id``. No call is played,
nothing is logged or counted. Every request is verified and answered on its
own: no cached answers, no skipped checks.

Served by uvicorn with one worker, its pure-Python h11 parser and the standard
asyncio loop: the server the reference emulator runs on too
(conformance/reference/server.py), so that the comparison measures what the
emulator does per request, not the servers.

    python benchmarks/minimal_asgi.py --port 0 --client-id ID   # key from $VATS_CLIENT_KEY

Its first line on stdout is ``minimal-asgi: listening on URL`` (what
``conformance.reference.process`` waits for); with ``--with-parent`` it stops
when standard input closes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 64 * 1024
SUCCESS = "Операция выполнена успешно"
E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # schemas/call_back.request.json, fullmatch
JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]


class CallBack:
    """The ASGI app: ``POST /call_back`` for one client."""

    def __init__(self, client_id: str, key: str) -> None:
        self.client_id = client_id
        self.prefix = client_id.encode("utf-8")
        self.suffix = key.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan is switched off; nothing else is served
            return
        status, doc = await self.answer(scope, receive)
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode("ascii"))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def answer(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any]]:
        if scope["path"] != "/call_back":
            return 404, refusal(1, "no such method")
        if scope["method"] != "POST":
            return 405, refusal(2, "call_back is sent with POST")
        body = await read_body(receive)
        if body is None:
            return 413, refusal(3, f"body larger than {MAX_BODY} bytes")
        headers = dict(scope["headers"])  # names arrive lowercased
        if headers.get(b"x-client-id", b"").decode("latin-1") != self.client_id:
            return 403, refusal(11, "unknown X-Client-ID")
        digest = hashlib.sha256(self.prefix + body + self.suffix).hexdigest().encode("ascii")
        if not hmac.compare_digest(digest, headers.get(b"x-client-sign", b"").strip().lower()):
            return 403, refusal(14, "X-Client-Sign does not match")
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return 400, refusal(20, "body is not UTF-8 JSON")
        if not isinstance(doc, dict):
            return 400, refusal(21, "the parameters are a JSON object")
        number = doc.get("request_number")
        if not isinstance(number, str) or not E164.fullmatch(number):
            return 400, refusal(22, "request_number must be an E.164 number")
        if doc.get("from_sipuri") in (None, "") and doc.get("from_pin") in (None, ""):
            return 400, refusal(23, "from_sipuri or from_pin is required")
        return 200, {"result": 0, "resultMessage": SUCCESS, "session_id": str(uuid.uuid4())}


def refusal(result: int, message: str) -> dict[str, Any]:
    return {"result": result, "resultMessage": message}


async def read_body(receive: Receive) -> bytes | None:
    """The whole body, or None past ``MAX_BODY``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument("--client-id", required=True, help="the one client's X-Client-ID")
    parser.add_argument(
        "--with-parent", action="store_true", help="exit when standard input closes"
    )
    args = parser.parse_args()
    key = os.environ.get("VATS_CLIENT_KEY")
    if not key:
        sys.exit("minimal-asgi: error: set VATS_CLIENT_KEY")
    # Bound here, so that the URL is known before serving and port 0 works;
    # the socket listens already, so early connections wait in its backlog.
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted sockets only
    # when it sees it, and without it each answer stalls ~40 ms (Nagle + delayed ACK).
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    config = uvicorn.Config(
        CallBack(args.client_id, key),
        http="h11",
        loop="asyncio",
        lifespan="off",
        access_log=False,
        log_level="warning",
        workers=1,
    )
    server = uvicorn.Server(config)
    if args.with_parent:

        def exit_with_parent() -> None:
            with contextlib.suppress(OSError, ValueError):
                sys.stdin.read()
            server.should_exit = True

        threading.Thread(target=exit_with_parent, daemon=True).start()
    host, port = sock.getsockname()[:2]
    print(f"minimal-asgi: listening on http://{host}:{port}", flush=True)
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
