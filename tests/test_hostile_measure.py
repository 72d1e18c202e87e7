"""The hostile matrix's memory bound measures the suite's child, not the test session
that starts it (tests/hostile.py ``_sample_peak``)."""

from __future__ import annotations

import subprocess
import sys

from tests.hostile import _sample_peak

BIG = 200 * 1024 * 1024


def test_a_child_peak_is_its_own_not_its_parent() -> None:
    """Linux starts a forked child's ``ru_maxrss`` at its parent's resident set: in CI,
    where the test session had grown to 280 MB, every run of the matrix measured 280 MB
    (``os.wait4``). The child's own ``VmHWM`` is what the bound is about."""
    ballast = b"x" * BIG  # this process's resident set, as a long session's
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(0.5)"], stdout=subprocess.DEVNULL
    )
    peak = [0]
    _sample_peak(child, peak)
    child.wait()
    assert len(ballast) == BIG
    assert 0 < peak[0] < BIG // 2, peak[0]
