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

Given a client of the PBX API (``--pbx-url``; crm_client.py), it also fetches
the recording of every call whose ``disconnected`` it accepted with
``is_record`` true in any reading (``true``, ``"true"``; ``1`` and ``"1"``
too, should its schema ever accept them):
``get_record`` and the link's download, on one background thread fed by a
bounded queue (``Recordings``). The answer to the notification never waits for
it; a full queue drops the session and counts it; each session is fetched at
most once.

Run on its own::

    VATS_CLIENT_ID=... VATS_CLIENT_KEY=... vats-reference-crm --port 8080 \\
        [--pbx-url https://api.example/vats]
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from conformance.reference.crm_client import CrmClient
from conformance.reference.web import Request, Response, TooLarge
from conformance.spec import schemas, signing

MAX_BODY = 1 << 20
MAX_SESSIONS = 10_000
MAX_WAITING = 100  # recordings waiting to be fetched; more are dropped (and counted)


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


def says_recorded(value: Any) -> bool:
    """``is_record`` true in any reading: the guide's boolean, production's ``"true"``,
    or a 1 (number or string)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in ("true", "1")


class Recordings:
    """Fetches recordings with ``client`` on one background thread, never in a request.

    ``notified`` queues a session (at most ``MAX_WAITING`` wait; beyond that the
    session is dropped and ``dropped`` counts it) unless it was queued before;
    the worker, started with the first, fetches them in turn. ``outcomes`` holds
    what became of each (bounded, the oldest forgotten first).
    """

    def __init__(
        self,
        client: CrmClient,
        log: Callable[[str], None] | None = None,
        *,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self.client = client
        self.log = log
        self.dropped = 0
        self.outcomes: OrderedDict[str, str] = OrderedDict()
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=max_waiting)
        self._queued: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = False
        self._worker: threading.Thread | None = None

    def notified(self, doc: dict[str, Any]) -> None:
        """A notification was accepted: queue its recording if it says there is one."""
        if doc.get("state") != "disconnected" or not says_recorded(doc.get("is_record")):
            return
        session_id = str(doc["session_id"])
        with self._lock:
            if self._stopping or session_id in self._queued:
                return
            try:
                self._queue.put_nowait(session_id)
            except queue.Full:
                self.dropped += 1
                dropped = self.dropped
            else:
                dropped = 0
                self._queued[session_id] = None
                while len(self._queued) > MAX_SESSIONS:
                    self._queued.popitem(last=False)
                if self._worker is None:
                    self._worker = threading.Thread(
                        target=self._work, name="crm-recordings", daemon=True
                    )
                    self._worker.start()
        if dropped and self.log:
            self.log(f"recording of {session_id}: dropped, {dropped} so far (the queue is full)")

    def _work(self) -> None:
        while True:
            session_id = self._queue.get()
            try:
                if session_id is None or self._stopping:
                    return
                try:
                    outcome = self.client.fetch_recording(session_id).summary()
                except Exception as exc:  # noqa: BLE001 - the worker outlives any one fetch
                    outcome = f"internal error: {type(exc).__name__}"
                with self._lock:
                    self.outcomes[session_id] = outcome
                    while len(self.outcomes) > MAX_SESSIONS:
                        self.outcomes.popitem(last=False)
                if self.log:
                    self.log(f"recording of {session_id}: {outcome}")
            finally:
                self._queue.task_done()

    def idle(self, timeout: float) -> bool:
        """Wait (bounded) until nothing is queued or being fetched; whether that came."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker after the fetch in hand (its pauses cut short)."""
        with self._lock:
            self._stopping = True
            worker = self._worker
        self.client.close()
        with contextlib.suppress(queue.Full):  # full: it sees ``_stopping`` at its next one
            self._queue.put_nowait(None)
        if worker is not None:
            worker.join(timeout)


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
        client: CrmClient | None = None,
    ) -> None:
        self.client_id = client_id
        self._key = client_key
        prefix = "/" + base_path.strip("/") if base_path.strip("/") else ""  # "x" is "/x"
        self.path = prefix + "/call_events"
        self.oracle_path = prefix + "/oracle/" if oracle else None
        self.log = log
        self._lock = threading.Lock()
        self.sessions: OrderedDict[str, list[str]] = OrderedDict()
        self.recordings = Recordings(client, log) if client is not None else None

    def close(self) -> None:
        """Stop fetching recordings (nothing else holds a thread)."""
        if self.recordings is not None:
            self.recordings.close()

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
        answer = self.record(doc)
        if self.recordings is not None and answer.status < 300:
            self.recordings.notified(doc)  # queued: the answer does not wait for it
        return answer

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


def main(
    argv: Sequence[str] | None = None,
    *,
    crm_class: type[ReferenceCrm] = ReferenceCrm,
    prog: str = "vats-reference-crm",
) -> int:
    """Console entry point: ``vats-reference-crm`` / ``python -m conformance.reference.crm``.

    ``crm_class`` serves another receiver built on this one (the self-tests' faults)."""
    from conformance.reference import cli
    from conformance.reference.server import no_request, serve

    parser = cli.Parser(
        prog=prog,
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
        "--pbx-url",
        help="the PBX API's base URL: fetch the recording of every recorded call notified "
        "(get_record, then the link), with the same id and key",
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
    if args.pbx_url is not None:
        parts = urlsplit(args.pbx_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            parser.error(f"--pbx-url must be an http(s) URL, got {args.pbx_url!r}")
    log = None if args.quiet else lambda line: print(line, flush=True)
    app = crm_class(
        args.client_id,
        args.client_key,
        base_path=args.base_path,
        log=log,
        oracle=args.oracle,
        client=CrmClient(args.pbx_url, args.client_id, args.client_key) if args.pbx_url else None,
    )
    try:  # its steps never wait: every request is answered in the event loop
        served = serve(app, args.host, args.port, offload=no_request)
    except OSError as exc:
        return cli.cannot_listen(parser.prog, f"{args.host}:{args.port}", exc)
    url = served.url
    oracle = f"; oracle: {url}{app.oracle_path}{{session_id}}" if app.oracle_path else ""
    print(
        f"{prog}: listening on {url} (notifications: {url}{app.path}{oracle})",
        flush=True,
    )
    cli.serve_until_stopped(served, with_parent=args.with_parent)
    served.stop()
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
