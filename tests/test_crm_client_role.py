"""The crm-client role's collection: what a run says when the CRM sends nothing, a
command that never ends, a command that fails, and the command's environment."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path

from conformance.reference.crm import ReferenceCrm
from tests.support import CLIENT_ID, CLIENT_KEY, free_port, run_suite, serving

ROLE = ("conformance/roles/crm_client",)
CREDENTIALS = ("--client-id", CLIENT_ID, "--client-key", CLIENT_KEY)


def _python(code: str) -> str:
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def test_without_a_command_the_address_is_printed_and_silence_said(tmp_path: Path) -> None:
    run = run_suite(
        ["--api-listen", "127.0.0.1:0", "--client-timeout", "1", *CREDENTIALS, "-rs"],
        tmp_path / "report",
        paths=ROLE,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    out = run.stdout
    assert "crm-client: the suite serves the PBX API at http://127.0.0.1:" in out
    assert "collected for 1 s (--client-timeout)" in out
    assert "crm-client: the CRM sent no request to http://127.0.0.1:" in out
    verdicts = run.verdicts()
    assert set(verdicts.values()) == {"skip"}, verdicts
    # the round trip needs a CRM to notify: not run at all without --crm-url
    assert "client.roundtrip.get-record" not in verdicts
    detail = {c["id"]: c["detail"] for c in run.results["cases"]}["client.signature"]
    assert "the CRM sent no request to the PBX API" in detail


def test_a_command_that_does_not_end_is_stopped(tmp_path: Path) -> None:
    run = run_suite(
        ["--crm-client-cmd", _python("import time; time.sleep(60)"), "--client-timeout", "1"],
        tmp_path / "report",
        paths=ROLE,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    detail = {c["id"]: c["detail"] for c in run.results["cases"]}["client.path"]
    assert "the command was stopped after 1 s (--client-timeout)" in detail
    assert run.results["duration_s"] < 30


def test_a_failing_command_is_named_with_its_output_and_never_leaks_the_key(
    tmp_path: Path,
) -> None:
    code = (
        "import os, sys; "
        "print('cannot reach the PBX, key', os.environ['VATS_CLIENT_KEY']); sys.exit(3)"
    )
    run = run_suite(
        ["--crm-client-cmd", _python(code), *CREDENTIALS],
        tmp_path / "report",
        paths=ROLE,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    detail = {c["id"]: c["detail"] for c in run.results["cases"]}["client.path"]
    assert "the command exited with status 3" in detail
    assert "cannot reach the PBX, key [REDACTED]" in detail
    text = run.stdout + run.stderr + (tmp_path / "report" / "results.json").read_text()
    assert CLIENT_KEY not in text


def test_the_command_is_given_the_api_and_the_credentials(tmp_path: Path) -> None:
    """What a CRM's command reads: the API's address, the credentials, a recorded call."""
    code = (
        "import os, httpx; "
        "e = os.environ; "
        "body = ('{\"session_id\": \"' + e['VATS_RECORDED_SESSION_ID'] + '\"}').encode(); "
        "import hashlib; "
        "sign = hashlib.sha256("
        "e['VATS_CLIENT_ID'].encode() + body + e['VATS_CLIENT_KEY'].encode()).hexdigest(); "
        "r = httpx.post(e['VATS_API_URL'] + '/get_record', content=body, timeout=5, headers={"
        "'X-Client-ID': e['VATS_CLIENT_ID'], 'X-Client-Sign': sign, "
        "'Content-Type': 'application/json'}); "
        "assert r.status_code == 200 and r.json()['url'], r.text; "
        "assert httpx.get(r.json()['url'], timeout=5).status_code == 200"
    )
    run = run_suite(["--crm-client-cmd", _python(code)], tmp_path / "report", paths=ROLE)
    assert run.returncode == 0, run.stdout[-3000:]
    verdicts = run.verdicts()
    assert verdicts["client.signature"] == "pass", verdicts
    assert verdicts["client.link.once"] == "pass", verdicts
    detail = {c["id"]: c["detail"] for c in run.results["cases"]}["client.call-back.body"]
    assert "no call_back" in detail


def test_a_crm_that_does_not_fetch_recordings_is_info(tmp_path: Path) -> None:
    """The round trip against a receiver without a client side: nothing is asked, which
    the guide does not require (info), and the wait ends at --events-timeout."""
    port = free_port()
    with serving(ReferenceCrm(CLIENT_ID, CLIENT_KEY)) as url:
        run = run_suite(
            [
                "--crm-url",
                url,
                "--api-listen",
                f"127.0.0.1:{port}",
                "--crm-client-cmd",
                _python("pass"),
                "--events-timeout",
                "1",
                *CREDENTIALS,
            ],
            tmp_path / "report",
            paths=ROLE,
        )
    assert run.returncode == 0, run.stdout[-3000:]
    verdicts = run.verdicts()
    assert verdicts["client.roundtrip.get-record"] == "info", verdicts
    assert verdicts["client.roundtrip.download"] == "skip", verdicts
    assert "fail" not in verdicts.values(), verdicts


def test_what_the_command_leaves_running_is_stopped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = f"sleep 300 & echo $! > {shlex.quote(str(pidfile))}"
    run = run_suite(["--crm-client-cmd", command], tmp_path / "report", paths=ROLE)
    assert run.returncode == 0, run.stdout[-3000:]
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the command's background child outlived the run")
    detail = {c["id"]: c["detail"] for c in run.results["cases"]}["client.path"]
    assert "left running in the background was stopped" in detail


def test_a_body_too_large_to_read_is_not_judged_as_content(tmp_path: Path) -> None:
    """A body past the server's bound is never read: no signature or JSON verdict may
    rest on the part of it that was not (non-strict, not a fail)."""
    code = (
        "import os, httpx; e = os.environ; "
        "body = b'{\"request_number\": \"+74951234567\", \"from_pin\": \"101\", \"x\": \"' "
        "+ b'a' * (2 << 20) + b'\"}'; "
        "httpx.post(e['VATS_API_URL'] + '/call_back', content=body, timeout=10, "
        "headers={'X-Client-ID': e['VATS_CLIENT_ID'], 'X-Client-Sign': '0' * 64, "
        "'Content-Type': 'application/json'})"
    )
    run = run_suite(["--crm-client-cmd", _python(code)], tmp_path / "report", paths=ROLE)
    verdicts = run.verdicts()
    assert verdicts["client.json"] == "non-strict", verdicts
    assert verdicts["client.signature"] == "skip", verdicts
    assert "fail" not in verdicts.values(), verdicts
