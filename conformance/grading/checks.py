"""The judgements cases make, as named claims. Each raises a ``Finding`` or returns.

Cases never compare status codes themselves: they call one of these (or, for
refusals of the CRM-webhook role, ``CrmControls.judge_refusal``), so the grading
rules of DECISIONS.md live in one place. Every finding carries the exchange it
rests on (its evidence).
"""

from __future__ import annotations

import statistics

from conformance.grading.verdict import Verdict, fail, finding, info
from conformance.transport.client import Exchange


def answered_in_time(ex: Exchange) -> int:
    """Every request gets an HTTP answer within ``--sut-timeout``."""
    if ex.status is None:
        raise fail("an HTTP answer within the timeout", ex.summary(), ex)
    return ex.status


def not_a_server_error(ex: Exchange) -> int:
    """No input, however bad, is answered with a 5xx."""
    status = answered_in_time(ex)
    if status >= 500:
        raise fail("no 5xx on any input", ex.summary(), ex)
    return status


def accepted(ex: Exchange, *, otherwise: Verdict = Verdict.FAIL, why: str = "") -> None:
    """The receiver acknowledged the request with a 2xx."""
    status = not_a_server_error(ex)
    if not 200 <= status < 300:
        expected = "a 2xx (accepted)" + (f"; {why}" if why else "")
        raise finding(otherwise, expected, ex.summary(), ex)


def reading_recorded(ex: Exchange, reading: str) -> None:
    """For a shape only one reading of the guide allows: accepted passes, refused is info."""
    status = not_a_server_error(ex)
    if not 200 <= status < 300:
        raise info(
            f"a 2xx if the receiver takes the reading {reading}",
            f"{ex.summary()}: the receiver takes the other reading",
            ex,
        )


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
