"""results.json: the machine-readable record of a run (schema in README)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import hypothesis

from conformance import __version__
from conformance.grading.checks import percentiles
from conformance.grading.verdict import CaseInfo, Verdict
from conformance.transport.client import Exchange
from conformance.transport.redact import redact

if TYPE_CHECKING:
    from conformance.run import Run
    from conformance.settings import Settings

#: The roles, in the order results.json lists them.
ROLES = ("crm-webhook", "crm-client", "pbx-api", "pbx-events")


@dataclass
class CaseResult:
    info: CaseInfo
    case_id: str
    verdict: Verdict
    detail: str
    exchanges: list[Exchange] = field(default_factory=list)
    known: str | None = None  # the --baseline reason, when the entry covers a failing verdict
    stale: str | None = None  # why the --baseline entry of a case that now passes fails the run
    evidence: list[int] = field(default_factory=list)  # exchanges the verdict rests on
    duration_s: float | None = None  # the case's own wall time (exchanges may be shared)

    def to_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            k: v
            for k, v in (("known", self.known), ("stale", self.stale), ("evidence", self.evidence))
            if v
        }
        return {
            "id": self.case_id,
            "title": self.info.title,
            "section": self.info.section,
            "requirement": self.info.requirement,
            "role": self.info.role,
            "verdict": str(self.verdict),
            "detail": self.detail,
            **({"duration_s": self.duration_s} if self.duration_s is not None else {}),
            **extra,
            "exchanges": [ex.to_json() for ex in self.exchanges],
        }


def to_wire(result: CaseResult) -> dict[str, Any]:
    """``result`` as plain data (str, bytes, numbers, lists, dicts) that crosses a process
    boundary whole: a pytest-xdist worker's report to the controller (xdist.py)."""
    info = asdict(result.info)
    info["needs"] = sorted(result.info.needs)
    return {
        "info": info,
        "case_id": result.case_id,
        "verdict": str(result.verdict),
        "detail": result.detail,
        "exchanges": [dict(vars(ex)) for ex in result.exchanges],
        "known": result.known,
        "stale": result.stale,
        "evidence": list(result.evidence),
        "duration_s": result.duration_s,
    }


def from_wire(data: dict[str, Any], renumber: Callable[[int], int]) -> CaseResult:
    """The ``CaseResult`` that ``to_wire`` made ``data`` of; ``renumber`` gives each
    exchange's id its id in the whole run (ids are unique only in the worker)."""
    info = dict(data["info"])
    info["needs"] = frozenset(info["needs"])
    exchanges = []
    for ex in data["exchanges"]:
        fields = {**ex, "id": renumber(ex["id"])}
        for name in ("request_headers", "response_headers"):
            fields[name] = [(k, v) for k, v in fields[name]]
        exchanges.append(Exchange(**fields))
    return CaseResult(
        CaseInfo(**info),
        data["case_id"],
        Verdict(data["verdict"]),
        data["detail"],
        exchanges,
        known=data["known"],
        stale=data["stale"],
        evidence=list(data["evidence"]),
        duration_s=data["duration_s"],
    )


def traffic(run: Run) -> tuple[int, dict[str, float | int]]:
    """How many exchanges the run had, and the percentiles of their latency (ms).

    Each exchange counts once, however many cases cite it: every request the
    suite sent (cases, controls and probes alike) and every request its listener
    received. Only the suite's own requests have a latency: a received one had
    no round trip the suite measured.
    """
    sent, answered_ms = run.client.tally() if run.client is not None else (0, [])
    received = run.listener.count if run.listener is not None else 0
    received += run.api.inbox.count if run.api is not None else 0
    # Under pytest-xdist, the controller's count is its workers' (run.Gathered).
    sent += run.gathered.requests
    return sent + received, percentiles(answered_ms + run.gathered.latency_ms)


def summary(results: list[CaseResult]) -> dict[str, int]:
    counts = {
        str(v): 0
        for v in (
            Verdict.PASS,
            Verdict.FAIL,
            Verdict.NON_STRICT,
            Verdict.INFO,
            Verdict.SKIP,
            Verdict.ERROR,
        )
    }
    for r in results:
        counts[str(r.verdict)] += 1
    return counts


def redact_tree(value: Any, secrets: list[str]) -> Any:
    """``value`` with every secret replaced in every string, keys included."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact_tree(k, secrets): redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, secrets) for v in value]
    return value


def write(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` (already redacted: ``redact_tree``) as results.json.

    Indented one space a level, but each case's fields on one line and each of its
    exchanges on a line of its own: one ``json.dumps`` per piece, which runs in C,
    where an indented ``json.dump`` runs in Python (2.8 s of a 1000-example run's
    4.2 s report of 40 MB; issue 13). A case or an exchange is still found with
    ``grep``, and the file is streamed: no more than one exchange's text is held.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in document.items() if k != "cases"}
    cases = document.get("cases")
    with path.open("w", encoding="utf-8") as out:
        if not isinstance(cases, list):
            out.write(json.dumps(document, ensure_ascii=False, indent=1) + "\n")
            return
        text = json.dumps(head, ensure_ascii=False, indent=1)
        out.write(text[:-2] + ",\n" if head else "{\n")
        out.write(' "cases": [')
        for n, case in enumerate(cases):
            out.write(",\n  " if n else "\n  ")
            _write_case(out, case)
        out.write("\n ]\n}\n" if cases else "]\n}\n")


def _write_case(out: TextIO, case: Any) -> None:
    exchanges = case.get("exchanges") if isinstance(case, dict) else None
    if not isinstance(exchanges, list):
        out.write(json.dumps(case, ensure_ascii=False))
        return
    fields = json.dumps({k: v for k, v in case.items() if k != "exchanges"}, ensure_ascii=False)
    out.write(fields[:-1] + (', "exchanges": [' if len(fields) > 2 else '"exchanges": ['))
    for n, ex in enumerate(exchanges):
        out.write(",\n   " if n else "\n   ")
        out.write(json.dumps(ex, ensure_ascii=False))
    out.write("\n  ]}" if exchanges else "]}")


def document(run: Run, s: Settings, finished: float) -> dict[str, Any]:
    """The results.json document of ``run`` (schema in README), redacted: the cases
    prepared as they ended (``prepare``) are taken as they are."""
    ordered = sorted(run.results, key=lambda r: r.case_id)
    requests, latency = traffic(run)
    document = {
        "suite": {"name": "vats-conformance", "version": __version__},
        "target": {"client_id": s.client_id, **_flat_targets(run.targets)},
        "roles": {
            role: {
                **run.targets.get(role, {}),
                "summary": summary([r for r in run.results if r.info.role == role]),
            }
            for role in ROLES
            if any(r.info.role == role for r in run.results)
        },
        "profile": s.profile,
        "seed": s.seed,
        "hypothesis_version": hypothesis.__version__,  # a seed replays only under the same one
        "session_tag": run.session_tag,
        "settings": {
            "sut_timeout_s": s.sut_timeout,
            "examples": s.examples,
            "fail_on": str(s.fail_on),
        },
        "started": datetime.fromtimestamp(run.started, UTC).isoformat(timespec="seconds"),
        "duration_s": round(finished - run.started, 3),
        "cases_run_s": round((run.last_case or finished) - (run.first_case or finished), 3),
        "requests": requests,
        "latency_ms": latency,
        "summary": summary(run.results),
        "readings": run.readings,
        "controls": controls(run),
        "deselected": dict(run.deselected),
        "max_duration": {"seconds": s.max_duration, "skipped": over_time(run.results)},
    }
    if s.baseline:
        document["baseline"] = {
            "file": str(s.baseline.path),
            "known": [r.case_id for r in ordered if r.known],
            "stale": [r.case_id for r in ordered if r.stale],
            "unused": s.baseline.unused({r.case_id for r in ordered}),
        }
    redacted: dict[str, Any] = redact_tree(document, s.secrets)
    redacted["cases"] = [
        run.prepared[id(r)].case if id(r) in run.prepared else entry(r, s.secrets)
        for r in ordered
    ]
    return redacted


def entry(result: CaseResult, secrets: list[str]) -> dict[str, Any]:
    """``result``'s entry in results.json, redacted: made here whether it is made at the
    end or as the result arrived (``prepare``), so the two cannot differ."""
    made: dict[str, Any] = redact_tree(result.to_json(), secrets)
    return made


@dataclass(frozen=True)
class Prepared:
    """One case's part of the report, made as its result came in (``prepare``)."""

    case: dict[str, Any]  # its entry in results.json, redacted
    element: str  # its element id in index.html
    html: Any  # markupsafe.Markup: its block of index.html


def prepare(result: CaseResult, s: Settings) -> Prepared:
    """``result``'s part of the report, made now rather than after the last case: the
    pytest-xdist controller makes it as a worker's result arrives, while the workers
    run the next cases (D62); the report is then the same text, sooner."""
    from conformance.report.html import prepare as html_block

    case = entry(result, s.secrets)
    element, html = html_block(case, redact(s.client_id, s.secrets))
    return Prepared(case, element, html)


def rendered(run: Run) -> dict[str, tuple[str, Any]]:
    """The prepared cases' HTML by case id, for ``html.render`` (an id seen twice: none)."""
    seen = Counter(r.case_id for r in run.results)
    return {
        r.case_id: (p.element, p.html)
        for r in run.results
        if seen[r.case_id] == 1 and (p := run.prepared.get(id(r))) is not None
    }


def over_time(cases: list[CaseResult]) -> int:
    """How many cases skipped because the run reached ``--max-duration`` (their detail
    names it: transport/budget.py ``Deadline.reason``)."""
    return sum(1 for r in cases if r.verdict is Verdict.SKIP and "--max-duration" in r.detail)


def controls(run: Run) -> dict[str, Any]:
    """What the run established before its cases (results.json "controls")."""
    c = run.controls
    if c is None:
        return run.gathered.controls  # under pytest-xdist, as a worker established them
    return {
        "crm-webhook": {
            "baseline": c.baseline.to_json() if c.baseline else None,
            "oracle": c.oracle.name if c.oracle else "none",
        }
    }


def _flat_targets(targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The flat shape of the first version (``crm_url``, ``crm_embedded``), kept for readers."""
    crm = targets.get("crm-webhook")
    return {"crm_url": crm["url"], "crm_embedded": crm["embedded"]} if crm else {}
