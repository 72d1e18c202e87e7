"""Benchmark: the reference PBX emulator's call_back throughput next to a minimal ASGI server.

(Over 400 lines: the load generator, the two servers' start-up and the table are one
script a user runs alone.)

Two servers on loopback, each one process, both on uvicorn (h11, the standard
asyncio loop): the emulator (``python -m conformance.reference.pbx``, its
plain-HTTP listener) and benchmarks/minimal_asgi.py, a bare ASGI app which
verifies the same signature and answers the same JSON and does nothing else. A load generator,
a process of its own and the same for both, keeps ``--concurrency`` connections
(kept alive where the server allows it) busy for ``--duration`` seconds, after
``--warmup`` seconds not counted, with correctly signed call_back requests.
Targets alternate, for ``--rounds`` rounds; the median of the rounds is
reported, with each server's CPU time per answer (less sensitive than
throughput to other work on the machine). Only answers with ``result`` 0 count
as throughput; refusals (e.g. 429) and errors are counted apart and printed.
Prints numbers; asserts nothing.

The emulator's limit on call_back (100 an hour) is lifted and its call
timings set to 0 through the admin API. Each call_back still plans and plays a
call (registered, three steps, each logged in the call); by default the
call_events switch (3.1.3) is off, so the steps post nothing: the minimal
server sends nothing either. ``--call-events`` instead sends them, three per
call, to a reference CRM in a third process (the cost of deliveries, and of
the 64-call cap, shows there).

    python benchmarks/pbx_call_back.py [--rounds 3] [--duration 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from conformance.reference import process  # noqa: E402
from conformance.spec import signing  # noqa: E402

BODIES = 64  # distinct signed requests the load generator cycles through
# The service needs an address to be on (3.1.1); with call_events off nothing goes there.
OFF_ADDRESS = "http://127.0.0.1:9"


# -- the load generator (runs in its own process: --load URL) -----------------
def requests_for(url: str, client_id: str, key: str) -> list[bytes]:
    """``BODIES`` complete HTTP/1.1 requests, each signed over its own body."""
    host = urlsplit(url).netloc
    out = []
    for i in range(BODIES):
        body = json.dumps(
            {"request_number": f"+7495{1_000_000 + i * 7919:07d}", "from_pin": str(101 + i % 3)}
        ).encode("utf-8")
        head = (
            f"POST /call_back HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\n"
            f"{signing.CLIENT_ID_HEADER}: {client_id}\r\n"
            f"{signing.SIGN_HEADER}: {signing.sign(client_id, body, key)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode("ascii") + body)
    return out


@dataclass
class Tally:
    """What one load run saw. Answers count when their request was sent after the
    warm-up and answered before the end; errors when their request was sent after
    the warm-up."""

    ok: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, successes only
    refused: Counter[str] = field(default_factory=Counter)  # "HTTP 429 result 40": n
    errors: Counter[str] = field(default_factory=Counter)  # timeouts, resets, bad answers
    connections: int = 0  # TCP connections opened, warm-up included
    answered: int = 0  # answers read, warm-up included


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 answer with a Content-Length: status, body, whether to reconnect."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    return status, await reader.readexactly(length), close


def judge(status: int, body: bytes) -> str | None:
    """None for a success (200 and ``result`` 0 with a session_id), else what it was."""
    try:
        doc = json.loads(body)
        result = doc["result"]
    except (ValueError, TypeError, KeyError):
        return f"HTTP {status}, not a call_back answer"
    if status == 200 and result == 0 and isinstance(doc.get("session_id"), str):
        return None
    return f"HTTP {status} result {result}"


@dataclass(frozen=True)
class Plan:
    """One load run: where, what, when (monotonic seconds) and how long to wait."""

    url: str
    requests: list[bytes]
    counted_from: float
    end: float
    timeout: float


async def connection(plan: Plan, offset: int, tally: Tally) -> None:
    """One client connection: one request after another until the end, on the same
    TCP connection for as long as the server keeps it open."""
    split = urlsplit(plan.url)
    requests, counted_from, end, timeout = plan.requests, plan.counted_from, plan.end, plan.timeout
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    i = offset
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                if reader is None or writer is None:
                    reader, writer = await asyncio.open_connection(split.hostname, split.port)
                    tally.connections += 1
                writer.write(requests[i % len(requests)])
                i += 1
                status, body, close = await read_answer(reader)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if started >= counted_from:  # a timeout may end after the run: still counted
                tally.errors[type(exc).__name__] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.05)  # no hot loop against a server that refuses
            continue
        done = time.monotonic()
        tally.answered += 1
        if started >= counted_from and done <= end:
            problem = judge(status, body)
            if problem is None:
                tally.ok += 1
                tally.latencies.append(done - started)
            elif problem.startswith("HTTP 4"):
                tally.refused[problem] += 1
            else:
                tally.errors[problem] += 1
        if close:  # the server said Connection: close; the next request reconnects
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(timeout):
                await writer.wait_closed()


async def load(url: str, concurrency: int, warmup: float, duration: float, timeout: float) -> Tally:
    client_id, key = os.environ["VATS_CLIENT_ID"], os.environ["VATS_CLIENT_KEY"]
    requests = requests_for(url, client_id, key)
    tally = Tally()
    start = time.monotonic()
    plan = Plan(url, requests, start + warmup, start + warmup + duration, timeout)
    await asyncio.gather(
        *(connection(plan, n * BODIES // concurrency, tally) for n in range(concurrency))
    )
    return tally


def percentile(values: list[float], q: int) -> float | None:
    """The q-th percentile (1..99), in ms; None with fewer than two values."""
    if len(values) < 2:
        return None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def run_load(args: argparse.Namespace) -> None:
    """``--load URL``: one run against one server; one JSON line on stdout."""
    cpu = time.process_time()
    tally = asyncio.run(load(args.load, args.concurrency, args.warmup, args.duration, args.timeout))
    cpu = time.process_time() - cpu
    print(
        json.dumps(
            {
                "ok": tally.ok,
                "rate": tally.ok / args.duration,
                "p50_ms": percentile(tally.latencies, 50),
                "p99_ms": percentile(tally.latencies, 99),
                "refused": dict(tally.refused),
                "errors": dict(tally.errors),
                "connections": tally.connections,
                "answered": tally.answered,
                "per_connection": tally.answered / max(tally.connections, 1),
                "client_cpu": cpu / (args.warmup + args.duration),
            }
        )
    )


# -- the orchestrator ---------------------------------------------------------
@dataclass
class Target:
    name: str
    child: process.Child
    runs: list[dict[str, Any]] = field(default_factory=list)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(target: Target, args: argparse.Namespace, env: dict[str, str]) -> None:
    """One load run against ``target`` in a fresh load-generator process."""
    before = cpu_seconds(target.child.process.pid)
    done = subprocess.run(  # noqa: PLW1510 - checked below, with the child's stderr
        [
            sys.executable,
            __file__,
            "--load",
            target.child.url,
            "--concurrency",
            str(args.concurrency),
            "--warmup",
            str(args.warmup),
            "--duration",
            str(args.duration),
            "--timeout",
            str(args.timeout),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=args.warmup + args.duration + 2 * args.timeout + 30,
    )
    after = cpu_seconds(target.child.process.pid)
    if done.returncode != 0:
        sys.exit(f"the load generator failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    run: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    span = args.warmup + args.duration
    used = None if before is None or after is None else after - before
    run["server_cpu"] = None if used is None else used / span
    # CPU per answer: less sensitive than ok/s to other work on the machine
    run["cpu_ms"] = None if used is None or not run["answered"] else used * 1000 / run["answered"]
    target.runs.append(run)


def start_emulator(client_id: str, key: str, token: str, address: str) -> process.Child:
    """The reference PBX emulator on loopback, its call timings 0; ``configure`` lifts the rest."""
    return process.start(
        "conformance.reference.pbx",
        ["--host", "127.0.0.1", "--port", "0", "--quiet", "--with-parent",
         "--client-id", client_id, "--external-address", address,
         "--ring-ms", "0", "--announcement-ms", "0", "--talk-ms", "0"],
        {"VATS_CLIENT_KEY": key, "VATS_ADMIN_TOKEN": token},
    )  # fmt: skip


def configure(pbx_url: str, client_id: str, token: str, call_events: bool) -> None:
    """Lift the call_back limit, zero the timings, switch call_events on or off."""
    auth = {"Authorization": f"Bearer {token}"}
    changes = [
        (f"/admin/clients/{client_id}/methods/call_back", {"limit": None}),
        ("/admin/scenario", {"ring_ms": 0, "announcement_ms": 0, "talk_ms": 0}),
        (f"/admin/clients/{client_id}/methods/call_events", {"enabled": call_events}),
    ]
    with httpx.Client(base_url=pbx_url, headers=auth, timeout=5.0, trust_env=False) as admin:
        for path, body in changes:
            response = admin.patch(path, json=body)
            if response.status_code != 200:
                sys.exit(f"PATCH {path}: HTTP {response.status_code} {response.text[:300]}")


def admin_stats(pbx_url: str, client_id: str, token: str) -> dict[str, Any]:
    with httpx.Client(base_url=pbx_url, timeout=5.0, trust_env=False) as admin:
        response = admin.get(
            f"/admin/clients/{client_id}/stats",
            params={"period": 86400},
            headers={"Authorization": f"Bearer {token}"},
        )
    stats: dict[str, Any] = response.json()["stats"] if response.status_code == 200 else {}
    return stats


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(targets: list[Target], args: argparse.Namespace) -> None:
    def median(target: Target, key: str) -> float | None:
        values = [run[key] for run in target.runs if run[key] is not None]
        return statistics.median(values) if values else None

    mode = "call_events to a reference CRM" if args.call_events else "call_events switched off"
    print(
        f"call_back on 127.0.0.1, {args.concurrency} connections, {args.duration:g} s counted "
        f"after {args.warmup:g} s warm-up, {args.rounds} round(s) alternating; emulator: {mode}"
    )
    print(
        f"{'median of rounds':18}{'ok/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'server':>8}{'client':>8}"
        f"{'CPU ms':>8}{'req/conn':>10}{'ok':>8}{'refused':>9}{'errors':>8}"
    )
    for target in targets:
        refused = sum(sum(run["refused"].values()) for run in target.runs)
        errors = sum(sum(run["errors"].values()) for run in target.runs)
        print(
            f"{target.name:18}{fmt(median(target, 'rate'), '.0f'):>7}"
            f"{fmt(median(target, 'p50_ms'), '.1f'):>8}{fmt(median(target, 'p99_ms'), '.1f'):>8}"
            f"{fmt(median(target, 'server_cpu'), '.0%'):>8}"
            f"{fmt(median(target, 'client_cpu'), '.0%'):>8}"
            f"{fmt(median(target, 'cpu_ms'), '.2f'):>8}"
            f"{fmt(median(target, 'per_connection'), '.1f'):>10}"
            f"{sum(run['ok'] for run in target.runs):>8}{refused:>9}{errors:>8}"
        )
    print(
        "(ok/s: answers with result 0 per second; p50/p99: their latency; server/client: CPU "
        "of the server's and the load generator's process, 100% = one core; CPU ms: the "
        "server's CPU time per answer; req/conn: requests per TCP connection; ok, refused, "
        "errors: totals over the rounds)"
    )
    for target in targets:
        print(f"{target.name} ok/s per round: " + " ".join(f"{r['rate']:.0f}" for r in target.runs))
        kinds: Counter[str] = Counter()
        for run in target.runs:
            kinds.update(run["refused"])
            kinds.update(run["errors"])
        if kinds:
            print("  not counted: " + ", ".join(f"{k}: {n}" for k, n in kinds.most_common()))
    pairs = zip(targets[0].runs, targets[1].runs, strict=True)
    ratios = [a["rate"] / b["rate"] for a, b in pairs if b["rate"]]
    print("emulator / minimal per round: " + " ".join(f"{r:.0%}" for r in ratios))
    emulator, minimal = (median(t, "rate") for t in targets)
    if emulator is not None and minimal:
        print(f"emulator / minimal (median ok/s): {emulator / minimal:.0%}")
    emulator_cpu, minimal_cpu = (median(t, "cpu_ms") for t in targets)
    if emulator_cpu and minimal_cpu:
        print(f"minimal / emulator (median CPU ms per answer): {minimal_cpu / emulator_cpu:.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each server (default 3)")
    parser.add_argument(
        "--duration", type=float, default=5.0, help="counted seconds per run (default 5)"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="uncounted seconds before each run (default 1)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="concurrent connections (default 16)"
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for an answer (default 5)"
    )
    parser.add_argument(
        "--call-events",
        action="store_true",
        help="the emulator sends call_events to a reference CRM (default: switched off)",
    )
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)  # the load generator
    args = parser.parse_args()
    if not (1 <= args.concurrency <= 256 and 0 < args.duration <= 600 and 1 <= args.rounds <= 50):
        parser.error("expected --concurrency 1..256, --duration 0..600 s, --rounds 1..50")
    if not (0 <= args.warmup <= 60 and 0 < args.timeout <= 60):
        parser.error("expected --warmup 0..60 s and --timeout 0..60 s")
    if args.load:
        run_load(args)
        return
    client_id, key = secrets.token_hex(16).upper(), secrets.token_hex(16).upper()
    token = secrets.token_urlsafe(16)
    credentials = {"VATS_CLIENT_ID": client_id, "VATS_CLIENT_KEY": key}
    paths = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    load_before = os.getloadavg()[0]
    children: list[process.Child] = []
    try:
        address = OFF_ADDRESS
        if args.call_events:
            crm = process.start(
                "conformance.reference.crm",
                ["--port", "0", "--quiet", "--with-parent", "--client-id", client_id],
                {"VATS_CLIENT_KEY": key},
            )
            children.append(crm)
            address = crm.url
        pbx = start_emulator(client_id, key, token, address)
        children.append(pbx)
        configure(pbx.url, client_id, token, args.call_events)
        minimal = process.start(
            "minimal_asgi",
            ["--host", "127.0.0.1", "--port", "0", "--with-parent", "--client-id", client_id],
            {"VATS_CLIENT_KEY": key, "PYTHONPATH": os.pathsep.join([str(HERE), *paths])},
        )
        children.append(minimal)
        targets = [Target("emulator", pbx), Target("minimal", minimal)]
        for round_ in range(args.rounds):  # alternate the order: drift hits both sides
            for target in targets if round_ % 2 == 0 else targets[::-1]:
                measure(target, args, credentials)
        stats = admin_stats(pbx.url, client_id, token)
    finally:
        for child in reversed(children):
            child.stop()
    report(targets, args)
    print(
        f"load average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} cores (other work on the machine skews both sides)"
    )
    if stats:
        print(
            "emulator's own count (3.1.3): "
            + ", ".join(
                f"{method} {row['ok']} ok / {row['failed']} failed"
                for method, row in stats.items()
                if row["total"]
            )
        )


if __name__ == "__main__":
    main()
