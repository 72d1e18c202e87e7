"""results.json counts what happened: each exchange once, latency only where one was measured.

The pbx-events cases all cite the same few exchanges (the placed calls and their
notifications); ``requests`` counts each once and ``latency_ms`` only the suite's
own requests. Counted against the document itself (the distinct exchanges its
cases cite), and against the reference PBX's own log of what it received and sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest

from conformance.reference.pbx import Pbx
from tests.faults.pbx import ADMIN_TOKEN, EVENTS, Entry
from tests.support import SuiteRun, pbx_args, run_suite
from tests.test_pbx_faults import serving_pbx


def distinct(document: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The exchanges the cases cite, each once (by its id)."""
    return {e["id"]: e for c in document["cases"] for e in c["exchanges"]}


def assert_counted_once(run: SuiteRun) -> dict[str, Any]:
    document = run.results
    exchanges = distinct(document)
    cited = sum(len(c["exchanges"]) for c in document["cases"])
    received = [e for e in exchanges.values() if e.get("received")]
    sent = [e for e in exchanges.values() if not e.get("received")]
    assert received, "the listener received the calls' notifications"
    assert cited > len(exchanges), "cases cite the same exchanges (the placed calls)"
    assert document["requests"] == len(exchanges), run.stdout
    assert document["latency_ms"]["count"] == sum(1 for e in sent if e["response"])
    assert document["latency_ms"]["p50"] > 0
    for e in received:  # the listener's real answer, and no made-up latency
        assert "elapsed_ms" not in e
        assert e["response"]["status"] == 200
        assert e["response"]["body"] == "{}"
    return document


def test_embedded_run_counts_each_exchange_once(tmp_path: Path) -> None:
    run = run_suite(["--seed", "1", "--events-timeout", "5"], tmp_path / "report", paths=(EVENTS,))
    assert run.returncode == 0, run.stdout + run.stderr
    document = assert_counted_once(run)
    assert document["seed"] == 1
    assert document["hypothesis_version"] == hypothesis.__version__
    assert f"seed 1 (Hypothesis {hypothesis.__version__}; replay with --seed 1)" in run.stdout


def test_requests_are_what_the_pbx_logged(tmp_path: Path) -> None:
    """Every call_back and get_record the PBX received, every notification it sent: its log."""
    with serving_pbx(Entry(Pbx, {}, paths=(EVENTS,))) as (url, listen):
        run = run_suite(pbx_args(url, listen), tmp_path / "report", paths=(EVENTS,))
        log = httpx.get(
            f"{url}/admin/log",
            params={"limit": 2000},
            headers={"X-Admin-Token": ADMIN_TOKEN},
            timeout=5.0,
            trust_env=False,
        ).json()["entries"]
    assert run.returncode == 0, run.stdout + run.stderr
    document = assert_counted_once(run)
    notifications = [e for e in log if e["method"] == "call_events"]
    assert notifications, log
    assert len(log) < 2000, "the log holds the whole run"
    assert document["requests"] == len(log), [(e["method"], e["direction"]) for e in log]


@pytest.mark.parametrize("field", ["requests", "latency_ms", "hypothesis_version"])
def test_readme_names_the_fields(field: str) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert f'"{field}"' in readme
