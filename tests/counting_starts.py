"""A plugin that counts what a run starts, for tests/test_xdist.py (``-p tests.counting_starts``).

Loaded in every process of the run (pytest-xdist loads ``-p`` plugins in the
controller and in each worker), it appends one line per start to the file named by
``COUNT_STARTS_FILE``: what was started (a reference's module, ``listener``, ``api``)
and the id of the process that started it. Small appends to one file opened with
``O_APPEND`` do not interleave.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import pytest

from conformance.api_server import ApiServer
from conformance.reference import process
from conformance.transport.listener import Listener


def _note(what: str) -> None:
    with open(os.environ["COUNT_STARTS_FILE"], "a", encoding="utf-8") as fh:
        fh.write(f"{what} {os.getpid()}\n")


def _counted(what: Callable[..., str], start: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(start)
    def counted(*args: Any, **kwargs: Any) -> Any:
        _note(what(*args, **kwargs))
        return start(*args, **kwargs)

    return counted


def pytest_configure(config: pytest.Config) -> None:
    process.launch = _counted(lambda module, *a, **k: module, process.launch)  # type: ignore[assignment]
    Listener.start = _counted(lambda *a, **k: "listener", Listener.start)  # type: ignore[method-assign]
    ApiServer.start = _counted(lambda *a, **k: "api", ApiServer.start)  # type: ignore[method-assign]
