"""What a case holds in its hands: the target, bound to the case's wire log.

Over 400 lines because both directions' drivers stand on one base (``Signed``:
signing, sending, the mutation table's faults and the facts each request
records when it is sent); split apart, each side would restate it.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from hypothesis import strategies as st

from conformance.grading import answers
from conformance.grading.explore import WORKERS, explore
from conformance.settings import Settings
from conformance.spec import signing
from conformance.spec.jsontext import STYLES, TextStyle, render
from conformance.spec.mutations import Faulted, Request
from conformance.transport.client import Client, Exchange, Headers, first_header

if TYPE_CHECKING:
    from conformance.sut.calls import Lines
    from conformance.transport.budget import Unanswered

T = TypeVar("T")
MAX_REDIRECTS = 3

#: What a ``new`` notification of a call carries (А.2), copied by ``announce``.
_NEW_FIELDS = ("type", "session_id", "timestamp", "from_number", "request_number")

#: Tags every session id the suite makes up in this run, so that two runs
#: against a CRM that remembers calls never collide (recorded in results.json).
RUN_TAG = secrets.token_hex(3)
_SERIAL = itertools.count(1)


def unique_session(base: str) -> str:
    """``base`` made unique in this run: ``<base>-<run tag>-<serial>``."""
    return f"{base}-{RUN_TAG}-{next(_SERIAL)}"


def share_tag(tag: str, worker: int, workers: int) -> None:
    """One run in several processes (pytest-xdist, xdist.py): each tags with the run's
    ``tag``, and process ``worker`` of ``workers`` numbers ``worker + 1``, then every
    ``workers``-th serial, so that no two make up the same session id."""
    global RUN_TAG, _SERIAL  # noqa: PLW0603 - set once, before any case runs
    RUN_TAG = tag
    _SERIAL = itertools.count(worker + 1, workers)


def fresh(value: T) -> T:
    """A copy of ``value`` whose session ids are unique in this run.

    Every distinct ``session_id`` string inside ``value`` (a notification, a call,
    several calls) maps to one new id, so the notifications of one call still
    share theirs. Cases that judge different things reuse drawn examples; a CRM
    that refuses a repeated session/state (a defensible reading, E12) must not be
    failed for the suite's reuse.
    """
    mapping: dict[str, str] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            sid = out.get("session_id")
            if isinstance(sid, str):
                out["session_id"] = mapping.setdefault(sid, unique_session(sid))
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, tuple):
            return tuple(walk(v) for v in node)
        return node

    result: T = walk(value)
    return result


@dataclass(frozen=True)
class Target:
    """A system under test: where it is and the credentials it expects."""

    url: str
    client_id: str
    client_key: str = field(repr=False)
    embedded: bool = False


class Signed:
    """What both directions share: a target, its credentials, signing (1.4.1, 1.4.2).

    Every request goes through ``send`` and lands in the case's wire log.
    """

    #: What a generated example becomes before it is sent (``explore``).
    prepare: Callable[[Any], Any] | None = None

    def __init__(
        self,
        client: Client,
        target: Target,
        settings: Settings,
        log: list[Exchange],
        notes: list[str],
    ) -> None:
        self.client = client
        self.target = target
        self.settings = settings
        self.log = log
        self.notes = notes

    def note(self, text: str) -> None:
        """Something worth reading in the case's detail even when it passes."""
        self.notes.append(text)

    @staticmethod
    def body(doc: Any, style: TextStyle | str = "raw-utf8") -> bytes:
        return render(doc, STYLES[style] if isinstance(style, str) else style)

    def sign(self, body: bytes, *, client_id: str | None = None, key: str | None = None) -> str:
        """The signature of ``body``: a ``signing.Signature`` (it knows it is correct and
        what it covers) when made with the target's own client id and key."""
        cid, secret = client_id or self.target.client_id, key or self.target.client_key
        value = signing.sign(cid, body, secret)
        if (cid, secret) == (self.target.client_id, self.target.client_key):
            return signing.Signature(value, covers=body)
        return value

    def headers(
        self,
        body: bytes,
        *,
        client_id: str | None = None,
        sign: str | None = None,
        content_type: str | None = "application/json",
    ) -> Headers:
        """The headers of section 1.4.1, correctly signed unless ``sign`` is given."""
        cid = self.target.client_id if client_id is None else client_id
        headers: Headers = [("Content-Type", content_type)] if content_type else []
        return [
            *headers,
            (signing.CLIENT_ID_HEADER, cid),
            (signing.SIGN_HEADER, self.sign(body, client_id=cid) if sign is None else sign),
        ]

    def explore(
        self,
        strategy: st.SearchStrategy[T],
        check: Callable[[T], None],
        *,
        share: str | None = None,
        per: int = 1,
        sequential: bool = False,
    ) -> None:
        """Run ``check`` on generated values: ``--examples`` of them, or one in ``per``.

        ``per`` scales down cases whose every example is a whole call (several
        requests); ``share`` names a drawn list other cases reuse (grading/explore.py);
        ``sequential`` sends one example at a time (each rings the same phones).
        Each example goes through ``prepare`` before it is sent.
        """
        explore(
            strategy,
            check,
            seed_value=self.settings.seed,
            examples=max(1, self.settings.examples // per),
            share=share,
            prepare=self.prepare,
            workers=1 if sequential else WORKERS,
        )

    def send(
        self,
        method: str,
        url: str,
        body: bytes,
        headers: Headers,
        *,
        expect: str | None = None,
        mutation: str | None = None,
        signed_correctly: bool | None = None,
        whole: bool = True,
    ) -> Exchange:
        """Send one request and record it in the case's wire log (``whole``: Client.send).

        ``expect`` says what the case means it to get (``"accept"`` or
        ``"refuse"``): the diagnoses read it, the grading never does. ``mutation``
        names the fault the case applied (spec/mutations.py's name for it). The
        request is correctly signed when its ``X-Client-Sign`` is a signature this
        driver made (``sign``) over the data it carries, unless ``signed_correctly``
        says (a row of the mutation table knows).
        """
        if signed_correctly is None:
            made = first_header(headers, signing.SIGN_HEADER)
            signed_correctly = isinstance(made, signing.Signature) and made.covers == (
                signing.signed_data(method, url, body)
            )
        ex = self.client.send(
            method,
            url,
            body,
            headers,
            expect=expect,
            signed_correctly=signed_correctly,
            mutation=mutation,
            whole=whole,
        )
        self.log.append(ex)
        return ex

    def faulted(self, method: str, url: str, faulted: Faulted) -> Exchange:
        """A request of the mutation table (spec/mutations.py), headers as it says."""
        headers: Headers = [("Content-Type", "application/json")] if faulted.body else []
        if faulted.client_id is not None:
            headers.append((signing.CLIENT_ID_HEADER, faulted.client_id))
        if faulted.sign is not None:
            headers.append((signing.SIGN_HEADER, faulted.sign))
        return self.send(
            method,
            url,
            faulted.body,
            headers,
            expect="refuse",
            mutation=faulted.mutation,
            signed_correctly=faulted.signed_correctly,
        )


class CrmWebhook(Signed):
    """The suite as a PBX: POSTs ``call_events`` to ``{crm-url}/call_events`` (section 1.3).

    Each generated example gets session ids unique in the run (``fresh``).
    ``spelling`` and ``adapt`` are the run's controls (sut/controls.py): the
    JSON spelling the CRM takes, and its readings of the guide's shapes.
    """

    prepare = staticmethod(fresh)
    spelling: str = "raw-utf8"
    _adapt: Callable[[Any], Any] | None = None
    _on_crash: Callable[[CrmWebhook, Exchange], None] | None = None
    #: The run's record of what this CRM lets time out, by notification state (D57);
    #: ``_before`` may stop a case's request that would only wait again (sut/controls.py).
    unanswered: Unanswered | None = None
    _before: Callable[[str], None] | None = None

    def use(
        self,
        spelling: str,
        adapt: Callable[[Any], Any],
        on_crash: Callable[[CrmWebhook, Exchange], None] | None = None,
    ) -> CrmWebhook:
        """Send in ``spelling``, write announced notifications through ``adapt``, and
        hand every 5xx or missing answer to ``on_crash`` (the run's liveness watch,
        which may skip the case: sut/controls.py)."""
        self.spelling = spelling
        self._adapt = adapt
        self._on_crash = on_crash
        return self

    def adapt(self, doc: Any) -> Any:
        """``doc`` in the run's readings (grading/readings.py); unchanged without controls."""
        return doc if self._adapt is None else self._adapt(doc)

    @property
    def url(self) -> str:
        return f"{self.target.url}/call_events"

    def watch(
        self, unanswered: Unanswered | None, before: Callable[[str], None] | None = None
    ) -> CrmWebhook:
        """Record in ``unanswered`` how each correctly signed notification of a state was
        answered; ``before(state)`` runs first and may stop it (raise)."""
        self.unanswered = unanswered
        self._before = before
        return self

    def post(
        self,
        body: bytes,
        headers: Headers,
        *,
        method: str = "POST",
        expect: str | None = None,
        mutation: str | None = None,
        kind: str | None = None,
    ) -> Exchange:
        """``kind``: the state of a correctly signed notification (``watch``)."""
        if kind is not None and self._before is not None:
            self._before(kind)
        ex = self.send(method, self.url, body, headers, expect=expect, mutation=mutation)
        if kind is not None and self.unanswered is not None:
            self.unanswered.record(kind, ex)
        if ex.crashed and self._on_crash is not None:
            self._on_crash(self, ex)
        return ex

    def notify(
        self,
        doc: Any,
        style: TextStyle | str | None = None,
        *,
        announce: bool = True,
        expect: str | None = "accept",
    ) -> Exchange:
        """One correctly signed notification (in the run's spelling unless ``style``
        says), after ``announce(doc)`` unless told not to. ``expect``: a probe whose
        answer the suite only reads (an oracle's question) claims nothing (None)."""
        if announce:
            self.announce(doc)
        body = self.body(doc, self.spelling if style is None else style)
        return self.post(body, self.headers(body), expect=expect, kind=_state(doc))

    def announce(self, doc: Any) -> None:
        """Send the ``new`` of ``doc``'s call first, when ``doc`` is a later state.

        A lone ``connected`` or ``disconnected`` is, to the CRM, a late
        notification of a call it never saw; refusing that is only non-strict
        (DECISIONS D14). Cases about content must not fail such a CRM, so they
        send the call's ``new`` first; it is judged only for a server error.
        """
        if not isinstance(doc, dict) or doc.get("state") == "new" or "session_id" not in doc:
            return
        new = {k: doc[k] for k in _NEW_FIELDS if k in doc}
        new["state"] = "new"
        if isinstance(doc.get("timestamp"), str) and doc["timestamp"].isdigit():
            new["timestamp"] = str(max(0, int(doc["timestamp"]) - 1))
        if "from_pin" in doc and doc.get("type") in ("outbound", "internal"):
            new["from_pin"] = doc["from_pin"]
        body = self.body(self.adapt(new), self.spelling)
        ex = self.post(body, self.headers(body), expect="accept", kind="new")
        if ex.status is not None and ex.status >= 500:
            from conformance.grading import checks

            checks.not_a_server_error(ex)

    def raw(self, body: bytes, *, expect: str | None = None) -> Exchange:
        """Arbitrary bytes, correctly signed: what is judged is the content."""
        return self.post(body, self.headers(body), expect=expect, kind=_state(_parsed(body)))


def _parsed(body: bytes) -> Any:
    """``body`` as JSON, or None when it is not."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _state(doc: Any) -> str | None:
    """The state a notification says it is of, when it says one."""
    state = doc.get("state") if isinstance(doc, dict) else None
    return state if isinstance(state, str) else None


class PbxApi(Signed):
    """The suite as a CRM: calls ``{pbx-url}/call_back`` and ``{pbx-url}/get_record`` (А.3, А.4)."""

    #: How ``get_record`` may travel (E5): POST with a JSON body (1.4.1 and the
    #: example), GET with ``?session_id=`` (the table), GET with the example's JSON body.
    TRANSPORTS = ("post", "get", "get-json")
    #: The calls placed and not yet ended (sut/calls.py), when the run has a listener.
    lines: Lines | None = None

    def send(self, method: str, url: str, body: bytes, headers: Headers, **facts: Any) -> Exchange:
        """A ``call_back`` waits until the calls placed before have ended (``Lines``)."""
        calling = urlsplit(url).path.endswith("/call_back")
        if calling and self.lines is not None:
            self.lines.wait_free()
        ex = super().send(method, url, body, headers, **facts)
        if calling and self.lines is not None and (sid := answers.session_of(ex)):
            self.lines.placed(sid)
        return ex

    def url(self, method: str) -> str:
        return f"{self.target.url}/{method}"

    def request(
        self,
        method: str,
        doc: Any,
        style: TextStyle | str = "raw-utf8",
        *,
        expect: str | None = None,
        **headers: Any,
    ) -> Exchange:
        """``doc`` as JSON (or raw bytes), signed unless ``headers`` say otherwise."""
        body = doc if isinstance(doc, bytes) else self.body(doc, style)
        return self.send(
            "POST", self.url(method), body, self.headers(body, **headers), expect=expect
        )

    def call_back(self, doc: Any, style: TextStyle | str = "raw-utf8") -> Exchange:
        return self.request("call_back", doc, style, expect="accept")

    def get_record(
        self,
        session_id: Any,
        *,
        transport: str = "post",
        sign: str | None = None,
        expect: str | None = None,
    ) -> Exchange:
        """``get_record`` by POST with a JSON body, by GET with ``?session_id=``, or by
        GET with the example's JSON body (E5).

        A GET without a body signs the raw query string as sent -- the request's
        only data (docs/DECISIONS.md D21); one with a body signs the body (1.4.1).
        """
        verb, url, data, body = self.get_record_parts(session_id, transport)
        headers = self.headers(data, content_type="application/json" if body else None, sign=sign)
        return self.send(verb, url, body, headers, expect=expect)

    def get_record_parts(self, session_id: Any, transport: str) -> tuple[str, str, bytes, bytes]:
        """HTTP method, URL, the signed data and the body of a ``get_record`` (E5, D21)."""
        if transport == "get":
            query = urlencode({"session_id": session_id})
            return "GET", f"{self.url('get_record')}?{query}", query.encode("ascii"), b""
        body = self.body({"session_id": session_id})
        return ("POST" if transport == "post" else "GET"), self.url("get_record"), body, body

    def signed(self, data: bytes, body: bytes, respelled: bytes | None) -> Request:
        """A correctly signed request as the mutation table takes it (spec/mutations.py)."""
        t = self.target
        return Request(t.client_id, t.client_key, data, body, None, respelled)

    def download(self, url: str) -> Exchange:
        """Fetch a recording link as a browser would: a plain GET, no credentials.

        Redirects (to a storage, say) are followed, at most ``MAX_REDIRECTS``;
        every hop is in the wire log and the last answer is returned. A recording may
        be longer than the client reads: its first ``MAX_BODY`` bytes are the answer.
        """
        ex = self.send("GET", url, b"", [], whole=False)
        for _ in range(MAX_REDIRECTS):
            location = next((v for k, v in ex.response_headers if k.lower() == "location"), None)
            if ex.status not in (301, 302, 303, 307, 308) or not location:
                break
            ex = self.send("GET", urljoin(ex.url, location), b"", [], whole=False)
        return ex

    def call(self, *, via: str | None = None, **changes: Any) -> dict[str, Any]:
        """A valid ``call_back`` request for the configured parties (skips when they are unknown).

        Placing a call rings real phones, so against a PBX other than the embedded
        one the suite needs to be told whom to ring (``--from-pin``/``--from-sipuri``,
        ``--call-to``).
        """
        s = self.settings
        if via is None:  # whichever user the run was given, the PIN first
            via = "pin" if s.from_pin is not None else "sipuri"
        source = s.from_pin if via == "pin" else s.from_sipuri
        if s.call_to is None or source is None:
            option = "--from-pin" if via == "pin" else "--from-sipuri"
            pytest.skip(f"placing a call rings real phones: give {option} and --call-to (D25)")
        doc: dict[str, Any] = {"request_number": s.call_to}
        doc["from_pin" if via == "pin" else "from_sipuri"] = source
        for key, val in changes.items():
            if val is None:
                doc.pop(key, None)
            else:
                doc[key] = val
        return doc
