"""The run's options: command line, then environment, then defaults; validated once.

Every bad value becomes one ``pytest.UsageError`` line naming the option, the
value and what is expected -- never a traceback.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import pytest

from conformance.grading.baseline import Baseline, load
from conformance.grading.verdict import Verdict
from conformance.spec.schemas import PROFILES, Profile

DEFAULT_TIMEOUT = 5.0
DEFAULT_EVENTS_TIMEOUT = 60.0
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
    (
        "--pbx-url",
        "VATS_PBX_URL",
        "base URL of the PBX under test; the suite POSTs to {URL}/call_back and {URL}/get_record. "
        "Default: the embedded reference PBX emulator on loopback",
    ),
    (
        "--listen",
        "VATS_LISTEN",
        "HOST:PORT where the suite receives the PBX's call_events at /call_events "
        "(point the PBX's external address there). Default with the embedded PBX: 127.0.0.1:0",
    ),
    (
        "--events-timeout",
        "VATS_EVENTS_TIMEOUT",
        f"seconds a placed call's notifications may take to arrive, new to disconnected "
        f"(default {DEFAULT_EVENTS_TIMEOUT:g}, at most 600)",
    ),
    (
        "--destructive",
        "VATS_DESTRUCTIVE",
        "also run the cases that spend the PBX's request quota or change its settings "
        "(rate limits, allow-list): a flag; the variable takes 1/true/yes",
    ),
    (
        "--no-calls",
        "VATS_NO_CALLS",
        "against a PBX, run only the cases that place no call (without --from-pin/"
        "--from-sipuri and --call-to this is required): a flag; the variable takes 1/true/yes",
    ),
    (
        "--from-pin",
        "VATS_FROM_PIN",
        "PIN of a domain user whom call_back cases ring first (a real phone rings!). "
        "Default with the embedded PBX: 101",
    ),
    (
        "--from-sipuri",
        "VATS_FROM_SIPURI",
        "SIP-URI of a domain user for call_back cases. "
        "Default with the embedded PBX: sip:test_user@cloudpbx.rt.ru",
    ),
    (
        "--call-to",
        "VATS_CALL_TO",
        "E.164 number call_back cases call after the user answers (a real phone rings!). "
        "Default with the embedded PBX: +74951234567",
    ),
    (
        "--pbx-admin-token",
        "VATS_PBX_ADMIN_TOKEN",
        "admin token of a PBX that offers the reference emulator's admin API "
        "(docs/PBX_EMULATOR.md); lets destructive cases set its allow-list and limits. "
        "Never printed",
    ),
    (
        "--crm-oracle",
        "VATS_CRM_ORACLE",
        "URL template with {session_id}: a GET answers 2xx when the CRM has acted on a "
        "notification of that call (stored or processed it), 404 when it has not (a log of "
        "refused requests does not count); lets refusal cases see whether a forged "
        "notification was processed. Default with the embedded CRM: its own oracle",
    ),
    (
        "--client-id",
        "VATS_CLIENT_ID",
        "X-Client-ID of the integration: what the CRM expects and the PBX issued (1.4.1)",
    ),
    (
        "--client-key",
        "VATS_CLIENT_KEY",
        "signing key of the integration; prefer the environment variable. Never printed",
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
    (
        "--report-dir",
        "VATS_REPORT_DIR",
        f"where results.json, index.html and junit.xml go (default {DEFAULT_REPORT_DIR})",
    ),
    (
        "--baseline",
        "VATS_BASELINE",
        "TOML file of known deviations ([[known]] id = ..., reason = ...): listed cases do not "
        "fail the run, and a listed case that passes does",
    ),
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
    (
        "--pbx-ca",
        "VATS_PBX_CA",
        "PEM file of the CA that an https:// PBX's certificate chains to (the production API's "
        "chains to 'Russian Trusted CA', 1.4.3); default: the system's trust store",
    ),
)

#: Options that take no value.
FLAGS = ("--destructive", "--no-calls")

#: Call parties for the embedded emulator (its user 101, P19 of docs/PBX_EMULATOR.md).
EMBEDDED_PARTIES = {
    "--from-pin": "101",
    "--from-sipuri": "sip:test_user@cloudpbx.rt.ru",
    "--call-to": "+74951234567",
}


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
    pbx_url: str | None = None
    listen: tuple[str, int] | None = None
    events_timeout: float = DEFAULT_EVENTS_TIMEOUT
    destructive: bool = False
    from_pin: str | None = None
    from_sipuri: str | None = None
    call_to: str | None = None
    pbx_admin_token: str | None = field(default=None, repr=False)
    pbx_ca: str | None = None
    baseline: Baseline | None = None
    crm_oracle: str | None = None
    no_calls: bool = False

    @property
    def embedded(self) -> bool:
        """No target given: every role runs against the embedded references."""
        return not self.crm_url and not self.pbx_url

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.client_key, self.pbx_admin_token) if s]


def _value(config: pytest.Config, option: str, env: str | None) -> str | None:
    given: str | bool | None = config.getoption(option.lstrip("-").replace("-", "_"))
    if given is True:
        return "1"
    if isinstance(given, str):
        return given
    return os.environ.get(env) if env else None


def _flag(option: str, raw: str | None) -> bool:
    if raw is None or raw.lower() in ("", "0", "false", "no"):
        return False
    if raw.lower() in ("1", "true", "yes"):
        return True
    raise pytest.UsageError(f"{option}: expected 1, true or yes (or 0, false, no), got {raw!r}")


def _listen(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise pytest.UsageError(
            f"--listen: expected HOST:PORT (e.g. 0.0.0.0:8080; port 0 = any free), got {raw!r}"
        )
    return host, int(port)


def _ca(option: str, path: str | None) -> str | None:
    if path:
        try:
            ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise pytest.UsageError(f"{option}: cannot load {path!r}: {exc}") from None
    return path or None


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


def _http_url(option: str, raw: str, *, shown: str | None = None) -> SplitResult:
    """``raw`` as an http(s) URL with a host and a valid port; one ERROR: line otherwise
    (naming ``shown``, the value as given, when ``raw`` was filled in for the check)."""
    given = raw if shown is None else shown
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise pytest.UsageError(f"{option}: expected an http:// or https:// URL, got {given!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise pytest.UsageError(f"{option}: bad port in {given!r}") from None
    return parts


def _url(option: str, raw: str) -> str:
    parts = _http_url(option, raw)
    if parts.query or parts.fragment:
        raise pytest.UsageError(f"{option}: a base URL takes no query or fragment, got {raw!r}")
    return raw.rstrip("/")


def _oracle(raw: str) -> str:
    """An http(s) URL template holding ``{session_id}`` once."""
    if raw.count("{session_id}") != 1:
        raise pytest.UsageError(
            "--crm-oracle: expected a URL with {session_id} once, e.g. "
            f"http://crm.example/oracle/{{session_id}}, got {raw!r}"
        )
    _http_url("--crm-oracle", raw.replace("{session_id}", "x"), shown=raw)
    return raw


def _parties(
    opts: dict[str, str | None], *, embedded: bool, pbx_url: str | None
) -> tuple[str | None, str | None, str | None, bool]:
    """Whom call_back cases ring (``--call-to``, ``--from-pin``, ``--from-sipuri``) and
    ``--no-calls``: against a PBX, the parties or ``--no-calls`` must be given (D25)."""
    parties = {
        opt: opts[opt] or (EMBEDDED_PARTIES[opt] if embedded else None) for opt in EMBEDDED_PARTIES
    }
    call_to = parties["--call-to"]
    if call_to is not None and not re.fullmatch(r"\+[1-9][0-9]{6,14}", call_to):
        raise pytest.UsageError(
            f"--call-to: expected an E.164 number like +74951234567, got {call_to!r}"
        )
    from_pin = parties["--from-pin"]
    if from_pin is not None:
        _header_value("--from-pin", from_pin)
    from_sipuri = parties["--from-sipuri"]
    if from_sipuri is not None and not re.fullmatch(r"(sips?:)?[^@\s]+@[^@\s]+", from_sipuri):
        raise pytest.UsageError(
            f"--from-sipuri: expected a SIP-URI like sip:user@domain, got {from_sipuri!r}"
        )
    no_calls = _flag("--no-calls", opts["--no-calls"])
    if pbx_url and not no_calls and (call_to is None or (from_pin is None and from_sipuri is None)):
        raise pytest.UsageError(
            "--pbx-url: placing a call rings real phones, so the suite must be told whom to "
            "ring: give --from-pin (or --from-sipuri) and --call-to, or --no-calls to run only "
            "the cases that place no call (D25)"
        )
    return call_to, from_pin, from_sipuri, no_calls


def from_config(config: pytest.Config) -> Settings:
    opts = {opt: _value(config, opt, env) for opt, env, _ in OPTIONS}
    crm_url = _url("--crm-url", opts["--crm-url"]) if opts["--crm-url"] else None
    pbx_url = _url("--pbx-url", opts["--pbx-url"]) if opts["--pbx-url"] else None
    client_id, client_key = opts["--client-id"], opts["--client-key"]
    for option, url in (("--crm-url", crm_url), ("--pbx-url", pbx_url)):
        if url and not (client_id and client_key):
            raise pytest.UsageError(
                f"{option} needs the integration's credentials: --client-id and --client-key "
                "(or VATS_CLIENT_ID and VATS_CLIENT_KEY)"
            )
    embedded = not crm_url and not pbx_url
    if embedded:
        # The embedded references get credentials shaped like the guide's (1.4.2).
        client_id = client_id or secrets.token_hex(16).upper()
        client_key = client_key or secrets.token_hex(16).upper()
    assert client_id is not None
    assert client_key is not None
    _header_value("--client-id", client_id)
    _header_value("--client-key", client_key, show=False)
    crm_ca = _ca("--crm-ca", opts["--crm-ca"])
    pbx_ca = _ca("--pbx-ca", opts["--pbx-ca"])
    listen = _listen(opts["--listen"]) if opts["--listen"] else None
    if embedded and listen is None:
        listen = ("127.0.0.1", 0)
    call_to, from_pin, from_sipuri, no_calls = _parties(opts, embedded=embedded, pbx_url=pbx_url)
    crm_oracle = _oracle(opts["--crm-oracle"]) if opts["--crm-oracle"] else None
    if crm_oracle and pbx_url and not crm_url:
        if config.getoption("crm_oracle") is not None:  # said on the command line: a mistake
            raise pytest.UsageError(
                "--crm-oracle: it answers for a CRM, and no --crm-url is given (only --pbx-url)"
            )
        crm_oracle = None  # VATS_CRM_ORACLE left in the environment: no CRM in this run
    admin_token = opts["--pbx-admin-token"]
    if admin_token is not None:
        _header_value("--pbx-admin-token", admin_token, show=False)
    elif embedded:
        admin_token = secrets.token_urlsafe(18)  # the embedded emulator's
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
        crm_ca=crm_ca,
        pbx_url=pbx_url,
        listen=listen,
        events_timeout=float(
            _number(
                "--events-timeout",
                opts["--events-timeout"] or str(DEFAULT_EVENTS_TIMEOUT),
                float,
                0.1,
                600,
            )
        ),
        destructive=_flag("--destructive", opts["--destructive"]),
        from_pin=from_pin,
        from_sipuri=from_sipuri,
        call_to=call_to,
        pbx_admin_token=admin_token or None,
        pbx_ca=pbx_ca,
        baseline=load(opts["--baseline"]) if opts["--baseline"] else None,
        crm_oracle=crm_oracle,
        no_calls=no_calls,
    )
