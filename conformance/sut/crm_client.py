"""A CRM as a client of the PBX API (role crm-client): what makes it send, and what it sent.

The suite serves the PBX API (``conformance/api_server.py``) and records every
request. What makes the CRM send is here: its command (``--crm-client-cmd``),
run once with the API's address and the credentials in its environment, and
the round trip -- the suite, as the CRM's PBX, notifies it of calls whose
recordings it should fetch. ``Traffic`` is what the cases judge. Nothing here
judges.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from conformance.grading.client import parameters
from conformance.spec import examples
from conformance.sut.drivers import CrmWebhook, unique_session
from conformance.transport import ids
from conformance.transport.client import Exchange
from conformance.transport.listener import Received
from conformance.transport.redact import redact
from conformance.transport.waits import waiting

#: The user and the number the CRM's command may call (the emulator's user 101, 1.4.2).
FROM_PIN = "101"
CALL_TO = "+74951234567"
#: How much of a request's body the suite's PBX API reads (the server's bound).
MAX_READ = 1 << 20
#: The tail of the command's output kept for the report (characters).
OUTPUT_KEPT = 4000
#: After the command exits, requests it left in flight still count for this long.
AFTER_EXIT_S = 1.0
#: After the round trip's requests arrived, retries and second downloads count for this long.
ROUND_TRIP_GRACE_S = 2.0
#: How long a stopped command has to exit after SIGTERM before SIGKILL.
KILL_GRACE_S = 2.0


@dataclass
class Link:
    """A recording link the suite's PBX gave (А.4)."""

    token: str
    session_id: str
    issued_at: float  # wall clock, seconds, as Received.at
    ttl: float
    redirected: bool = False  # its download answers 302 to another origin (the decoy)


@dataclass
class Command:
    """How the CRM's command ran."""

    command: str
    returncode: int | None = None  # None: it was stopped at --client-timeout
    output: str = ""  # the tail of stdout and stderr, secrets redacted
    duration_s: float = 0.0
    error: str | None = None  # it could not be started
    left_running: bool = False  # it exited leaving processes behind (they were stopped)

    def describe(self) -> str:
        if self.error:
            return f"the command could not be started: {self.error}"
        if self.returncode is None:
            said = f"the command was stopped after {self.duration_s:.0f} s (--client-timeout)"
        else:
            said = f"the command exited with status {self.returncode} after {self.duration_s:.1f} s"
            if self.left_running:
                said += " (what it left running in the background was stopped)"
        last = self.output.strip().splitlines()[-1:] if self.output.strip() else []
        return said + (f"; its output ends {last[0][-200:]!r}" if last else "")


@dataclass
class RoundTrip:
    """The calls the suite notified the CRM of, and whether it took the notifications."""

    recorded: str  # get_record answers a link
    unready: str  # the call is still in progress: get_record is refused
    redirected: str  # the link's download answers 302 to another origin
    notifications: list[Exchange] = field(default_factory=list)
    waited_s: float = 0.0

    @property
    def accepted(self) -> bool:
        return bool(self.notifications) and all(
            ex.status is not None and 200 <= ex.status < 300 for ex in self.notifications
        )

    def refused(self) -> str:
        bad = next(
            (ex for ex in self.notifications if ex.status is None or not 200 <= ex.status < 300),
            None,
        )
        return bad.summary() if bad is not None else ""


@dataclass
class Traffic:
    """Everything the CRM sent to the suite's PBX API in this run, and how it was made to."""

    api_url: str
    decoy_url: str
    requests: list[Received]
    links: dict[str, Link]
    command: Command | None = None
    round_trip: RoundTrip | None = None
    waited_s: float = 0.0

    def of_kind(self, *kinds: str) -> list[Received]:
        return [r for r in self.requests if r.kind in kinds]

    @property
    def api_requests(self) -> list[Received]:
        """Requests to the API's methods (call_back, get_record)."""
        return self.of_kind("call_back", "get_record")

    def how(self) -> str:
        """How the CRM was made to send, for a case's detail."""
        parts = []
        if self.command is not None:
            parts.append(self.command.describe())
        else:
            parts.append(f"no --crm-client-cmd: collected for {self.waited_s:.0f} s")
        if self.round_trip is not None:
            parts.append(
                "the round trip's notifications were "
                + (
                    "accepted"
                    if self.round_trip.accepted
                    else f"refused ({self.round_trip.refused()})"
                )
            )
        return "; ".join(parts)


def session_of(request: Received) -> str | None:
    """The ``session_id`` a get_record asks for: in its JSON body, or in its query (E5)."""
    params = parameters(request)
    return ids.text(params.get("session_id")) if params is not None else None


# -- the command ---------------------------------------------------------------


def command_env(api_url: str, client_id: str, key: str, recorded: str) -> dict[str, str]:
    """The command's environment: the process's own, and what it needs to send."""
    return {
        **os.environ,
        "VATS_API_URL": api_url,
        "VATS_CLIENT_ID": client_id,
        "VATS_CLIENT_KEY": key,
        "VATS_RECORDED_SESSION_ID": recorded,
        "VATS_FROM_PIN": FROM_PIN,
        "VATS_CALL_TO": CALL_TO,
    }


def run_command(command: str, env: dict[str, str], timeout: float, secrets: list[str]) -> Command:
    """Run ``command`` through the shell and wait for it, at most ``timeout`` seconds
    (then stop it and its children). Its output is kept, bounded and redacted."""
    started = time.monotonic()
    done = Command(command)
    try:
        child = subprocess.Popen(  # noqa: S602 - the user's command line, run as they wrote it
            command,
            shell=True,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=sys.platform != "win32",
        )
    except OSError as exc:
        done.error = str(exc)
        return done
    kept = bytearray()

    def read() -> None:
        assert child.stdout is not None
        fd = child.stdout.fileno()
        while chunk := os.read(fd, 4096):  # whatever is there, never waiting for more
            kept.extend(chunk)
            if len(kept) > 2 * OUTPUT_KEPT:
                del kept[:-OUTPUT_KEPT]

    reader = threading.Thread(target=read, name="vats-crm-client-output", daemon=True)
    reader.start()
    try:
        # Not the command itself in the line: the user's command line may carry the key.
        with waiting("the CRM's command to exit (--crm-client-cmd, --client-timeout)", timeout):
            done.returncode = child.wait(timeout)
    except subprocess.TimeoutExpired:
        _stop(child)
    else:
        # What it left running in the background (``sender &``) would go on sending
        # into the round trip and past the run: its process group is stopped too.
        done.left_running = _stop_group(child)
    reader.join(KILL_GRACE_S)
    done.duration_s = time.monotonic() - started
    text = bytes(kept[-OUTPUT_KEPT:]).decode("utf-8", "replace")
    done.output = redact(text, secrets)  # the report redacts again; the output is the user's
    return done


def _stop_group(child: subprocess.Popen[bytes]) -> bool:
    """Stop what is left of the command's process group once it exited; whether
    anything was."""
    if sys.platform == "win32":
        return False
    try:
        os.killpg(child.pid, signal.SIGTERM)
    except OSError:  # no such group: nothing was left
        return False
    deadline = time.monotonic() + KILL_GRACE_S
    while time.monotonic() < deadline:
        try:
            os.killpg(child.pid, 0)
        except OSError:
            return True
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGKILL)
    return True


def _stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the command's process group, then SIGKILL; bounded."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        with contextlib.suppress(OSError):
            if sys.platform == "win32":
                child.kill()
            else:
                os.killpg(child.pid, sig)
        try:
            child.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


# -- the round trip ------------------------------------------------------------


def round_trip_sessions() -> RoundTrip:
    return RoundTrip(
        recorded=unique_session("roundtrip-recorded"),
        unready=unique_session("roundtrip-unready"),
        redirected=unique_session("roundtrip-redirected"),
    )


def notify_calls(crm: CrmWebhook, trip: RoundTrip) -> None:
    """Tell the CRM of the round trip's calls, each new -> connected -> disconnected
    with ``is_record`` true (Table А.2), in the readings the CRM takes."""
    now = int(time.time())
    for session_id in (trip.recorded, trip.unready, trip.redirected):
        for offset, state in enumerate(("new", "connected", "disconnected")):
            doc: dict[str, Any] = examples.value(f"call_events.{state}")
            doc["session_id"] = session_id
            doc["timestamp"] = str(now - 2 + offset)
            if state == "disconnected":
                doc["is_record"] = True
            ex = crm.notify(crm.adapt(doc), announce=False)
            trip.notifications.append(ex)
            if ex.status is None or not 200 <= ex.status < 300:
                return


def round_trip_done(trip: RoundTrip, links: dict[str, Link]) -> Any:
    """Whether everything the round trip waits for arrived: a get_record for each call,
    and the download of the recorded call's link."""

    def done(received: list[Received]) -> bool:
        asked = {session_of(r) for r in received if r.kind == "get_record"}
        if not {trip.recorded, trip.unready, trip.redirected} <= asked:
            return False
        tokens = {t for t, link in links.items() if link.session_id == trip.recorded}
        fetched = {r.path.rsplit("/", 1)[-1] for r in received if r.kind == "link"}
        return bool(tokens & fetched)

    return done
