"""What the references' command lines share: one-line errors, and serving until stopped.

Both print ``PROG: listening on URL ...`` first (what process.py waits for), a bad
option as one line ``PROG: error: ...`` with exit status 2, a port that cannot be
had as one line ``PROG: cannot listen on ...`` with 1 -- never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from conformance.reference.server import Served


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not argparse's usage block."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def cannot_listen(prog: str, where: str, exc: OSError) -> int:
    """Say on one line that ``where`` cannot be listened on; the exit status."""
    print(f"{prog}: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
    return 1


def _exit_with_parent(served: Served) -> None:
    """Block on standard input; at its end (the parent went away) stop serving."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdin.read()
    served.shutdown()


def serve_until_stopped(served: Served, *, with_parent: bool) -> None:
    """Return when ``served`` stops: on SIGTERM, Ctrl-C, or -- ``with_parent`` -- when
    standard input closes (the suite's lifeline to the references it starts)."""
    signal.signal(signal.SIGTERM, lambda *_: served.shutdown())
    if with_parent:
        threading.Thread(target=_exit_with_parent, args=(served,), daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        served.wait()
