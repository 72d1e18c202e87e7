"""Start the installed console scripts, send each one request, stop them (.ci/wheel-check).

Run with the Python of the venv the wheel was installed in, from a folder outside
the checkout: ``vats-reference-crm`` must accept the guide's ``call_events``
example and ``vats-reference-pbx`` the guide's ``call_back`` example, both
correctly signed -- which needs the schemas and fixtures the wheel carries -- and
``vats-reference-crm-client`` must place a call_back with that emulator;
``vats-conformance export`` must print both exports (D50), built from the wheel's schemas.
Every wait is bounded; the key is generated here and never printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import selectors
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conformance.spec import examples

START_TIMEOUT = 20.0
CLIENT_ID = secrets.token_hex(16).upper()
KEY = secrets.token_hex(16).upper()


def listening(process: subprocess.Popen[str], name: str) -> str:
    """The URL of the script's "listening on URL" line, read within START_TIMEOUT."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(timeout=left):
                break
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"listening on (\S+)", line)
            if found:
                return found.group(1)
    raise SystemExit(f"{name}: no 'listening on' line within {START_TIMEOUT:g} s")


def signed_post(url: str, body: bytes) -> httpx.Response:
    sign = hashlib.sha256(CLIENT_ID.encode() + body + KEY.encode()).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Client-ID": CLIENT_ID,
        "X-Client-Sign": sign,
    }
    return httpx.post(url, content=body, headers=headers, timeout=10)


def crm_client(base: str) -> None:
    """``vats-reference-crm-client`` places a call_back at ``base`` (a running emulator)."""
    script = Path(sys.executable).with_name("vats-reference-crm-client")
    env = {**os.environ, "VATS_API_URL": base, "VATS_CLIENT_ID": CLIENT_ID, "VATS_CLIENT_KEY": KEY}
    done = subprocess.run(  # noqa: S603 - the installed script, our own environment
        [str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    print(f"vats-reference-crm-client: exit {done.returncode}: {done.stdout.strip()}")
    if done.returncode != 0 or "/call_back -> 200" not in done.stdout:
        raise SystemExit(f"vats-reference-crm-client: expected call_back -> 200\n{done.stderr}")


def check(name: str, args: list[str], method: str, example: str, *, client: bool = False) -> None:
    script = Path(sys.executable).with_name(name)
    env = {**os.environ, "VATS_CLIENT_KEY": KEY}
    command = [str(script), "--host", "127.0.0.1", "--port", "0", "--client-id", CLIENT_ID]
    with subprocess.Popen(  # noqa: S603 - the installed script, our own arguments
        [*command, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            base = listening(process, name)
            answer = signed_post(f"{base}/{method}", examples.raw(example))
            print(f"{name}: POST /{method} ({example}) -> {answer.status_code} {answer.text}")
            if answer.status_code != 200:
                raise SystemExit(f"{name}: expected 200 for the guide's own example")
            if method == "call_back" and str(json.loads(answer.text).get("result")) != "0":
                raise SystemExit(f"{name}: expected result 0 for the guide's own example")
            if client:
                crm_client(base)
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def export() -> None:
    """``vats-conformance export openapi|postman`` prints JSON; OpenAPI names the guide's paths."""
    script = Path(sys.executable).with_name("vats-conformance")
    for kind in ("openapi", "postman"):
        done = subprocess.run(  # noqa: S603 - the installed script, our own arguments
            [str(script), "export", kind], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"vats-conformance export {kind}: {done.returncode}\n{done.stderr}")
        document = json.loads(done.stdout)
        print(f"vats-conformance export {kind}: {len(done.stdout)} characters of JSON")
        if kind == "openapi" and set(document["paths"]) != {"/call_back", "/get_record"}:
            raise SystemExit(f"vats-conformance export openapi: paths {sorted(document['paths'])}")


def main() -> None:
    export()
    check("vats-reference-crm", ["--quiet"], "call_events", "call_events.new")
    # The emulator sends the call's notifications to an address nobody listens on:
    # call_back is answered before they are sent.
    check(
        "vats-reference-pbx",
        ["--quiet", "--external-address", "http://127.0.0.1:9"],
        "call_back",
        "call_back.request",
        client=True,
    )


if __name__ == "__main__":
    main()
