"""A pytest plugin for tests/test_session_cleanup.py (``-p tests.leftovers``): what the
suite still has running once its session is over.

``VATS_TEST_LEFTOVERS`` names a file; the variable is in the environment of the run and
so of every process it starts, which is how they are found: at the interpreter's exit
(after pytest's session, its unconfigure and its cleanups, before the process ends and
its children lose their lifeline) the file receives the processes alive that carry it,
other than the run itself, and which of the suite's servers (its listener, the PBX API
it serves a CRM) still accept connections.
With ``VATS_TEST_FAIL_FIRST=1`` the first case fails (for ``-x``).
"""

from __future__ import annotations

import atexit
import json
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conformance.run import RUN

VARIABLE = "VATS_TEST_LEFTOVERS"
_servers: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get(VARIABLE)
    if path:
        atexit.register(_write, Path(path), f"{VARIABLE}={path}".encode())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    if os.environ.get("VATS_TEST_FAIL_FIRST") == "1":
        raise AssertionError("the first case fails, as tests/leftovers.py was asked to")


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash[RUN]
    for name, server in (("listener", run.listener), ("api", run.api)):
        if server is not None:
            _servers[name] = server.url


def _write(path: Path, marker: bytes) -> None:
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile, or not ours
            continue
        if marker in environ and state != "Z":
            alive.append({"pid": int(entry.name), "cmdline": cmdline})
    path.write_text(
        json.dumps({"alive": alive, "servers": _servers, "listening": _listening()}),
        encoding="utf-8",
    )


def _listening() -> list[str]:
    """The servers that still accept a connection."""
    open_ = []
    for name, url in _servers.items():
        parts = urlsplit(url)
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=2):
                open_.append(name)
        except OSError:
            continue
    return open_
