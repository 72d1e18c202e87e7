# Over 400 lines: a catalogue, one small class per fault, and the table that grades them.
"""Deliberately broken CRM receivers: each one fault that real integrations are known to have.

Every class overrides exactly one step of ``ReferenceCrm`` (``read_body``,
``identity_ok``, ``signature_ok``, ``parse``, ``validate``, ``record`` or
``handle``) and nothing else, so a case that grades it ``fail`` is proven to
catch that fault and only that fault.

``FAULTS`` maps a fault to the cases that must grade it ``fail`` (the run then
exits 1); ``OPTIONS`` holds the suite options a fault needs to show (a short
``--sut-timeout`` for the slow ones, ``--profile field`` where only that
profile makes the fault a failure). ``SOFT_FAULTS`` are faults the suite is
designed to grade softer than ``fail`` (non-strict or info): they are asserted
with that verdict, and the run exits 0.

Every receiver here keeps the reference's side-effect oracle, and the suite is
given it (``--crm-oracle``), except those in ``WITHOUT_ORACLE``: the faults the
wire alone must show. Every receiver is served on the references' stack (uvicorn),
except those in ``NAMES_AS_SENT`` (see there).

Each also runs as a command, the way a CRM under test is started in a CI job
(``vats-reference-crm`` with that receiver; tests/test_ci_recipes.py)::

    python -m tests.faults.crm NAME [vats-reference-crm's options]

As a command a fault is not quite what the self-tests serve: the suite's own options
for it (``OPTIONS``) are not given, those in ``NAMES_AS_SENT`` see header names in
lower case (uvicorn), and one that sleeps in its handler holds the server's loop
(the self-tests answer each request on a thread). Use the plain ones there.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from conformance.reference.crm import Answer, BadNotification, ReferenceCrm
from conformance.reference.crm import main as reference_main
from conformance.spec import signing
from tests.faults.different import LifecycleStrictCrm

if TYPE_CHECKING:
    from conformance.reference.web import Request

# -- signature (1.4.2) ---------------------------------------------------------


def _sign(client_id: str, body: bytes, key: str) -> str:
    return hashlib.sha256(client_id.encode() + body + key.encode()).hexdigest()


def _received(request: Request) -> str:
    return request.headers.get(signing.SIGN_HEADER) or ""


def _same(expected: str, received: str) -> bool:
    return hmac.compare_digest(expected.encode(), received.encode("utf-8", "replace"))


class NoSignatureCheck(ReferenceCrm):
    """Never checks X-Client-Sign at all."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        return True


class SignatureOnlyIfPresent(ReferenceCrm):
    """Checks the signature only when one is sent: a missing or empty one lets anything in."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        if not _received(request):
            return True
        return super().signature_ok(request, body)


class PrefixComparison(ReferenceCrm):
    """Compares with ``computed.startswith(received)``: a truncated (or empty) signature passes."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        return _sign(self.client_id, body, self._key).startswith(_received(request))


class ReadsFirstKilobytes(ReferenceCrm):
    """Reads one 4 KiB buffer of the body: a long notification never verifies."""

    def read_body(self, request: Request) -> bytes:
        return super().read_body(request)[:4096]


class ExtendedSignatureAccepted(ReferenceCrm):
    """Compares with ``received.startswith(computed)``: extra trailing digits pass."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        received = _received(request)
        return bool(received) and received.startswith(_sign(self.client_id, body, self._key))


class KeyBodyOrder(ReferenceCrm):
    """Verifies sha256(key + body): valid signatures are refused, that wrong order is accepted."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        return _same(hashlib.sha256(self._key.encode() + body).hexdigest(), _received(request))


class ReserialisedJson(ReferenceCrm):
    """Hashes ``json.dumps(json.loads(body))`` instead of the raw bytes that arrived."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        try:
            canonical = json.dumps(json.loads(body)).encode()
        except (ValueError, RecursionError):
            canonical = body
        return _same(_sign(self.client_id, canonical, self._key), _received(request))


class PhpReencoded(ReferenceCrm):
    """Hashes PHP's ``json_encode(json_decode($body))``: compact, \\uXXXX and \\/ escapes."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        try:
            text = json.dumps(json.loads(body), separators=(",", ":")).replace("/", "\\/")
        except (ValueError, RecursionError):
            text = body.decode("latin-1")
        return _same(_sign(self.client_id, text.encode("latin-1"), self._key), _received(request))


class Cp1251Hash(ReferenceCrm):
    """Hashes the body re-encoded as cp1251 (a Windows-1251 CRM's native text)."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        local = body.decode("utf-8", "replace").encode("cp1251", "replace")
        return _same(_sign(self.client_id, local, self._key), _received(request))


class LifecycleStrictWithoutSignatureCheck(LifecycleStrictCrm):
    """Checks no signature, but answers 409 to calls it never saw: a lone forgery is refused."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        return True


class RecordsBeforeVerifying(ReferenceCrm):
    """Records the notification, then checks the signature: forgeries get a 403, and are kept."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        try:
            doc = self.parse(body)
        except BadNotification:
            doc = None
        if isinstance(doc, dict) and not self.validate(doc):
            self.record(doc)
        return super().signature_ok(request, body)


class TrimmedBody(ReferenceCrm):
    """Hashes the body with surrounding whitespace stripped (``trim($body)``)."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        return signing.verify(self.client_id, body.strip(), self._key, _received(request))


# -- identity and headers (1.4.1) ----------------------------------------------


class ClaimedIdentity(ReferenceCrm):
    """Verifies against the X-Client-ID the request claims, not the configured one."""

    def handle(self, request: Request) -> Answer:
        tenant = copy.copy(self)  # the same sessions, the same key
        tenant.client_id = request.headers.get(signing.CLIENT_ID_HEADER) or self.client_id
        return ReferenceCrm.handle(tenant, request)


class CaseSensitiveHeader(ReferenceCrm):
    """Looks X-Client-ID up by its exact spelling, so ``x-client-id`` is not found."""

    def identity_ok(self, request: Request) -> bool:
        return dict(request.headers.items()).get(signing.CLIENT_ID_HEADER) == self.client_id


class GetCrashes(ReferenceCrm):
    """Answers a GET (a health probe, a browser) with a 500."""

    def handle(self, request: Request) -> Answer:
        if request.method == "GET" and request.path == self.path:
            return Answer(500, "internal error: no body")
        return super().handle(request)


# -- the body ------------------------------------------------------------------


class MalformedJsonCrashes(ReferenceCrm):
    """Lets ``json.JSONDecodeError`` escape: a body that is not JSON gets a 500."""

    def parse(self, body: bytes) -> Any:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadNotification(f"body is not UTF-8: {exc}") from None
        try:
            doc = json.loads(text)
        except RecursionError:
            raise BadNotification("body nests too deeply") from None
        if not isinstance(doc, dict):
            raise BadNotification("a notification is a JSON object")
        return doc


class InvalidUtf8Crashes(ReferenceCrm):
    """Catches only ``JSONDecodeError``: a body that is not UTF-8 gets a 500."""

    def parse(self, body: bytes) -> Any:
        try:
            doc = json.loads(body.decode("utf-8"))
        except json.JSONDecodeError as exc:
            raise BadNotification(f"body is not JSON: {exc}") from None
        except RecursionError:
            raise BadNotification("body nests too deeply") from None
        if not isinstance(doc, dict):
            raise BadNotification("a notification is a JSON object")
        return doc


class DeepNestingCrashes(ReferenceCrm):
    """Does not expect ``RecursionError`` from the JSON parser: deep nesting gets a 500."""

    def parse(self, body: bytes) -> Any:
        try:
            doc = json.loads(body.decode("utf-8"))
        except ValueError as exc:
            raise BadNotification(f"body is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise BadNotification("a notification is a JSON object")
        return doc


class NonObjectCrashes(ReferenceCrm):
    """Assumes the JSON is an object (``doc.items()``): an array, string or number gets a 500."""

    def parse(self, body: bytes) -> Any:
        try:
            doc = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise BadNotification(f"body is not JSON: {exc}") from None
        return dict(doc.items())


class AsciiOnly(ReferenceCrm):
    """Decodes the body as ASCII: raw UTF-8 Cyrillic is refused."""

    def parse(self, body: bytes) -> Any:
        try:
            body.decode("ascii")
        except UnicodeDecodeError:
            raise BadNotification("non-ASCII bytes in the body") from None
        return super().parse(body)


# -- the notification (Table А.2) ----------------------------------------------

KNOWN_FIELDS = frozenset(
    {
        "session_id",
        "timestamp",
        "type",
        "state",
        "from_number",
        "from_pin",
        "request_number",
        "request_pin",
        "disconnect_reason",
        "is_record",
    }
)
E164 = re.compile(r"\+?[0-9]{3,15}")


class RequiredFieldCrashes(ReferenceCrm):
    """Reads ``doc["session_id"].strip()`` before validating: 500 if it is absent or no string."""

    def validate(self, doc: dict[str, Any]) -> list[str]:
        if not doc["session_id"].strip():
            return ["session_id is empty"]
        return super().validate(doc)


class NullOptionalRefused(ReferenceCrm):
    """Refuses ``null`` in the fields the table marks 'empty allowed'."""

    def validate(self, doc: dict[str, Any]) -> list[str]:
        nulls = [key for key, value in doc.items() if value is None]
        return [f"{key} is null" for key in nulls] or super().validate(doc)


class UnknownFieldsRefused(ReferenceCrm):
    """Refuses fields the 2017 guide does not list (no forward compatibility)."""

    def validate(self, doc: dict[str, Any]) -> list[str]:
        unknown = sorted(set(doc) - KNOWN_FIELDS)
        return [f"unknown field {key}" for key in unknown] or super().validate(doc)


class E164Only(ReferenceCrm):
    """Requires E.164 numbers: SIP-URIs (``user@domain.ru``) are refused."""

    def validate(self, doc: dict[str, Any]) -> list[str]:
        bad = [
            key
            for key in ("from_number", "request_number")
            if not E164.fullmatch(str(doc.get(key, "")))
        ]
        return [f"{key} is not E.164" for key in bad] or super().validate(doc)


class IsRecordStringOnly(ReferenceCrm):
    """Reads ``(doc.get("is_record") or "").lower()``: the guide's boolean true gets a 500."""

    def record(self, doc: dict[str, Any]) -> Answer:
        self.last_flag = (doc.get("is_record") or "").lower() == "true"
        return super().record(doc)


class SameSecondCrashes(ReferenceCrm):
    """Divides by a call's duration: a state in the same second as the one before gets a 500."""

    def record(self, doc: dict[str, Any]) -> Answer:
        last: dict[str, Any] = self.__dict__.setdefault("last", {})
        before = last.get(doc["session_id"])
        last[doc["session_id"]] = doc["timestamp"]
        if before is not None and doc["state"] != "new":
            self.rate = 1 / (int(str(doc["timestamp"])[:10]) - int(str(before)[:10]))
        return super().record(doc)


def _new_only(crm: ReferenceCrm, request: Request, body: bytes) -> bool:
    """The reference's signature check, for new notifications only."""
    try:
        state = json.loads(body).get("state")
    except (ValueError, AttributeError, RecursionError):
        state = "new"
    return state != "new" or ReferenceCrm.signature_ok(crm, request, body)


class VerifiesOnlyNew(ReferenceCrm):
    """Checks the signature of new notifications only: a forged disconnected is processed."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        return _new_only(self, request, body)


class DiesOnSecondLongBody(ReferenceCrm):
    """A 500 to a long body, and at the second one it dies: 503 to everything after."""

    def handle(self, request: Request) -> Answer:
        state = self.__dict__.setdefault("long_bodies", [0])
        if state[0] >= 2:
            return Answer(503, "service unavailable")
        if request.content_length and request.content_length > 8192:
            state[0] += 1
            return Answer(503 if state[0] >= 2 else 500, "internal error: buffer")
        return super().handle(request)


class LifecycleStrictVerifiesOnlyNew(LifecycleStrictCrm):
    """409 to calls it never saw, and checks the signature of new notifications only."""

    def signature_ok(self, request: Request, body: bytes) -> bool:
        return _new_only(self, request, body)


class DiesAfterDeepNesting(ReferenceCrm):
    """Loses its worker on a body nested too deeply, and answers 503 to everything after."""

    def handle(self, request: Request) -> Answer:
        if self.__dict__.get("dead"):
            return Answer(503, "service unavailable")
        answer = super().handle(request)
        if "nests too deeply" in answer.message:
            self.dead = True
            return Answer(500, "internal error: RecursionError")
        return answer


class OptionalFieldCrashes(ReferenceCrm):
    """Reads ``doc["request_pin"]`` unconditionally: KeyError (500) when the field is absent."""

    def record(self, doc: dict[str, Any]) -> Answer:
        self.last_pin = doc["request_pin"]
        return super().record(doc)


class TimestampIntCrashes(ReferenceCrm):
    """Stores ``int(timestamp)``: the datetime strings production PBXs send get a 500."""

    def record(self, doc: dict[str, Any]) -> Answer:
        self.last_time = int(doc["timestamp"])
        return super().record(doc)


class DuplicateCrashes(ReferenceCrm):
    """A unique (session_id, state) constraint that raises: a repeated notification gets a 500."""

    def record(self, doc: dict[str, Any]) -> Answer:
        if str(doc["state"]) in self.sessions.get(doc["session_id"], []):
            raise KeyError(f"duplicate {doc['session_id']}/{doc['state']}")
        return super().record(doc)


class DuplicateConflict(ReferenceCrm):
    """Answers 409 Conflict to a notification identical to one it already has."""

    def record(self, doc: dict[str, Any]) -> Answer:
        seen: set[str] = self.__dict__.setdefault("seen", set())
        key = json.dumps(doc, sort_keys=True)
        if key in seen:
            return Answer(409, "already recorded")
        seen.add(key)
        return super().record(doc)


class TransferRefused(ReferenceCrm):
    """Keys calls on (session_id, state): a transfer's second ``connected`` gets a 409."""

    def record(self, doc: dict[str, Any]) -> Answer:
        if str(doc["state"]) in self.sessions.get(doc["session_id"], []):
            return Answer(409, "already recorded")
        return super().record(doc)


class UnknownSessionCrashes(ReferenceCrm):
    """Looks the call up on every state but ``new``: a late or out-of-order one gets a 500."""

    def record(self, doc: dict[str, Any]) -> Answer:
        if doc["state"] != "new" and doc["session_id"] not in self.sessions:
            raise KeyError(doc["session_id"])
        return super().record(doc)


# -- timing (3.2.1) ------------------------------------------------------------

SLOW_SECONDS = 0.5
SERIAL_SECONDS = 0.02
_ONE_AT_A_TIME = threading.Lock()


class SlowReceiver(ReferenceCrm):
    """Does its work before answering and takes longer than the PBX waits."""

    def record(self, doc: dict[str, Any]) -> Answer:
        time.sleep(SLOW_SECONDS)
        return super().record(doc)


class SerialisedReceiver(ReferenceCrm):
    """Handles one notification at a time behind a global lock: a burst queues past the timeout."""

    def record(self, doc: dict[str, Any]) -> Answer:
        with _ONE_AT_A_TIME:
            time.sleep(SERIAL_SECONDS)
            return super().record(doc)


#: How long ``SlowOnDisconnected`` takes over a disconnected: the issue's measured CRM
#: (12 s against --sut-timeout 5). Self-tests use ``SlowOnDisconnected.scaled``.
DISCONNECTED_SECONDS = 12.0


class SlowOnDisconnected(ReferenceCrm):
    """Closes the call's record before answering its disconnected, which takes longer
    than the PBX waits; every other state is answered at once."""

    seconds = DISCONNECTED_SECONDS

    def record(self, doc: dict[str, Any]) -> Answer:
        if doc.get("state") == "disconnected":
            time.sleep(self.seconds)
        return super().record(doc)

    @classmethod
    def scaled(cls, seconds: float) -> type[SlowOnDisconnected]:
        """The same fault taking ``seconds`` (with a --sut-timeout scaled alike)."""
        return type(cls.__name__, (cls,), {"seconds": seconds})


# -- the catalogue -------------------------------------------------------------

SIGN_REFUSAL = {
    "crm.sign.missing",
    "crm.sign.empty",
    "crm.sign.altered",
    "crm.sign.truncated",
    "crm.sign.extended",
    "crm.sign.wrong-key",
    "crm.sign.wrong-order",
    "crm.sign.body-altered",
    "crm.sign.body-respaced",
    "crm.sign.explore-invalid",
}
FAULTS: dict[str, tuple[type[ReferenceCrm], set[str]]] = {
    "no-signature-check": (NoSignatureCheck, SIGN_REFUSAL),
    "signature-only-if-present": (
        SignatureOnlyIfPresent,
        {"crm.sign.missing", "crm.sign.empty"},
    ),
    "prefix-comparison": (
        PrefixComparison,
        {"crm.sign.truncated", "crm.sign.empty", "crm.sign.missing"},
    ),
    "extended-signature-accepted": (ExtendedSignatureAccepted, {"crm.sign.extended"}),
    "reads-first-kilobytes": (ReadsFirstKilobytes, {"crm.sign.long-body"}),
    # Refuses every correctly signed notification: no baseline; the cases built on it
    # skip, and the content cases, which stand alone, fail.
    "key-body-order": (KeyBodyOrder, {"crm.sign.valid", "crm.content.state-type"}),
    # Python's json.dumps spaces like the baseline and escapes non-ASCII: only other
    # spellings and Cyrillic show it.
    "reserialised-json": (ReserialisedJson, {"crm.sign.encoding"}),
    # PHP's compact re-encoding refuses the guide's spacing: the baseline is accepted
    # only compact, which crm.sign.valid fails.
    "php-reencoded": (PhpReencoded, {"crm.sign.valid", "crm.sign.encoding"}),
    "cp1251-hash": (Cp1251Hash, {"crm.sign.encoding", "crm.content.cyrillic"}),
    "trimmed-body": (TrimmedBody, {"crm.sign.encoding", "crm.content.guide-example"}),
    "case-sensitive-header": (CaseSensitiveHeader, {"crm.headers.name-case"}),
    "ascii-only": (AsciiOnly, {"crm.sign.encoding", "crm.content.cyrillic"}),
    "required-field-crashes": (
        RequiredFieldCrashes,
        {"crm.input.missing-required", "crm.input.wrong-value", "crm.input.explore-invalid"},
    ),
    "unknown-fields-refused": (UnknownFieldsRefused, {"crm.content.extra-fields"}),
    "e164-only": (E164Only, {"crm.content.numbers", "crm.content.state-type"}),
    "optional-field-crashes": (
        OptionalFieldCrashes,
        {"crm.content.minimal", "crm.content.state-type"},
    ),
    "timestamp-int-crashes": (TimestampIntCrashes, {"crm.field.shape"}),
    "duplicate-crashes": (DuplicateCrashes, {"crm.lifecycle.duplicate"}),
    # A late or reordered notification: disconnected before its new.
    "unknown-session-crashes": (
        UnknownSessionCrashes,
        {"crm.lifecycle.out-of-order"},
    ),
    "slow-receiver": (SlowReceiver, {"crm.sign.valid", "crm.timing.latency", "crm.timing.burst"}),
    "serialised-receiver": (SerialisedReceiver, {"crm.timing.burst"}),
    # Without an oracle: a forged new is acknowledged, and the CRM then accepts the
    # call's disconnected, which it refuses for calls it never saw (its lifecycle tells).
    "lifecycle-strict-without-signature-check": (
        LifecycleStrictWithoutSignatureCheck,
        SIGN_REFUSAL,
    ),
    # Answers 403 to a forgery and keeps it: only the oracle shows it.
    "records-before-verifying": (RecordsBeforeVerifying, SIGN_REFUSAL),
    # The guide's own boolean: failed by the content cases only (asserted apart).
    "is-record-string-only": (IsRecordStringOnly, {"crm.content.guide-example"}),
    "dies-after-deep-nesting": (DiesAfterDeepNesting, {"crm.input.deeply-nested"}),
    "same-second-crashes": (SameSecondCrashes, {"crm.lifecycle.same-second"}),
    "verifies-only-new": (VerifiesOnlyNew, {"crm.sign.later-state"}),
    # The long body gets a 500; the tail case's long body kills it, and that case says so.
    "dies-on-second-long-body": (
        DiesOnSecondLongBody,
        {"crm.sign.long-body", "crm.sign.body-altered-tail"},
    ),
}

#: Faults the suite must catch from the wire alone: run without --crm-oracle.
WITHOUT_ORACLE = frozenset({"lifecycle-strict-without-signature-check"})

#: Faults served on ``http.server``, whose headers keep the names as they were sent
#: (tests/support.py ``serving(names_as_sent=True)``). uvicorn, as ASGI requires,
#: hands every header name over lowercased: there "X-Client-ID" would never be found,
#: and this fault -- missing only the lowercase spelling a client may send -- would
#: become another (refusing every notification).
NAMES_AS_SENT = frozenset({"case-sensitive-header"})

#: Suite options a fault needs to show.
OPTIONS: dict[str, tuple[str, ...]] = {
    # Under the default guide profile refusing unknown fields is only non-strict
    # (SOFT_FAULTS); production PBXs send them, so the field profile fails it.
    "unknown-fields-refused": ("--profile", "field"),
    "slow-receiver": ("--sut-timeout", "0.05"),
    # 20 calls at once queue for 20 x 20 ms, twice the timeout; one at a time fits.
    "serialised-receiver": ("--sut-timeout", "0.2"),
}

#: Faults graded softer than fail: name -> (class, suite options, verdict -> cases).
SOFT_FAULTS: dict[str, tuple[type[ReferenceCrm], tuple[str, ...], dict[str, set[str]]]] = {
    "unknown-fields-refused-guide": (
        UnknownFieldsRefused,
        ("--profile", "guide"),
        {"non-strict": {"crm.content.extra-fields"}},
    ),
    "duplicate-conflict": (DuplicateConflict, (), {"non-strict": {"crm.lifecycle.duplicate"}}),
    # "Допускается" may mean absent rather than null: a reading, recorded.
    "null-optional-refused": (NullOptionalRefused, (), {"info": {"crm.content.optional-null"}}),
    # The guide does not say a transfer repeats "connected" (А.2): non-strict.
    "transfer-refused": (TransferRefused, (), {"non-strict": {"crm.lifecycle.call"}}),
    # Signed with the key over the id it claims: only the key holder can send that (D6).
    "claimed-identity": (
        ClaimedIdentity,
        (),
        {"non-strict": {"crm.identity.foreign-signed"}},
    ),
    # Input no PBX sends: a server error is non-strict while the CRM keeps answering (D13).
    "get-crashes": (GetCrashes, (), {"non-strict": {"crm.input.wrong-method"}}),
    "malformed-json-crashes": (
        MalformedJsonCrashes,
        (),
        {"non-strict": {"crm.input.malformed-json", "crm.input.empty-body"}},
    ),
    "invalid-utf8-crashes": (InvalidUtf8Crashes, (), {"non-strict": {"crm.input.invalid-utf8"}}),
    "deep-nesting-crashes": (
        DeepNestingCrashes,
        (),
        {"non-strict": {"crm.input.deeply-nested"}},
    ),
    "non-object-crashes": (NonObjectCrashes, (), {"non-strict": {"crm.input.non-object"}}),
    # A forged disconnected after the call's correct new: held either way, so only the
    # answer tells, and a 200 cannot be told from acceptance (D4).
    "lifecycle-strict-verifies-only-new": (
        LifecycleStrictVerifiesOnlyNew,
        (),
        {"non-strict": {"crm.sign.later-state"}},
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.faults.crm NAME [options]``: ``vats-reference-crm`` serving that
    fault (of ``FAULTS`` or ``SOFT_FAULTS``), with the reference's options."""
    args = list(sys.argv[1:] if argv is None else argv)
    receivers = {name: entry[0] for name, entry in [*FAULTS.items(), *SOFT_FAULTS.items()]}
    if not args or args[0] not in receivers:
        print(
            "usage: python -m tests.faults.crm NAME [vats-reference-crm options]; "
            f"NAME is one of: {', '.join(receivers)}",
            file=sys.stderr,
        )
        return 2
    return reference_main(args[1:], crm_class=receivers[args[0]], prog=f"crm:{args[0]}")


if __name__ == "__main__":
    sys.exit(main())
