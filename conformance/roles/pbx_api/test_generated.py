"""Generated requests (Hypothesis): no input, however formed, gets a 5xx or a wrong yes.

Valid requests vary what a CRM may vary -- the JSON spelling, which field
names the user -- while the parties stay the configured ones, since each is a
real call. Invalid ones break А.3/А.4 in a way no reading of the guide allows.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from conformance.grading import answers
from conformance.roles.pbx_api._common import UNKNOWN_SESSION, pbx_case
from conformance.spec.generate import ANY_CHARACTER, JUNK
from conformance.spec.jsontext import TextStyle, text_styles
from conformance.sut.calls import PlacedCall
from conformance.sut.drivers import PbxApi, unique_session

#: A valid call_back costs a real call: one example in this many.
CALL_SHARE = 5

#: Strings no reading of "Номер в формате E.164" admits (a letter or sign inside).
NOT_E164 = st.from_regex(r"\A\+?[0-9]{0,6}[a-zA-Zа-яА-Я@#*/ ][0-9a-z]{0,8}\Z")
DROP = "<absent>"
#: get_record's generated session ids: any string, or not a string.
SESSION_IDS = st.one_of(st.text(ANY_CHARACTER, min_size=1, max_size=40), JUNK)


@pbx_case(
    "pbx.call-back.explore-valid",
    section="А.3",
    title="Generated valid call_back requests are carried out",
    requirement="Any call_back А.3 allows, in any JSON spelling, naming the user by from_pin, "
    "from_sipuri or both, is answered with success.",
    needs={"calls"},
    generated=True,
)
def test_explore_valid(pbx: PbxApi) -> None:
    pbx.call()  # skips when the parties are unknown
    s = pbx.settings
    if s.from_pin is not None and s.from_sipuri is not None:
        vias = ["pin", "sipuri", "both"]
    else:
        vias = ["pin" if s.from_pin is not None else "sipuri"]

    def check(example: tuple[TextStyle, str]) -> None:
        style, via = example
        doc = pbx.call(via="sipuri" if via == "both" else via)
        if via == "both":
            doc["from_pin"] = pbx.settings.from_pin
        answers.succeeded(pbx.call_back(doc, style), "session_id")

    pbx.explore(
        st.tuples(text_styles(), st.sampled_from(vias)), check, per=CALL_SHARE, sequential=True
    )


def _break(pbx: PbxApi, field: str, value: Any) -> dict[str, Any]:
    """A valid call with ``field`` (request_number, or the only caller) broken."""
    doc = pbx.call()
    if field == "from_pin" and "from_pin" not in doc:
        field = "from_sipuri"  # only a SIP-URI was given: break that caller
    if value == DROP:
        del doc[field]
    else:
        doc[field] = value
    return doc


@pbx_case(
    "pbx.call-back.explore-invalid",
    section="А.3",
    title="Generated invalid call_back requests are refused",
    requirement="A call_back whose request_number is absent, not a string or not E.164, or "
    "that names no user, is refused with result > 0 -- never a 5xx.",
    needs={"calls"},
    generated=True,
)
def test_explore_invalid(pbx: PbxApi, call_back_control: PlacedCall) -> None:
    broken = st.one_of(
        st.tuples(st.just("request_number"), st.one_of(st.just(DROP), JUNK, NOT_E164)),
        st.tuples(st.just("from_pin"), st.one_of(st.just(DROP), st.just(""), JUNK)),
    )

    def check(example: tuple[TextStyle, tuple[str, Any]]) -> None:
        style, (what, value) = example
        doc = _break(pbx, what, value)
        answers.refused(pbx.call_back(doc, style), "session_id", why=f"{what} is {value!r}")

    pbx.explore(st.tuples(text_styles(), broken), check)


@pbx_case(
    "pbx.get-record.explore",
    section="А.4",
    title="Generated session ids of no call get an error, never a link or a 5xx",
    requirement="get_record for any session_id no call has -- any string, or not a string -- "
    "is answered with result > 0 and no url.",
    generated=True,
)
def test_explore_get_record(pbx: PbxApi) -> None:
    def check(example: tuple[Any, str]) -> None:
        value, transport = example
        if isinstance(value, str):
            value = unique_session(f"{UNKNOWN_SESSION}-{value}")
            transport_ = transport
        else:
            transport_ = "post"  # a query string holds only text
        ex = pbx.get_record(value, transport=transport_)
        if ex.status == 405:
            return  # a transport the PBX does not serve (E5): pbx.reading.get-record says
        answers.refused(ex, "url", why=f"no call has session_id {value!r}")

    pbx.explore(st.tuples(SESSION_IDS, st.sampled_from(["post", "get"])), check)
