"""Real X.509 certificates for the sandbox, signed by one sandbox CA.

Scenarios ask for certificates with chosen names and validity windows (some about to expire). Generating an RSA
key is the slow part of making a certificate, so the CA key and the leaf key are made once per process and every
certificate reuses them: signing a new certificate then costs about a millisecond.
"""
from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Admin Panel Sandbox"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Sandbox CA"),
    ]
)
_key_lock = threading.Lock()
_keys: dict[str, rsa.RSAPrivateKey] = {}


def _private_key(role: str) -> rsa.RSAPrivateKey:
    # One key per role ("ca", "leaf") for the whole process: RSA generation takes tens of milliseconds. The lock
    # makes concurrent first callers share one key (the leaf PEM handed out must match every certificate).
    with _key_lock:
        if role not in _keys:
            _keys[role] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return _keys[role]


@lru_cache(maxsize=1)
def _leaf_key_pem() -> str:
    return (
        _private_key("leaf")
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # "BEGIN RSA PRIVATE KEY", what Deis users paste
            serialization.NoEncryption(),
        )
        .decode()
    )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _serial(common_name: str, sans: tuple[str, ...], not_before: datetime, not_after: datetime) -> int:
    # Deterministic serial: the same request gives the same certificate bytes apart from the signature.
    digest = hashlib.sha256(f"{common_name}|{','.join(sans)}|{not_before}|{not_after}".encode()).digest()
    return int.from_bytes(digest[:16], "big") >> 1  # positive, at most 127 bits as RFC 5280 asks


@lru_cache(maxsize=4096)
def _certificate_pem(common_name: str, sans: tuple[str, ...], not_before: datetime, not_after: datetime) -> str:
    leaf_key = _private_key("leaf")
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(CA_NAME)
        .public_key(leaf_key.public_key())
        .serial_number(_serial(common_name, sans, not_before, not_after))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in sans]), critical=False
        )
    certificate = builder.sign(_private_key("ca"), hashes.SHA256())
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def make_certificate(
    common_name: str, sans: list[str] | tuple[str, ...], not_before: datetime, not_after: datetime
) -> tuple[str, str]:
    """Return (certificate PEM, private key PEM) for a certificate signed by the sandbox CA.

    Naive datetimes are taken as UTC; X.509 keeps whole seconds, so microseconds are dropped.
    """
    if not common_name:
        raise ValueError("a certificate needs a common name")
    start = _utc(not_before).replace(microsecond=0)
    end = _utc(not_after).replace(microsecond=0)
    if end <= start:
        raise ValueError(f"certificate {common_name}: not_after {end} must be after not_before {start}")
    return _certificate_pem(common_name, tuple(sans), start, end), _leaf_key_pem()


def ca_certificate_pem() -> str:
    """The sandbox CA's own certificate, for clients that want to verify what `make_certificate` signs."""
    ca_key = _private_key("ca")
    start = datetime(2020, 1, 1, tzinfo=UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(CA_NAME)
        .issuer_name(CA_NAME)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start.replace(year=2050))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
