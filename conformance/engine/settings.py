"""The run's options: command line, then environment, then defaults; validated once.

Every bad value becomes one ``pytest.UsageError`` line naming the option, the
value and what is expected -- never a traceback.
"""

from __future__ import annotations

import math
import os
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conformance.engine.verdict import Verdict
from conformance.spec.schemas import PROFILES, Profile

DEFAULT_TIMEOUT = 5.0
DEFAULT_EXAMPLES = 25
DEFAULT_REPORT_DIR = "reports/latest"
FAIL_ON = {"fail": Verdict.FAIL, "non-strict": Verdict.NON_STRICT}

#: (option, environment variable, help). The option names are an interface: other tools use them.
OPTIONS: tuple[tuple[str, str | None, str], ...] = (
    (
        "--crm-url",
        "VATS_CRM_URL",
        "base URL of the CRM under test; the suite POSTs to {URL}/call_events. "
        "Default: the embedded reference CRM on loopback",
    ),
    ("--client-id", "VATS_CLIENT_ID", "X-Client-ID the CRM expects (section 1.4.1)"),
    (
        "--client-key",
        "VATS_CLIENT_KEY",
        "signing key the CRM expects; prefer the environment variable. Never printed",
    ),
    (
        "--profile",
        "VATS_PROFILE",
        "guide (default: the 2017 guide) or field (adds production shapes)",
    ),
    (
        "--sut-timeout",
        "VATS_SUT_TIMEOUT",
        f"seconds each answer may take, at most 60 (default {DEFAULT_TIMEOUT:g})",
    ),
    (
        "--examples",
        "VATS_EXAMPLES",
        f"examples per generated (Hypothesis) case (default {DEFAULT_EXAMPLES})",
    ),
    ("--seed", "VATS_SEED", "seed of every generated case (default 0: the same run every time)"),
    ("--report-dir", "VATS_REPORT_DIR", f"where results.json goes (default {DEFAULT_REPORT_DIR})"),
    (
        "--fail-on",
        "VATS_FAIL_ON",
        "lowest verdict that makes the run fail: fail (default) or non-strict",
    ),
    (
        "--crm-ca",
        "VATS_CRM_CA",
        "PEM file of the CA (or self-signed certificate) that an https:// CRM's certificate "
        "chains to (1.4.3); default: the system's trust store",
    ),
)


@dataclass(frozen=True)
class Settings:
    crm_url: str | None
    client_id: str
    client_key: str = field(repr=False)
    profile: Profile
    sut_timeout: float
    examples: int
    seed: int
    report_dir: Path
    fail_on: Verdict
    crm_ca: str | None = None

    @property
    def secrets(self) -> list[str]:
        return [self.client_key]


def _value(config: pytest.Config, option: str, env: str | None) -> str | None:
    given: str | None = config.getoption(option.lstrip("-").replace("-", "_"))
    if given is not None:
        return given
    return os.environ.get(env) if env else None


def _number(option: str, raw: str, kind: type[int] | type[float], low: float, high: float) -> float:
    try:
        value = kind(raw)
    except ValueError:
        raise pytest.UsageError(f"{option}: expected a number, got {raw!r}") from None
    if not (low <= value <= high) or (isinstance(value, float) and math.isnan(value)):
        raise pytest.UsageError(f"{option}: expected a value from {low:g} to {high:g}, got {raw!r}")
    return value


def _header_value(option: str, raw: str, *, show: bool = True) -> None:
    """Credentials travel in headers or are hashed as text: printable ASCII, no padding."""
    shown = f" got {raw!r}" if show else ""
    if not raw.isascii() or not raw.isprintable() or raw != raw.strip():
        raise pytest.UsageError(
            f"{option}: expected printable ASCII without surrounding spaces,{shown}".rstrip(",")
        )


def _url(option: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise pytest.UsageError(f"{option}: expected an http:// or https:// URL, got {raw!r}")
    if parts.query or parts.fragment:
        raise pytest.UsageError(f"{option}: a base URL takes no query or fragment, got {raw!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise pytest.UsageError(f"{option}: bad port in {raw!r}") from None
    return raw.rstrip("/")


def from_config(config: pytest.Config) -> Settings:
    opts = {opt: _value(config, opt, env) for opt, env, _ in OPTIONS}
    crm_url = _url("--crm-url", opts["--crm-url"]) if opts["--crm-url"] else None
    client_id, client_key = opts["--client-id"], opts["--client-key"]
    if crm_url and not (client_id and client_key):
        raise pytest.UsageError(
            "--crm-url needs the CRM's credentials: --client-id and --client-key "
            "(or VATS_CLIENT_ID and VATS_CLIENT_KEY)"
        )
    if not crm_url:
        # The embedded reference gets credentials shaped like the guide's (1.4.2).
        client_id = client_id or secrets.token_hex(16).upper()
        client_key = client_key or secrets.token_hex(16).upper()
    assert client_id is not None
    assert client_key is not None
    _header_value("--client-id", client_id)
    _header_value("--client-key", client_key, show=False)
    crm_ca = opts["--crm-ca"]
    if crm_ca:
        try:
            ssl.create_default_context(cafile=crm_ca)
        except (OSError, ssl.SSLError) as exc:
            raise pytest.UsageError(f"--crm-ca: cannot load {crm_ca!r}: {exc}") from None
    profile = opts["--profile"] or "guide"
    if profile not in PROFILES:
        raise pytest.UsageError(
            f"--profile: expected one of {', '.join(PROFILES)}, got {profile!r}"
        )
    fail_on = opts["--fail-on"] or "fail"
    if fail_on not in FAIL_ON:
        raise pytest.UsageError(f"--fail-on: expected one of {', '.join(FAIL_ON)}, got {fail_on!r}")
    report_dir = Path(opts["--report-dir"] or DEFAULT_REPORT_DIR)
    if report_dir.exists() and not report_dir.is_dir():
        raise pytest.UsageError(f"--report-dir: {str(report_dir)!r} exists and is not a directory")
    return Settings(
        crm_url=crm_url,
        client_id=client_id,
        client_key=client_key,
        profile=profile,  # checked against PROFILES above
        sut_timeout=float(
            _number("--sut-timeout", opts["--sut-timeout"] or str(DEFAULT_TIMEOUT), float, 0.05, 60)
        ),
        examples=int(
            _number("--examples", opts["--examples"] or str(DEFAULT_EXAMPLES), int, 1, 10_000)
        ),
        seed=int(_number("--seed", opts["--seed"] or "0", int, 0, 2**32 - 1)),
        report_dir=report_dir,
        fail_on=FAIL_ON[fail_on],
        crm_ca=crm_ca or None,
    )
