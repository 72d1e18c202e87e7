"""HTTPS for the emulator (1.4.3, 3.2.1): its own self-signed certificate (served by
conformance/reference/server.py with ``tls=``), and the trust store for the
external system's certificate.

The certificate is made with the ``cryptography`` package at start-up (an
ECDSA P-256 key: instant to generate, unlike RSA), valid for a year, for
``localhost``, the loopback addresses and the host the emulator listens on.
The private key never leaves memory except through a temporary file that
``ssl`` needs for a moment to load it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from functools import cache, lru_cache

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

COMMON_NAME = "vats-reference-pbx"


@dataclass(frozen=True)
class Identity:
    """A certificate (PEM, public) and a server context that presents it."""

    certificate_pem: str
    context: ssl.SSLContext


def self_signed(hosts: tuple[str, ...] = ()) -> Identity:
    """A fresh self-signed server certificate for loopback and ``hosts``."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    addresses = {"127.0.0.1", "::1"}
    for host in hosts:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
            if not address.is_unspecified:  # 0.0.0.0 and :: name no host
                addresses.add(str(address))
        except ValueError:
            if host and host != "localhost":
                names.append(x509.DNSName(host))
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in sorted(addresses)]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Identity(cert_pem.decode("ascii"), server_context(cert_pem, key_pem))


def server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="vats-pbx-") as folder:
        cert_file, key_file = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        with open(cert_file, "wb") as fh:
            fh.write(cert_pem)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


@cache
def _default_client_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


@lru_cache(maxsize=32)
def client_context(trusted_pem: str | None) -> ssl.SSLContext:
    """What outgoing HTTPS trusts: the usual roots plus the external system's
    certificate uploaded for it (1.4.3), which may be self-signed (В.3)."""
    if trusted_pem is None:
        return _default_client_context()
    context = ssl.create_default_context(cafile=certifi.where())
    context.load_verify_locations(cadata=trusted_pem)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context
