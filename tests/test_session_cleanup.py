"""What the run starts is stopped when its session ends, whichever cases ran (issue 13).

The embedded references (child processes), the suite's PBX API and its listener are
started once the cases are collected; the fixtures that hand them to the cases stop them
at the end, but only when some case asked for them. Under ``-x`` (the run stops at the
first failure) or a narrow ``-k`` those fixtures may never run. tests/leftovers.py looks
at the end of the run's interpreter: nothing it started may be alive, the listener's
port must be closed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.leftovers import VARIABLE
from tests.support import FAST, run_suite

RUNS = {
    # The first case (crm-client) fails: no case ever asked for the PBX or the listener.
    "-x": (["-x"], {"VATS_TEST_FAIL_FIRST": "1"}),
    # crm-client cases only: the reference CRM runs, no case asks for it as a target.
    "-k crm-client": (["-k", "test_1_4_1_requests"], {}),
    # A pbx-api case: the listener is started, no case asks for it.
    "-k pbx-api": (["-k", "test_a3_answer and test_json"], {}),
}


def _marked(marker: bytes) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("name", RUNS)
def test_nothing_the_run_started_outlives_it(tmp_path: Path, name: str) -> None:
    args, env = RUNS[name]
    out = tmp_path / "leftovers.json"
    run = run_suite(
        [*FAST, *args, "-p", "tests.leftovers"],
        tmp_path / "report",
        env={VARIABLE: str(out), **env},
    )
    assert out.exists(), run.stdout[-2000:] + run.stderr[-2000:]
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert seen["alive"] == [], seen
    assert seen["servers"], seen  # the run did start a server to look at
    assert seen["listening"] == [], seen
    # And once the run is over, nothing carrying its mark is left (bounded wait).
    marker = f"{VARIABLE}={out}".encode()
    deadline = time.monotonic() + 10
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _marked(marker) == []
