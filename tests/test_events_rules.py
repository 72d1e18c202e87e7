"""The rules of the pbx-events cases on made-up deliveries: timestamps, order, numbers.

The catalogue of ``tests/faults/pbx.py`` proves each rule against a running
PBX; these pin every branch of the rules, including the ones a running PBX
reaches only by chance (equal timestamps, retries, zones).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from conformance.grading.verdict import Finding, Verdict
from conformance.roles.pbx_events.test_a2_content import with_plus
from conformance.roles.pbx_events.test_a2_lifecycle import judge_order, parse_timestamp, seconds
from conformance.sut.calls import PlacedCall
from conformance.transport.client import Exchange
from conformance.transport.listener import Received

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
HOUR = 3600.0


def test_unix_seconds_in_every_spelling() -> None:
    for value in ("1700000000", "1700000000.25", 1700000000, 1700000000.25):
        assert seconds(value, T0) == pytest.approx(T0 + (0.25 if "." in str(value) else 0))


@pytest.mark.parametrize(
    "value",
    ["2023-11-14T22:13:20Z", "2023-11-15T01:13:20+03:00", "2023-11-15T01:13:20+0300"],
)
def test_zoned_date_times_are_what_they_say(value: str) -> None:
    assert seconds(value, T0 + 2 * HOUR) == T0  # the zone decides, not the arrival


@pytest.mark.parametrize("separator", ["T", " "])
def test_a_time_without_a_zone_is_utc_or_moscow_whichever_is_nearer(separator: str) -> None:
    as_utc = datetime.fromtimestamp(T0, UTC).strftime(f"%Y-%m-%d{separator}%H:%M:%S")
    assert seconds(as_utc, T0 + 5) == T0  # the table's UTC, zone unwritten
    assert seconds(as_utc + ".725", T0) == pytest.approx(T0 + 0.725)
    as_moscow = datetime.fromtimestamp(T0 + 3 * HOUR, UTC).strftime(
        f"%Y-%m-%d{separator}%H:%M:%S.%f"
    )
    assert seconds(as_moscow, T0 + 5) == pytest.approx(T0)  # production's Moscow time
    assert parse_timestamp(as_utc) == (T0, True)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        "",
        "soon",
        "-5",
        "2023-11-14",
        "2023-11-14T22:13",
        "2023-11-14/22:13:20",
        "2023-13-14T22:13:20",
        float("nan"),
        {"seconds": 1},
    ],
)
def test_what_is_no_timestamp(value: Any) -> None:
    assert seconds(value, T0) is None


def test_digits_only_numbers_get_their_plus() -> None:
    doc = {"from_number": "74951234567", "request_number": "user@domain.ru", "pin": "317"}
    assert with_plus(doc) == {**doc, "from_number": "+74951234567"}
    assert with_plus({"from_number": "+74951234567"}) is None
    assert with_plus([1]) is None


# -- events.order ---------------------------------------------------------------------


def note(state: str, timestamp: Any, at: float, **extra: Any) -> Received:
    doc = {"state": state, "session_id": "s-1", "timestamp": timestamp, **extra}
    body = json.dumps(doc).encode()
    return Received(at, "POST", "/call_events", [], body, "127.0.0.1", doc=doc)


def call(*notes: Received) -> PlacedCall:
    answer = Exchange("POST", "http://pbx/call_back", [], b"{}", 200)
    placed = PlacedCall({"request_number": "+74951234567"}, answer, T0 - 1, "s-1")
    placed.notifications = list(notes)
    placed.finished = any(n.state == "disconnected" for n in notes)
    return placed


def verdict(placed: PlacedCall) -> Verdict:
    finding, _ = judge_order(placed)
    return Verdict.PASS if finding is None else finding.verdict


def finding_of(placed: PlacedCall) -> Finding:
    finding, _ = judge_order(placed)
    assert finding is not None
    return finding


def test_in_order_passes_without_a_note() -> None:
    placed = call(note("new", "1", T0), note("connected", "2", T0), note("disconnected", "3", T0))
    assert judge_order(placed) == (None, [])


def test_out_of_order_arrival_with_ordered_timestamps_passes_with_a_note() -> None:
    placed = call(note("connected", "2", T0), note("new", "1", T0), note("disconnected", "3", T0))
    finding, notes = judge_order(placed)
    assert finding is None
    assert any("arrived out of order" in n and "E12" in n for n in notes), notes


def test_equal_timestamps_leave_arrival_order_to_judge() -> None:
    same = "1700000000"
    legal = call(note("new", same, T0), note("connected", same, T0), note("disconnected", same, T0))
    assert verdict(legal) is Verdict.PASS  # the guide's own examples share one timestamp
    late_new = call(
        note("connected", same, T0), note("new", same, T0), note("disconnected", same, T0)
    )
    finding = finding_of(late_new)
    assert finding.verdict is Verdict.NON_STRICT
    assert "arrival order alone" in finding.actual


def test_unparseable_timestamps_leave_arrival_order_to_judge() -> None:
    placed = call(note("disconnected", "later", T0), note("new", "soon", T0))
    assert verdict(placed) is Verdict.NON_STRICT
    in_order = call(note("new", "soon", T0), note("disconnected", "later", T0))
    assert verdict(in_order) is Verdict.PASS  # events.timestamps judges the values


def test_timestamps_going_backwards_fail_whatever_the_arrival() -> None:
    sent_late = call(
        note("connected", "1700000000.100", T0),
        note("new", "1700000000.200", T0),
        note("disconnected", "1700000000.300", T0),
    )
    finding = finding_of(sent_late)
    assert finding.verdict is Verdict.FAIL
    assert "went backwards" in finding.actual
    in_arrival_order = call(
        note("new", "5", T0), note("connected", "4", T0), note("disconnected", "6", T0)
    )
    assert verdict(in_arrival_order) is Verdict.FAIL


def test_connected_states_are_not_ordered_among_themselves() -> None:
    placed = call(
        note("new", "1", T0),
        note("connected", "3", T0, request_number="b@x.ru"),
        note("connected", "2", T0, request_number="a@x.ru"),
        note("disconnected", "4", T0),
    )
    assert verdict(placed) is Verdict.PASS


def test_a_retry_is_one_notification() -> None:
    again = note("new", "1", T0 + 1)
    respelled = note("new", "1", T0 + 2)
    respelled.body = json.dumps(respelled.doc, indent=1).encode()  # the same value
    placed = call(
        note("new", "1", T0),
        again,
        note("connected", "2", T0),
        respelled,
        note("disconnected", "3", T0),
    )
    finding, notes = judge_order(placed)
    assert finding is None
    assert any("2 notification(s) delivered again" in n for n in notes), notes


@pytest.mark.parametrize(
    "states",
    [
        ("new", "new", "disconnected"),  # two news that differ: not a retry
        ("connected", "disconnected"),
        ("new", "disconnected", "disconnected"),
    ],
)
def test_an_impossible_life_fails(states: tuple[str, ...]) -> None:
    placed = call(*(note(s, str(i), T0, n=i) for i, s in enumerate(states)))
    finding = finding_of(placed)
    assert finding.verdict is Verdict.FAIL
    assert "one new" in finding.expected


def test_later_editions_states_are_left_out() -> None:
    placed = call(note("calling", "9", T0), note("new", "1", T0), note("disconnected", "3", T0))
    assert verdict(placed) is Verdict.PASS


def test_times_without_a_zone_are_compared_as_written() -> None:
    # 1.5 h off either reading: each alone would be read in another zone, so the
    # order must not depend on which zone each one's arrival picks.
    written = datetime.fromtimestamp(T0 + 1.5 * HOUR, UTC)
    new = written.strftime("%Y-%m-%d %H:%M:%S.100")
    connected = written.strftime("%Y-%m-%d %H:%M:%S.200")
    placed = call(
        note("connected", connected, T0 - 1),
        note("new", new, T0 + 1),
        note("disconnected", connected, T0 + 2),
    )
    # Each read alone, connected would come 3 h before new.
    assert seconds(connected, T0 - 1) == pytest.approx(T0 - 1.5 * HOUR + 0.2)
    assert seconds(new, T0 + 1) == pytest.approx(T0 + 1.5 * HOUR + 0.1)
    assert verdict(placed) is Verdict.PASS
