"""The suite's options, and where each value comes from.

Every option has three names: ``--crm-url`` on the command line, ``VATS_CRM_URL``
in the environment and ``vats_crm_url`` in the ini file (``pytest.ini``,
``pyproject.toml``'s ``[tool.pytest.ini_options]``, ``tox.ini``, ``setup.cfg``).
The first one given wins, in that order, as with pytest-base-url. Each value
keeps the name it was given under, so that a bad one is reported under that name
(settings.py validates). Secrets are never read from an ini file (D40).
"""

from __future__ import annotations

import argparse
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

DEFAULT_TIMEOUT = 5.0
DEFAULT_EVENTS_TIMEOUT = 60.0
DEFAULT_EXAMPLES = 25
DEFAULT_REPORT_DIR = "reports/latest"
DEFAULT_CLIENT_TIMEOUT = 60.0
#: A run against real systems with the default timeouts fits in it (docs/DECISIONS.md D56).
DEFAULT_MAX_DURATION = 900.0

#: (option, environment variable, help); the ini key is the variable in lower case.
#: The names are an interface: users' CI files and other tools use them.
OPTIONS: tuple[tuple[str, str, str], ...] = (
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
        "--api-listen",
        "VATS_API_LISTEN",
        "HOST:PORT where the suite serves the PBX API (call_back, get_record, recording links) "
        "to the CRM under test and judges every request it sends (role crm-client; point the "
        "CRM's PBX address there). Default with --crm-client-cmd or the embedded references: "
        "127.0.0.1:0",
    ),
    (
        "--crm-client-cmd",
        "VATS_CRM_CLIENT_CMD",
        "command that makes the CRM send its requests to $VATS_API_URL with $VATS_CLIENT_ID and "
        "$VATS_CLIENT_KEY (a test script, a management command); run once through the shell, "
        "its requests collected until it exits (README: 'Testing your CRM's requests')",
    ),
    (
        "--client-timeout",
        "VATS_CLIENT_TIMEOUT",
        f"seconds --crm-client-cmd may run (it is stopped then), or without a command how long "
        f"the suite collects the CRM's requests (default {DEFAULT_CLIENT_TIMEOUT:g}, at most 3600)",
    ),
    (
        "--events-timeout",
        "VATS_EVENTS_TIMEOUT",
        f"seconds a placed call's notifications may take to arrive, new to disconnected "
        f"(default {DEFAULT_EVENTS_TIMEOUT:g}, at most 600)",
    ),
    (
        "--max-duration",
        "VATS_MAX_DURATION",
        f"seconds the whole run may last (default {DEFAULT_MAX_DURATION:g}, from 1 to 86400): "
        "then the cases not yet run skip naming it, and waits in progress are cut",
    ),
    (
        "--destructive",
        "VATS_DESTRUCTIVE",
        "also run the cases that spend the PBX's request quota or change its settings "
        "(rate limits, allow-list): a flag; the variable and ini key take 1/true/yes",
    ),
    (
        "--no-calls",
        "VATS_NO_CALLS",
        "against a PBX, run only the cases that place no call (without --from-pin/"
        "--from-sipuri and --call-to this is required): a flag; the variable and ini key "
        "take 1/true/yes",
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
        "Never printed, never read from an ini file",
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
        "signing key of the integration; prefer the environment variable. Never printed, "
        "never read from an ini file",
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

#: Options naming a target: empty on the command line is an error, never "none given".
TARGETS = ("--crm-url", "--pbx-url")
#: Options that take no value.
FLAGS = ("--destructive", "--no-calls")
#: Options whose value is a secret: from the command line or the environment only (D40).
SECRETS = ("--client-key", "--pbx-admin-token")
#: Options naming a file or folder: relative to the ini file's folder when given there.
PATHS = ("--report-dir", "--baseline", "--crm-ca", "--pbx-ca")


def ini_key(env: str) -> str:
    """``VATS_CRM_URL`` -> ``vats_crm_url``."""
    return env.lower()


@dataclass(frozen=True)
class Given:
    """An option's value and the name it was given under (``--seed``, ``VATS_SEED`` or
    ``vats_seed in pytest.ini``), which error messages use."""

    value: str
    name: str

    @property
    def on_command_line(self) -> bool:
        return self.name.startswith("--")


def dest(option: str) -> str:
    """``--crm-url`` -> ``vats_crm_url``: a destination no other plugin's option takes."""
    return "vats_" + option.lstrip("-").replace("-", "_")


def prefixed(option: str) -> str:
    """``--crm-url`` -> ``--vats-crm-url``: the spelling that is always ours (D40)."""
    return "--vats-" + option.lstrip("-")


def register(parser: pytest.Parser) -> None:
    """Every option as ``--vats-NAME``, and its ini key; the short ``--NAME`` comes later
    (``add_short_names``), once the project's own options are known."""
    group = parser.getgroup("vats", "VATS Integration API conformance")
    for option, env, help_text in OPTIONS:
        key = ini_key(env)
        shown = f"{help_text} [also {option} where no other plugin takes it; env {env}, ini {key}]"
        kind = {"action": "store_true"} if option in FLAGS else {}
        group.addoption(prefixed(option), dest=dest(option), default=None, help=shown, **kind)
        parser.addini(key, f"{option}, when neither it nor {env} is given", default=None)


def add_short_names(parser: pytest.Parser) -> list[str]:
    """Add ``--crm-url``, ``--seed``, ... as second spellings of the ``--vats-`` options,
    each only where nothing registered it first (a project's conftest.py, another
    plugin: pytest-profiling has its own ``--profile``). Returns the names left out."""
    group = parser.getgroup("vats")
    taken = set(parser._opt2dest)  # pytest keeps no public list of the names
    left_out = []
    for option, _, _ in OPTIONS:
        if option in taken:
            left_out.append(option)
            continue
        kind = {"action": "store_true"} if option in FLAGS else {}
        group.addoption(option, dest=dest(option), default=None, help=argparse.SUPPRESS, **kind)
    return left_out


def read(config: pytest.Config) -> dict[str, Given | None]:
    """Every option's value: the command line, then the environment, then the ini file."""
    return {option: _given(config, option, env) for option, env, _ in OPTIONS}


def _given(config: pytest.Config, option: str, env: str) -> Given | None:
    cli: str | bool | None = config.getoption(dest(option))
    if cli is True:
        return Given("1", option)
    if isinstance(cli, str):
        if not cli.strip() and option in TARGETS:
            # `--crm-url "$CRM_URL"` with the variable unset: running the embedded
            # reference instead would make a CI gate pass without the CRM.
            raise pytest.UsageError(f"{option}: empty; give the URL, or leave the option out")
        return Given(cli, option)
    if os.environ.get(env, "").strip():  # an empty variable is not given (as pytest-base-url)
        return Given(os.environ[env], env)
    return _from_ini(config, option, env)


def _from_ini(config: pytest.Config, option: str, env: str) -> Given | None:
    key = ini_key(env)
    with warnings.catch_warnings():
        # pyproject.toml's [tool.pytest] hands TOML numbers and booleans over as they are
        # (pytest 9 warns about them for a string key): taken as their text below.
        warnings.simplefilter("ignore")
        raw: object = config.getini(key)
    if raw is None or raw == "":
        return None
    here = config.invocation_params.dir
    if any(o.startswith(f"{key}=") for o in config.option.override_ini or ()):
        name, folder = f"-o {key}", here  # on the command line, like the option itself
    elif config.inipath is None:
        return None
    else:
        name, folder = f"{key} in {_shown(config.inipath, here)}", config.inipath.parent
        if option in SECRETS:
            raise pytest.UsageError(
                f"{name}: a secret does not belong in a file that is committed with the code "
                f"(1.4.2): set {env} in the environment (a CI secret) instead"
            )
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, str | int | float):
        text = str(raw)
    else:
        raise pytest.UsageError(f"{name}: expected one value, got {raw!r}")
    if option in PATHS:
        path = Path(text).expanduser()
        text = str(path if path.is_absolute() else folder / path)
    return Given(text, name)


def _shown(path: Path, here: Path) -> str:
    """The ini file as the user would name it from where they ran pytest."""
    try:
        return str(path.relative_to(here))
    except ValueError:
        return str(path)
