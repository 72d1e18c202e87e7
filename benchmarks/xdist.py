"""Benchmark: the embedded run with pytest-xdist (``-n 2``) next to the same run without it.

Each round runs ``python -m pytest conformance --examples N --seed S`` twice, as a
user would, once with ``-n 0`` and once with ``-n 2``, in alternating order (the
first round starts with ``-n 0``, the next with ``-n 2``, ...), so that a machine
getting busier or quieter does not favour one of them. Wall time is measured
around the whole command (start-up, the references, the cases, the report); CPU
is the command's and its children's (the references, xdist's workers). Each run
must exit 0 and the verdicts of every run must be the same ({case id: verdict} of
results.json). Prints the rounds, the medians and their ratio; asserts nothing.

    python benchmarks/xdist.py [--examples 1000] [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    wall_s: float
    cpu_s: float
    load: float
    verdicts: dict[str, str]


def run(workers: int, examples: int, seed: int, timeout: float) -> Result:
    """One embedded run; its wall time, CPU time, load average before it, and verdicts."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VATS_")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "conformance",
                "-q",
                "-p",
                "no:cacheprovider",
                "-n",
                str(workers),
                "--examples",
                str(examples),
                "--seed",
                str(seed),
                "--report-dir",
                tmp,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(
                f"-n {workers}: the suite failed against the references "
                f"(exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
        doc = json.loads((Path(tmp) / "results.json").read_text(encoding="utf-8"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Result(wall, cpu, load, {c["id"]: c["verdict"] for c in doc["cases"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="-n of the xdist run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    args = parser.parse_args()
    print(
        f"embedded run, --examples {args.examples} --seed {args.seed}, {args.rounds} rounds, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'round':>5} {'run':>6} {'wall s':>8} {'CPU s':>8} {'load':>5} {'cases':>6}")
    walls: dict[int, list[float]] = {0: [], args.workers: []}
    verdicts: list[dict[str, str]] = []
    for n in range(args.rounds):
        order = (0, args.workers) if n % 2 == 0 else (args.workers, 0)
        for workers in order:
            result = run(workers, args.examples, args.seed, args.timeout)
            walls[workers].append(result.wall_s)
            verdicts.append(result.verdicts)
            print(
                f"{n + 1:>5} {'-n ' + str(workers):>6} {result.wall_s:>8.1f} "
                f"{result.cpu_s:>8.1f} {result.load:>5.2f} {len(result.verdicts):>6}",
                flush=True,
            )
    same = all(v == verdicts[0] for v in verdicts)
    plain, spread = statistics.median(walls[0]), statistics.median(walls[args.workers])
    print(f"verdicts identical in every run: {'yes' if same else 'NO'}")
    print(f"median wall time: -n 0 {plain:.1f} s, -n {args.workers} {spread:.1f} s")
    print(f"xdist speed-up (-n 0 / -n {args.workers}, medians): {plain / spread:.2f}x")
    rounds = [f"{a / b:.2f}x" for a, b in zip(walls[0], walls[args.workers], strict=True)]
    print(f"per round: {', '.join(rounds)}")


if __name__ == "__main__":
    main()
