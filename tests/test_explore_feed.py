"""explore hands each example to its senders as soon as it is drawn (issue 13, speed).

The examples stay those of ``generate.values`` for the seed, in the same order;
only the moment each is sent changes. No wall-clock bound is asserted: the
first test waits on an event with a timeout and records whether it came.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import strategies as st

from conformance.grading import explore as explore_mod
from conformance.grading.explore import draw, explore
from conformance.grading.verdict import Finding, fail
from conformance.spec.generate import values

STRATEGY = st.lists(st.integers(0, 1000), min_size=1, max_size=4)


def test_the_first_example_is_checked_while_the_rest_are_drawn() -> None:
    started = threading.Event()
    drawn = 0
    waited_in_vain = 0

    def note(value: int) -> int:
        nonlocal drawn, waited_in_vain
        drawn += 1
        # From the second draw on, wait for a check to have begun: examples drawn
        # all before any is sent make every one of these waits run out.
        if drawn > 1 and not started.wait(timeout=2):
            waited_in_vain += 1
        return value

    def check(value: int) -> None:
        started.set()

    explore(st.integers(0, 10**6).map(note), check, seed_value=3, examples=5)
    assert drawn >= 2
    assert waited_in_vain == 0


@pytest.mark.parametrize("workers", [1, 4])
def test_the_examples_and_their_order_are_those_of_the_seed(workers: int) -> None:
    expected = values(STRATEGY, seed_value=7, count=30)
    seen: list[list[int]] = []
    lock = threading.Lock()
    last = expected[-1]

    def check(value: list[int]) -> None:
        with lock:
            seen.append(value)
        if value == last:
            raise fail("not the last example", repr(value))

    with pytest.raises(Finding) as raised:
        explore(STRATEGY, check, seed_value=7, examples=30, workers=workers)
    assert sorted(seen) == sorted(expected)
    note = raised.value.__notes__[0]
    # the worst (here the only) finding names its example's place in the drawn order
    first = expected.index(last) + 1
    assert note.startswith(f"generated example {first} of {len(expected)}, seed 7")


def test_each_gets_the_values_draw_returns_in_order_fresh_or_shared() -> None:
    explore_mod._SHARED.clear()
    for _ in range(2):  # drawn, then from the shared list
        got: list[list[int]] = []
        drawn = draw(STRATEGY, seed_value=5, count=12, share="feed-test", each=got.append)
        assert got == drawn == values(STRATEGY, seed_value=5, count=12)


def test_a_check_that_changes_its_example_does_not_change_the_shared_list() -> None:
    explore_mod._SHARED.clear()
    expected = values(STRATEGY, seed_value=9, count=10)

    def spoil(value: list[int]) -> None:
        value.append(-1)

    draw(STRATEGY, seed_value=9, count=10, share="feed-spoil", each=spoil)
    assert draw(STRATEGY, seed_value=9, count=10, share="feed-spoil") == expected
