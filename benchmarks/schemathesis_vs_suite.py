"""Benchmark: the suite's generated call_back cases and Schemathesis, same emulator and budget.

One reference PBX emulator on loopback, started as benchmarks/pbx_call_back.py
starts it (call timings 0, the call_back limit lifted and call_events off
through the admin API), serves both sides in turn, for ``--rounds`` rounds in
alternating order:

* the suite, as a user runs it against a PBX: ``python -m pytest -p conformance
  -k "test_explore_valid or test_explore_invalid" --pbx-url URL --examples N``
  (the two generated call_back cases of role pbx-api, nothing else);
* Schemathesis (the optional ``bench`` extra): ``schemathesis run`` on the
  OpenAPI document the suite exports (``vats-conformance export openapi``),
  ``call_back`` only, ``--max-examples N``, its fuzzing phase, no shrinking (the
  suite does not shrink either), ``--continue-on-failure`` (the suite sends its
  whole budget whatever it finds), its own default checks and workers. The
  requests are signed (benchmarks/schemathesis_hooks.py): unsigned ones would be
  refused at the first check, which is not the same work.

Prints each side's wall time, CPU time (the process and its children, from
rusage: less sensitive than wall time to other work on the machine) and the
requests the emulator counted, the medians, and the ratio suite / Schemathesis
(the target: at most 0.5). Asserts nothing.

    python benchmarks/schemathesis_vs_suite.py [--examples 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from pbx_call_back import OFF_ADDRESS, admin_stats, configure, start_emulator  # noqa: E402

from conformance.contract import openapi  # noqa: E402
from conformance.settings import EMBEDDED_PARTIES  # noqa: E402

#: The generated call_back cases of role pbx-api (conformance/roles/pbx_api/test_generated.py).
SUITE_CASES = "test_explore_valid or test_explore_invalid"
RUN_TIMEOUT = 300  # seconds for one side's run, at most


def child_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str, int]:
    """Run ``command``; its wall time, CPU time (it and its children), output and exit status."""
    cpu, start = child_cpu(), time.perf_counter()
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    wall = time.perf_counter() - start
    return wall, child_cpu() - cpu, done.stdout + done.stderr, done.returncode


def base_env(client_id: str, key: str) -> dict[str, str]:
    return {
        "VATS_CLIENT_ID": client_id,
        "VATS_CLIENT_KEY": key,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
    }


def run_suite(url: str, env: dict[str, str], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    report = tmp / "suite-report"
    command = [
        sys.executable, "-m", "pytest", "-p", "conformance", "-q",
        "-p", "no:cacheprovider",
        "-p", "no:schemathesis",  # the bench extra installs Schemathesis' pytest plugin too
        "-k", SUITE_CASES,
        "--pbx-url", url,
        "--from-pin", EMBEDDED_PARTIES["--from-pin"],
        "--call-to", EMBEDDED_PARTIES["--call-to"],
        "--examples", str(args.examples),
        "--seed", str(args.seed),
        "--report-dir", str(report),
    ]  # fmt: skip
    wall, cpu, output, status = timed(command, env, tmp)
    if status != 0:
        sys.exit(f"the suite's run failed (exit {status}):\n{output[-3000:]}")
    doc = json.loads((report / "results.json").read_text(encoding="utf-8"))
    cases = {case["id"]: case["verdict"] for case in doc["cases"]}
    shutil.rmtree(report, ignore_errors=True)
    return {
        "wall": wall,
        "cpu": cpu,
        "cases": cases,
        "session": doc["duration_s"],
        "cases_s": doc["cases_run_s"],
    }


def run_schemathesis(
    url: str, env: dict[str, str], args: argparse.Namespace, tmp: Path, document: Path
) -> dict[str, Any]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", str(document),
        "--url", url,
        "--include-operation-id", "call_back",
        "--max-examples", str(args.examples),
        "--phases", "fuzzing",
        "--no-shrink",
        "--continue-on-failure",
        "--seed", str(args.seed),
        "--report-dir", str(tmp / "schemathesis-report"),
    ]  # fmt: skip
    hooks_env = {
        **env,
        "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]),
        "NO_COLOR": "1",
    }
    wall, cpu, output, status = timed(command, hooks_env, tmp)
    if status not in (0, 1):  # 1: it found failures, which still is a finished run
        sys.exit(f"Schemathesis did not run (exit {status}):\n{output[-3000:]}")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return {"wall": wall, "cpu": cpu, "status": status, "last": lines[-1] if lines else ""}


def call_backs(url: str, client_id: str, token: str) -> int:
    row = admin_stats(url, client_id, token).get("call_back", {})
    return int(row.get("total", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300, help="the budget (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="both sides' seed (default 1)")
    args = parser.parse_args()
    if not (1 <= args.examples <= 5000 and 1 <= args.rounds <= 20):
        parser.error("expected --examples 1..5000 and --rounds 1..20")
    if shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None:
        sys.exit('Schemathesis is not installed here: pip install -e ".[bench]"')
    client_id, key = secrets.token_hex(16).upper(), secrets.token_hex(16).upper()
    token = secrets.token_urlsafe(16)
    env = base_env(client_id, key)
    load_before = os.getloadavg()[0]
    sides: dict[str, list[dict[str, Any]]] = {"suite": [], "schemathesis": []}
    pbx = start_emulator(client_id, key, token, OFF_ADDRESS)
    try:
        configure(pbx.url, client_id, token, call_events=False)
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            document = tmp / "openapi.json"
            document.write_text(json.dumps(openapi.build(), ensure_ascii=False), encoding="utf-8")
            order = ["suite", "schemathesis"]
            for round_ in range(args.rounds):  # alternate: drift on the machine hits both
                for side in order if round_ % 2 == 0 else order[::-1]:
                    before = call_backs(pbx.url, client_id, token)
                    if side == "suite":
                        run = run_suite(pbx.url, env, args, tmp)
                    else:
                        run = run_schemathesis(pbx.url, env, args, tmp, document)
                    run["requests"] = call_backs(pbx.url, client_id, token) - before
                    sides[side].append(run)
    finally:
        pbx.stop()
    report(sides, args, load_before)


def report(sides: dict[str, list[dict[str, Any]]], args: argparse.Namespace, load: float) -> None:
    print(
        f"call_back only, --examples/--max-examples {args.examples}, seed {args.seed}, "
        f"{args.rounds} alternating rounds, one emulator"
    )
    print(f"{'':14}{'wall s (each round)':>28}{'median':>9}{'CPU s median':>14}{'call_backs':>12}")
    medians: dict[str, tuple[float, float]] = {}
    for side, runs in sides.items():
        walls = [run["wall"] for run in runs]
        cpus = [run["cpu"] for run in runs]
        medians[side] = (statistics.median(walls), statistics.median(cpus))
        each = ", ".join(f"{wall:.1f}" for wall in walls)
        requests = statistics.median(run["requests"] for run in runs)
        print(
            f"{side:14}{each:>28}{medians[side][0]:>9.2f}{medians[side][1]:>14.2f}{requests:>12.0f}"
        )
    suite = sides["suite"]
    print(
        f"suite inside its process (medians): pytest session "
        f"{statistics.median(run['session'] for run in suite):.2f} s, its cases "
        f"{statistics.median(run['cases_s'] for run in suite):.2f} s"
    )
    verdicts = sides["suite"][0]["cases"]
    print("suite's verdicts: " + ", ".join(f"{case} {v}" for case, v in sorted(verdicts.items())))
    print(f"Schemathesis' last line: {sides['schemathesis'][0]['last'][:160]}")
    wall_ratio = medians["suite"][0] / medians["schemathesis"][0]
    cpu_ratio = medians["suite"][1] / medians["schemathesis"][1]
    print(f"suite / Schemathesis, wall time (medians): {wall_ratio:.2f} (target <= 0.5)")
    print(f"suite / Schemathesis, CPU time (medians): {cpu_ratio:.2f}")
    print(
        f"load average (1 min) before / after: {load:.2f} / {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} cores (other work on the machine skews both sides)"
    )


if __name__ == "__main__":
    main()
