"""Reference CRM receiver of ``call_events`` (section 1.3, 1.4, Table А.2).

What a correct, robust external system does with a notification, one step per
method so that the self-tests' broken receivers can each replace exactly one:

    route -> method -> size -> identity -> signature -> JSON -> schema -> record

Answers: 200 ``{"result": 0, "resultMessage": "accepted"}``; 403 for a wrong
or missing identity or signature (checked before the body is even parsed);
400 for a body that is not a notification; 404/405/413 for the wrong path,
method or size. Never a 5xx, never a hang (every socket has a timeout).
Accepts every shape of every reading and the field profile, unknown fields,
duplicates and out-of-order deliveries: a receiver must not lose a call
because the PBX retried or a packet was late.

With ``--oracle`` it also answers ``GET {base}/oracle/{session_id}``: 200 with
the states it recorded for that call, 404 when it has acted on none -- the
side-effect oracle the suite's ``--crm-oracle`` asks whether a refused
notification was processed all the same (README, "The reference CRM"). Only
notifications it accepted count; refused ones leave no trace.

Run on its own::

    VATS_CLIENT_ID=... VATS_CLIENT_KEY=... vats-reference-crm --port 8080
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.reference.web import Request, Response, TooLarge
from conformance.spec import schemas, signing

MAX_BODY = 1 << 20
MAX_SESSIONS = 10_000


@dataclass
class Answer:
    status: int
    message: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def body(self) -> bytes:
        result = 0 if self.status < 300 else 1
        return json.dumps({"result": result, "resultMessage": self.message}).encode()


class BadNotification(ValueError):
    """The body is not a ``call_events`` notification."""


class ReferenceCrm:
    """A handler (conformance/reference/web.py); each step below is one decision a
    receiver makes."""

    def __init__(
        self,
        client_id: str,
        client_key: str,
        *,
        base_path: str = "",
        log: Callable[[str], None] | None = None,
        oracle: bool = False,
    ) -> None:
        self.client_id = client_id
        self._key = client_key
        prefix = "/" + base_path.strip("/") if base_path.strip("/") else ""  # "x" is "/x"
        self.path = prefix + "/call_events"
        self.oracle_path = prefix + "/oracle/" if oracle else None
        self.log = log
        self._lock = threading.Lock()
        self.sessions: OrderedDict[str, list[str]] = OrderedDict()

    # -- the handler ----------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        try:
            answer = self.handle(request)
        except Exception as exc:  # noqa: BLE001 - the last line of defence answers, never crashes
            answer = Answer(500, f"internal error: {type(exc).__name__}")
        if self.log:
            self.log(f"{request.method} {request.path} -> {answer.status} {answer.message}")
        headers = [("Content-Type", "application/json; charset=utf-8"), *answer.headers]
        return Response(answer.status, answer.body(), headers)

    def handle(self, request: Request) -> Answer:
        if self.oracle_path and request.path.startswith(self.oracle_path):
            return self.oracle(request.path.removeprefix(self.oracle_path), request.method)
        if request.path != self.path:
            return Answer(404, f"no such method; notifications go to {self.path}")
        if request.method != "POST":
            return Answer(405, "call_events is sent with POST (1.4.1)", [("Allow", "POST")])
        try:
            body = self.read_body(request)
        except TooLarge:
            return Answer(413, f"body larger than {MAX_BODY} bytes")
        if not self.identity_ok(request):
            return Answer(403, "unknown or missing X-Client-ID (1.4.1)")
        if not self.signature_ok(request, body):
            return Answer(403, "X-Client-Sign does not match sha256hex(id + body + key) (1.4.2)")
        try:
            doc = self.parse(body)
        except BadNotification as exc:
            return Answer(400, str(exc))
        problems = self.validate(doc)
        if problems:
            return Answer(400, "; ".join(problems[:5]))
        return self.record(doc)

    # -- the steps ----------------------------------------------------------
    def read_body(self, request: Request) -> bytes:
        return request.read(MAX_BODY)

    def identity_ok(self, request: Request) -> bool:
        return request.headers.get(signing.CLIENT_ID_HEADER) == self.client_id

    def signature_ok(self, request: Request, body: bytes) -> bool:
        # Always the configured id, never the one the request claims.
        return signing.verify(
            self.client_id, body, self._key, request.headers.get(signing.SIGN_HEADER)
        )

    def parse(self, body: bytes) -> Any:
        try:
            doc = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise BadNotification(f"body is not UTF-8: {exc}") from None
        except json.JSONDecodeError as exc:
            raise BadNotification(f"body is not JSON: {exc}") from None
        except RecursionError:
            raise BadNotification("body nests too deeply") from None
        if not isinstance(doc, dict):
            raise BadNotification(f"a notification is a JSON object, not {type(doc).__name__}")
        return doc

    def validate(self, doc: dict[str, Any]) -> list[str]:
        # Every shape either reading of the guide allows, and the field shapes.
        return schemas.errors("call_events", doc, "field")

    def record(self, doc: dict[str, Any]) -> Answer:
        """Remember the call; duplicates and late arrivals are simply added."""
        with self._lock:
            states = self.sessions.setdefault(doc["session_id"], [])
            states.append(str(doc["state"]))
            self.sessions.move_to_end(doc["session_id"])
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
        return Answer(200, "accepted")

    def oracle(self, session_id: str, method: str) -> Answer:
        """What this CRM holds for a call: 200 and its states, or 404 (the suite's oracle)."""
        if method != "GET":
            return Answer(405, "the oracle is read with GET", [("Allow", "GET")])
        with self._lock:
            states = list(self.sessions.get(session_id, ()))
        if not states:
            return Answer(404, f"nothing held for session {session_id!r}")
        return Answer(200, f"held: {', '.join(states)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``vats-reference-crm`` / ``python -m conformance.reference.crm``."""
    from conformance.reference import cli
    from conformance.reference.server import no_request, serve

    parser = cli.Parser(
        prog="vats-reference-crm",
        description="Reference receiver of VATS call_events notifications, for trying the suite "
        "or a PBX against. The key is read from VATS_CLIENT_KEY unless given.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--base-path", default="", help="path prefix before /call_events")
    parser.add_argument(
        "--client-id",
        default=os.environ.get("VATS_CLIENT_ID"),
        help="X-Client-ID to accept (default $VATS_CLIENT_ID)",
    )
    parser.add_argument(
        "--client-key",
        default=os.environ.get("VATS_CLIENT_KEY"),
        help="signing key (default $VATS_CLIENT_KEY; prefer the variable)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    parser.add_argument(
        "--oracle",
        action="store_true",
        help="also answer GET {base}/oracle/{session_id}: 200 when a call is held, 404 when not "
        "(what the suite's --crm-oracle asks)",
    )
    parser.add_argument(
        "--with-parent",
        action="store_true",
        help="exit when standard input closes (how the suite ties the reference to its run)",
    )
    args = parser.parse_args(argv)
    if not args.client_id or not args.client_key:
        parser.error(
            "a client id and key are required: --client-id/--client-key or "
            "VATS_CLIENT_ID/VATS_CLIENT_KEY"
        )
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    app = ReferenceCrm(
        args.client_id,
        args.client_key,
        base_path=args.base_path,
        log=None if args.quiet else lambda line: print(line, flush=True),
        oracle=args.oracle,
    )
    try:  # its steps never wait: every request is answered in the event loop
        served = serve(app, args.host, args.port, offload=no_request)
    except OSError as exc:
        return cli.cannot_listen(parser.prog, f"{args.host}:{args.port}", exc)
    url = served.url
    oracle = f"; oracle: {url}{app.oracle_path}{{session_id}}" if app.oracle_path else ""
    print(
        f"vats-reference-crm: listening on {url} (notifications: {url}{app.path}{oracle})",
        flush=True,
    )
    cli.serve_until_stopped(served, with_parent=args.with_parent)
    served.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
