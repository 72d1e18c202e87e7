"""Table А.4: ``get_record`` returns "временную одноразовую ссылку" to a recording.

The table says "отправляется GET-запрос"; section 1.4.1 and the example send a
POST with a JSON body (E5). A PBX may serve a GET with a query, a GET with the
example's JSON body, a POST, or several: which it serves is probed once with
the recorded call and recorded (``pbx.reading.get-record``), and the run uses
the first it serves; serving none fails ``pbx.get-record.link``. A GET without
a body signs its query string (docs/DECISIONS.md D21).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from conformance.grading import answers, checks
from conformance.grading.readings import Reading
from conformance.grading.verdict import fail, info
from conformance.roles.pbx_api._common import UNKNOWN_SESSION, pbx_case
from conformance.sut.calls import PlacedCall, fetch_link
from conformance.sut.drivers import PbxApi, unique_session
from conformance.transport.client import Exchange

TRANSPORTS = PbxApi.TRANSPORTS
AUDIO_MAGIC = (b"RIFF", b"ID3", b"OggS", b"fLaC")


def link(pbx: PbxApi, call: PlacedCall, transports: Reading) -> str:
    """A fresh link to ``call``'s recording, by the transport the run uses (or, when the
    PBX served none, by every one).

    Asked until one comes or ``--events-timeout`` passes (recordings are often
    ready some time after the call, D26). No link fails only when the call's
    ``is_record`` said true; when it said nothing, the case skips.
    """
    assert call.session_id is not None
    used = (transports.used,) if transports.used else TRANSPORTS
    url, tried = fetch_link(pbx, call.session_id, wait=pbx.settings.events_timeout, transports=used)
    for ex in tried:
        if answers.success(ex, "url"):
            answers.succeeded(ex, "url")
            if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
                raise fail("url: an absolute http(s) link to the recording", f"url {url!r}")
            return url
    for ex in tried:
        checks.not_a_server_error(ex)
    if call.recorded is not True:
        pytest.skip("the call's is_record said nothing and get_record gives no link")
    raise fail(
        "a link to the recording of a finished call whose is_record was true, by POST or GET (E5)",
        " / ".join(ex.summary() for ex in tried),
    )


def is_audio(ex: Exchange) -> bool:
    """A 2xx whose body is audio: an audio/* type, or the bytes of a known audio format."""
    if ex.status is None or not 200 <= ex.status < 300 or not ex.response_body:
        return False
    kind = next((v for k, v in ex.response_headers if k.lower() == "content-type"), "")
    body = ex.response_body
    mp3_frame = len(body) > 1 and body[0] == 0xFF and body[1] & 0xE0 == 0xE0
    return (
        kind.lower().startswith("audio/")
        or body.startswith(AUDIO_MAGIC)
        or body[4:8] == b"ftyp"  # MP4/M4A
        or mp3_frame
    )


@pbx_case(
    "pbx.get-record.link",
    section="А.4",
    title="A recorded call's get_record gives a link",
    requirement="For a finished, recorded call get_record answers with success and a url "
    "(by POST, by GET with a query, or by GET with a JSON body, E5).",
    needs={"calls", "listen"},
)
def test_link(pbx: PbxApi, recorded_call: PlacedCall, get_record_transports: Reading) -> None:
    link(pbx, recorded_call, get_record_transports)


@pbx_case(
    "pbx.reading.get-record",
    section="А.4",
    title="get_record by POST, by GET with a query, by GET with JSON (reading recorded)",
    requirement="The table sends get_record as GET, section 1.4.1 and the example as a POST "
    "with JSON (E5); which transports the PBX serves is recorded.",
    needs={"calls", "listen"},
)
def test_transport(get_record_transports: Reading, wire_log: list[Exchange]) -> None:
    wire_log.extend(get_record_transports.exchanges)
    served, refused = get_record_transports.accepted, get_record_transports.refused
    if not served:
        pytest.skip("no transport gives a link: pbx.get-record.link says why")
    for transport, answer in refused.items():
        if answer.startswith(("HTTP 5", "no answer")):
            raise fail(f"get_record by {transport}: a link or a refusal, never a 5xx", answer)
    if refused:
        raise info(
            "get_record by any of POST, GET with a query, GET with JSON (E5)",
            f"served by {', '.join(served)}; the run uses {get_record_transports.used}; "
            + "; ".join(f"{t}: {a}" for t, a in refused.items()),
        )


@pbx_case(
    "pbx.get-record.single-use",
    section="А.4",
    title="The link downloads the recording once, then no more",
    requirement="'временная одноразовая ссылка на файл с записью разговора': the first GET "
    "of the link gives audio, a second one does not.",
    needs={"calls", "listen"},
)
def test_single_use(pbx: PbxApi, recorded_call: PlacedCall, get_record_transports: Reading) -> None:
    url = link(pbx, recorded_call, get_record_transports)
    first = pbx.download(url)
    if not is_audio(first):
        raise fail(
            "the recording: a 2xx with audio (audio/* or a WAV/MP3/OGG/FLAC file)",
            first.summary(),
            first,
        )
    second = pbx.download(url)
    checks.answered_in_time(second)
    if is_audio(second):
        raise fail("a used link gives no recording (одноразовая)", second.summary(), second)


def served(ex: Exchange, transport: str) -> None:
    """Skip when the PBX says it does not serve this transport (405, E5 allows either)."""
    if ex.status == 405:
        pytest.skip(f"get_record by {transport.upper()} is not served (405): E5 allows either")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pbx_case(
    "pbx.get-record.unknown-session",
    section="А.4",
    title="get_record for an unknown session is an error without url",
    requirement="'ссылка или сообщение об ошибке' (А.4): an unknown "
    "session_id gets result > 0, a message and no url.",
)
def test_unknown_session(pbx: PbxApi, transport: str) -> None:
    ex = pbx.get_record(unique_session(UNKNOWN_SESSION), transport=transport)
    served(ex, transport)
    answers.refused(ex, "url", why="no call has this session_id")


@pytest.mark.parametrize(
    "body", [{}, {"session_id": ""}, {"session_id": None}], ids=["absent", "empty", "null"]
)
@pbx_case(
    "pbx.get-record.no-session",
    section="А.4",
    title="get_record without a session_id is refused",
    requirement="session_id: 'Не допускается' empty; get_record without one is refused.",
)
def test_no_session(pbx: PbxApi, body: dict[str, object]) -> None:
    ex = pbx.request("get_record", body)
    served(ex, "post")
    answers.refused(ex, "url", why="no session_id")
