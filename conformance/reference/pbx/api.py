"""The methods the external system calls: ``call_back`` (Table А.3), ``get_record``
(Table А.4), and the download of a recording.

One step per decision, in this order, each answering or letting the request on:

    HTTP method -> size -> identity -> transport -> allow-list -> signature
      -> service status -> limit -> JSON -> parameters -> act

Every refusal has its own ``result`` (> 0, E11) and a message that says what
was wrong and where the guide says so; no refusal carries a ``session_id`` or
a ``url``. The table of results is ``answers.Result`` and in docs/PBX_EMULATOR.md.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from conformance.reference.pbx.answers import GUIDE, SUCCESS, Answer, Result, Style, refuse
from conformance.reference.pbx.calls import CapacityError
from conformance.reference.pbx.log import clip
from conformance.reference.pbx.plans import call_back_plan
from conformance.reference.pbx.records import tone_wav
from conformance.reference.pbx.state import Client, monotonic
from conformance.reference.pbx.values import is_sip_uri
from conformance.reference.web import Request, TooLarge
from conformance.spec import schemas, signing
from conformance.spec.lifecycle import Party

if TYPE_CHECKING:
    from conformance.reference.pbx.app import Pbx

MAX_BODY = 64 * 1024


@cache
def _call_back_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """Table А.3's patterns, taken from the schema ``call_back_problem`` validates
    with: request_number, from_sipuri, and from_pin's first form (a PIN)."""
    props = schemas.view("call_back.request", "guide")["properties"]
    pin = props["from_pin"]["anyOf"][0]
    assert pin.get("type") == "string", "from_pin's first form is the PIN string"
    return (
        schemas.ecma_pattern(props["request_number"]["pattern"]),
        schemas.ecma_pattern(props["from_sipuri"]["pattern"]),
        schemas.ecma_pattern(pin["pattern"]),
    )


def plainly_valid(doc: dict[str, Any]) -> bool:
    """Whether a ``call_back`` request (empty ``from_*`` already dropped) is one the
    schema plainly accepts: an E.164 ``request_number`` and either a well-formed
    ``from_sipuri`` (``from_pin`` is then not used, А.3) or, without one, a PIN
    string in ``from_pin``. Anything else goes through the schema."""
    number_re, sipuri_re, pin_re = _call_back_patterns()
    number = doc.get("request_number")
    if not isinstance(number, str) or not number_re.search(number):
        return False
    if "from_sipuri" in doc:
        uri = doc["from_sipuri"]
        return isinstance(uri, str) and bool(sipuri_re.search(uri))
    pin = doc.get("from_pin")
    return isinstance(pin, str) and bool(pin_re.search(pin))


def _json_spellings(params: dict[str, str]) -> list[bytes]:
    """A GET's parameters as JSON, as common encoders write it (E5's other reading of
    "client_id + json + key"): spaced or compact, escaped or not. Each binds every
    parameter, as the raw query does."""
    return [
        json.dumps(params, separators=separators, ensure_ascii=ascii_only).encode("utf-8")
        for separators in ((", ", ": "), (",", ":"))
        for ascii_only in (False, True)
    ]


class Api:
    """``call_back`` and ``get_record`` of one emulator; see the module docstring."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx

    # -- entry --------------------------------------------------------------
    def handle(self, method: str, request: Request, style: Style = GUIDE) -> Answer:
        """Answer one request to ``{api}/{method}``, log it (3.2.3) with the ``style``
        it is answered in, count it (3.1.3)."""
        started = monotonic()
        body = b""
        client: Client | None = None
        try:
            answer, body, client = self.decide(method, request)
        except Exception as exc:  # noqa: BLE001 - the last line of defence answers
            answer = refuse(500, Result.INTERNAL, f"internal error: {type(exc).__name__}")
        answer.call_back = method == "call_back"
        claimed = request.headers.get(signing.CLIENT_ID_HEADER)
        self.pbx.log.add(
            client_id=claimed,
            method=method,
            direction="from_crm",
            url=request.url,
            remote=request.remote,
            request_headers={
                name: value
                for name in (signing.CLIENT_ID_HEADER, signing.SIGN_HEADER, "Content-Type")
                if (value := request.headers.get(name)) is not None
            },
            request_body=clip(body) if body else request.query.decode("latin-1"),
            status=answer.status_in(style),
            response_body=clip(answer.body(style)),
            elapsed_ms=round((monotonic() - started) * 1000, 1),
            answered_as=style.to_json(),
        )
        if client is not None:
            with self.pbx.registry.lock:
                client.stats.add(method, answer.result == Result.OK, monotonic())
        return answer

    def decide(self, method: str, request: Request) -> tuple[Answer, bytes, Client | None]:
        allowed = ("POST",) if method == "call_back" else ("GET", "POST")
        if request.method not in allowed:
            return (
                refuse(
                    405,
                    Result.HTTP_METHOD,
                    f"{method} is sent with {' or '.join(allowed)} (1.4.1"
                    + (", А.4)" if method == "get_record" else ")"),
                    headers=[("Allow", ", ".join(allowed))],
                ),
                b"",
                None,
            )
        try:
            body = self.read_body(request)
        except TooLarge:
            return refuse(413, Result.TOO_LARGE, f"body larger than {MAX_BODY} bytes"), b"", None
        client, refusal = self.identify(request)
        if client is None:
            assert refusal is not None
            return refusal, body, None
        signed, what = self.signed_bytes(request, body)
        refusal = (  # each step in turn; the first refusal answers
            self.transport(client, request.secure)
            or self.allow_list(client, request)
            or self.signature(client, request, signed, what)
            or self.service(client)
            or self.limit(client, method)
        )
        if refusal is not None:
            return refusal, body, client
        doc = self.parse(request, body)
        if isinstance(doc, Answer):
            return doc, body, client
        if method == "call_back":
            return self.call_back(client, doc), body, client
        return self.get_record(client, doc, request), body, client

    # -- the steps ----------------------------------------------------------
    def read_body(self, request: Request) -> bytes:
        return request.read(MAX_BODY)

    def identify(self, request: Request) -> tuple[Client | None, Answer | None]:
        claimed = request.headers.get(signing.CLIENT_ID_HEADER)
        if not claimed:
            return None, refuse(403, Result.NO_CLIENT_ID, "X-Client-ID header is missing (1.4.1)")
        client = self.pbx.registry.get(claimed)
        if client is None:
            return None, refuse(
                403, Result.UNKNOWN_CLIENT, "unknown X-Client-ID: no such client (1.4.1, 3.1.1)"
            )
        return client, None

    def transport(self, client: Client, secure: bool) -> Answer | None:
        """With SSL on, only HTTPS (1.4.3, 3.2.1); with it off, both are served."""
        if client.ssl and not secure:
            https = self.pbx.https_url or "the emulator's HTTPS address"
            return refuse(
                403, Result.HTTPS_REQUIRED, f"SSL is on for this client: send to {https} (3.2.1)"
            )
        return None

    def allow_list(self, client: Client, request: Request) -> Answer | None:
        if not client.allows(request.remote):
            return refuse(
                403,
                Result.IP_NOT_ALLOWED,
                f"requests from {request.remote} are not in the IP allow-list (3.1.2)",
            )
        return None

    def signed_bytes(self, request: Request, body: bytes) -> tuple[bytes, str]:
        """The request's data as it travelled: the body, or for a GET without one the
        raw query string (E5: the guide says GET but signs only JSON bodies)."""
        if request.method == "GET" and not body:
            return request.query, "the raw query string"
        return body, "the raw body"

    def signature(
        self, client: Client, request: Request, signed: bytes, what: str
    ) -> Answer | None:
        # Always the key of the client named by X-Client-ID, over the raw bytes (1.4.2);
        # a bodiless GET over its raw query (D21) or the JSON of its parameters (E5).
        received = request.headers.get(signing.SIGN_HEADER)
        candidates = [signed]
        if request.method == "GET" and not request.body:
            candidates += _json_spellings(request.args())
        if not any(signing.verify(client.client_id, c, client.key, received) for c in candidates):
            return refuse(
                403,
                Result.BAD_SIGNATURE,
                f"X-Client-Sign does not match sha256hex(client id + {what} + key) (1.4.1, 1.4.2)",
            )
        return None

    def service(self, client: Client) -> Answer | None:
        if not client.enabled:
            return refuse(403, Result.SERVICE_OFF, "the Integration API service is off (3.1.1)")
        return None

    def limit(self, client: Client, method: str) -> Answer | None:
        with self.pbx.registry.lock:
            window = client.windows[method]
            if window.admit(monotonic()):
                return None
            limit = window.limit
        assert limit is not None
        return refuse(
            429,
            Result.LIMIT_EXCEEDED,
            f"limit of {limit.count} {method} requests per {limit.period:g} s reached (3.1.3)",
        )

    def parse(self, request: Request, body: bytes) -> dict[str, Any] | Answer:
        if request.method == "GET" and not body:
            return request.args()
        try:
            doc = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            return refuse(400, Result.NOT_JSON, "body is not UTF-8 (1.4.1: JSON)")
        except json.JSONDecodeError as exc:
            return refuse(400, Result.NOT_JSON, f"body is not JSON: {exc} (1.4.1)")
        except RecursionError:
            return refuse(400, Result.NOT_JSON, "body nests too deeply")
        if not isinstance(doc, dict):
            return refuse(
                400,
                Result.NOT_OBJECT,
                f"the parameters are a JSON object, not {type(doc).__name__}",
            )
        return doc

    # -- call_back (А.3) ----------------------------------------------------
    def call_back_problem(self, doc: dict[str, Any]) -> Answer | None:
        """Table А.3, through the schema; the first problem in the table's order.

        A request the schema plainly accepts (``plainly_valid``, the same
        patterns) is let through without walking the schema.
        """
        if plainly_valid(doc):
            return None
        found: dict[Result, str] = {}
        for error in schemas.validator("call_back.request", "guide").iter_errors(doc):
            where = str(error.path[0]) if error.path else ""
            if where == "request_number" or (
                error.validator == "required" and "request_number" in error.message
            ):
                got = doc.get("request_number")
                found[Result.BAD_REQUEST_NUMBER] = (
                    "request_number is required (Table А.3)"
                    if got is None
                    else f"request_number must be an E.164 number, '+' and 7 to 15 digits; "
                    f"got {got!r} (Table А.3)"
                )
            elif where == "from_sipuri":
                found[Result.BAD_FROM_SIPURI] = (
                    f"from_sipuri is not a SIP-URI such as user@domain.ru: "
                    f"{doc['from_sipuri']!r} (Table А.3)"
                )
            elif where == "from_pin":
                found[Result.BAD_FROM_PIN] = (
                    f"from_pin is not an internal number (PIN): {doc['from_pin']!r} (Table А.3)"
                )
            elif error.validator == "anyOf" and not where:
                found[Result.NO_FROM] = "from_sipuri or from_pin is required (Table А.3)"
        if "from_sipuri" in doc and Result.BAD_FROM_SIPURI not in found:
            found.pop(Result.BAD_FROM_PIN, None)  # "используется параметр from_sipuri" (А.3)
        if not found:
            return None
        first = min(found)
        return refuse(400, first, found[first])

    def call_back(self, client: Client, doc: dict[str, Any]) -> Answer:
        # "Допускается, если задан ..." (А.3): empty or null means not given.
        doc = {k: v for k, v in doc.items() if not (k.startswith("from_") and v in (None, ""))}
        problem = self.call_back_problem(doc)
        if problem is not None:
            return problem
        user = self.resolve_user(client, doc)
        if isinstance(user, Answer):
            return user
        plan = call_back_plan(user, doc["request_number"], self.pbx.engine.scenario)
        try:
            call = self.pbx.engine.start(
                client.client_id,
                "outbound",
                f"call_back:{self.pbx.engine.scenario.call_back_outcome}",
                plan,
            )
        except CapacityError as exc:
            return refuse(429, Result.TOO_MANY_CALLS, f"try again later: {exc}")
        return Answer(200, Result.OK, SUCCESS, {"session_id": call.session_id})

    def resolve_user(self, client: Client, doc: dict[str, Any]) -> Party | Answer:
        """from_sipuri wins over from_pin (А.3); a PIN must be a user of the domain."""
        with self.pbx.registry.lock:
            if "from_sipuri" in doc:
                uri = str(doc["from_sipuri"])
                pin = client.pin_of(uri)
                return Party(uri, int(pin) if pin else None)
            given = doc["from_pin"]
            if isinstance(given, str) and is_sip_uri(given):  # E3: a SIP-URI in from_pin
                pin = client.pin_of(given)
                return Party(given, int(pin) if pin else None)
            pin = str(given)
            known = client.user_by_pin(pin)
        if known is None:
            return refuse(
                404, Result.UNKNOWN_PIN, f"from_pin {pin}: no user with this PIN in the domain"
            )
        return Party(known, int(pin))

    # -- get_record (А.4) ---------------------------------------------------
    def get_record(self, client: Client, doc: dict[str, Any], request: Request) -> Answer:
        if not schemas.is_valid("get_record.request", doc):
            got = doc.get("session_id")
            return refuse(
                400,
                Result.BAD_SESSION_ID,
                "session_id is required (Table А.4)"
                if got is None
                else f"session_id must be a non-empty string, got {got!r} (Table А.4)",
            )
        session_id = doc["session_id"]
        call = self.pbx.engine.get(session_id)
        if call is None or call.client_id != client.client_id:
            return refuse(404, Result.UNKNOWN_SESSION, f"no call with session_id {session_id!r}")
        if not (call.finished or call.ended):
            return refuse(409, Result.CALL_IN_PROGRESS, "the call is in progress: no recording yet")
        if not call.recorded:
            return refuse(404, Result.NOT_RECORDED, "the call was not recorded (is_record: false)")
        token = self.pbx.links.issue(
            session_id, monotonic(), self.pbx.settings.record_link_ttl, client.client_id
        )
        return Answer(200, Result.OK, SUCCESS, {"url": f"{request.base_url}/records/{token}"})

    # -- the link -----------------------------------------------------------
    def download(self, token: str, request: Request, style: Style = GUIDE) -> Answer:
        """A recording link: the file once (А.4). GET, and POST too when the style's
        ``links_accept_post`` (its body and headers are not looked at: the link is
        the credential). Its answers keep their status whatever ``errors_as_200``."""
        answer = self.take_link(token, request, style)
        answer.download = True
        return answer

    def take_link(self, token: str, request: Request, style: Style) -> Answer:
        allowed = ("GET", "POST") if style.links_accept_post else ("GET",)
        if request.method not in allowed:
            return refuse(
                405,
                Result.HTTP_METHOD,
                f"a recording is fetched with {' or '.join(allowed)}",
                headers=[("Allow", ", ".join(allowed))],
            )
        taken, session_id = self.pbx.links.take(token, monotonic())
        if taken == "unknown":
            return refuse(404, Result.LINK_UNKNOWN, "no such recording link")
        if taken == "used":
            return refuse(
                410, Result.LINK_USED, "this link was used already: it is single-use (А.4)"
            )
        if taken == "expired":
            return refuse(410, Result.LINK_EXPIRED, "this link has expired: ask get_record again")
        return Answer(
            200,
            Result.OK,
            SUCCESS,
            content=tone_wav(),
            content_type="audio/wav",
            headers=[("Content-Disposition", f'attachment; filename="{session_id}.wav"')],
        )
