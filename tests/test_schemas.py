"""The schemas of Appendix А: the guide's examples validate, views prune as documented."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.spec import examples, generate, schemas


@pytest.mark.parametrize("entry", examples.index(), ids=lambda e: e["file"])
def test_guide_examples_validate(entry: dict[str, Any]) -> None:
    name = entry["schema"].removesuffix(".json")
    doc = json.loads(examples.raw(entry["file"].removesuffix(".json")))
    assert schemas.errors(name, doc) == []


def test_verbatim_get_record_answer_is_broken_as_printed() -> None:
    text = (examples.EXAMPLES / "get_record.response.verbatim.txt").read_text(encoding="utf-8")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_every_property_names_its_section_and_description() -> None:
    for name in schemas.MESSAGES:
        for prop, spec in schemas.raw(name)["properties"].items():
            assert spec.get("description"), (name, prop)
            assert spec["x-guide"]["section"].startswith(("А.", "A.")), (name, prop)


BASE = examples.value("call_events.disconnected")


@pytest.mark.parametrize(
    ("change", "guide", "field"),
    [
        ({}, True, True),
        ({"timestamp": 1511753600}, True, True),  # E4, the table's reading
        # Production's Moscow time is spelled as a UTC time without a zone (E4 reading).
        ({"timestamp": "2020-05-12 10:46:56.725"}, True, True),
        ({"timestamp": "2017-11-27T03:33:20"}, True, True),  # UTC, the zone unwritten
        ({"timestamp": "2017-11-27 03:33:20.5"}, True, True),
        ({"timestamp": "2017-11-27T03:33:20+0300"}, True, True),
        ({"timestamp": "2017-11-27/03:33:20"}, False, False),
        ({"timestamp": "2017-11-27T24:00:00"}, False, False),
        ({"timestamp": "1511753600\n"}, False, False),  # ECMA '$'
        ({"request_pin": "201"}, False, True),
        ({"is_record": "true"}, False, True),
        ({"state": "calling"}, False, True),
        ({"state": "exploded"}, False, False),
        ({"from_number": "sip:111@test@domain.com"}, False, True),
        # RFC 3261: URI parameters and one-label hosts (readings, not canonical).
        ({"from_number": "sip:user@host.ru:5060;transport=udp"}, True, True),
        ({"from_number": "sip:101@pbx;transport=tcp;lr"}, True, True),
        ({"from_number": "user@localhost"}, True, True),
        ({"from_number": "user@1pbx"}, False, False),  # a top label starts with a letter
        ({"from_number": "user@pbx;"}, False, False),
        ({"from_number": "74951234567"}, False, False),  # E.164 without +: graded apart
        ({"from_number": ""}, False, False),
        ({"session_id": ""}, False, False),
        ({"unknown_field": [1, 2]}, True, True),
    ],
)
def test_profiles(change: dict[str, Any], guide: bool, field: bool) -> None:
    doc = {**BASE, **change}
    assert schemas.is_valid("call_events", doc, "guide") is guide
    assert schemas.is_valid("call_events", doc, "field") is field


def test_canonical_view_drops_second_readings_only() -> None:
    canonical = schemas.view("call_events", "guide", canonical=True)
    full = schemas.view("call_events", "guide")
    assert "anyOf" not in canonical["properties"]["timestamp"]
    assert len(full["properties"]["timestamp"]["anyOf"]) == 4
    numbers = schemas.view("call_events", "guide", canonical=True)["$defs"]["number_or_uri"]
    assert [alt["$ref"] for alt in numbers["anyOf"]] == ["#/$defs/e164", "#/$defs/sip_uri"]
    assert '"x-reading"' not in json.dumps(canonical)
    assert '"x-profile"' not in json.dumps(full)
    assert '"x-profile"' in json.dumps(schemas.view("call_events", "field"))


def test_only_for_rules_transcribe_table_a2() -> None:
    assert schemas.only_for("call_events") == {
        "from_pin": {"type": ["outbound", "internal"]},
        "request_pin": {"type": ["incoming", "internal"]},
        "disconnect_reason": {"state": ["disconnected"]},
        "is_record": {"state": ["disconnected"]},
    }


@pytest.mark.parametrize("name", schemas.MESSAGES)
@pytest.mark.parametrize("profile", schemas.PROFILES)
@pytest.mark.parametrize("canonical", [True, False])
def test_generated_values_validate(name: str, profile: schemas.Profile, canonical: bool) -> None:
    @settings(max_examples=60, database=None, deadline=None)
    @given(generate.strategy(name, profile, canonical=canonical))
    def check(value: Any) -> None:
        assert schemas.errors(name, value, profile) == [], value
        if canonical:
            assert schemas.validator(name, profile, canonical=True).is_valid(value), value

    check()


def test_generator_refuses_unknown_keywords() -> None:
    compiler = generate.Compiler("call_events", "guide", canonical=True)
    with pytest.raises(generate.UnsupportedSchema, match="dependentRequired"):
        compiler.compile({"type": "object", "dependentRequired": {}})


@pytest.mark.parametrize(
    "pattern",
    [
        r"^\+[1-9][0-9]{6,14}$",
        r"^(sips?:)?[A-Za-z0-9_.+-]{1,64}@[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?(:[0-9]{1,5})?$",
        r"^-?[0-9]{1,9}$",
        r"^https?://[^\s]+$",  # a negated class: falls back to st.from_regex
        r"^a|b$",
    ],
)
@settings(max_examples=50, database=None, deadline=None)
@given(data=st.data())
def test_regex_strategy_matches_its_pattern(pattern: str, data: st.DataObject) -> None:
    value = data.draw(generate.regex(pattern))
    assert schemas.ecma_pattern(pattern).search(value), value
