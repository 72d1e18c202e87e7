"""The command line: option errors, exit status, unreachable targets, the reference's CLI."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conformance.reference.crm import ReferenceCrm
from tests.support import CLIENT_ID, CLIENT_KEY, ROOT, crm_args, run_suite, serving

#: A PBX with credentials, as far as the options go (nothing listens there).
A_PBX = ("--pbx-url", "http://127.0.0.1:8090", "--client-id", "A", "--client-key", CLIENT_KEY)

BAD_OPTIONS = [
    (["--seed", "-5"], "--seed: expected a value from 0 to 4294967295, got '-5'"),
    (["--profile", "nope"], "--profile: expected one of guide, field, got 'nope'"),
    (["--sut-timeout", "soon"], "--sut-timeout: expected a number, got 'soon'"),
    (["--sut-timeout", "0"], "--sut-timeout: expected a value from 0.05 to 60"),
    (["--sut-timeout", "nan"], "--sut-timeout: expected a value from 0.05 to 60"),
    (["--examples", "0"], "--examples: expected a value from 1 to 10000"),
    (["--examples", "2.5"], "--examples: expected a number, got '2.5'"),
    (["--seed", "-1"], "--seed: expected a value from 0 to"),
    (["--fail-on", "info"], "--fail-on: expected one of fail, non-strict, got 'info'"),
    (["--crm-url", "ftp://example.org"], "--crm-url: expected an http:// or https:// URL"),
    (["--crm-url", "127.0.0.1:8080"], "--crm-url: expected an http:// or https:// URL"),
    (["--crm-url", "http://127.0.0.1:99999"], "--crm-url: bad port"),
    (["--crm-url", "http://[::1"], "--crm-url: not a URL (Invalid IPv6 URL)"),
    (["--pbx-url", "https://[::1:8443/"], "--pbx-url: not a URL (Invalid IPv6 URL)"),
    (["--crm-url", "http://127.0.0.1:8080/?a=1"], "--crm-url: a base URL takes no query"),
    (["--crm-url", "http://127.0.0.1:8080"], "--crm-url needs the integration's credentials"),
    (["--pbx-url", "http://127.0.0.1:8090"], "--pbx-url needs the integration's credentials"),
    (["--pbx-url", "mailto:pbx@example.org"], "--pbx-url: expected an http:// or https:// URL"),
    (["--listen", "8080"], "--listen: expected HOST:PORT"),
    (["--listen", "127.0.0.1:70000"], "--listen: expected HOST:PORT"),
    (["--events-timeout", "0"], "--events-timeout: expected a value from 0.1 to 600"),
    (["--call-to", "84951234567"], "--call-to: expected an E.164 number"),
    (["--from-sipuri", "nobody"], "--from-sipuri: expected a SIP-URI"),
    (["--pbx-ca", "/nonexistent/ca.pem"], "--pbx-ca: cannot load"),
    (
        ["--crm-oracle", "http://127.0.0.1:1/oracle"],
        "--crm-oracle: expected a URL with {session_id}",
    ),
    (["--crm-oracle", "oracle/{session_id}"], "--crm-oracle: expected an http:// or https:// URL"),
    (["--no-calls", "--crm-url", "x"], "--crm-url: expected an http:// or https:// URL"),
    (
        [*A_PBX],
        "--pbx-url: placing a call rings real phones, so the suite must be told whom to ring: "
        "give --from-pin (or --from-sipuri) and --call-to, or --no-calls",
    ),
    ([*A_PBX, "--from-pin", "101"], "--pbx-url: placing a call rings real phones"),
    (["--crm-client-cmd", " "], "--crm-client-cmd: empty; give the command"),
    (["--api-listen", "8091"], "--api-listen: expected HOST:PORT"),
    (["--api-listen", "127.0.0.1:8091"], "--api-listen: the CRM sends with the credentials"),
    (["--client-timeout", "0"], "--client-timeout: expected a value from 1 to 3600"),
    (
        ["--crm-client-cmd", "true", "--crm-url", "http://127.0.0.1:8000", *A_PBX[2:]],
        "--crm-url with --crm-client-cmd: the round trip needs the CRM to know the PBX API's "
        "address before the run; give --api-listen HOST:PORT with a fixed port",
    ),
]


@pytest.mark.parametrize(
    ("args", "message"), BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS]
)
def test_bad_option_gives_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    run = run_suite(args, tmp_path / "report")
    assert run.returncode == 4
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, run.stderr
    assert errors[0].startswith("ERROR: "), errors
    assert message in errors[0], errors
    assert "Traceback" not in run.stdout + run.stderr
    assert not (tmp_path / "report" / "results.json").exists()


def test_an_unwritable_report_dir_is_found_before_the_run() -> None:
    run = run_suite([], Path("/proc/vats-report"))
    assert run.returncode == 4, run.stdout + run.stderr
    assert "ERROR: --report-dir: cannot write to '/proc/vats-report'" in run.stderr
    assert "passed" not in run.stdout  # no case ran


def test_bad_flag_in_the_environment(tmp_path: Path) -> None:
    run = run_suite([], tmp_path / "report", env={"VATS_DESTRUCTIVE": "maybe"})
    assert run.returncode == 4
    assert "ERROR: VATS_DESTRUCTIVE: expected 1, true or yes" in run.stderr


def _ini(tmp_path: Path, lines: str) -> list[str]:
    """``-c`` an ini file of the user's kind: pyproject.toml with TOML values."""
    ini = tmp_path / "pyproject.toml"
    ini.write_text(f"[tool.pytest.ini_options]\n{lines}", encoding="utf-8")
    return ["-c", str(ini)]


def test_ini_then_environment_then_command_line(tmp_path: Path) -> None:
    """Each option is read from the command line, else the environment, else the ini file."""
    ini = _ini(
        tmp_path,
        'vats_seed = 11\nvats_examples = 3\nvats_profile = "field"\nvats_client_id = "INI"\n',
    )
    run = run_suite(
        [*ini, "--profile", "guide", "-k", "valid_signature"],
        tmp_path / "report",
        env={"VATS_EXAMPLES": "4", "VATS_PROFILE": "field"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    doc = run.results
    assert doc["seed"] == 11  # the ini file alone
    assert doc["target"]["client_id"] == "INI"
    assert doc["settings"]["examples"] == 4  # the environment over the ini file
    assert doc["profile"] == "guide"  # the command line over both


def test_an_empty_variable_is_not_given(tmp_path: Path) -> None:
    """``VATS_SEED=`` (a CI template's unset secret) leaves the ini file's value in force,
    as pytest-base-url does; it never means "none given"."""
    ini = _ini(tmp_path, "vats_seed = 11\n")
    run = run_suite([*ini, "-k", "valid_signature"], tmp_path / "report", env={"VATS_SEED": ""})
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.results["seed"] == 11


def test_an_empty_target_on_the_command_line_is_an_error(tmp_path: Path) -> None:
    """``--crm-url "$CRM_URL"`` with the variable unset must not run the embedded
    reference and pass: one ERROR line, exit 4."""
    run = run_suite(["--crm-url", ""], tmp_path / "report")
    assert run.returncode == 4, run.stdout + run.stderr
    assert "ERROR: --crm-url: empty; give the URL, or leave the option out" in run.stderr


INI_ERRORS = [
    ('vats_profile = "nope"', "vats_profile in {ini}: expected one of guide, field, got 'nope'"),
    ("vats_examples = 0", "vats_examples in {ini}: expected a value from 1 to 10000"),
    ("vats_destructive = 2", "vats_destructive in {ini}: expected 1, true or yes"),
    # A relative path in an ini file is relative to the file, not to where pytest runs.
    ('vats_crm_ca = "ca.pem"', "vats_crm_ca in {ini}: cannot load '{dir}/ca.pem'"),
    (
        'vats_client_key = "K3Y-IN-A-FILE"',
        "vats_client_key in {ini}: a secret does not belong in a file that is committed with "
        "the code (1.4.2): set VATS_CLIENT_KEY in the environment",
    ),
]


@pytest.mark.parametrize(("line", "message"), INI_ERRORS, ids=[m.split()[0] for _, m in INI_ERRORS])
def test_bad_ini_value_gives_one_line_naming_the_key(
    tmp_path: Path, line: str, message: str
) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    run = run_suite(_ini(tmp_path, line + "\n"), tmp_path / "report")
    assert run.returncode == 4, run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, run.stderr
    ini = tmp_path / "pyproject.toml"
    assert errors[0].startswith("ERROR: "), errors
    assert message.format(ini=ini, dir=tmp_path) in errors[0]
    assert "K3Y-IN-A-FILE" not in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_busy_listen_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = run_suite(["--listen", f"127.0.0.1:{port}", "-k", "events"], tmp_path / "report")
    assert run.returncode == 4, run.stdout + run.stderr
    assert f"ERROR: --listen: cannot listen on 127.0.0.1:{port}" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_report_dir_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    run = run_suite([], target)
    assert run.returncode == 4
    assert "--report-dir" in run.stderr
    assert "is not a directory" in run.stderr


def test_credentials_from_the_environment(tmp_path: Path) -> None:
    with serving(ReferenceCrm(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite(
            ["--crm-url", url, "--examples", "2", "-k", "valid_signature"],
            tmp_path,
            env={"VATS_CLIENT_ID": CLIENT_ID, "VATS_CLIENT_KEY": CLIENT_KEY},
        )
    assert run.returncode == 0, run.stdout
    assert run.verdicts() == {"crm.sign.valid": "pass"}


class _AcknowledgesGarbage(ReferenceCrm):
    """Checks signatures, then says 200 to any body: non-strict, never fail."""

    def parse(self, body: bytes) -> object:
        return {}

    def validate(self, doc: object) -> list[str]:  # type: ignore[override]
        return []

    def record(self, doc: object) -> object:  # type: ignore[override]
        from conformance.reference.crm import Answer

        return Answer(200, "ok")


@pytest.mark.parametrize(("fail_on", "code"), [("fail", 0), ("non-strict", 1)])
def test_fail_on_decides_the_exit_status(tmp_path: Path, fail_on: str, code: int) -> None:
    with serving(_AcknowledgesGarbage(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite(crm_args(url, "--fail-on", fail_on, "-k", "input"), tmp_path)
    assert run.results["summary"]["fail"] == 0
    assert run.results["summary"]["non-strict"] > 0
    assert run.returncode == code, run.stdout[-2000:]


def test_refused_connection_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = run_suite(
        crm_args(f"http://127.0.0.1:{port}", "-k", "crm_webhook and sign and not explore"), tmp_path
    )
    assert run.returncode == 1
    # The baseline cannot be established: its case fails with the evidence, and every
    # case built on it skips, naming that case -- one failure, not fifty.
    assert run.with_verdict("fail") == {"crm.sign.valid"}
    assert run.with_verdict("skip") == set(run.verdicts()) - {"crm.sign.valid"}
    valid = next(c for c in run.results["cases"] if c["id"] == "crm.sign.valid")
    assert "ConnectError" in valid["detail"]
    skipped = next(c for c in run.results["cases"] if c["verdict"] == "skip")
    assert "crm.sign.valid says why" in skipped["detail"]


def test_reference_crm_cli_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.reference.crm", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0
    assert "--client-id" in done.stdout


def test_reference_crm_cli_needs_credentials() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.reference.crm"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("vats-reference-crm: error: a client id and key are required")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_reference_crm_cli_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "conformance.reference.crm",
                "--port",
                str(port),
                "--client-id",
                CLIENT_ID,
            ],
            env={"VATS_CLIENT_KEY": CLIENT_KEY, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            check=False,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def _never_answers(conn: socket.socket, stop: threading.Event) -> None:
    """Reads the request and says nothing: a hung CRM."""
    conn.recv(65536)
    stop.wait()


def _trickles_body(conn: socket.socket, stop: threading.Event) -> None:
    """Answers 200 at once, then sends its body one byte every 0.1 s, for ever."""
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
    while not stop.wait(0.1):
        conn.sendall(b" ")


def _trickles_headers(conn: socket.socket, stop: threading.Event) -> None:
    """Sends a status line, then one header line every 0.2 s, never ending the head."""
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    n = 0
    while not stop.wait(0.2):
        n += 1
        conn.sendall(f"X-Slow-{n}: 1\r\n".encode())


STALLS = {
    "never-answers": _never_answers,
    "trickles-body": _trickles_body,
    "trickles-headers": _trickles_headers,
}


@contextmanager
def stalling(behaviour: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A raw TCP server on loopback whose every connection gets ``behaviour``."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            behaviour(conn, stop)

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


@pytest.mark.parametrize("stall", sorted(STALLS))
def test_a_stalling_target_is_a_fail_not_a_hang(tmp_path: Path, stall: str) -> None:
    """One deadline for the whole answer: httpx's own timeouts apply per read."""
    with stalling(STALLS[stall]) as url:
        run = run_suite(
            crm_args(url, "--sut-timeout", "0.5", "-k", "valid_signature"), tmp_path, timeout=60
        )
    assert run.returncode == 1
    case = run.results["cases"][0]
    assert case["verdict"] == "fail"
    assert "no answer within 0.5 s" in case["detail"]
    assert case["exchanges"][-1]["elapsed_ms"] < 3000


@pytest.mark.parametrize("value", ["ключ", " padded", "tab\there"])
def test_client_id_must_be_a_header_value(tmp_path: Path, value: str) -> None:
    run = run_suite(["--client-id", value], tmp_path)
    assert run.returncode == 4
    assert "--client-id: expected printable ASCII" in run.stderr
    assert "Traceback" not in run.stderr


def test_crm_ca_must_load(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    run = run_suite(["--crm-ca", str(bogus)], tmp_path / "r")
    assert run.returncode == 4
    assert "--crm-ca: cannot load" in run.stderr


SHORT = "0123456789ABCDE"  # 15 characters: one short of the floor (D55)
SHORT_SECRETS = [
    (["--client-key", SHORT], {}, "--client-key"),
    (
        ["--crm-url", "http://127.0.0.1:1", "--client-id", CLIENT_ID],
        {"VATS_CLIENT_KEY": "zQ9x"},
        "VATS_CLIENT_KEY",
    ),
    (["--pbx-admin-token", SHORT], {}, "--pbx-admin-token"),
    ([], {"VATS_PBX_ADMIN_TOKEN": "t0ken"}, "VATS_PBX_ADMIN_TOKEN"),
]


@pytest.mark.parametrize(
    ("args", "env", "where"), SHORT_SECRETS, ids=[w for _, _, w in SHORT_SECRETS]
)
def test_a_secret_shorter_than_16_characters_is_refused(
    tmp_path: Path, args: list[str], env: dict[str, str], where: str
) -> None:
    """Redacted everywhere, a key of a character or two would blank the report (issue 13):
    one ERROR line naming where the value came from, exit 4, the value never shown."""
    run = run_suite(args, tmp_path / "report", env=env)
    assert run.returncode == 4, run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, run.stderr
    assert errors[0].startswith(f"ERROR: {where}: shorter than 16 characters"), errors
    secret = next(iter(env.values())) if env else args[-1]
    assert secret not in run.stdout + errors[0].removeprefix(f"ERROR: {where}")


def test_a_secret_of_16_characters_is_accepted(tmp_path: Path) -> None:
    run = run_suite(
        ["--collect-only", "--client-key", SHORT + "F", "--pbx-admin-token", SHORT + "F"],
        tmp_path / "report",
    )
    assert run.returncode == 0, run.stdout + run.stderr
