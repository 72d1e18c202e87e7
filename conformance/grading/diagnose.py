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
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.grading.diagnose_bodies import field_shapes, spellings
from conformance.grading.samples import (
    EXPLAINABLE,
    MAX_EVIDENCE,
    TITLE_CHARS,
    Sample,
    deciding_of,
    read_samples,
)
from conformance.spec.sections import section_key

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


def diagnose(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The diagnoses of ``document``: most cases explained first, then by id."""
    cases = [c for c in document.get("cases") or [] if isinstance(c, Mapping)]
    samples = [s for c in cases for s in read_samples(c)]
    spelled, found = spellings(samples)
    found += field_shapes(samples, spelled)
    found += _no_baseline(cases, samples)
    explained = {c for d in found for c in d["cases"]}
    found += _same_answer(cases, samples, explained)
    return sorted(found, key=lambda d: (-len(d["cases"]), d["id"]))


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
        deciding = deciding_of(case, [s for s in samples if s.case == case_id])
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
            deciding = deciding_of(case, by_case[str(case.get("id", ""))])
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
