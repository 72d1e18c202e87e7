"""A loopback server of named hostile behaviours, for the hostile-target matrix (issue 13).

Raw sockets, one thread per connection: whatever HTTP a well-kept server would refuse to
send (a body trickled a byte a second, an endless chunked answer, a reset mid-answer,
bytes that are not HTTP) is written here by hand. Every behaviour reads the request (its
head and its ``Content-Length`` body, within a few seconds), then misbehaves until the
client goes away or the server stops; nothing waits without a bound and nothing large is
held in memory (the 100 MB answer is written from one 64 KB block).

``Hostile(name)`` serves one behaviour on ``127.0.0.1``; ``url`` is its address,
``contacts`` counts the connections it accepted (the redirect's witness must stay at 0)
and ``lifetimes`` holds how long each lasted, from its accept until the client left (or
the behaviour was done with it): the target's own measure of how long the suite stayed,
independent of what the suite records.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.support import ROOT, SuiteRun, child_env, suite_command

#: The 100 MB answer (issue 13): declared and written in full unless the client leaves.
HUGE = 100 * 1024 * 1024
BLOCK = b" " * 65536
#: How long a behaviour waits for the request before misbehaving anyway.
READ_WAIT = 5.0
#: Every byte of a trickle is this far apart (issue 13: one byte a second).
TRICKLE = 1.0

Behaviour = Callable[["Connection"], None]


class Connection:
    """One accepted connection and the server's stop signal."""

    def __init__(self, sock: socket.socket, stop: threading.Event, server: Hostile) -> None:
        self.sock = sock
        self.stop = stop
        self.server = server

    def read_request(self) -> bytes:
        """The request's head and body (``Content-Length``), or what came in ``READ_WAIT``."""
        self.sock.settimeout(READ_WAIT)
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return data
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    length = int(value.strip())
            while len(body) < min(length, 1 << 21):
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        return data

    def write(self, data: bytes) -> bool:
        """Send ``data``; False once the client has gone (or the server stops)."""
        if self.stop.is_set():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def trickle(self, data: bytes) -> None:
        """``data`` one byte every ``TRICKLE`` seconds, until the client leaves."""
        for i in range(len(data)):
            if not self.write(data[i : i + 1]) or self.left(TRICKLE):
                return

    def left(self, wait: float) -> bool:
        """Whether the client left (or the server stops) within ``wait`` seconds: its
        closing is seen when it happens, not at the next byte written."""
        end = time.monotonic() + wait
        while not self.stop.is_set() and (now := time.monotonic()) < end:
            try:
                readable, _, _ = select.select([self.sock], [], [], min(0.1, end - now))
                if readable and not self.sock.recv(65536):
                    return True
            except (OSError, ValueError):
                return True
        return self.stop.is_set()

    def hold(self) -> None:
        """Keep the connection open, reading and dropping whatever comes, until it ends."""
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                if not self.sock.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


def _head(status: str, *headers: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}".encode(), *headers, b"Connection: close", b"", b""]
    return b"\r\n".join(lines)


OK = _head("200 OK", b"Content-Type: application/json", b"Content-Length: 2") + b"{}"


def _json(conn: Connection, body: bytes) -> None:
    """A whole 200 answer of ``body`` as JSON."""
    conn.write(
        _head("200 OK", b"Content-Type: application/json", b"Content-Length: %d" % len(body)) + body
    )


def no_answer(conn: Connection) -> None:
    conn.read_request()
    conn.hold()


def slow_headers(conn: Connection) -> None:
    conn.read_request()
    conn.trickle(OK)


def slow_body(conn: Connection) -> None:
    conn.read_request()
    body = b'{"result": "' + b"x" * 60 + b'"}'
    head = _head("200 OK", b"Content-Type: application/json", b"Content-Length: %d" % len(body))
    if conn.write(head):
        conn.trickle(body)


def huge(conn: Connection) -> None:
    conn.read_request()
    head = _head("200 OK", b"Content-Type: application/json", b"Content-Length: %d" % HUGE)
    if not conn.write(head + b'{"result":"'):
        return
    sent = 11
    while sent < HUGE:
        block = BLOCK[: HUGE - sent]
        if not conn.write(block):
            return
        sent += len(block)


def endless_chunked(conn: Connection) -> None:
    conn.read_request()
    if not conn.write(
        _head("200 OK", b"Content-Type: application/json", b"Transfer-Encoding: chunked")
    ):
        return
    chunk = b"%x\r\n%s\r\n" % (len(BLOCK), BLOCK)
    while conn.write(chunk):
        pass


def reset(conn: Connection) -> None:
    """Part of an answer, then an RST (``SO_LINGER`` 0): the answer is cut, not ended."""
    conn.read_request()
    conn.write(_head("200 OK", b"Content-Type: application/json", b"Content-Length: 1000"))
    conn.write(b'{"result": ')
    conn.stop.wait(0.1)
    with contextlib.suppress(OSError):
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()


def not_http(conn: Connection) -> None:
    conn.read_request()
    conn.write(b"SSH-2.0-hostile\r\n\x00\xff\xfe garbage that is not HTTP\r\n\r\n")


#: JSON in form, not UTF-8: a lone continuation byte, a bad pair, a surrogate's encoding.
BAD_UTF8_BODY = b'{"result": "\xff\xfe\xc3\x28", "message": "\xed\xa0\x80"}'
BAD_UTF8_HEADER = b"\xc3\x28\xed\xa0\x80"


def bad_utf8_body(conn: Connection) -> None:
    conn.read_request()
    _json(conn, BAD_UTF8_BODY)


def bad_utf8_headers(conn: Connection) -> None:
    conn.read_request()
    conn.write(
        _head(
            "200 OK",
            b"Content-Type: application/json; charset=\xff\xfe",
            b"X-Hostile: " + BAD_UTF8_HEADER,
            b"Content-Length: 2",
        )
        + b"{}"
    )


def answer_ok(conn: Connection) -> None:
    conn.read_request()
    conn.write(OK)


def placed(conn: Connection) -> None:
    """A PBX that accepts every call_back (a new session each) and never notifies."""
    conn.read_request()
    conn.server.placed += 1
    _json(conn, b'{"result": 0, "session_id": "hostile-%d"}' % conn.server.placed)


def redirect(conn: Connection) -> None:
    conn.read_request()
    to = conn.server.location
    conn.write(_head("302 Found", b"Location: " + to.encode(), b"Content-Length: 0"))


BEHAVIOURS: dict[str, Behaviour] = {
    "no-answer": no_answer,
    "slow-headers": slow_headers,
    "slow-body": slow_body,
    "huge": huge,
    "endless-chunked": endless_chunked,
    "reset": reset,
    "not-http": not_http,
    "bad-utf8-body": bad_utf8_body,
    "bad-utf8-headers": bad_utf8_headers,
    "redirect": redirect,
    "ok": answer_ok,
    "placed": placed,
}


class Hostile:
    """Serves one behaviour on 127.0.0.1 (over TLS with ``tls``) until ``stop``."""

    def __init__(self, name: str, *, tls: ssl.SSLContext | None = None, location: str = "") -> None:
        self.behaviour = BEHAVIOURS[name]
        self.location = location
        self._tls = tls
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.contacts = 0
        self.placed = 0
        self.lifetimes: list[float] = []
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, name="hostile", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.contacts += 1
                self._open.append(sock)
                thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        opened = time.monotonic()
        try:
            if self._tls is not None:
                sock.settimeout(READ_WAIT)
                try:
                    sock = self._tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    return  # the client refused the certificate: as it should
                with self._lock:
                    self._open.append(sock)
            self.behaviour(Connection(sock, self._stop, self))
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self.lifetimes.append(time.monotonic() - opened)

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        self._thread.join(timeout=5)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> Hostile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_measured(
    args: Sequence[str], report_dir: Path, paths: Sequence[str], timeout: float = 120
) -> tuple[SuiteRun, int]:
    """``run_suite``, and the child's peak resident set in bytes: its ``VmHWM``, read
    every ``RSS_EVERY`` seconds while it runs (the last reading holds all but its last
    moments). Not ``os.wait4``'s ``ru_maxrss``: Linux starts a child's at its parent's
    resident set when it forks, so a long test session's own size (280 MB in CI) was
    counted as the suite's."""
    report_dir.mkdir(parents=True, exist_ok=True)
    out, err = report_dir / "stdout.txt", report_dir / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        child = subprocess.Popen(
            suite_command(args, report_dir, paths),
            cwd=ROOT,
            env=child_env(),
            stdout=stdout,
            stderr=stderr,
        )
        killer = threading.Timer(timeout, child.kill)
        killer.start()
        peak = [0]
        sampler = threading.Thread(target=_sample_peak, args=(child, peak), daemon=True)
        sampler.start()
        try:
            child.wait()
        finally:
            killer.cancel()
            sampler.join(timeout=5)
    run = SuiteRun(child.returncode, out.read_text(), err.read_text(), report_dir)
    return run, peak[0]


#: How often run_measured reads the child's peak resident set.
RSS_EVERY = 0.05


def _sample_peak(child: subprocess.Popen[bytes], peak: list[int]) -> None:
    """Keep in ``peak[0]`` the largest ``VmHWM`` of ``child`` (bytes) until it exits."""
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            text = status.read_text()
        except OSError:
            return
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                peak[0] = max(peak[0], int(line.split()[1]) * 1024)  # kB
        time.sleep(RSS_EVERY)
