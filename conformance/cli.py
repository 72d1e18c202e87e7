"""``vats-conformance``: the suite's own command line (the cases themselves run under pytest).

``vats-conformance export openapi|postman [--out FILE] [--profile guide|field]``
writes the contract as an OpenAPI 3.1 document or a Postman v2.1 collection (D50),
as JSON, to standard output or to FILE. A bad argument or a file that cannot be
written is one ``ERROR:`` line on standard error and exit status 2, never a
traceback. Nothing here knows a key: the exports hold none of a user's, only the
guide's published worked example (1.4.2).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from conformance import __version__, contract

PROG = "vats-conformance"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One ``ERROR:`` line, not argparse's usage block."""
        self.exit(2, f"ERROR: {message} (see {self.prog} --help)\n")


def _parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="The VATS Integration API conformance suite's command line. The cases run "
        "under pytest: python -m pytest -p conformance.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    export = commands.add_parser(
        "export",
        help="write the contract as OpenAPI 3.1 or a Postman v2.1 collection",
        description="Write the contract, built from the suite's schemas and the guide's "
        "examples, as UTF-8 JSON.",
    )
    export.add_argument(
        "format", choices=sorted(contract.FILES), help="openapi (3.1) or postman (collection v2.1)"
    )
    export.add_argument(
        "--out", type=Path, metavar="FILE", help="the file to write (default: standard output)"
    )
    export.add_argument(
        "--profile",
        choices=contract.PROFILES,
        default="guide",
        help="guide (default): the 2017 guide's shapes and readings; field: production's too",
    )
    return parser


def _print(content: str) -> None:
    """UTF-8 on standard output whatever the locale; a reader that went away is not an error."""
    try:
        sys.stdout.buffer.write(content.encode("utf-8"))
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would complain again when it flushes at exit (its documented remedy).
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point ``vats-conformance`` (also ``python -m conformance.cli``)."""
    args = _parser().parse_args(argv)
    content = contract.text(args.format, args.profile)
    if args.out is None:
        _print(content)
        return 0
    try:
        contract.write(content, args.out)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"ERROR: --out: cannot write {str(args.out)!r}: {reason}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
