"""The README's hand-made request (curl, signature computed in the shell) works."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from conformance.reference import process
from tests.support import CLIENT_ID, CLIENT_KEY, ROOT


def _example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- curl-example -->\n```sh\n(.*?)```", text, re.S)
    assert found, "README.md lost its <!-- curl-example --> block"
    return found.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_example_places_a_call() -> None:
    env = {"VATS_CLIENT_ID": CLIENT_ID, "VATS_CLIENT_KEY": CLIENT_KEY}
    child = process.start(
        "conformance.reference.pbx",
        [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--quiet",
            "--with-parent",
            "--external-address",
            "http://127.0.0.1:9",
        ],  # nothing listens: deliveries just fail
        env,
    )
    try:
        script = re.sub(r"^PBX=.*$", f"PBX={child.url}", _example(), count=1, flags=re.M)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        child.stop()
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["result"] == 0, answer
    assert answer["resultMessage"] == "Операция выполнена успешно"
    assert answer["session_id"]
