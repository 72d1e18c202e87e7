"""Benchmark: peak memory (RSS) of the full default run, the suite and each reference child apart.

Runs the README's main command, ``python -m pytest conformance`` (the embedded
run of every role against the reference CRM and PBX emulator it starts), with
its report in a temporary folder, and watches it: every ``--interval`` seconds
it reads ``VmHWM`` (the peak resident set so far) from ``/proc/<pid>/status``
of the suite's process and of each of its descendants (the references, the CRM
client command). ``VmHWM`` only grows, so the last reading of a process is its
peak up to that moment. The suite's own figure is checked against ``os.wait4``'s
``ru_maxrss`` once it ends (the largest of it and its children: a peak in its
last milliseconds would show there). Prints the peaks in MB (10^6 bytes) and the
bar (200 MB for each process); asserts nothing. Linux only.

    python benchmarks/rss.py [--examples N] [-- extra pytest arguments]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAR_MB = 200
RUN_TIMEOUT = 600  # seconds for the whole run, at most


@dataclass
class Peak:
    name: str
    kib: int = 0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc/<pid>/task/<tid>/children."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                text = Path(f"/proc/{parent}/task/{tid}/children").read_text()
            except OSError:
                continue
            for child in map(int, text.split()):
                found.append(child)
                todo.append(child)
    return found


def high_water_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def name_of(pid: int) -> str:
    """What a child is: its ``-m module`` or its program."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    words = [word.decode("utf-8", "replace") for word in argv if word]
    if "-m" in words[:-1]:
        return words[words.index("-m") + 1]
    return Path(words[0]).name if words else str(pid)


def watch(
    command: list[str], env: dict[str, str], interval: float
) -> tuple[dict[int, Peak], int, int]:
    """Run ``command``, polling peaks; the peaks by pid, wait4's ru_maxrss (KiB), the exit."""
    peaks: dict[int, Peak] = {}
    suite = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    peaks[suite.pid] = Peak("suite (pytest)")
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        done, status, usage = os.wait4(suite.pid, os.WNOHANG)
        if done:
            suite.returncode = os.waitstatus_to_exitcode(status)
            return peaks, usage.ru_maxrss, suite.returncode
        for pid in [suite.pid, *descendants(suite.pid)]:
            kib = high_water_kib(pid)
            if kib is None:
                continue
            peak = peaks.setdefault(pid, Peak(name_of(pid)))
            peak.kib = max(peak.kib, kib)
        if time.monotonic() > deadline:
            suite.kill()
            sys.exit(f"the run took over {RUN_TIMEOUT} s: stopped")
        time.sleep(interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, help="the suite's --examples (default: its own)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between readings")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args()
    if not 0.01 <= args.interval <= 1:
        parser.error("expected --interval 0.01..1")
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pytest", "conformance", "-q", "--report-dir", tmp]
        if args.examples is not None:
            command += ["--examples", str(args.examples)]
        command += args.pytest_args
        env = {key: value for key, value in os.environ.items() if not key.startswith("VATS_")}
        start = time.perf_counter()
        peaks, maxrss_kib, status = watch(command, env, args.interval)
        wall = time.perf_counter() - start
    shown = " ".join(["pytest conformance -q", *command[7:]])  # not the temporary folder
    print(f"{shown}: exit {status}, {wall:.1f} s, load average (1 min) {os.getloadavg()[0]:.2f}")
    print(f"{'process':42}{'peak RSS MB':>12}")
    for pid, peak in peaks.items():
        mb = peak.kib * 1024 / 1e6
        print(f"{peak.name + f' [{pid}]':42}{mb:>12.1f}{'  over the bar' if mb > BAR_MB else ''}")
    print(
        f"wait4 ru_maxrss of the suite and its children (the largest): "
        f"{maxrss_kib * 1024 / 1e6:.1f} MB; bar: {BAR_MB} MB for each process"
    )


if __name__ == "__main__":
    main()
