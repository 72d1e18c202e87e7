"""Progress on long waits: what the suite awaits, and how long is left, at most once a second.

The registry and the ticker (conformance/transport/waits.py) on a clock the test
moves; the writer among pytest's results (run.Progress) on a stand-in reporter; a
request in flight registers its wait; and a real run against a PBX that never sends
``disconnected`` shows a countdown while it waits, and nothing under ``-q``.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conformance.reference.web import Request, Response
from conformance.run import Progress as Writer
from conformance.transport.client import Client
from conformance.transport.waits import EVERY_S, LONG_S, WAITS, Progress, Ticker, Waits
from tests.faults.pbx import FAULTS
from tests.support import CLIENT_ID, CLIENT_KEY, FAST, SuiteRun, run_suite, serving
from tests.test_pbx_faults import serving_pbx


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_short_wait_says_nothing() -> None:
    clock = Clock()
    waits = Waits(clock)
    progress = Progress()
    with waits.waiting("the PBX's notifications", 60):
        clock.now += LONG_S - 0.01
        assert progress.line(waits.current(), clock()) is None
    clock.now += 5
    assert waits.current() == []
    assert progress.line(waits.current(), clock()) is None


def test_a_long_wait_counts_down_at_most_once_a_second() -> None:
    clock = Clock()
    waits = Waits(clock)
    progress = Progress()
    lines: list[tuple[float, str]] = []
    with waits.waiting("the PBX's notifications", 10):
        for _ in range(40):  # every quarter of a second, as the ticker looks
            clock.now += 0.25
            line = progress.line(waits.current(), clock())
            if line is not None:
                lines.append((clock.now, line))
    started = 100.0
    assert lines[0] == (
        started + LONG_S,
        f"waiting for the PBX's notifications: {10 - LONG_S:.0f} s left of 10 s",
    )
    times = [t for t, _ in lines]
    assert all(b - a >= EVERY_S for a, b in itertools.pairwise(times))
    left = [int(re.findall(r": (\d+) s left", line)[0]) for _, line in lines]
    assert left == [8, 7, 6, 5, 4, 3, 2, 1, 0]


def test_a_wait_leaves_the_registry_whatever_ends_it() -> None:
    waits = Waits(Clock())
    seen: list[str] = []

    def wait_in_vain() -> None:
        with waits.waiting("an answer", 5):
            seen.extend(w.what for w in waits.current())
            raise TimeoutError

    with pytest.raises(TimeoutError):
        wait_in_vain()
    assert seen == ["an answer"]
    assert waits.current() == []


def test_waits_for_one_thing_are_one_part_and_the_latest_comes_first() -> None:
    clock = Clock()
    waits = Waits(clock)
    with waits.waiting("the PBX's notifications", 60):
        clock.now += 1
        with waits.waiting("an answer to POST http://pbx/call_back", 5):
            clock.now += 1
            with waits.waiting("an answer to POST http://pbx/call_back", 5):
                clock.now += 1
                line = Progress().line(waits.current(), clock())
    # Only waits that have lasted LONG_S are named (not the second answer, 1 s old).
    assert line == (
        "waiting for the PBX's notifications: 57 s left of 60 s; "
        "an answer to POST http://pbx/call_back: 3 s left of 5 s"
    )
    clock.now += 1
    with waits.waiting("x", 5), waits.waiting("x", 6):
        clock.now += LONG_S
        line = Progress().line(waits.current(), clock())
    assert line == "waiting for x (2 at once): 4 s left of 6 s"


def test_the_ticker_writes_and_resumes_once_the_long_waits_are_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Ticker, "TICK_S", 3600.0)  # its thread never ticks: the test does
    clock = Clock()
    waits = Waits(clock)
    written: list[str] = []
    resumed: list[float] = []
    ticker = Ticker(written.append, lambda: resumed.append(clock()), waits)
    ticker.start()
    try:
        with waits.waiting("a quick answer", 5):  # short: no line, nothing to resume
            clock.now += 1
            assert ticker.tick() is None
        assert (written, resumed) == ([], [])
        with waits.waiting("the notifications", 5):
            clock.now += LONG_S
            assert ticker.tick() == written[-1]
            with waits.waiting("an answer", 5):
                clock.now += 0.5
                assert ticker.tick() is None  # not a second since the last line
            assert resumed == []  # a wait ended, but the long one goes on
            clock.now += 0.5
            ticker.tick()
        assert len(written) == 2
        assert resumed == [clock.now]
    finally:
        ticker.stop()
    assert waits.ended is None


class Reporter:
    """What run.Progress uses of pytest's terminal reporter."""

    def __init__(self, where: Path | str | None) -> None:
        self.currentfspath = where
        self.startpath = Path("/project")
        self.out = ""

    def ensure_newline(self) -> None:
        if self.currentfspath:
            self.out += "\n"
            self.currentfspath = None

    def write_line(self, line: str) -> None:
        self.ensure_newline()
        self.out += line + "\n"

    def write(self, text: str) -> None:
        self.out += text


def _config(reporter: Reporter) -> Any:
    plugins = {"terminalreporter": reporter}
    return SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=plugins.get))


@pytest.mark.parametrize(
    ("where", "again"),
    [
        (Path("/project/roles/test_a.py"), "roles/test_a.py "),  # letters follow the file
        ("roles/test_a.py::test_x ", "roles/test_a.py::test_x "),  # -v: the outcome follows
        (None, ""),  # between files: nothing to name again
    ],
)
def test_lines_stand_apart_and_the_results_resume_after_their_name(
    where: Path | str | None, again: str
) -> None:
    reporter = Reporter(where)
    writer = Writer(_config(reporter), [CLIENT_KEY])
    reporter.out = "roles/test_a.py .." if where else ""
    writer.line(f"waiting for an answer to POST http://u:{CLIENT_KEY}@crm/call_events")
    writer.line("waiting for the rest")
    writer.resume()
    assert CLIENT_KEY not in reporter.out
    lines = "waiting for an answer to POST http://u:[REDACTED]@crm/call_events\n"
    lines += "waiting for the rest\n"
    assert reporter.out == ("roles/test_a.py ..\n" if where else "") + lines + again
    assert reporter.currentfspath == where


def test_after_an_outcome_pytests_marker_is_not_a_name_to_write_again() -> None:
    """pytest leaves ``currentfspath = -2`` once a case's outcome is written (-v, and after
    the last case): the lines stand apart and nothing is named again (no AttributeError)."""
    reporter = Reporter(None)
    reporter.currentfspath = -2  # type: ignore[assignment]
    writer = Writer(_config(reporter), [CLIENT_KEY])
    writer.line("waiting for the rest")
    writer.resume()
    assert reporter.out == "\nwaiting for the rest\n"


def test_a_request_in_flight_is_a_wait_named_without_its_query_or_user() -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(10)
        return Response(200, b'{"result": 0}')

    client = Client(5.0, secrets=[CLIENT_KEY])
    with serving(slow) as url, ThreadPoolExecutor(1) as pool:
        at = url.replace("http://", f"http://user:{CLIENT_KEY}@") + "/get_record?session_id=1"
        sent = pool.submit(client.send, "GET", at, b"", [])
        deadline = time.monotonic() + 5
        while not WAITS.current() and time.monotonic() < deadline:
            time.sleep(0.01)
        awaited = [w.what for w in WAITS.current()]
        release.set()
        assert sent.result(10).status == 200
    client.close()
    assert awaited == [f"an answer to GET {url}/get_record (--sut-timeout)"]
    assert WAITS.current() == []


# -- a real run ----------------------------------------------------------------

#: Long enough for a few lines after LONG_S, short enough for a quick run.
EVENTS_TIMEOUT = 5
LINE = re.compile(r"^waiting for the notifications of 1 call .*: (\d+) s left of 5 s$")


def _no_disconnected(report_dir: Path, *args: str) -> SuiteRun:
    """The delivery cases against a PBX that never sends ``disconnected``: one call
    (``--from-pin`` only), waited for ``EVENTS_TIMEOUT`` seconds."""
    entry = FAULTS["no-disconnected"]
    with serving_pbx(entry) as (url, listen):
        return run_suite(
            [
                *("--pbx-url", url, "--listen", listen),
                *("--client-id", CLIENT_ID, "--client-key", CLIENT_KEY),
                *("--from-pin", "101", "--call-to", "+74951234567"),
                *("--events-timeout", str(EVENTS_TIMEOUT), *FAST, *args),
            ],
            report_dir,
            paths=("conformance/roles/pbx_events/test_1_3_delivery.py",),
            timeout=120,
        )


def test_a_run_that_waits_long_counts_down_and_quiet_runs_do_not(tmp_path: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        shown = pool.submit(_no_disconnected, tmp_path / "shown", "-v")  # -q -v: the default
        quiet = pool.submit(_no_disconnected, tmp_path / "quiet")  # -q
        run, quiet_run = shown.result(), quiet.result()
    assert run.verdicts()["events.arrival"] == "fail", run.stdout
    left = [int(m[1]) for line in run.stdout.splitlines() if (m := LINE.match(line))]
    # Shown from LONG_S on, one a second at most: 3, 2, 1 (a slow machine may skip one).
    assert 2 <= len(left) <= (EVENTS_TIMEOUT - LONG_S) / EVERY_S + 1, run.stdout
    assert left == sorted(set(left), reverse=True), run.stdout
    assert left[0] <= EVENTS_TIMEOUT - LONG_S
    # pytest's own progress goes on: the file's results follow its name.
    assert re.search(r"^conformance/roles/pbx_events/test_1_3_delivery\.py F", run.stdout, re.M)
    assert CLIENT_KEY not in run.stdout + run.stderr
    assert quiet_run.verdicts()["events.arrival"] == "fail", quiet_run.stdout
    assert "waiting for" not in quiet_run.stdout + quiet_run.stderr
