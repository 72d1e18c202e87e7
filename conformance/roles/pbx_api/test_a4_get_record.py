"""Table А.4: ``get_record`` returns "временную одноразовую ссылку" to a recording.

The table says "отправляется GET-запрос"; section 1.4.1 and the example send a
POST with a JSON body (E5). A PBX may serve either or both: a transport it
refuses is recorded (info); serving neither fails. A GET has no body: the suite
signs its query string (docs/DECISIONS.md D21).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from conformance.engine import answers, checks
from conformance.engine.calls import PlacedCall
from conformance.engine.client import Exchange
from conformance.engine.drivers import PbxApi, unique_session
from conformance.engine.verdict import fail, info
from conformance.roles.pbx_api._common import UNKNOWN_SESSION, pbx_case

TRANSPORTS = ("post", "get")
AUDIO_MAGIC = (b"RIFF", b"ID3", b"OggS", b"fLaC", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")


def link(pbx: PbxApi, session_id: str) -> str:
    """A fresh link for ``session_id`` by whichever transport the PBX serves (fails if none)."""
    tried: list[Exchange] = []
    for transport in TRANSPORTS:
        ex = pbx.get_record(session_id, transport=transport)
        tried.append(ex)
        if answers.outcome(answers.parse(ex), "url") == "success":
            url = answers.succeeded(ex, "url").value("url")
            if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
                raise fail("url: an absolute http(s) link to the recording", f"url {url!r}")
            return url
        checks.not_a_server_error(ex)
    raise fail(
        "a link to the recording of a finished, recorded call, by POST or by GET (E5)",
        " / ".join(ex.summary() for ex in tried),
    )


def is_audio(ex: Exchange) -> bool:
    if ex.status is None or not 200 <= ex.status < 300 or not ex.response_body:
        return False
    kind = next((v for k, v in ex.response_headers if k.lower() == "content-type"), "")
    return kind.lower().startswith("audio/") or ex.response_body.startswith(AUDIO_MAGIC)


@pbx_case(
    "pbx.get-record.link",
    section="А.4",
    title="A recorded call's get_record gives a link",
    requirement="For a finished, recorded call get_record answers with success and a url "
    "(by POST or by GET, E5).",
)
def test_link(pbx: PbxApi, recorded_call: PlacedCall) -> None:
    assert recorded_call.session_id is not None
    link(pbx, recorded_call.session_id)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pbx_case(
    "pbx.get-record.transport",
    section="А.4",
    title="get_record by POST with JSON and by GET with a query (reading recorded)",
    requirement="The table sends get_record as GET, section 1.4.1 and the example as a POST "
    "with JSON (E5); a transport the PBX refuses is recorded, never a 5xx.",
)
def test_transport(pbx: PbxApi, recorded_call: PlacedCall, transport: str) -> None:
    ex = pbx.get_record(recorded_call.session_id, transport=transport)
    outcome = answers.outcome(answers.parse(ex), "url")
    if outcome == "success":
        answers.succeeded(ex, "url")
        return
    if outcome != "refusal":  # a 5xx, or a 2xx that says neither yes nor no
        answers.refused(ex, "url", why=f"get_record by {transport.upper()} not served")
    other = "get" if transport == "post" else "post"
    if (
        answers.outcome(
            answers.parse(pbx.get_record(recorded_call.session_id, transport=other)), "url"
        )
        != "success"
    ):
        pytest.skip("neither transport gives a link: pbx.get-record.link says why")
    raise info(f"get_record served by {transport.upper()} (either is conformant)", ex.summary())


@pbx_case(
    "pbx.get-record.single-use",
    section="А.4",
    title="The link downloads the recording once, then no more",
    requirement="'временная одноразовая ссылка на файл с записью разговора': the first GET "
    "of the link gives audio, a second one does not.",
)
def test_single_use(pbx: PbxApi, recorded_call: PlacedCall) -> None:
    assert recorded_call.session_id is not None
    url = link(pbx, recorded_call.session_id)
    first = pbx.download(url)
    if not is_audio(first):
        raise fail(
            "the recording: a 2xx with audio (audio/* or a WAV/MP3/OGG/FLAC file)", first.summary()
        )
    second = pbx.download(url)
    checks.answered_in_time(second)
    if is_audio(second):
        raise fail("a used link gives no recording (одноразовая)", second.summary())


@pbx_case(
    "pbx.get-record.wrong-signature",
    section="1.4.2",
    title="get_record with a wrong signature gives no link",
    requirement="get_record is signed like call_back: a recorded call's get_record with a "
    "wrong signature is refused, with no url.",
)
def test_wrong_signature(pbx: PbxApi, recorded_call: PlacedCall) -> None:
    body = pbx.body({"session_id": recorded_call.session_id})
    ex = pbx.send("POST", pbx.url("get_record"), body, pbx.headers(body, sign="0" * 64))
    answers.refused(ex, "url", why="a wrong signature")


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
    answers.refused(pbx.request("get_record", body), "url", why="no session_id")
