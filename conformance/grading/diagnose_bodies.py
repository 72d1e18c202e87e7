"""Diagnoses the bodies show: one value refused in one spelling only (a receiver that
hashes a re-encoded body, 1.4.2), and one field shape that every refused request
has and no accepted one (a stricter reading of Appendix А). grading/diagnose.py
runs these rules first; what they explain, the later rules leave alone.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.grading.jsonfeatures import (
    Feature,
    differences,
    feature_id,
    features,
    phrase,
    shape,
    spelling,
)
from conformance.grading.samples import (
    EXPLAINABLE,
    MAX_EVIDENCE,
    SCHEMA_SECTIONS,
    VOLATILE,
    Sample,
    forged_answers,
    noun_of,
)

# -- (a) one value, two spellings -----------------------------------------------------


def _identity(value: Mapping[str, Any]) -> str:
    """The value with session_id and timestamp reduced to their shapes, as canonical JSON."""
    fixed = {k: v for k, v in value.items() if k not in VOLATILE}
    volatile = {k: shape(v) for k, v in value.items() if k in VOLATILE}
    return json.dumps([fixed, volatile], sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Pair:
    """A refused request and the accepted one of the same value spelled most alike."""

    refused: Sample
    accepted: Sample
    refused_as: dict[str, str]
    accepted_as: dict[str, str]

    @property
    def distance(self) -> int:
        return sum(v != self.accepted_as[k] for k, v in self.refused_as.items())

    def notes(self) -> list[dict[str, Any]]:
        r, a = self.refused, self.accepted
        return [
            r.note(f"refused, {r.status_label}: {differences(self.refused_as, self.accepted_as)}"),
            a.note(f"accepted, {a.status_label}: {differences(self.accepted_as, self.refused_as)}"),
        ]


def spellings(samples: Sequence[Sample]) -> tuple[set[tuple[str, int]], list[dict[str, Any]]]:
    """The refused exchanges a spelling explains, and the diagnoses, per method."""
    valid = [s for s in samples if s.valid]
    spelt = {id(s): spelling(s.body.decode("utf-8"), s.fields) for s in valid}
    # Pairs within one case only: there the two requests met the same history (one
    # call's new first, say); across cases a refusal may be about something else.
    # Evidence against the spelling, though, counts from anywhere: a refused spelling of
    # the value accepted in any case is not why it was refused.
    groups: dict[tuple[str, str, str], list[Sample]] = defaultdict(list)
    everywhere: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for s in valid:
        groups[(s.method, s.case, _identity(s.fields))].append(s)
        everywhere[(s.method, _identity(s.fields))].append(s)
    pairs: dict[str, list[Pair]] = defaultdict(list)
    for (method, _, value), group in sorted(groups.items()):
        accepted = [spelt[id(s)] for s in group if s.ok]
        seen = everywhere[(method, value)]
        taken = [spelt[id(s)] for s in seen if s.ok]
        if not accepted or any(spelt[id(s)] in taken for s in seen if s.refused):
            continue  # no contrast, or one spelling both accepted and refused: not the spelling
        for r in (s for s in group if s.refused):
            options = [Pair(r, a, spelt[id(r)], spelt[id(a)]) for a in group if a.ok]
            pairs[method].append(min(options, key=lambda p: (p.distance, len(p.accepted.body))))
    found = []
    for method, mine in sorted(pairs.items()):
        # The answer most wrongly signed requests got is the answer to a wrong signature
        # (a receiver may check other things first, and answer some forged requests so).
        forged = forged_answers(samples, method).most_common(1)
        hashed = [p for p in mine if forged and p.refused.answer == forged[0][0]]
        ok = [spelt[id(s)] for s in valid if s.method == method and s.ok]
        # Correctly signed requests answered like a wrong signature, with no accepted twin:
        # once re-serialising is shown, the same cause (named apart, as likely).
        alike = frozenset(
            s.case
            for s in valid
            if hashed
            and s.method == method
            and s.answer == forged[0][0]
            and s.verdict in EXPLAINABLE
        )
        found += [_spelling_diagnosis(method, hashed, ok, hashed=True, alike=alike)]
        found += [
            _spelling_diagnosis(method, [p for p in mine if p not in hashed], ok, hashed=False)
        ]
    spelled = {(p.refused.case, p.refused.index) for ps in pairs.values() for p in ps}
    return spelled, [d for d in found if d is not None]


def _contrast(pairs: Sequence[Pair], accepted: Sequence[Mapping[str, str]]) -> str:
    """The refused spellings no accepted request has, and what was accepted instead.

    When one aspect alone marks every refused request (raw UTF-8, say), only it is
    named: the other differences are then incidental.
    """
    never: dict[str, set[str]] = {}
    for aspect in pairs[0].refused_as:
        if aspect != "key order":  # a value's own key order: other values tell nothing
            labels = {p.refused_as[aspect] for p in pairs} - {s[aspect] for s in accepted}
            never.update({aspect: labels} if labels else {})
    covering = [a for a, labels in never.items() if all(p.refused_as[a] in labels for p in pairs)]
    return (
        "; ".join(
            f"{a} {' / '.join(sorted(never[a]))} (accepted: "
            f"{' / '.join(sorted({s[a] for s in accepted}))})"
            for a in covering or never
        )
        or "keys in another order"
    )


def _spelling_diagnosis(
    method: str,
    pairs: list[Pair],
    accepted: list[dict[str, str]],
    *,
    hashed: bool,
    alike: frozenset[str] = frozenset(),
) -> dict[str, Any] | None:
    ranked = sorted(
        (p for p in pairs if p.refused.verdict in EXPLAINABLE),
        key=lambda p: (
            p.refused.case != p.accepted.case,  # one case showing both sides is the most direct
            p.distance,
            len(p.refused.body),
            p.refused.case,
            p.refused.index,
        ),
    )
    if not ranked:
        return None
    top = ranked[0]
    evidence, shown = top.notes(), {differences(top.refused_as, top.accepted_as)}
    for p in ranked[1:]:
        differs = differences(p.refused_as, p.accepted_as)
        if differs not in shown and len(evidence) < MAX_EVIDENCE:
            shown.add(differs)
            evidence.append(p.refused.note(f"refused, {p.refused.status_label}: {differs}"))
    statuses = ", ".join(sorted({p.refused.status_label for p in pairs}))
    said = (
        f"{len(pairs)} correctly signed {noun_of(method)} were refused ({statuses}) although the "
        "same value (session_id and timestamp aside) was accepted written otherwise. What "
        f"they have and no accepted request has: {_contrast(pairs, accepted)}. The answer "
        "depends on how the JSON is written, not on what it says"
    )
    direct = {p.refused.case for p in ranked}
    likely = sorted(alike - direct)
    if hashed:
        explanation = (
            f"{said}, and it is the answer most wrongly signed requests got: the signature is "
            "checked over the body decoded and encoded again (re-serialised JSON, or text "
            "re-encoded) instead of the bytes that arrived. 1.4.2 has the receiver recompute "
            "the signature of each request it receives, over the JSON data it carries (1.4.1)."
        )
        if likely:
            explanation += (
                f" {len(likely)} more case(s) sent correctly signed {noun_of(method)} that got "
                "the same answer with no accepted copy to compare; the same cause is likely "
                f"({', '.join(likely[:5])}{', ...' if len(likely) > 5 else ''})."
            )
        title, section = f"Re-serialises the body before hashing ({method})", "1.4.2"
        fix = "hash the raw bytes of the body as received, before parsing JSON (1.4.2)"
    else:
        explanation = (
            f"{said}. It is not the answer most wrongly signed requests got, so the body is "
            "refused when it is read: a parser or filter that takes only some spellings of "
            "JSON. 1.4.1: a request's data is JSON, and every valid spelling is the same data."
        )
        title, section = f"Refuses the same value in another JSON spelling ({method})", "1.4.1"
        fix = "read the body with a JSON parser that accepts every valid spelling (RFC 8259)"
    return {
        "id": f"{'reserialised-body' if hashed else 'spelling'}:{method}",
        "title": title,
        "section": section,
        "explanation": explanation,
        "fix": fix,
        "cases": sorted(direct | set(likely)),
        "isolated_by": top.refused.case,
        "evidence": evidence,
    }


# -- (b) field shape ------------------------------------------------------------------


def _changed(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The fields (session_id and timestamp aside) whose values differ between a and b."""
    keys = (set(a) | set(b)) - set(VOLATILE)
    return sorted(k for k in keys if k not in a or k not in b or a[k] != b[k])


def field_shapes(samples: Sequence[Sample], spelled: set[tuple[str, int]]) -> list[dict[str, Any]]:
    by_method: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        if s.valid and s.method in SCHEMA_SECTIONS:
            by_method[s.method].append(s)
    found: list[tuple[str, dict[str, Any]]] = []
    for method, group in sorted(by_method.items()):
        accepted = [s for s in group if s.ok]
        if not accepted:
            continue  # with nothing accepted no shape is shown to matter (see no-baseline)
        # A group answered like a wrong signature is about how the body was hashed.
        forged = forged_answers(samples, method)
        fields = sorted({k for s in group for k in s.fields})
        feats = {id(s): features(s.fields, fields) for s in group}
        seen_accepted = set().union(*(feats[id(s)] for s in accepted))
        failed: dict[str, list[Sample]] = defaultdict(list)
        for s in group:
            if not s.ok and (s.case, s.index) not in spelled:
                failed[s.status_label].append(s)
        for label, bad in sorted(failed.items()):
            if len(bad) < 2 or any(s.answer in forged for s in bad):
                continue
            common = set.intersection(*(feats[id(s)] for s in bad)) - seen_accepted
            d = _shape_diagnosis(method, label, sorted(common), bad, accepted) if common else None
            found += [(label, d)] if d else []
    ids = Counter(d["id"] for _, d in found)
    for label, d in found:  # two statuses with the same features: tell them apart
        d["id"] += f"@{label.removeprefix('HTTP ').replace(' ', '-')}" if ids[d["id"]] > 1 else ""
    return [d for _, d in found]


def _shape_diagnosis(
    method: str, label: str, common: list[Feature], bad: list[Sample], accepted: list[Sample]
) -> dict[str, Any] | None:
    explained = sorted((s for s in bad if s.verdict in EXPLAINABLE), key=lambda s: s.case)
    if not explained:
        return None
    named = {field for field, _ in common}
    pairs = [
        (b, a)
        for b in explained
        for a in accepted
        if a.case == b.case and set(_changed(a.fields, b.fields)) <= named
    ]
    if pairs:  # a minimal pair: one case, two requests differing only in the named fields
        shown, partner = min(pairs, key=lambda p: (p[0].case, p[0].index, p[1].index))
    else:
        shown = min(explained, key=lambda s: (len(s.body), s.case, s.index))
        partner = min(
            accepted, key=lambda a: (len(_changed(a.fields, shown.fields)), len(a.body), a.case)
        )
    phrases = [phrase(f) for f in common]
    section, noun = SCHEMA_SECTIONS[method], noun_of(method)
    changed = ", ".join(_changed(partner.fields, shown.fields)) or "nothing"
    evidence = [
        shown.note(f"{shown.answer}; {', '.join(phrases)}"),
        partner.note(f"accepted, {partner.status_label}; differs in {changed}"),
    ] + [s.note(f"{s.answer}; {', '.join(phrases)}") for s in explained if s is not shown]
    alone = (
        f" {shown.case} shows it alone: with only {', '.join(sorted(named))} changed, the "
        "same request was accepted."
        if pairs
        else ""
    )
    if label.startswith("HTTP 4"):
        fix = f"accept {noun} in which {' and '.join(phrases)} (Table {section})"
    else:
        fix = (
            f"handle {noun} in which {' and '.join(phrases)} without a server error, and "
            f"answer them with a 2xx in time (Table {section})"
        )
    return {
        "id": f"field-shape:{method}:" + "+".join(feature_id(f) for f in common),
        "title": f"{label[0].upper()}{label[1:]} whenever {phrases[0]}"
        + (f" (and {', '.join(phrases[1:])})" if phrases[1:] else ""),
        "section": section,
        "explanation": (
            f"In all {len(bad)} correctly signed {noun} the suite meant to be accepted that "
            f"got {label}, {' and '.join(phrases)}; in none of the {len(accepted)} that got a "
            f"2xx.{alone} Table {section} gives the fields of {method}."
        ),
        "fix": fix,
        "cases": sorted({s.case for s in explained}),
        "isolated_by": shown.case,
        "evidence": evidence[:MAX_EVIDENCE],
    }


