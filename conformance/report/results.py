"""results.json: the machine-readable record of a run (schema in README)."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.grading.verdict import CaseInfo, Verdict
from conformance.transport.client import Exchange

REDACTED = "[REDACTED]"


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
            **extra,
            "exchanges": [ex.to_json() for ex in self.exchanges],
        }


def latency(results: list[CaseResult]) -> dict[str, float | int]:
    """Percentiles of every answered exchange of the run, in milliseconds."""
    return percentiles([ex.elapsed_ms for r in results for ex in r.exchanges if ex.answered])


def percentiles(elapsed_ms: list[float]) -> dict[str, float | int]:
    """Count, p50, p90, p99 and max of ``elapsed_ms``."""
    times = sorted(elapsed_ms)
    if not times:
        return {"count": 0}
    cuts = (
        statistics.quantiles(times, n=100, method="inclusive")
        if len(times) > 1
        else [times[0]] * 99
    )
    return {
        "count": len(times),
        "p50": round(cuts[49], 3),
        "p90": round(cuts[89], 3),
        "p99": round(cuts[98], 3),
        "max": round(times[-1], 3),
    }


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


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def redact_tree(value: Any, secrets: list[str]) -> Any:
    """``value`` with every secret replaced in every string, keys included."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact_tree(k, secrets): redact_tree(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, secrets) for v in value]
    return value


def write(path: Path, document: dict[str, Any], secrets: list[str]) -> None:
    """Write ``document`` as JSON with every secret replaced, whatever field it hid in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(redact_tree(document, secrets), ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")
