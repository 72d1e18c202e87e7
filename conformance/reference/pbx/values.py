"""The admin API's values (3.1, 3.2.1): one parser per setting, each returning the
normalised value or raising ``ConfigError`` with what was wrong.

Numbers and SIP-URIs are checked with Table А.2's own patterns (the schema's).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from conformance.spec import schemas

MIN_TIMEOUT, MAX_TIMEOUT = 0.05, 60.0
PIN_RE = re.compile(r"\A[0-9]{1,8}\Z")


class ConfigError(ValueError):
    """An admin value the emulator refuses; the message says which and why."""


@cache
def _pattern(definition: str) -> re.Pattern[str]:
    """A number pattern of Table А.2's schema (``e164``, ``sip_uri``), ECMA semantics."""
    pattern: str = schemas.view("call_events")["$defs"][definition]["pattern"]
    return schemas.ecma_pattern(pattern)


def is_e164(value: object) -> bool:
    return isinstance(value, str) and bool(_pattern("e164").search(value))


def is_sip_uri(value: object) -> bool:
    return isinstance(value, str) and bool(_pattern("sip_uri").search(value))


def same_uri(a: str, b: str) -> bool:
    """SIP-URIs compared without the scheme, case-insensitively (the guide omits ``sip:``)."""

    def bare(uri: str) -> str:
        return re.sub(r"\Asips?:", "", uri.strip(), flags=re.IGNORECASE).lower()

    return bare(a) == bare(b)


def parse_bool(name: str) -> Callable[[Any], bool]:
    def parse(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
        return value

    return parse


def parse_timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"timeout: expected a number of seconds, got {value!r}")
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        raise ConfigError(f"timeout: expected {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g} seconds")
    return float(value)


def parse_address(value: Any) -> str | None:
    """The external system's address (3.1.1): a base URL, a port allowed, no query.

    Stored without its scheme: the SSL switch decides the scheme (3.2.1).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 2000:
        raise ConfigError("external_address: expected a URL such as https://crm.example.ru:8090")
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"external_address: expected an http(s) address, got {value!r}")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigError("external_address: a base address takes no query, fragment or user")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"external_address: bad port in {value!r}") from None
    if port == 0:
        raise ConfigError(f"external_address: bad port in {value!r}")
    return parts.netloc + parts.path.rstrip("/")


def parse_allow_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError("allow_list: expected a list of IP addresses or networks")
    return sorted({parse_ip(item) for item in value})


def parse_ip(value: Any) -> str:
    """An IP address or a network in CIDR notation (3.1.2)."""
    if not isinstance(value, str):
        raise ConfigError(f"allow_list: expected an IP address as a string, got {value!r}")
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ConfigError(f"allow_list: {value!r} is not an IP address or network") from None
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def parse_users(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise ConfigError('users: expected an object {"PIN": "SIP-URI", ...} with one user or more')
    out: dict[str, str] = {}
    for pin, uri in value.items():
        if not PIN_RE.match(pin) or pin.startswith("0"):
            raise ConfigError(f"users: PIN {pin!r} is not 1 to 8 digits without a leading 0")
        if not is_sip_uri(uri):
            raise ConfigError(f"users: {uri!r} is not a SIP-URI such as user@domain.ru")
        out[pin] = uri
    return out


def parse_number(name: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not is_e164(value):
            raise ConfigError(f"{name}: expected an E.164 number such as +74951234567")
        return str(value)

    return parse


def parse_certificate(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "-----BEGIN CERTIFICATE-----" not in value:
        raise ConfigError("external_certificate: expected a PEM certificate")
    import ssl

    try:
        ssl.create_default_context(cadata=value)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"external_certificate: not a usable PEM certificate: {exc}") from None
    return value
