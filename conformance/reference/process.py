"""Run a reference implementation in a child process on loopback.

The embedded references run in their own process, not as threads of the
suite: the suite's own CPU work (generating examples, judging) would
otherwise hold the GIL while the reference answers, and the latencies the
suite records would measure the suite. The child's first line is
``... listening on URL ...``; we wait for it (bounded), and stop the child at the
end of the session.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

START_TIMEOUT = 20.0
MARK = "listening on "


class StartError(RuntimeError):
    """The child did not start; the message says why, with its last error lines."""


@dataclass
class Child:
    process: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe:
                with contextlib.suppress(OSError):
                    pipe.close()


@dataclass
class Elsewhere:
    """A reference another process started and stops (pytest-xdist's controller,
    conformance/xdist.py): its URL is all a worker holds of it."""

    url: str

    def stop(self) -> None:
        """Not this process's child: the process that started it stops it."""


@dataclass
class Launched:
    """A child that was started and may not listen yet."""

    process: subprocess.Popen[str]
    errors: IO[str]
    module: str

    def stop(self) -> None:
        """Stop the child, whether it listens yet or not; stopping it again does nothing."""
        Child(self.process, "").stop()
        with contextlib.suppress(OSError):
            self.errors.close()


def launch(module: str, args: Sequence[str], env: Mapping[str, str]) -> Launched:
    """Start ``python -m module args`` with ``env`` added, without waiting."""
    errors = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115 - lives with the child
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=errors,
        stdin=subprocess.PIPE,  # the child's lifeline: it exits when this closes
        env={**os.environ, **env},
        text=True,
        encoding="utf-8",
    )
    return Launched(process, errors, module)


def wait_listening(launched: Launched, timeout: float = START_TIMEOUT) -> Child:
    """Wait (bounded) for the child's ``listening on URL`` line."""
    process, errors = launched.process, launched.errors
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:
                break
            if MARK in line:
                errors.close()
                return Child(process, line.split(MARK, 1)[1].split()[0])
    Child(process, "").stop()
    errors.seek(0)
    tail = " | ".join(errors.read().strip().splitlines()[-3:])
    errors.close()
    raise StartError(
        f"{launched.module} did not start within {timeout:g} s" + (f": {tail}" if tail else "")
    )


def start(module: str, args: Sequence[str], env: Mapping[str, str]) -> Child:
    """Start ``python -m module args`` with ``env`` added; return once it listens."""
    return wait_listening(launch(module, args, env))
