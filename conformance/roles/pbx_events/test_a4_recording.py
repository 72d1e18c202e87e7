"""Section А.4 from the CRM's side: a call's is_record agrees with what get_record gives."""

from __future__ import annotations

from conformance.grading import answers, checks
from conformance.grading.verdict import fail, info, non_strict
from conformance.roles.pbx_events._common import events_case, judged
from conformance.sut.calls import PlacedCall, fetch_link
from conformance.sut.drivers import PbxApi
from conformance.transport.client import Exchange
from conformance.transport.listener import Listener


@events_case(
    "events.is-record",
    section="А.4",
    title="is_record agrees with get_record",
    requirement="A call whose disconnected says is_record true has a recording get_record links "
    "to; one that says false has none.",
)
def test_is_record(
    placed_calls: list[PlacedCall], listener: Listener, wire_log: list[Exchange], pbx: PbxApi
) -> None:
    silent = None
    for call in judged(placed_calls, listener, wire_log):
        if not call.finished:
            continue
        values = {
            str(n.doc.get("is_record"))
            for n in call.notifications
            if isinstance(n.doc, dict) and n.doc.get("is_record") not in (None, "")
        }
        if len(values) > 1:
            raise non_strict(
                "one is_record value per call", f"{sorted(values)} in {call.describe()}"
            )
        recorded = call.recorded
        if recorded is None:
            silent = silent or call.describe()
            continue
        assert call.session_id is not None
        # A recording may take a while to be ready: asked again until --events-timeout.
        wait = pbx.settings.events_timeout if recorded else 0.0
        _, tried = fetch_link(pbx, call.session_id, wait=wait)
        got = [answers.outcome(answers.parse(ex), "url") for ex in tried]
        for ex in tried:
            checks.not_a_server_error(ex)
        if recorded and "success" not in got:
            raise fail(
                "get_record links to the recording is_record announced",
                " / ".join(ex.summary() for ex in tried),
            )
        if not recorded and "success" in got:
            raise fail(
                "no recording when is_record is false", " / ".join(ex.summary() for ex in tried)
            )
    if silent:
        raise info("is_record on disconnected", f"absent: {silent}")
