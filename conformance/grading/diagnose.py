"""Root causes, not symptoms: a few diagnoses over a (redacted) results.json document.

A run against a broken target often fails dozens of cases for one reason. Each
rule here names such a reason only where the recorded exchanges show it: a
diagnosis is a claim about someone else's code.

- ``reserialised-body``: the same value, correctly signed, accepted in one JSON
  spelling and refused in another with the answer a wrong signature gets: the
  receiver hashes a re-encoded body, not the bytes it received (1.4.2).
  ``spelling`` when the refusal is some other answer (a parser, 1.4.1).
- ``field-shape``: every correctly signed request the suite meant to be accepted
  that got one non-2xx status has a field shape no accepted request has.
- ``no-baseline``: not one correctly signed notification (call_back) accepted.
- ``same-answer``: three or more cases of one verdict decided by one answer,
  not all of them explained by the rules above.

Only the target's answers count: what the suite's listener received (``received``:
the ``call_events`` a PBX sends in ``pbx-events``, wherever it sent them) the
suite answered itself.
"""

from __future__ import annotations

import hashlib
import json
import re
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
from conformance.spec.sections import method_of, section_key
from conformance.transport.client import body_bytes

#: Verdicts a diagnosis explains (``error`` is the suite's own fault).
EXPLAINABLE = frozenset({"fail", "non-strict", "info"})
#: (role, method) of the exchanges the suite answers itself: the PBX's notifications.
INCOMING = frozenset({("pbx-events", "call_events")})
#: The table of Appendix А that gives each method's fields.
SCHEMA_SECTIONS = {"call_events": "А.2", "call_back": "А.3", "get_record": "А.4"}
#: Fields whose value differs by design between otherwise equal requests.
VOLATILE = ("session_id", "timestamp")
#: Characters of an answer's body that identify it; a title shows fewer.
ANSWER_CHARS, TITLE_CHARS = 200, 80
MAX_EVIDENCE = 5
#: The baseline case of each side, the method it sends, the roles it speaks for, and fix.
BASELINES = (
    (
        "crm.sign.valid",
        "call_events",
        frozenset({"crm-webhook"}),
        "The CRM accepted no correctly signed notification",
        "read the answers of crm.sign.valid; the usual causes: the suite was not given the "
        "CRM's own client id and key (3.1.1), or its base address (the suite appends "
        "/call_events to it, as the PBX does, 1.3)",
    ),
    (
        "pbx.sign.valid",
        "call_back",
        frozenset({"pbx-api", "pbx-events"}),
        "The PBX accepted no correctly signed call_back",
        "read the answer of pbx.sign.valid; the usual causes: not the client id and key the "
        "PBX issued (3.1.1), another API base address (the suite appends /call_back, 1.3), "
        "or this machine's IP not on the allow-list (3.1.2)",
    ),
)


@dataclass(frozen=True, eq=False)
class Sample:
    """One recorded exchange, read once for every rule."""

    case: str
    verdict: str
    role: str
    index: int
    method: str
    body: bytes
    value: dict[str, Any] | None  # the body as a JSON object (UTF-8), else None
    status: int | None
    reply: str  # the answer's body (or the error) on one line, up to ANSWER_CHARS + 1
    signed: bool
    expect: str | None
    received: bool = False  # the suite's listener received it and answered

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        return self.status is not None and 400 <= self.status < 500

    @property
    def status_label(self) -> str:
        return "no answer" if self.status is None else f"HTTP {self.status}"

    @property
    def answer(self) -> str:
        """What came back, on one line: ``HTTP 500 '...'``, ``no answer ('...')``."""
        return self.say(ANSWER_CHARS)

    def say(self, limit: int) -> str:
        text = repr(self.reply[:limit] + ("..." if len(self.reply) > limit else ""))
        if self.status is None:
            return f"no answer ({text})"
        return f"{self.status_label} {text}" if self.reply else f"{self.status_label} (empty body)"

    @property
    def fields(self) -> dict[str, Any]:
        return self.value or {}

    @property
    def incoming(self) -> bool:
        """A request the suite received and answered itself (not the target's answer)."""
        return self.received or (self.role, self.method) in INCOMING

    @property
    def valid(self) -> bool:
        """Correctly signed, meant to be accepted, a JSON object, answered by the target."""
        return (
            self.signed and self.expect == "accept" and self.value is not None and not self.incoming
        )

    def note(self, text: str) -> dict[str, Any]:
        return {"case": self.case, "exchange": self.index, "note": text}


def diagnose(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The diagnoses of ``document``: most cases explained first, then by id."""
    cases = [c for c in document.get("cases") or [] if isinstance(c, Mapping)]
    samples = [s for c in cases for s in _samples(c)]
    spelled, found = _spellings(samples)
    found += _field_shapes(samples, spelled)
    found += _no_baseline(cases, samples)
    explained = {c for d in found for c in d["cases"]}
    found += _same_answer(cases, samples, explained)
    return sorted(found, key=lambda d: (-len(d["cases"]), d["id"]))


# -- reading the document -------------------------------------------------------------


def _samples(case: Mapping[str, Any]) -> list[Sample]:
    out = []
    for index, exchange in enumerate(case.get("exchanges") or []):
        if not isinstance(exchange, Mapping):
            continue
        request = exchange.get("request")
        request = request if isinstance(request, Mapping) else {}
        response = exchange.get("response")
        status = response.get("status") if isinstance(response, Mapping) else None
        expect = exchange.get("expect")
        body = body_bytes(request)
        out.append(
            Sample(
                case=str(case.get("id", "")),
                verdict=str(case.get("verdict", "")),
                role=str(case.get("role", "")),
                index=index,
                method=method_of(str(request.get("url", ""))),
                body=body,
                value=_json_object(body),
                status=status if isinstance(status, int) and not isinstance(status, bool) else None,
                reply=_reply(exchange),
                signed=request.get("signed_correctly") is True,
                expect=expect if isinstance(expect, str) else None,
                received=exchange.get("received") is True,
            )
        )
    return out


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _reply(exchange: Mapping[str, Any]) -> str:
    response = exchange.get("response")
    if isinstance(response, Mapping):
        text = body_bytes(response)[: 4 * ANSWER_CHARS].decode("utf-8", "replace")
    else:
        text = str(exchange.get("error") or "")
    line = re.sub(r"\s+", " ", "".join(ch if ch.isprintable() else " " for ch in text)).strip()
    return line[: ANSWER_CHARS + 1]


def _deciding(case: Mapping[str, Any], samples: Sequence[Sample]) -> list[Sample]:
    """The exchanges that decided a case: its ``evidence``, else its last exchange."""
    marked = case.get("evidence")
    chosen = [s for s in samples if isinstance(marked, list) and s.index in marked]
    return chosen or list(samples[-1:])


def _forged_answers(samples: Sequence[Sample], method: str) -> Counter[str]:
    """What the target answered wrongly signed requests of ``method`` with (4xx only)."""
    return Counter(
        s.answer
        for s in samples
        if s.method == method and not s.incoming and not s.signed and s.refused
    )


def _noun(method: str) -> str:
    return "notifications" if method == "call_events" else f"{method} requests"


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


def _spellings(samples: Sequence[Sample]) -> tuple[set[tuple[str, int]], list[dict[str, Any]]]:
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
        forged = _forged_answers(samples, method).most_common(1)
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
        f"{len(pairs)} correctly signed {_noun(method)} were refused ({statuses}) although the "
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
                f" {len(likely)} more case(s) sent correctly signed {_noun(method)} that got "
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


def _field_shapes(samples: Sequence[Sample], spelled: set[tuple[str, int]]) -> list[dict[str, Any]]:
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
        forged = _forged_answers(samples, method)
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
    section, noun = SCHEMA_SECTIONS[method], _noun(method)
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


# -- (d) no baseline ------------------------------------------------------------------


def _no_baseline(
    cases: Sequence[Mapping[str, Any]], samples: Sequence[Sample]
) -> list[dict[str, Any]]:
    out = []
    for case_id, method, roles, title, fix in BASELINES:
        case = next((c for c in cases if c.get("id") == case_id), None)
        sent = [s for s in samples if s.method == method and s.role in roles and not s.incoming]
        if case is None or case.get("verdict") != "fail" or any(s.ok for s in sent):
            continue
        answers = Counter(s.status_label for s in sent)
        seen = ", ".join(f"{a} ×{n}" for a, n in sorted(answers.items(), key=lambda x: -x[1]))
        deciding = _deciding(case, [s for s in samples if s.case == case_id])
        out.append(
            {
                "id": f"no-baseline:{min(roles)}",
                "title": title,
                "section": "1.4.2",
                "explanation": (
                    f"{case_id} failed, and none of the {len(sent)} {method} requests the "
                    f"suite sent got a 2xx answer ({seen or 'none was sent'}). Until one "
                    "correctly signed request is accepted, every other case of this side "
                    "fails or passes for that same reason: its verdict says nothing yet. "
                    "1.4.2: a request whose signature matches the recomputed one is trusted "
                    "and executed."
                ),
                "fix": fix,
                "cases": sorted(
                    str(c.get("id", ""))
                    for c in cases
                    if c.get("role") in roles and c.get("verdict") in EXPLAINABLE
                ),
                "isolated_by": case_id,
                "evidence": [s.note(s.answer) for s in deciding[:MAX_EVIDENCE]],
            }
        )
    return out


# -- (c) same answer ------------------------------------------------------------------


def _same_answer(
    cases: Sequence[Mapping[str, Any]], samples: Sequence[Sample], explained: set[str]
) -> list[dict[str, Any]]:
    by_case: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_case[s.case].append(s)
    out = []
    for verdict in ("fail", "non-strict"):
        groups: dict[str, list[tuple[Mapping[str, Any], list[Sample]]]] = defaultdict(list)
        for case in cases:
            if case.get("verdict") != verdict:
                continue
            deciding = _deciding(case, by_case[str(case.get("id", ""))])
            answers = {s.answer for s in deciding}
            # No exchange, several answers, or our own: no one answer of the target decided it.
            if len(answers) == 1 and not any(s.incoming for s in deciding):
                groups[answers.pop()].append((case, deciding))
        for answer, members in sorted(groups.items()):
            if len(members) >= 3 and not {str(c.get("id", "")) for c, _ in members} <= explained:
                out.append(_answer_diagnosis(verdict, answer, members))
    return out


def _answer_diagnosis(
    verdict: str, answer: str, members: list[tuple[Mapping[str, Any], list[Sample]]]
) -> dict[str, Any]:
    members = sorted(members, key=lambda m: (min(len(s.body) for s in m[1]), m[1][0].case))
    first, n = members[0][1][0], len(members)
    sections = Counter(section_key(str(c.get("section", ""))) for c, _ in members)
    digest = hashlib.sha256(answer.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return {
        "id": f"same-answer:{verdict}:{digest}",
        "title": f"{n} cases {'fail' if verdict == 'fail' else 'are non-strict'} "
        f"with the same answer: {first.say(TITLE_CHARS)}",
        "section": min(sections, key=lambda s: (-sections[s], s)),
        "explanation": (
            f"{n} cases graded {verdict}, in {len(sections)} section(s) of the guide, were "
            f"decided by the same answer: {answer}. One answer to many different requests "
            "points to one cause in front of what the cases check (a crash, an "
            "authentication layer or proxy, a wrong endpoint, a catch-all handler) rather "
            f"than {n} separate faults. {first.case} shows it with the smallest request."
        ),
        "fix": f"find why {first.case} gets this answer; the other {n - 1} are likely to follow",
        "cases": sorted(str(c.get("id", "")) for c, _ in members),
        "isolated_by": first.case,
        "evidence": [
            d[0].note(f"{c.get('title') or d[0].case}: {d[0].status_label}")
            for c, d in members[:MAX_EVIDENCE]
        ],
    }
