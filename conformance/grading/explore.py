"""Property exploration with Hypothesis, bounded, replayable and parallel.

Hypothesis draws the examples; the suite then sends them. The run's seed makes
the examples the same on every run (printed in the header, recorded in
results.json) and ``--examples`` bounds their number. Nothing is shrunk:
shrinking would re-send to the system under test hundreds of times, and the
failing example is reported exactly as it was sent.

Examples are drawn first, then sent by a few workers at once, as a PBX with
several calls in progress would send them; each example's own requests stay
in order.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from hypothesis import strategies as st

from conformance.grading.verdict import RANK, Finding
from conformance.spec.generate import values

T = TypeVar("T")
WORKERS = 4


_SHARED: dict[tuple[str, int, int], list[Any]] = {}
_SHARED_LOCK = threading.Lock()


def draw(
    strategy: st.SearchStrategy[T], *, seed_value: int, count: int, share: str | None = None
) -> list[T]:
    """Up to ``count`` values of ``strategy``, the same list for the same seed.

    Cases that judge different things about the same kind of input name a
    ``share`` key: the values are drawn once per run and handed to each of
    them, which costs one generation instead of several.
    """
    key = (share, seed_value, count) if share else None
    if key is not None:
        with _SHARED_LOCK:
            if key in _SHARED:
                return copy.deepcopy(_SHARED[key])
    drawn = values(strategy, seed_value=seed_value, count=count)
    if key is not None:
        with _SHARED_LOCK:
            _SHARED[key] = copy.deepcopy(drawn)
    return drawn


def sample(strategy: st.SearchStrategy[T], *, seed_value: int, rounds: int = 5) -> T:
    """One typical value of ``strategy`` (Hypothesis starts with the simplest ones)."""
    return draw(strategy, seed_value=seed_value, count=rounds)[-1]


def explore(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], None],
    *,
    seed_value: int,
    examples: int,
    share: str | None = None,
    prepare: Callable[[T], T] | None = None,
    workers: int = WORKERS,
) -> None:
    """Run ``check`` on ``examples`` drawn values; raise the worst Finding, naming its example.

    ``prepare`` turns each drawn value into what is sent (and reported). An
    example whose check skips (its control was refused: inconclusive) counts
    for nothing; the case skips only when every example did.
    """
    values = draw(strategy, seed_value=seed_value, count=examples, share=share)
    if prepare is not None:
        values = [prepare(value) for value in values]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(lambda value: _attempt(check, value), values))
    skipped = [exc for exc in outcomes if isinstance(exc, pytest.skip.Exception)]
    errors = [
        exc
        for exc in outcomes
        if exc is not None and not isinstance(exc, Finding | pytest.skip.Exception)
    ]
    if errors:  # the suite's own fault: the run cannot vouch for the rest
        worst = max(
            (exc for exc in outcomes if isinstance(exc, Finding)),
            key=lambda f: RANK[f.verdict],
            default=None,
        )
        if worst is not None:
            errors[0].add_note(
                f"another example was graded {worst.verdict}: {str(worst).splitlines()[-1]}"
            )
        raise errors[0]
    findings = [(i, exc) for i, exc in enumerate(outcomes) if isinstance(exc, Finding)]
    if not findings:
        if skipped and len(skipped) == len(values):
            raise skipped[0]
        return
    index, worst = max(findings, key=lambda f: (RANK[f[1].verdict], -f[0]))
    worst.add_note(
        f"generated example {index + 1} of {len(values)}, seed {seed_value} "
        f"({len(findings)} of {len(values)} examples had findings; the same examples again: "
        f"--seed {seed_value} with the same --examples):\n"
        f"{_show(values[index])}"
    )
    raise worst


def _attempt(check: Callable[[T], None], value: T) -> BaseException | None:
    try:
        check(value)
    except (Exception, pytest.skip.Exception) as exc:  # noqa: BLE001 - explore raises it
        return exc
    return None


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)
