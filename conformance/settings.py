"""The run's settings: the options (options.py: command line, environment, ini
file), validated once, with their defaults.

Every bad value becomes one ``pytest.UsageError`` line naming the option as it
was given (``--seed``, ``VATS_SEED`` or ``vats_seed in pytest.ini``), the value
and what is expected -- never a traceback.
"""

from __future__ import annotations

import math
import re
import secrets
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import pytest

from conformance import options
from conformance.grading.baseline import Baseline, load
from conformance.grading.verdict import Verdict
from conformance.options import (
    DEFAULT_CLIENT_TIMEOUT,
    DEFAULT_EVENTS_TIMEOUT,
    DEFAULT_EXAMPLES,
    DEFAULT_MAX_DURATION,
    DEFAULT_REPORT_DIR,
    DEFAULT_TIMEOUT,
)
from conformance.spec.schemas import PROFILES, Profile

FAIL_ON = {"fail": Verdict.FAIL, "non-strict": Verdict.NON_STRICT}
#: The shortest client key or admin token accepted: every output redacts them (D54, D55).
MIN_SECRET = 16

#: Call parties for the embedded emulator (its user 101, P19 of docs/PBX_EMULATOR.md).
EMBEDDED_PARTIES = {
    "--from-pin": "101",
    "--from-sipuri": "sip:test_user@cloudpbx.rt.ru",
    "--call-to": "+74951234567",
}


#: Values the run makes up when they are not given (the embedded run's credentials, the
#: emulator's admin token), put here before the settings are read when several processes
#: must make up the same ones: pytest-xdist's controller and workers (xdist.py).
GENERATED = pytest.StashKey[dict[str, str]]()


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
    #: Where the suite serves the PBX API to a CRM (role crm-client), and the CRM's command.
    api_listen: tuple[str, int] | None = None
    crm_client_cmd: str | None = None
    client_timeout: float = DEFAULT_CLIENT_TIMEOUT
    #: --api-listen or --crm-client-cmd was given: a CRM's requests are a target of this run.
    client_given: bool = False
    #: How long the whole run may last (``--max-duration``, transport/budget.py).
    max_duration: float = DEFAULT_MAX_DURATION

    @property
    def embedded(self) -> bool:
        """No target given: every role runs against the embedded references."""
        return not self.crm_url and not self.pbx_url and not self.client_given

    @property
    def crm_client(self) -> bool:
        """Whether the run judges a CRM's own requests (role crm-client)."""
        return self.embedded or self.client_given

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.client_key, self.pbx_admin_token) if s]


def _flag(option: str, raw: str | None) -> bool:
    if raw is None or raw.lower() in ("", "0", "false", "no"):
        return False
    if raw.lower() in ("1", "true", "yes"):
        return True
    raise pytest.UsageError(f"{option}: expected 1, true or yes (or 0, false, no), got {raw!r}")


def _listen(option: str, raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise pytest.UsageError(
            f"{option}: expected HOST:PORT (e.g. 0.0.0.0:8080; port 0 = any free), got {raw!r}"
        )
    return host, int(port)


def _ca(option: str, path: str | None) -> str | None:
    if path:
        try:
            ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise pytest.UsageError(f"{option}: cannot load {path!r}: {exc}") from None
    return path or None


def _report_dir(option: str, report_dir: Path) -> Path:
    """The report folder, made and tried now: one that cannot be written is found before
    the run, not after it."""
    if report_dir.exists() and not report_dir.is_dir():
        raise pytest.UsageError(f"{option}: {str(report_dir)!r} exists and is not a directory")
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=report_dir):
            pass
    except OSError as exc:
        raise pytest.UsageError(
            f"{option}: cannot write to {str(report_dir)!r}: {exc.strerror or exc}"
        ) from None
    return report_dir


def _number(option: str, raw: str, kind: type[int] | type[float], low: float, high: float) -> float:
    try:
        value = kind(raw)
    except ValueError:
        raise pytest.UsageError(f"{option}: expected a number, got {raw!r}") from None
    if not (low <= value <= high) or (isinstance(value, float) and math.isnan(value)):
        shown = [f"{int(v)}" if kind is int else f"{v:g}" for v in (low, high)]
        raise pytest.UsageError(
            f"{option}: expected a value from {shown[0]} to {shown[1]}, got {raw!r}"
        )
    return value


def _header_value(option: str, raw: str, *, show: bool = True) -> None:
    """Credentials travel in headers or are hashed as text: printable ASCII, no padding."""
    shown = f" got {raw!r}" if show else ""
    if not raw.isascii() or not raw.isprintable() or raw != raw.strip():
        raise pytest.UsageError(
            f"{option}: expected printable ASCII without surrounding spaces,{shown}".rstrip(",")
        )


def _secret(option: str, raw: str) -> None:
    """A key or token: a header value, never shown, and long enough to redact (D55)."""
    _header_value(option, raw, show=False)
    if len(raw) < MIN_SECRET:
        raise pytest.UsageError(
            f"{option}: shorter than {MIN_SECRET} characters; every output redacts it, and so "
            "short a value would blank ordinary text: give the one the PBX issued (the guide's "
            "keys are 32 hex characters, 1.4.2)"
        )


def _http_url(option: str, raw: str, *, shown: str | None = None) -> SplitResult:
    """``raw`` as an http(s) URL with a host and a valid port; one ERROR: line otherwise
    (naming ``shown``, the value as given, when ``raw`` was filled in for the check)."""
    given = raw if shown is None else shown
    try:
        parts = urlsplit(raw)
    except ValueError as exc:  # "Invalid IPv6 URL": an unclosed [
        raise pytest.UsageError(f"{option}: not a URL ({exc}), got {given!r}") from None
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


def _oracle(option: str, raw: str) -> str:
    """An http(s) URL template holding ``{session_id}`` once."""
    if raw.count("{session_id}") != 1:
        raise pytest.UsageError(
            f"{option}: expected a URL with {{session_id}} once, e.g. "
            f"http://crm.example/oracle/{{session_id}}, got {raw!r}"
        )
    _http_url(option, raw.replace("{session_id}", "x"), shown=raw)
    return raw


class _Options:
    """The options' values (``raw``) and the names they were given under (``name``)."""

    def __init__(self, config: pytest.Config) -> None:
        given = options.read(config)
        self.raw = {option: g.value if g else None for option, g in given.items()}
        self.name = {option: g.name if g else option for option, g in given.items()}
        self.on_command_line = {
            option: bool(g and g.on_command_line) for option, g in given.items()
        }


def _parties(
    opts: _Options, *, embedded: bool, pbx_url: str | None
) -> tuple[str | None, str | None, str | None, bool]:
    """Whom call_back cases ring (``--call-to``, ``--from-pin``, ``--from-sipuri``) and
    ``--no-calls``: against a PBX, the parties or ``--no-calls`` must be given (D25)."""
    parties = {
        opt: opts.raw[opt] or (EMBEDDED_PARTIES[opt] if embedded else None)
        for opt in EMBEDDED_PARTIES
    }
    call_to = parties["--call-to"]
    if call_to is not None and not re.fullmatch(r"\+[1-9][0-9]{6,14}", call_to):
        raise pytest.UsageError(
            f"{opts.name['--call-to']}: expected an E.164 number like +74951234567, got {call_to!r}"
        )
    from_pin = parties["--from-pin"]
    if from_pin is not None:
        _header_value(opts.name["--from-pin"], from_pin)
    from_sipuri = parties["--from-sipuri"]
    if from_sipuri is not None and not re.fullmatch(r"(sips?:)?[^@\s]+@[^@\s]+", from_sipuri):
        raise pytest.UsageError(
            f"{opts.name['--from-sipuri']}: expected a SIP-URI like sip:user@domain, "
            f"got {from_sipuri!r}"
        )
    no_calls = _flag(opts.name["--no-calls"], opts.raw["--no-calls"])
    if pbx_url and not no_calls and (call_to is None or (from_pin is None and from_sipuri is None)):
        raise pytest.UsageError(
            f"{opts.name['--pbx-url']}: placing a call rings real phones, so the suite must be "
            "told whom to ring: give --from-pin (or --from-sipuri) and --call-to, or --no-calls "
            "to run only the cases that place no call (D25)"
        )
    return call_to, from_pin, from_sipuri, no_calls


def _client(
    opts: _Options, crm_url: str | None, *, has_credentials: bool
) -> tuple[tuple[str, int] | None, str | None]:
    """``--api-listen`` and ``--crm-client-cmd`` (role crm-client), as given."""
    raw, name = opts.raw, opts.name
    cmd = raw["--crm-client-cmd"]
    if cmd is not None and not cmd.strip():
        raise pytest.UsageError(
            f"{name['--crm-client-cmd']}: empty; give the command, or leave the option out"
        )
    api_listen = _listen(name["--api-listen"], raw["--api-listen"]) if raw["--api-listen"] else None
    if api_listen and not cmd and not has_credentials:
        raise pytest.UsageError(
            f"{name['--api-listen']}: the CRM sends with the credentials it was configured "
            "with; give the same --client-id and --client-key (or VATS_CLIENT_ID and "
            "VATS_CLIENT_KEY)"
        )
    if (cmd or api_listen) and crm_url and (api_listen is None or api_listen[1] == 0):
        given = name["--crm-client-cmd"] if cmd else name["--api-listen"]
        raise pytest.UsageError(
            f"{name['--crm-url']} with {given}: the round trip needs the CRM to know the PBX "
            "API's address before the run; give --api-listen HOST:PORT with a fixed port and "
            "configure the CRM with it"
        )
    return api_listen, cmd.strip() if cmd else None


def from_config(config: pytest.Config) -> Settings:
    opts = _Options(config)
    raw, name = opts.raw, opts.name
    made = config.stash.get(GENERATED, {})
    crm_url = _url(name["--crm-url"], raw["--crm-url"]) if raw["--crm-url"] else None
    pbx_url = _url(name["--pbx-url"], raw["--pbx-url"]) if raw["--pbx-url"] else None
    client_id, client_key = raw["--client-id"], raw["--client-key"]
    for option, url in (("--crm-url", crm_url), ("--pbx-url", pbx_url)):
        if url and not (client_id and client_key):
            raise pytest.UsageError(
                f"{name[option]} needs the integration's credentials: --client-id and "
                "--client-key (or VATS_CLIENT_ID and VATS_CLIENT_KEY)"
            )
    api_listen, cmd = _client(opts, crm_url, has_credentials=bool(client_id and client_key))
    client_given = bool(cmd or api_listen)
    embedded = not crm_url and not pbx_url and not client_given
    if embedded or client_given:
        # The embedded references, and a CRM's command (the suite is its PBX: it issues
        # them, 3.1.1), get credentials shaped like the guide's (1.4.2).
        client_id = client_id or made.get("client_id") or secrets.token_hex(16).upper()
        client_key = client_key or made.get("client_key") or secrets.token_hex(16).upper()
    assert client_id is not None
    assert client_key is not None
    _header_value(name["--client-id"], client_id)
    _secret(name["--client-key"], client_key)
    crm_ca = _ca(name["--crm-ca"], raw["--crm-ca"])
    pbx_ca = _ca(name["--pbx-ca"], raw["--pbx-ca"])
    listen = _listen(name["--listen"], raw["--listen"]) if raw["--listen"] else None
    if embedded and listen is None:
        listen = ("127.0.0.1", 0)
    call_to, from_pin, from_sipuri, no_calls = _parties(opts, embedded=embedded, pbx_url=pbx_url)
    oracle = raw["--crm-oracle"]
    crm_oracle = _oracle(name["--crm-oracle"], oracle) if oracle else None
    if crm_oracle and pbx_url and not crm_url:
        if opts.on_command_line["--crm-oracle"]:  # said on the command line: a mistake
            raise pytest.UsageError(
                "--crm-oracle: it answers for a CRM, and no --crm-url is given (only --pbx-url)"
            )
        crm_oracle = None  # left in the environment or the ini file: no CRM in this run
    admin_token = raw["--pbx-admin-token"]
    if admin_token is not None:
        _secret(name["--pbx-admin-token"], admin_token)
    elif embedded:
        # The embedded emulator's.
        admin_token = made.get("admin_token") or secrets.token_urlsafe(18)
    profile = raw["--profile"] or "guide"
    if profile not in PROFILES:
        raise pytest.UsageError(
            f"{name['--profile']}: expected one of {', '.join(PROFILES)}, got {profile!r}"
        )
    fail_on = raw["--fail-on"] or "fail"
    if fail_on not in FAIL_ON:
        raise pytest.UsageError(
            f"{name['--fail-on']}: expected one of {', '.join(FAIL_ON)}, got {fail_on!r}"
        )
    report_dir = _report_dir(name["--report-dir"], Path(raw["--report-dir"] or DEFAULT_REPORT_DIR))

    def number(
        option: str, default: object, kind: type[int] | type[float], low: float, high: float
    ) -> float:
        return _number(name[option], raw[option] or str(default), kind, low, high)

    return Settings(
        crm_url=crm_url,
        client_id=client_id,
        client_key=client_key,
        profile=profile,  # checked against PROFILES above
        sut_timeout=float(number("--sut-timeout", DEFAULT_TIMEOUT, float, 0.05, 60)),
        examples=int(number("--examples", DEFAULT_EXAMPLES, int, 1, 10_000)),
        seed=int(number("--seed", 0, int, 0, 2**32 - 1)),
        report_dir=report_dir,
        fail_on=FAIL_ON[fail_on],
        crm_ca=crm_ca,
        pbx_url=pbx_url,
        listen=listen,
        events_timeout=float(number("--events-timeout", DEFAULT_EVENTS_TIMEOUT, float, 0.1, 600)),
        destructive=_flag(name["--destructive"], raw["--destructive"]),
        from_pin=from_pin,
        from_sipuri=from_sipuri,
        call_to=call_to,
        pbx_admin_token=admin_token or None,
        pbx_ca=pbx_ca,
        baseline=load(raw["--baseline"], name["--baseline"]) if raw["--baseline"] else None,
        crm_oracle=crm_oracle,
        no_calls=no_calls,
        api_listen=api_listen or (("127.0.0.1", 0) if embedded or client_given else None),
        crm_client_cmd=cmd,
        client_timeout=float(number("--client-timeout", DEFAULT_CLIENT_TIMEOUT, float, 1, 3600)),
        client_given=client_given,
        max_duration=float(number("--max-duration", DEFAULT_MAX_DURATION, float, 1, 86400)),
    )
