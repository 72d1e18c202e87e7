"""``vats-reference-pbx``: run the emulator from the command line.

Its first line on stdout is ``vats-reference-pbx: listening on URL ...`` (what
``conformance.reference.process.wait_listening`` looks for). A bad option is one
line on stderr and exit status 2; a port that cannot be had, one line and 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from conformance.reference import cli
from conformance.reference.pbx.answers import PRESETS
from conformance.reference.pbx.plans import CALL_BACK_OUTCOMES, MAX_STEP_MS, Scenario
from conformance.reference.pbx.state import DEFAULT_TIMEOUT
from conformance.reference.pbx.values import MAX_TIMEOUT, MIN_TIMEOUT, ConfigError

PROG = "vats-reference-pbx"


def parser() -> argparse.ArgumentParser:
    p = cli.Parser(
        prog=PROG,
        description="Reference emulator of the VATS Integration API (guide edition 1/2017): "
        "serves call_back and get_record, plays calls and sends signed call_events to the "
        "external system, with the settings and debug tools of the guide's section 3 behind "
        "an admin API (docs/PBX_EMULATOR.md).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8090, help="HTTP port (default 8090; 0 = any free)")
    p.add_argument(
        "--https-port", type=int, default=0, help="HTTPS port (default 0 = any free port)"
    )
    p.add_argument(
        "--admin-token",
        default=os.environ.get("VATS_ADMIN_TOKEN"),
        help="token for /admin (default $VATS_ADMIN_TOKEN; generated and printed if unset)",
    )
    p.add_argument(
        "--client-id",
        default=os.environ.get("VATS_CLIENT_ID"),
        help="the first client's X-Client-ID (default $VATS_CLIENT_ID; generated if unset)",
    )
    p.add_argument(
        "--client-key",
        default=os.environ.get("VATS_CLIENT_KEY"),
        help="the first client's key (default $VATS_CLIENT_KEY; generated if unset; "
        "prefer the variable, and read a generated one from GET /admin/clients/ID)",
    )
    p.add_argument(
        "--external-address",
        default=os.environ.get("VATS_EXTERNAL_ADDRESS"),
        help="the external system's base address; call_events go to ADDRESS/call_events. "
        "Given, the first client's service is switched on (default $VATS_EXTERNAL_ADDRESS)",
    )
    p.add_argument("--ssl", action="store_true", help="switch the first client's SSL on (3.2.1)")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the external system's answer (default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--no-record", action="store_true", help="the first client's calls are not recorded"
    )
    defaults = Scenario()
    for name, help_text in (
        ("ring_ms", "a leg rings this long before it is answered"),
        ("announcement_ms", "the call_back announcement lasts this long"),
        ("talk_ms", "a conversation lasts this long"),
    ):
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=getattr(defaults, name),
            help=f"{help_text} (default {getattr(defaults, name)}, at most {MAX_STEP_MS})",
        )
    p.add_argument(
        "--call-back-outcome",
        choices=CALL_BACK_OUTCOMES,
        default=defaults.call_back_outcome,
        help="how call_back calls end (default answered)",
    )
    p.add_argument(
        "--tls-name",
        action="append",
        default=[],
        metavar="NAME",
        help="another host name or address for the HTTPS certificate (repeatable); "
        "localhost, 127.0.0.1, ::1 and --host are always in it",
    )
    p.add_argument(
        "--no-limits",
        action="store_true",
        help="the first client's methods have no request limit (default: 100 an hour each, 3.1.3)",
    )
    p.add_argument(
        "--answer-as",
        choices=tuple(PRESETS),
        help="how the first client's answers are written: 'guide' (Table А.3: result a number, "
        "refusals 4xx) or 'production' (as production is reported to answer: result a string, "
        "refusals HTTP 200 with result > 0, recording links also take POST). Default: the "
        "emulator-wide setting, the guide's",
    )
    p.add_argument("--quiet", action="store_true", help="print only the listening line")
    p.add_argument(
        "--with-parent",
        action="store_true",
        help="exit when standard input closes (to tie the emulator to a parent process)",
    )
    return p


def _as_option(message: str) -> str:
    """``ring_ms: ...`` -> ``--ring-ms: ...``: name the option the user typed."""
    name, sep, rest = message.partition(":")
    if sep and name.isidentifier():
        return f"--{name.replace('_', '-')}:{rest}"
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: ``vats-reference-pbx`` / ``python -m conformance.reference.pbx``."""
    from conformance.reference.pbx.app import Pbx

    p = parser()
    args = p.parse_args(argv)
    for name in ("port", "https_port"):
        if not 0 <= getattr(args, name) <= 65535:
            p.error(f"--{name.replace('_', '-')} must be between 0 and 65535")
    if not MIN_TIMEOUT <= args.timeout <= MAX_TIMEOUT:
        p.error(f"--timeout must be {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g} seconds")
    try:
        scenario = Scenario().updated(
            {
                "ring_ms": args.ring_ms,
                "announcement_ms": args.announcement_ms,
                "talk_ms": args.talk_ms,
                "call_back_outcome": args.call_back_outcome,
            }
        )
        pbx = Pbx(
            admin_token=args.admin_token,
            scenario=scenario,
            certificate_hosts=(args.host, *args.tls_name),
        )
        first: dict[str, Any] = {
            "client_id": args.client_id,
            "client_key": args.client_key,
            "timeout": args.timeout,
            "ssl": args.ssl,
            "record_calls": not args.no_record,
        }
        if args.no_limits:
            first["limits"] = {"call_back": None, "get_record": None}
        if args.answer_as:
            first["answer_as"] = args.answer_as
        if args.external_address:
            first.update(external_address=args.external_address, enabled=True)
        client = pbx.registry.create(first)
    except ConfigError as exc:
        p.error(_as_option(str(exc)))
    try:
        listening = pbx.start(args.host, args.port, args.https_port)
    except OSError as exc:
        return cli.cannot_listen(PROG, f"{args.host}:{args.port}/{args.https_port}", exc)
    token_note = "" if args.admin_token else f"; admin token {pbx.admin_token}"
    print(
        f"{PROG}: listening on {pbx.http_url} (https: {pbx.https_url}; "
        f"admin: {pbx.http_url}/admin; console: {pbx.http_url}/console{token_note})",
        flush=True,
    )
    if not args.quiet:
        state = "on" if client.enabled else "off (set an external address to switch it on)"
        print(
            f"{PROG}: client {client.client_id}: service {state}; "
            f"key: GET /admin/clients/{client.client_id}",
            flush=True,
        )
        if client.style is not None:
            print(f"{PROG}: answers: {client.style.describe()}", flush=True)
    cli.serve_until_stopped(listening.http, with_parent=args.with_parent)
    listening.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
