"""Benchmark: the CRM-webhook role's run time and request rate, next to a bare httpx loop.

Both talk to the same reference CRM, started once in its own process on
loopback for this run. The suite runs as users run it (``python -m pytest
conformance --crm-url ...``); its request count and timings come from its
results.json. The bare loop then sends the same number of correctly signed
notifications, one after another, over one httpx client. Prints numbers;
asserts nothing.

    python benchmarks/crm_role.py [--examples N] [--repeat K]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conformance.reference import process  # noqa: E402
from conformance.spec import examples, signing  # noqa: E402


def run_suite(url: str, client_id: str, key: str, examples_n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
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
                "-p",
                "no:schemathesis",  # the bench extra installs Schemathesis' pytest plugin too
                "--crm-url",
                url,
                "--examples",
                str(examples_n),
                "--report-dir",
                tmp,
            ],
            cwd=ROOT,
            env={
                "VATS_CLIENT_ID": client_id,
                "VATS_CLIENT_KEY": key,
                "PATH": "/usr/bin:/bin",
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        wall = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(
                f"the suite failed against the reference (exit {done.returncode}):\n"
                + done.stdout[-2000:]
            )
        doc = json.loads((Path(tmp) / "results.json").read_text(encoding="utf-8"))
    return {
        "wall_s": wall,
        "session_s": doc["duration_s"],
        "cases_s": doc["cases_run_s"],
        "requests": doc["requests"],
    }


def run_bare(url: str, client_id: str, key: str, count: int) -> float:
    body = examples.raw("call_events.disconnected")
    headers = signing.signed_headers(client_id, body, key)
    with httpx.Client(timeout=5.0) as client:
        start = time.perf_counter()
        for _ in range(count):
            response = client.post(f"{url}/call_events", content=body, headers=headers)
            if response.status_code != 200:
                sys.exit(f"the bare loop got HTTP {response.status_code}")
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=25, help="the suite's --examples (default 25)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each side (default 5)")
    args = parser.parse_args()
    client_id, key = secrets.token_hex(16).upper(), secrets.token_hex(16).upper()
    child = process.start(
        "conformance.reference.crm",
        ["--port", "0", "--quiet", "--client-id", client_id],
        {"VATS_CLIENT_KEY": key},
    )
    suites: list[dict[str, float]] = []
    bares: list[float] = []
    try:
        for _ in range(args.repeat):  # alternate, so that drift on the machine hits both sides
            suites.append(run_suite(child.url, client_id, key, args.examples))
            bares.append(run_bare(child.url, client_id, key, int(suites[0]["requests"])))
    finally:
        child.stop()
    requests = int(suites[0]["requests"])
    suite_cases = statistics.median(s["cases_s"] for s in suites)
    bare = statistics.median(bares)
    suite_rate, bare_rate = requests / suite_cases, requests / bare
    print(f"reference CRM at {child.url}, {requests} requests per run, median of {args.repeat}")
    print(
        "rounds (suite cases s / bare loop s = ratio): "
        + ", ".join(
            f"{s['cases_s']:.2f}/{b:.2f} = {b / s['cases_s']:.0%}"
            for s, b in zip(suites, bares, strict=True)
        )
    )
    print(f"{'':28}{'time s':>10}{'req/s':>10}")
    print(
        f"{'suite: process wall':28}{statistics.median(s['wall_s'] for s in suites):>10.2f}{'':>10}"
    )
    print(
        f"{'suite: pytest session':28}{statistics.median(s['session_s'] for s in suites):>10.2f}"
        f"{'':>10}"
    )
    print(f"{'suite: running its cases':28}{suite_cases:>10.2f}{suite_rate:>10.0f}")
    print(f"{'bare httpx loop':28}{bare:>10.2f}{bare_rate:>10.0f}")
    print(f"suite request rate / bare loop rate: {suite_rate / bare_rate:.0%}")


if __name__ == "__main__":
    main()
