"""Running the suite the way users do, for the self-tests.

``run_suite`` starts ``python -m pytest conformance ...`` in a child process
(the real command line, the real exit status, the real results.json) against
a target the test serves on loopback with ``serving``: on the references' own
stack (conformance/reference/server.py, uvicorn), or -- for the few receivers
that need the header names as they were sent -- on the standard library's
``http.server`` (``names_as_sent``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from conformance.reference.server import MAX_BODY, serve
from conformance.reference.web import Handler, Headers, Request, respond

ROOT = Path(__file__).resolve().parents[1]
CLIENT_ID = "000003C405E6525C64C184258C44EC99"
CLIENT_KEY = "00000716ABDA6D4DFF10F82BCBBFC532"
#: Where the suite's child runs keep their bytecode (never next to the sources).
PYCACHE = Path(tempfile.gettempdir()) / f"vats-conformance-pycache-{os.getuid()}"
#: Enough examples to exercise every generated case, few enough to keep a run short.
FAST = ("--examples", "5")


@dataclass
class SuiteRun:
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def results(self) -> dict[str, Any]:
        with (self.report_dir / "results.json").open(encoding="utf-8") as fh:
            doc: dict[str, Any] = json.load(fh)
        return doc

    def verdicts(self) -> dict[str, str]:
        """case id -> verdict."""
        return {c["id"]: c["verdict"] for c in self.results["cases"]}

    def with_verdict(self, verdict: str) -> set[str]:
        return {case_id for case_id, v in self.verdicts().items() if v == verdict}

    def base_ids(self, verdict: str) -> set[str]:
        """Case ids without their parameter part, e.g. ``crm.sign.altered``."""
        return {case_id.split("[")[0] for case_id in self.with_verdict(verdict)}


def run_suite(
    args: Sequence[str],
    report_dir: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    paths: Sequence[str] = ("conformance",),
) -> SuiteRun:
    """``python -m pytest conformance -q -p no:cacheprovider <args> --report-dir <report_dir>``.

    ``paths`` replaces ``conformance`` to run only some roles or files.
    """
    done = subprocess.run(
        suite_command(args, report_dir, paths),
        cwd=ROOT,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return SuiteRun(done.returncode, done.stdout, done.stderr, report_dir)


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child run: no ``VATS_`` settings of ours, ``env`` on top."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("VATS_")}
    # Children share one bytecode cache outside the tree: each would otherwise
    # compile the suite anew (seconds per run) when PYTHONDONTWRITEBYTECODE is set.
    out.update(PYTHONDONTWRITEBYTECODE="", PYTHONPYCACHEPREFIX=str(PYCACHE))
    out.update(env or {})
    return out


def suite_command(args: Sequence[str], report_dir: Path, paths: Sequence[str]) -> list[str]:
    """The command line ``run_suite`` runs (in ``ROOT``)."""
    return [
        sys.executable,
        "-m",
        "pytest",
        *paths,
        "-q",
        "-p",
        "no:cacheprovider",
        *args,
        "--report-dir",
        str(report_dir),
    ]


@contextmanager
def serving(app: Handler, *, names_as_sent: bool = False) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 for the duration of the block; yields its base URL.

    On the references' stack, every request answered on a thread (a test's receiver
    may sleep or block). ``names_as_sent``: on ``http.server`` instead, whose headers
    keep the spelling that came -- uvicorn, as ASGI does, lowercases every name, and
    a receiver that looks a header up by its exact spelling (a fault of the catalogue)
    or passes headers on as they came (the PBX faults' relay) needs what was sent.
    """
    if names_as_sent:
        with _spelled(app) as url:
            yield url
        return
    served = serve(app)
    try:
        yield served.url
    finally:
        served.stop()


class _SpelledServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the suite's burst opens 20 connections at once

    def __init__(self, app: Handler) -> None:
        super().__init__(("127.0.0.1", 0), _Spelled)
        self.app = app


class _Spelled(BaseHTTPRequestHandler):
    """One request read by ``http.server`` (header names as sent), answered by the app."""

    protocol_version = "HTTP/1.1"
    timeout = 10.0  # a client that stalls mid-request does not hold the thread forever
    server: _SpelledServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = self.headers.get("Content-Length", "")
        declared = int(length) if length.strip().isdigit() else None
        complete = declared is None or declared <= MAX_BODY
        body = self.rfile.read(declared) if complete and declared else b""
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=unquote(path),
            query=query.encode("latin-1"),
            headers=Headers(self.headers.items()),
            body=body,
            complete=complete,
            remote=self.client_address[0],
            base_url=f"http://{self.headers.get('Host', '')}",
            target=self.path,
        )
        response = respond(self.server.app, request)
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if not complete:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


@contextmanager
def _spelled(app: Handler) -> Iterator[str]:
    server = _SpelledServer(app)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def crm_args(url: str, *extra: str) -> list[str]:
    return ["--crm-url", url, "--client-id", CLIENT_ID, "--client-key", CLIENT_KEY, *FAST, *extra]


def free_port() -> int:
    """A loopback port free now (a target that must know its PBX API's port beforehand)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_taken(run: SuiteRun) -> bool:
    """Whether ``run`` ended before its cases because a port ``free_port`` chose was
    taken by another process in the meantime (one ``ERROR:`` line, exit 4): a race of
    the test's, not a finding, to be run again on another port."""
    return run.returncode == 4 and "Address already in use" in run.stderr


def client_args(port: int, command: str, *extra: str) -> list[str]:
    """The crm-client role on ``127.0.0.1:port`` with ``command`` as the CRM's, the
    test credentials, and waits short enough for a self-test."""
    return [
        "--api-listen",
        f"127.0.0.1:{port}",
        "--crm-client-cmd",
        command,
        "--client-id",
        CLIENT_ID,
        "--client-key",
        CLIENT_KEY,
        "--events-timeout",
        "10",
        "--client-timeout",
        "30",
        *extra,
    ]


def oracle(url: str) -> tuple[str, str]:
    """``--crm-oracle`` for a reference CRM (or a fault built on it) served at ``url``."""
    return ("--crm-oracle", f"{url}/oracle/{{session_id}}")


#: The embedded emulator's parties (its user 101, docs/PBX_EMULATOR.md P19): whom to ring.
PARTIES = (
    "--from-pin",
    "101",
    "--from-sipuri",
    "sip:test_user@cloudpbx.rt.ru",
    "--call-to",
    "+74951234567",
)
#: Ample for a call of a few tens of milliseconds, short for a PBX that never ends one.
EVENTS_FAST = ("--events-timeout", "5")


def pbx_args(url: str, listen: str, *extra: str) -> list[str]:
    """The PBX roles against ``url``, receiving its notifications on ``listen`` (HOST:PORT)."""
    return [
        "--pbx-url",
        url,
        "--listen",
        listen,
        "--client-id",
        CLIENT_ID,
        "--client-key",
        CLIENT_KEY,
        *PARTIES,
        *FAST,
        *EVENTS_FAST,
        *extra,
    ]


#: Runs at once: a child waits on the network for part of its run, so one more than the cores.
WORKERS = min(4, (os.cpu_count() or 1) + 1)
#: The longest a test waits for its run (``run_suite`` stops a child after 300 s).
RUN_WAIT = 900.0


class Background:
    """Suite runs by name, started in the background a few at a time, read when asked.

    A run is mostly the child's start-up and its waits on the network, so the runs a
    module's selected tests need are started together (``start``) and each test
    reads its own (``get``).
    """

    def __init__(self, base: Path, run: Callable[[str, Path], SuiteRun]) -> None:
        self.base = base
        self.run = run
        self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="suite-run")
        self.futures: dict[str, Future[SuiteRun]] = {}

    def start(self, name: str) -> None:
        if name not in self.futures:
            report_dir = self.base / name
            report_dir.mkdir()
            self.futures[name] = self.pool.submit(self.run, name, report_dir)

    def start_selected(
        self, request: pytest.FixtureRequest, names: Callable[[pytest.Item], Iterable[str]]
    ) -> None:
        """Start, in their order, the runs ``names(item)`` gives for each selected test of
        the requesting module."""
        for item in request.session.items:
            if item.path == request.path:
                for name in names(item):
                    self.start(name)

    def get(self, name: str) -> SuiteRun:
        self.start(name)
        return self.futures[name].result(timeout=RUN_WAIT)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
