"""Property exploration with Hypothesis, bounded and replayable.

Every property case runs through ``explore``: the run's seed makes the drawn
examples the same on every run (printed in the header, recorded in
results.json), ``--examples`` bounds their number, and nothing is shrunk --
shrinking would re-send to the system under test hundreds of times, and the
first failing example is reported exactly as it was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st


def explore(strategy: st.SearchStrategy[Any], check: Callable[[Any], None], *,
            seed_value: int, examples: int) -> None:
    """Run ``check`` on ``examples`` values drawn from ``strategy``; the first Finding propagates."""

    @seed(seed_value)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(strategy)
    def property_(value: Any) -> None:
        check(value)

    property_()


T = TypeVar("T")


def sample(strategy: st.SearchStrategy[T], *, seed_value: int, rounds: int = 5) -> T:
    """One value of ``strategy``, the same for the same seed.

    Hypothesis starts from the simplest value; the last of a few rounds is a
    typical one.
    """
    drawn: list[T] = []

    @seed(seed_value)
    @settings(max_examples=rounds, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def take(value: T) -> None:
        drawn.append(value)

    take()
    return drawn[-1]
