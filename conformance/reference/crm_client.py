# Over 400 lines: one method per step a client takes (a broken client replaces one), its CLI.
"""Reference CRM, client side: ``call_back`` (Table А.3), ``get_record`` (Table А.4)
and the download of a recording, as a correct external system sends them.

One method per step, so that the self-tests' broken clients can each replace
exactly one (tests/faults/crm_client.py)::

    place_call_back -> call_back_document ┐
    get_record      -> get_record_document┴> request: http_method, url, encode | query,
                                               signed_data, sign, headers, send, read_answer
    fetch_recording -> get_record (again after try_later, paced by retry_pauses) -> download
    download        -> send (GET, never following a redirect) -> read_download

The rules it keeps:

* The body is ``json.dumps(doc, ensure_ascii=False)`` in UTF-8, and
  ``X-Client-Sign`` is ``sha256hex(id + those very bytes + key)`` (1.4.1, 1.4.2);
  a ``get_record`` sent as GET (E5) signs its raw query string (D21).
* A recording link is fetched once, with a plain GET (no signed headers: the
  link is the credential), and a redirect is never followed: the link is
  single-use, and another origin must not be handed anything.
* A refused ``get_record`` is asked again only when the answer says "later"
  (``try_later``), at most twice, at least 2 s apart; never otherwise.
* The key is never printed, logged or shown in ``repr``.

Reading the PBX's answers, under every reading the guide allows (E1, E2, E11)
-- ``read_answer``:

* ``result`` is read as a whole number whether it comes as a number or a string
  (E2): ``0``, ``"0"``, ``" 0 "`` are 0; anything that is no whole number is
  no success.
* A 2xx JSON object is a success when ``result`` is 0, or when it is 1 *and*
  carries the method's value -- a non-empty ``session_id`` for ``call_back``, a
  non-empty ``url`` for ``get_record`` -- the guide's own example (E1: ``"1"``
  with "Операция выполнена успешно" and a session id). ``resultMessage`` is
  never read to decide: it is free text. So a 1 without the value is a refusal
  however happy its message, and (E1 makes the two indistinguishable) a PBX
  that answered an error with 1 *and* a value would be misread as success.
  A ``get_record`` success needs its ``url`` whatever ``result`` says: without
  a link there is nothing to fetch. A 2xx without ``result`` but with the
  method's value is a success too (a lenient reader loses nothing by it).
* Everything else is a refusal: a 4xx, a 2xx with any other ``result`` (> 1 as
  E11 says, and negative ones such as production's ``"-20"``), a 2xx that is no
  JSON object, a 3xx (not followed), a 5xx, and no answer at all.

Run on its own (what the suite's ``--crm-client-cmd`` runs)::

    VATS_API_URL=http://127.0.0.1:8090 VATS_CLIENT_ID=... VATS_CLIENT_KEY=... \\
        vats-reference-crm-client
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from conformance import __version__
from conformance.spec import signing

PROG = "vats-reference-crm-client"
DEFAULT_FROM_PIN = "101"  # the emulator's user of the guide's 1.4.2 example
DEFAULT_CALL_TO = "+74951234567"
MAX_CONTENT = 64 << 20  # a recording larger than this is not read whole
#: Statuses that say "not now, later": a conflict (the call is in progress), too
#: many requests, unavailable.
LATER_STATUSES = frozenset({409, 429, 503})
#: ``result`` codes that say the same where errors come as HTTP 200 (E11). The guide
#: lists no codes; these are the emulator's (docs/PBX_EMULATOR.md): the method's
#: limit reached, the call in progress, too many calls in progress.
LATER_RESULTS = frozenset({16, 32, 40})
RETRY_PAUSES = (2.0, 2.0)  # seconds before the second and the third try
_WHOLE = re.compile(r"\A\s*[-+]?[0-9]+\s*\Z")


def result_code(value: Any) -> int | None:
    """``result`` as a whole number, from a number or a string (E2); None if it is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _WHOLE.match(value):
        return int(value)
    return None


@dataclass(frozen=True)
class Sent:
    """One request as it went and what came back (``status`` None: no answer)."""

    method: str
    url: str
    status: int | None
    content_type: str = ""
    content: bytes = b""
    error: str | None = None


@dataclass(frozen=True)
class Reply:
    """One request, read: whether it succeeded, and what it gave."""

    method: str
    url: str
    status: int | None
    ok: bool
    result: Any = None  # the answer's ``result`` as it came (None: none)
    value: str | None = None  # the session id or the link a success gave
    message: str = ""  # the answer's resultMessage, or why it is no success
    content: bytes = field(default=b"", repr=False)  # a downloaded recording

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @property
    def code(self) -> int | None:
        return result_code(self.result)

    def line(self) -> str:
        """``METHOD /path -> STATUS result=R ...``: what a person reads of it."""
        status = "no answer" if self.status is None else str(self.status)
        shown = (
            "" if self.result is None else f" result={json.dumps(self.result, ensure_ascii=False)}"
        )
        what = "ok" if self.ok else "refused"
        if self.ok and self.value and "://" not in self.value:  # a session id, not a link
            what += f", session_id {self.value}"
        detail = f": {self.message}" if self.message else ""
        return f"{self.method} {self.path} -> {status}{shown} ({what}{detail})"


@dataclass(frozen=True)
class Fetched:
    """What ``fetch_recording`` did: every request in order, and the audio if it came."""

    replies: list[Reply]
    audio: bytes | None

    def summary(self) -> str:
        if self.audio is not None:
            return f"saved {len(self.audio)} bytes"
        last = self.replies[-1] if self.replies else None
        return f"no recording: {last.line()}" if last else "no recording"


class CrmClient:
    """The calls an external system makes to the PBX API; see the module docstring."""

    def __init__(
        self, api_url: str, client_id: str, client_key: str, *, timeout: float = 5.0
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self._key = client_key
        self.timeout = timeout
        #: Told of every request once it is read (the command line prints them).
        self.on_reply: Callable[[Reply], None] | None = None
        self._closing = threading.Event()

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}({self.api_url!r}, {self.client_id!r})"

    def close(self) -> None:
        """Cut short any pause between tries (a worker that is stopping)."""
        self._closing.set()

    # -- the operations ---------------------------------------------------------
    def place_call_back(
        self,
        request_number: str,
        *,
        from_pin: str | None = None,
        from_sipuri: str | None = None,
    ) -> Reply:
        """Ask the PBX to connect a domain user with ``request_number`` (А.3)."""
        doc = self.call_back_document(request_number, from_pin=from_pin, from_sipuri=from_sipuri)
        return self.request("call_back", doc)

    def get_record(self, session_id: str) -> Reply:
        """Ask for a link to a call's recording (А.4); ``value`` is the link."""
        return self.request("get_record", self.get_record_document(session_id))

    def fetch_recording(self, session_id: str) -> Fetched:
        """``get_record``, then the link's download. A refusal that says "later"
        (``try_later``) is asked again after each of ``retry_pauses``; no other is."""
        replies: list[Reply] = []
        pauses = self.retry_pauses()
        tries = 0
        while True:
            reply = self.get_record(session_id)
            replies.append(reply)
            if reply.ok:
                break
            if tries >= len(pauses) or not self.try_later(reply) or self._closing.is_set():
                return Fetched(replies, None)
            self._closing.wait(pauses[tries])
            tries += 1
        assert reply.value is not None
        link = self.download(reply.value)
        replies.append(link)
        return Fetched(replies, link.content if link.ok else None)

    def request(self, api_method: str, doc: dict[str, Any]) -> Reply:
        """Send ``doc`` to ``{api}/{api_method}``: every step of the request in turn."""
        method = self.http_method(api_method)
        url = httpx.URL(self.url(api_method))
        body = b""
        if method == "GET":
            url = url.copy_with(query=self.query(doc).encode("ascii"))
        else:
            body = self.encode(doc)
        signature = self.sign(self.signed_data(method, url, body))
        sent = self.send(method, url, body, self.headers(signature, body))
        return self.read_answer(api_method, sent)

    # -- the steps: what is sent ------------------------------------------------
    def call_back_document(
        self,
        request_number: str,
        *,
        from_pin: str | None = None,
        from_sipuri: str | None = None,
    ) -> dict[str, Any]:
        """Table А.3: ``request_number`` (E.164) and the user, by SIP-URI or PIN."""
        if (from_pin is None) == (from_sipuri is None):
            raise ValueError("call_back names its user by from_pin or by from_sipuri")
        doc: dict[str, Any] = {"request_number": request_number}
        if from_sipuri is not None:
            doc["from_sipuri"] = from_sipuri
        else:
            doc["from_pin"] = str(from_pin)
        return doc

    def get_record_document(self, session_id: str) -> dict[str, Any]:
        """Table А.4: the call's ``session_id``, a string as it was given (E7)."""
        return {"session_id": session_id}

    def http_method(self, api_method: str) -> str:
        """POST for both methods (1.4.1; the example of А.4, E5)."""
        return "POST"

    def url(self, api_method: str) -> str:
        """The API address with the method appended (1.3)."""
        return f"{self.api_url}/{api_method}"

    def encode(self, doc: dict[str, Any]) -> bytes:
        """The body: JSON in UTF-8, Cyrillic as itself."""
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")

    def query(self, doc: dict[str, Any]) -> str:
        """The parameters of a GET (only if ``http_method`` says GET)."""
        return urlencode({name: str(value) for name, value in doc.items()})

    def signed_data(self, method: str, url: httpx.URL, body: bytes) -> bytes:
        """What the signature covers: the body as sent, or a GET's raw query string (D21)."""
        return signing.signed_data(method, str(url), body)

    def sign(self, data: bytes) -> str:
        """``sha256hex(client id + data + key)``, lowercase (1.4.1)."""
        return signing.sign(self.client_id, data, self._key)

    def headers(self, signature: str, body: bytes) -> dict[str, str]:
        """X-Client-ID, X-Client-Sign and, with a body, its type (1.4.1)."""
        headers = {signing.CLIENT_ID_HEADER: self.client_id, signing.SIGN_HEADER: signature}
        if body:
            headers["Content-Type"] = "application/json"
        return headers

    def send(
        self,
        method: str,
        url: httpx.URL,
        body: bytes,
        headers: dict[str, str],
        *,
        follow_redirects: bool = False,
    ) -> Sent:
        """One request, within ``timeout``; never raises. The reference never follows
        a redirect (``follow_redirects`` is for the self-tests' broken clients)."""
        try:
            with (
                httpx.Client(
                    timeout=self.timeout,
                    follow_redirects=follow_redirects,
                    trust_env=False,
                    headers={"User-Agent": f"{PROG}/{__version__}"},
                ) as http,
                http.stream(method, url, content=body or None, headers=headers) as response,
            ):
                content = bytearray()
                for chunk in response.iter_bytes():
                    content += chunk
                    if len(content) > MAX_CONTENT:
                        return Sent(method, str(url), None, error="the answer is too large")
                return Sent(
                    method,
                    str(url),
                    response.status_code,
                    response.headers.get("Content-Type", ""),
                    bytes(content),
                )
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            return Sent(method, str(url), None, error=reason)

    # -- the steps: what came back ---------------------------------------------
    def read_answer(self, api_method: str, sent: Sent) -> Reply:
        """The answer under every reading the guide allows (the module docstring)."""
        key = "session_id" if api_method == "call_back" else "url"
        if sent.status is None:
            return self._tell(Reply(sent.method, sent.url, None, False, message=str(sent.error)))
        doc = _json_object(sent.content)
        result = doc.get("result") if doc else None
        message = str(doc.get("resultMessage") or "") if doc else ""
        value = _text(doc.get(key)) if doc else None
        code = result_code(result)
        ok = False
        if not 200 <= sent.status < 300:
            message = message or f"HTTP {sent.status}"
        elif doc is None:
            message = "the answer is no JSON object"
        elif api_method == "get_record" and not value:
            message = message or "no url in the answer"
        elif code == 0 or (code == 1 and value) or ("result" not in doc and value):
            ok = True
        else:
            message = message or "result is no success"
        return self._tell(
            Reply(sent.method, sent.url, sent.status, ok, result, value if ok else None, message)
        )

    def try_later(self, reply: Reply) -> bool:
        """Whether a refusal says to ask again later (and only then)."""
        if reply.ok or reply.status is None:
            return False
        return reply.status in LATER_STATUSES or reply.code in LATER_RESULTS

    def retry_pauses(self) -> tuple[float, ...]:
        """The pauses before each further try: two more, 2 s apart."""
        return RETRY_PAUSES

    # -- the link ----------------------------------------------------------------
    def download(self, url: str) -> Reply:
        """GET the link once, with no signed headers, never following a redirect."""
        try:
            target = httpx.URL(self.api_url).join(url)  # a relative link is the API's
        except httpx.InvalidURL as exc:
            return self._tell(Reply("GET", url, None, False, message=f"a bad link: {exc}"))
        return self.read_download(self.send("GET", target, b"", {}))

    def read_download(self, sent: Sent) -> Reply:
        """A recording: a 2xx that is no JSON answer (an error must not be saved as audio)."""
        if sent.status is None:
            return self._tell(Reply(sent.method, sent.url, None, False, message=str(sent.error)))
        doc = _json_object(sent.content)
        result = doc.get("result") if doc else None
        if 200 <= sent.status < 300 and sent.content and doc is None:
            message = f"{len(sent.content)} bytes, {sent.content_type or 'no type'}"
            return self._tell(
                Reply(
                    sent.method, sent.url, sent.status, True, message=message, content=sent.content
                )
            )
        if 300 <= sent.status < 400:
            message = "a redirect, not followed"
        else:
            message = str(doc.get("resultMessage") or "") if doc else ""
            message = message or f"HTTP {sent.status}, no recording"
        return self._tell(Reply(sent.method, sent.url, sent.status, False, result, message=message))

    def _tell(self, reply: Reply) -> Reply:
        if self.on_reply is not None:
            self.on_reply(reply)
        return reply


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def _text(value: Any) -> str | None:
    """A session id or link as text: a non-empty string, or a number's digits."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value.strip() else None


REQUIRED = ("VATS_API_URL", "VATS_CLIENT_ID", "VATS_CLIENT_KEY")


def _env(name: str, default: str | None = None) -> str | None:
    """A variable's value; an empty one is not given."""
    value = os.environ.get(name, "").strip()
    return value or default


def main(
    argv: Sequence[str] | None = None,
    *,
    client_class: type[CrmClient] = CrmClient,
    prog: str = PROG,
) -> int:
    """Console entry point: ``vats-reference-crm-client`` /
    ``python -m conformance.reference.crm_client``.

    Places one ``call_back`` and, given ``VATS_RECORDED_SESSION_ID``, fetches that
    call's recording; one line per request. Exit 0; 1 if the PBX could not be
    reached; 2 for a missing or bad variable.
    """
    from conformance.reference import cli

    parser = cli.Parser(
        prog=prog,
        description="The reference CRM's requests to a VATS PBX API: one call_back and, "
        "given a session id, the download of that call's recording. Configured by the "
        "environment: VATS_API_URL, VATS_CLIENT_ID, VATS_CLIENT_KEY (required), "
        f"VATS_FROM_PIN (default {DEFAULT_FROM_PIN}), VATS_CALL_TO (default "
        f"{DEFAULT_CALL_TO}), VATS_RECORDED_SESSION_ID (optional).",
    )
    parser.parse_args(argv)
    missing = [name for name in REQUIRED if _env(name) is None]
    if missing:
        print(f"{prog}: error: {', '.join(missing)} not set (see --help)", file=sys.stderr)
        return 2
    api_url = _env("VATS_API_URL") or ""
    if urlsplit(api_url).scheme not in ("http", "https") or not urlsplit(api_url).netloc:
        print(f"{prog}: error: VATS_API_URL is no http(s) URL: {api_url!r}", file=sys.stderr)
        return 2
    client = client_class(api_url, _env("VATS_CLIENT_ID") or "", _env("VATS_CLIENT_KEY") or "")
    unreached: list[Reply] = []

    def show(reply: Reply) -> None:
        print(f"{prog}: {reply.line()}", flush=True)
        if reply.status is None:
            unreached.append(reply)

    client.on_reply = show
    client.place_call_back(
        _env("VATS_CALL_TO", DEFAULT_CALL_TO) or DEFAULT_CALL_TO,
        from_pin=_env("VATS_FROM_PIN", DEFAULT_FROM_PIN),
    )
    session_id = _env("VATS_RECORDED_SESSION_ID")
    if session_id and not unreached:
        client.fetch_recording(session_id)
    return 1 if unreached else 0


if __name__ == "__main__":
    sys.exit(main())
