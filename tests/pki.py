"""A small certificate authority for the certificate tests: a root, an intermediate and leaves, made with
`cryptography` in the test process (EC keys: fast to make; RSA where a test asks for it)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test PKI"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def new_key(kind: str = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: PrivateKey

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def key_pem(self, password: bytes | None = None) -> str:
        encryption = (serialization.BestAvailableEncryption(password) if password
                      else serialization.NoEncryption())
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      encryption).decode()


def issue(subject: str, issuer: Issued | None, *, sans: list[str] | None = None, ca: bool = False,
          key: PrivateKey | None = None, not_before: datetime | None = None,
          not_after: datetime | None = None) -> Issued:
    """A certificate for `subject` signed by `issuer` (self-signed when None)."""
    now = datetime.now(UTC)
    key = key or new_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.certificate.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=60))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(certificate, key)


@lru_cache(maxsize=1)
def root() -> Issued:
    return issue("Test Root CA", None, ca=True, not_after=datetime.now(UTC) + timedelta(days=3650))


@lru_cache(maxsize=1)
def intermediate() -> Issued:
    return issue("Test Intermediate CA", root(), ca=True, not_after=datetime.now(UTC) + timedelta(days=1825))


def leaf(*sans: str, days: int = 60, **options) -> Issued:
    """A server certificate for `sans` (its CN the first one) signed by the intermediate."""
    return issue(sans[0] if sans else "no-san.test", intermediate(), sans=list(sans) or None,
                 not_after=datetime.now(UTC) + timedelta(days=days), **options)


def chain(*parts: Issued) -> str:
    return "".join(part.pem for part in parts)
