"""JSON spellings round-trip; the lifecycle model only makes legal calls."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.spec import lifecycle, schemas
from conformance.spec.jsontext import STYLES, TextStyle, render, style_from, text_styles

VALUE = {"e": True, "a": "x/y Отбой «ё»", "b": [1, {"d": 1.5, "c": None}], "f": "\\/"}


@pytest.mark.parametrize("name", sorted(STYLES))
def test_named_styles_round_trip(name: str) -> None:
    assert json.loads(render(VALUE, STYLES[name])) == VALUE


def test_named_styles_are_all_different_bytes() -> None:
    spellings = {render(VALUE, style) for style in STYLES.values()}
    assert len(spellings) == len(STYLES)


@settings(max_examples=200, database=None, deadline=None)
@given(text_styles())
def test_generated_styles_round_trip(style: TextStyle) -> None:
    assert json.loads(render(VALUE, style)) == VALUE


def test_style_numbers_are_stable() -> None:
    assert style_from(7) == style_from(7)
    assert len({style_from(n) for n in range(50)}) > 40


def test_escapes_are_what_they_say() -> None:
    assert b"\\u041e" in render(VALUE, STYLES["unicode-escaped"])
    assert "Отбой".encode() in render(VALUE, STYLES["raw-utf8"])
    assert b"x\\/y" in render(VALUE, STYLES["slash-escaped"])


@pytest.mark.parametrize(
    ("states", "legal"),
    [
        (("new", "connected", "disconnected"), True),
        (("new", "disconnected"), True),
        (("new", "connected", "connected", "disconnected"), True),
        (("connected", "disconnected"), False),
        (("new", "connected"), False),
        (("new", "disconnected", "connected"), False),
    ],
)
def test_transitions(states: tuple[lifecycle.State, ...], legal: bool) -> None:
    assert lifecycle.is_legal(states) is legal


@pytest.mark.parametrize(
    ("states", "legal"),
    [
        (("new", "connected", "disconnected"), True),
        (("disconnected", "connected", "new"), True),  # the order is not judged
        (("connected", "new", "connected", "disconnected"), True),
        (("disconnected", "new"), True),
        (("connected", "disconnected"), False),  # no new
        (("new", "connected"), False),  # no disconnected
        (("new", "new", "disconnected"), False),
        (("new", "disconnected", "disconnected"), False),
    ],
)
def test_legal_lives(states: tuple[lifecycle.State, ...], legal: bool) -> None:
    assert lifecycle.is_legal_life(states) is legal


def test_every_scenario_is_legal() -> None:
    assert all(lifecycle.is_legal(states) for states in lifecycle.SCENARIOS.values())


@pytest.mark.parametrize("call_type", lifecycle.CALL_TYPES)
@pytest.mark.parametrize("scenario", sorted(lifecycle.SCENARIOS))
def test_stages_follow_the_scenario(call_type: lifecycle.CallType, scenario: str) -> None:
    stages = lifecycle.stages(call_type, scenario)
    assert tuple(s.state for s in stages) == lifecycle.SCENARIOS[scenario]
    moments = [s.moment for s in stages]
    assert moments[0] == "placed"
    assert moments[-1] == ("ended" if "connected" in lifecycle.SCENARIOS[scenario] else "missed")
    assert moments.count("answered") == min(1, lifecycle.SCENARIOS[scenario].count("connected"))
    for stage in stages:  # only answering and transferring hand an end to a new party
        assert stage.takes_over is None or stage.moment in ("answered", "transferred")


@settings(max_examples=100, database=None, deadline=None)
@given(lifecycle.calls(scenario="transferred"))
def test_a_transfer_changes_the_end_the_table_names(call: list[dict[str, Any]]) -> None:
    stage = lifecycle.stages(call[0]["type"], "transferred")[2]
    assert stage.moment == "transferred"
    moved = "from_number" if stage.takes_over == "caller" else "request_number"
    kept = "request_number" if moved == "from_number" else "from_number"
    assert call[2][kept] == call[1][kept]  # the other end is who it was


@settings(max_examples=100, database=None, deadline=None)
@given(lifecycle.calls())
def test_generated_calls_are_valid_and_consistent(call: list[dict[str, Any]]) -> None:
    assert lifecycle.is_legal([n["state"] for n in call])
    assert len({n["session_id"] for n in call}) == 1
    assert len({n["type"] for n in call}) == 1
    stamps = [int(n["timestamp"]) for n in call]
    assert stamps == sorted(stamps)
    for note in call:
        assert schemas.validator("call_events", "guide", canonical=True).is_valid(note), note
        for field in schemas.only_for("call_events"):
            if field in note:
                assert lifecycle.carries(field, note["state"], note["type"]), (field, note)


@settings(max_examples=50, database=None, deadline=None)
@given(st.lists(lifecycle.calls(), min_size=1, max_size=4), st.integers(0, 1000))
def test_interleave_keeps_each_calls_order(calls: list[list[dict[str, Any]]], seed: int) -> None:
    merged = lifecycle.interleave(calls, random.Random(seed))
    assert len(merged) == sum(map(len, calls))
    for call in calls:
        positions = [next(i for i, m in enumerate(merged) if m is n) for n in call]
        assert positions == sorted(positions)


@settings(max_examples=50, database=None, deadline=None)
@given(lifecycle.notifications())
def test_single_notifications_are_valid(note: dict[str, Any]) -> None:
    assert schemas.validator("call_events", "guide", canonical=True).is_valid(note), note
