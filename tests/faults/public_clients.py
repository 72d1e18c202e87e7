# Over 400 lines: three models, each what one public client sends and how it reads the answers.
"""Models of three public CRM clients of the VATS Integration API: each sends what that
client sends, byte for byte where it matters, and reads the answers the way it does.

Written here from the behaviour docs/PBX_EMULATOR.md describes ("Three public
clients") and their public sources show; none of their code is copied:

* ``SaasBW`` -- LLCIBS/saasBW, ``call_analyzer/rostelecom_connector.py``: a
  connection test and the recordings of finished calls (``get_record`` only).
* ``Salesplatform`` -- salesplatform/salesplatform-vtigercrm,
  ``modules/SPVoipIntegration/api/RostelecomClient.php`` and its notification
  classes: click-to-call, and the recording fetched while it handles
  ``disconnected``.
* ``Dentaflow`` -- andrrrrey/dentaflow, ``backend/app/services/rostelecom.py``
  (``RostelecomService``): click-to-call, a recording's link and its download.

They are the question of issue 10's "Done when": would these clients work against
the emulator set to answer as production (tests/test_public_clients.py)? Every
request has a bounded timeout (the clients' own are 15 to 120 s; a model that waited
that long would only slow a failing test).

Each runs as the CRM's command of the suite's crm-client role (one call_back unless
the client has none, then the recording of ``VATS_RECORDED_SESSION_ID``)::

    python -m tests.faults.public_clients NAME

and ``receiver(NAME, ...)`` is the CRM a round trip notifies, for the two whose
recordings follow a notification: the reference receiver, with salesplatform's own
handling of each notification, or with dentaflow's fetch as its client.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from conformance.reference.crm import Answer, ReferenceCrm
from conformance.reference.crm_client import CrmClient, Fetched

#: Seconds any one request may take.
TIMEOUT = 5.0
#: The user the clients name by SIP-URI: the guide's 1.4.2 example, user 101 of the
#: emulator and of the suite's PBX.
USER_SIPURI = "test_user@cloudpbx.rt.ru"
#: saasBW's connection test asks for this session: no call has it.
ZERO_SESSION = "00000000-0000-0000-0000-000000000000"
DEFAULT_CALL_TO = "+74951234567"


def sign(client_id: str, body: bytes, key: str) -> str:
    """``sha256hex(id + body + key)``, as all three compute it (not the suite's code)."""
    return hashlib.sha256(client_id.encode() + body + key.encode()).hexdigest()


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(content)
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


class Model:
    """What the three share: where they send, as whom, and what they did (``said``)."""

    name = ""

    def __init__(self, api_url: str, client_id: str, client_key: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self._key = client_key
        #: One line per step, in order (the command prints them).
        self.said: list[str] = []
        self.tell: Callable[[str], None] | None = None

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}({self.api_url!r}, {self.client_id!r})"

    def say(self, line: str) -> None:
        self.said.append(line)
        if self.tell is not None:
            self.tell(line)

    def signature(self, body: bytes) -> str:
        return sign(self.client_id, body, self._key)


# -- saasBW ------------------------------------------------------------------------


class SaasBW(Model):
    """saasBW's connector: ``get_record`` only, compact JSON labelled
    ``application/json; charset=utf-8``, signed over the bytes sent.

    * Connection test: ``get_record`` for ``ZERO_SESSION``. Status 200 is "connected"
      whatever ``result`` says (its docstring: production answers an unknown session
      with 200 and ``result`` != 0); a status of 400 or more is a failure, and so is
      no answer or a body that is no JSON object; any other status is "connected".
    * ``get_record``: a link when ``str(result) == "0"`` and ``url`` is set.
    * The download: a plain GET (the requests library: redirects followed), a
      status of 400 or more is a failure (``raise_for_status``), and so is an empty
      file.
    """

    name = "saasbw"

    def _post(self, method: str, doc: dict[str, Any]) -> httpx.Response:
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Client-ID": self.client_id,
            "X-Client-Sign": self.signature(body),
        }
        with httpx.Client(timeout=TIMEOUT, trust_env=False) as http:
            return http.post(urljoin(self.api_url + "/", method), content=body, headers=headers)

    def test_connection(self) -> bool:
        """Whether saasBW would tell its user "connected"."""
        try:
            answer = self._post("get_record", {"session_id": ZERO_SESSION})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self.say(f"connection test: failed, no answer ({type(exc).__name__})")
            return False
        doc = _json_object(answer.content) if answer.content else {}
        if doc is None:
            self.say(f"connection test: failed, HTTP {answer.status_code} is no JSON object")
            return False
        ok = answer.status_code < 400  # 200 with any result, and any other status below 400
        verdict = "connected" if ok else "failed"
        self.say(f"connection test: {verdict} (HTTP {answer.status_code}, {doc.get('result')!r})")
        return ok

    def get_record(self, session_id: str) -> str | None:
        """The link, or None."""
        try:
            answer = self._post("get_record", {"session_id": session_id})
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self.say(f"get_record: no answer ({type(exc).__name__})")
            return None
        doc = (_json_object(answer.content) if answer.content else {}) or {}
        url = doc.get("url")
        if str(doc.get("result", "")) == "0" and url:
            self.say(f"get_record: a link (HTTP {answer.status_code})")
            return str(url)
        self.say(f"get_record: no link (HTTP {answer.status_code}, {doc.get('result')!r})")
        return None

    def download(self, url: str) -> bytes | None:
        """The file, or None."""
        try:
            with httpx.Client(timeout=TIMEOUT, trust_env=False, follow_redirects=True) as http:
                got = http.get(url)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self.say(f"download: failed ({type(exc).__name__})")
            return None
        if got.status_code >= 400 or not got.content:
            self.say(f"download: failed (HTTP {got.status_code}, {len(got.content)} bytes)")
            return None
        self.say(f"download: saved {len(got.content)} bytes")
        return got.content

    def recording(self, session_id: str) -> bytes | None:
        url = self.get_record(session_id)
        return None if url is None else self.download(url)


# -- salesplatform-vtigercrm ---------------------------------------------------------


def php_json_encode(doc: dict[str, Any]) -> bytes:
    """PHP's ``json_encode`` with no flags: compact, ASCII only, ``/`` escaped."""
    return json.dumps(doc, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def php_empty(value: Any) -> bool:
    """PHP's ``empty()`` for what ``json_decode`` gives."""
    return value in (None, False, 0, 0.0, "", "0") or value == [] or value == {}


class CallBackFailed(Exception):
    """salesplatform's ``makeCall`` threw: the user is told the call failed."""


class Salesplatform(Model):
    """salesplatform-vtigercrm's Rostelecom client (PHP, curl).

    * Every request is a POST (curl with ``CURLOPT_POST``) of PHP's compact JSON,
      labelled ``application/json`` and signed over those bytes; curl follows no
      redirect, and a status is never looked at.
    * ``call_back`` names the user by the configured SIP-URI (no scheme here, the
      guide's spelling); it succeeded only if ``resultMessage`` is exactly ``"ok"``.
    * ``get_record``: when the answer has a non-empty ``url``, that link is POSTed
      the same JSON body with the same signed headers, and whatever comes back is
      the recording.
    * Its notification handler (``notified``): a ``new`` of an incoming or outbound
      call makes a record of the call; a ``disconnected`` of a call with a record
      fetches the recording at once, before the notification is answered, whatever
      ``is_record`` says; a non-empty answer is stored as the file.
    """

    name = "salesplatform"

    def __init__(
        self, api_url: str, client_id: str, client_key: str, *, sip_uri: str = USER_SIPURI
    ) -> None:
        super().__init__(api_url, client_id, client_key)
        self.sip_uri = sip_uri
        self._lock = threading.Condition()
        self._known: set[str] = set()
        #: session id -> what was stored as its recording.
        self.stored: dict[str, bytes] = {}

    def _send(self, url: str, body: bytes) -> httpx.Response:
        headers = {
            "Content-Type": "application/json",
            "X-Client-ID": self.client_id,
            "X-Client-Sign": self.signature(body),
        }
        with httpx.Client(timeout=TIMEOUT, trust_env=False) as http:
            return http.post(url, content=body, headers=headers)

    def make_call(self, to_number: str) -> None:
        """``call_back``; ``CallBackFailed`` unless the answer's message is ``"ok"``."""
        body = php_json_encode({"request_number": to_number, "from_sipuri": self.sip_uri})
        try:
            answer = self._send(f"{self.api_url}/call_back", body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self.say(f"call_back: failed, no answer ({type(exc).__name__})")
            raise CallBackFailed(str(exc)) from exc
        doc = _json_object(answer.content) or {}
        message = doc.get("resultMessage")
        if message != "ok":
            self.say(f"call_back: failed (HTTP {answer.status_code}, resultMessage {message!r})")
            raise CallBackFailed(f"Unsuccessful operation. Error: {message}")
        self.say(f"call_back: placed (HTTP {answer.status_code})")

    def get_record(self, session_id: str) -> bytes | None:
        """What it would store as the recording (None: no link was given)."""
        body = php_json_encode({"session_id": session_id})
        try:
            answer = self._send(f"{self.api_url}/get_record", body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self.say(f"get_record: no answer ({type(exc).__name__})")
            return None
        doc = _json_object(answer.content) or {}
        url = doc.get("url")
        if php_empty(url):
            self.say(f"get_record: no link (HTTP {answer.status_code}, {doc.get('result')!r})")
            return None
        self.say(f"get_record: a link (HTTP {answer.status_code})")
        try:
            got = self._send(str(url), body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self.say(f"link: no answer ({type(exc).__name__})")
            return None
        kind = "a WAV file" if got.content.startswith(b"RIFF") else "no WAV file"
        self.say(f"link: POST -> HTTP {got.status_code}, {len(got.content)} bytes ({kind})")
        return got.content

    def notified(self, doc: dict[str, Any]) -> None:
        """Its handling of one notification (the caller answers it afterwards)."""
        session_id = str(doc.get("session_id") or "")
        state = doc.get("state")
        if state == "new" and doc.get("type") in ("incoming", "outbound"):
            with self._lock:
                self._known.add(session_id)
            return
        if state != "disconnected":
            return
        with self._lock:
            if session_id not in self._known:
                return
        audio = self.get_record(session_id)
        if audio:  # file_put_contents of nothing writes 0 bytes: not recorded as stored
            with self._lock:
                self.stored[session_id] = audio
                self._lock.notify_all()

    def wait_stored(self, timeout: float) -> dict[str, bytes]:
        """What it stored, once something is (at most ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self.stored and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            return dict(self.stored)


class SalesplatformReceiver(ReferenceCrm):
    """The reference receiver, which also hands each notification it accepts to
    salesplatform's handler, synchronously, before it answers."""

    def __init__(self, model: Salesplatform, client_id: str, client_key: str) -> None:
        super().__init__(client_id, client_key, oracle=True)
        self.model = model

    def record(self, doc: dict[str, Any]) -> Answer:
        answer = super().record(doc)
        try:
            self.model.notified(doc)
        except Exception as exc:  # noqa: BLE001 - the PHP handler's error is its own, logged
            self.model.say(f"notification handler: {type(exc).__name__}: {exc}")
        return answer


# -- dentaflow --------------------------------------------------------------------


class Dentaflow(Model):
    """dentaflow's ``RostelecomService``.

    * Every request: POST ``{api}/{method}`` of compact JSON (UTF-8, Cyrillic as
      itself), ``Content-Type: application/json``, signed over those bytes.
    * ``call_back`` names the user by ``from_sipuri`` with the ``sip:`` scheme; its
      answer is handed to the caller as it came (``{"result": status}`` when it is
      no JSON); the model counts ``str(result) == "0"`` as placed, the reading it
      applies to every other answer.
    * ``get_record``: the link when ``str(result) == "0"`` (no answer or no JSON:
      no link).
    * The download: GET, redirects followed; a recording only with status 200 and
      more than 1000 bytes.
    """

    name = "dentaflow"

    def _post(self, method: str, payload: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Client-ID": self.client_id,
            "X-Client-Sign": self.signature(raw),
        }
        with httpx.Client(timeout=TIMEOUT, trust_env=False) as http:
            return http.post(f"{self.api_url}/{method}", content=raw, headers=headers)

    def make_call(self, from_sipuri: str, to_number: str) -> dict[str, Any]:
        answer = self._post("call_back", {"request_number": to_number, "from_sipuri": from_sipuri})
        doc = _json_object(answer.content)
        return doc if doc is not None else {"result": str(answer.status_code)}

    def call_back(self, to_number: str) -> str | None:
        """Place a call as its user ``sip:USER_SIPURI``; the session id, or None."""
        try:
            doc = self.make_call(f"sip:{USER_SIPURI}", to_number)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self.say(f"call_back: failed, no answer ({type(exc).__name__})")
            return None
        if str(doc.get("result")) != "0":
            self.say(f"call_back: failed (result {doc.get('result')!r})")
            return None
        self.say(f"call_back: placed (result {doc.get('result')!r})")
        return str(doc.get("session_id") or "") or None

    def get_recording(self, session_id: str) -> str:
        """The link, or ``""``."""
        try:
            doc = _json_object(self._post("get_record", {"session_id": session_id}).content)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self.say(f"get_record: no answer ({type(exc).__name__})")
            return ""
        if doc is not None and str(doc.get("result")) == "0":
            self.say("get_record: a link")
            return str(doc.get("url") or "").strip()
        self.say(f"get_record: no link (result {(doc or {}).get('result')!r})")
        return ""

    def download_recording_bytes(self, url: str) -> bytes | None:
        if not url:
            return None
        try:
            with httpx.Client(timeout=TIMEOUT, trust_env=False, follow_redirects=True) as http:
                got = http.get(url)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            self.say(f"download: failed ({type(exc).__name__})")
            return None
        if got.status_code == 200 and len(got.content) > 1000:
            self.say(f"download: {len(got.content)} bytes")
            return got.content
        self.say(f"download: refused (HTTP {got.status_code}, {len(got.content)} bytes)")
        return None

    def recording(self, session_id: str) -> bytes | None:
        return self.download_recording_bytes(self.get_recording(session_id))


class DentaflowFetches(CrmClient):
    """A receiver's client that fetches each recording as dentaflow does (the
    reference receiver fetches when a call ends recorded; dentaflow itself when a
    user opens the call)."""

    def __init__(self, model: Dentaflow) -> None:
        super().__init__(model.api_url, model.client_id, "")
        self.model = model

    def fetch_recording(self, session_id: str) -> Fetched:
        return Fetched([], self.model.recording(session_id))


# -- as a CRM ------------------------------------------------------------------------

MODELS: dict[str, type[Model]] = {
    SaasBW.name: SaasBW,
    Salesplatform.name: Salesplatform,
    Dentaflow.name: Dentaflow,
}
#: The clients a round trip can notify (saasBW acts on a state "end" the guide has not).
RECEIVES = (Salesplatform.name, Dentaflow.name)


def receiver(name: str, api_url: str, client_id: str, client_key: str) -> ReferenceCrm:
    """The CRM a round trip notifies, its recordings fetched by the model ``name``."""
    if name == Salesplatform.name:
        return SalesplatformReceiver(
            Salesplatform(api_url, client_id, client_key), client_id, client_key
        )
    if name == Dentaflow.name:
        fetches = DentaflowFetches(Dentaflow(api_url, client_id, client_key))
        return ReferenceCrm(client_id, client_key, oracle=True, client=fetches)
    raise ValueError(f"{name!r} fetches no recording when notified; one of {RECEIVES}")


def command(model: Model, call_to: str, recorded: str | None) -> None:
    """What the CRM's command does: the model's call_back (saasBW: its connection test),
    then the recording of ``recorded``."""
    if isinstance(model, SaasBW):
        model.test_connection()
        if recorded:
            model.recording(recorded)
    elif isinstance(model, Salesplatform):
        with contextlib.suppress(CallBackFailed):  # said; its user sees the error
            model.make_call(call_to)
        if recorded:
            model.get_record(recorded)
    elif isinstance(model, Dentaflow):
        model.call_back(call_to)
        if recorded:
            model.recording(recorded)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.faults.public_clients NAME``, configured as the suite's crm-client
    role configures a command (``VATS_API_URL``, ``VATS_CLIENT_ID``, ``VATS_CLIENT_KEY``,
    ``VATS_CALL_TO``, ``VATS_RECORDED_SESSION_ID``). Exit 0; 2 for a usage error."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in MODELS:
        print(
            "usage: python -m tests.faults.public_clients NAME; NAME is one of: "
            + ", ".join(MODELS),
            file=sys.stderr,
        )
        return 2

    def env(name: str) -> str:
        return os.environ.get(name, "").strip()

    api_url, client_id, key = env("VATS_API_URL"), env("VATS_CLIENT_ID"), env("VATS_CLIENT_KEY")
    if not (client_id and key) or urlsplit(api_url).scheme not in ("http", "https"):
        print(
            "VATS_API_URL (http or https), VATS_CLIENT_ID and VATS_CLIENT_KEY must be set",
            file=sys.stderr,
        )
        return 2
    model = MODELS[args[0]](api_url, client_id, key)
    model.tell = lambda line: print(f"{args[0]}: {line}", flush=True)
    command(model, env("VATS_CALL_TO") or DEFAULT_CALL_TO, env("VATS_RECORDED_SESSION_ID") or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
