"""Checking an uploaded certificate before anything is sent to Deis: a PEM chain and its private key, read with
`cryptography`. Every refusal says what is wrong in words an operator can act on, and never quotes the input (the
key field may hold a secret, and so may a certificate field a key was pasted into by mistake)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

MAX_CERTIFICATE_CHARS = 64 * 1024  # a leaf and a few intermediates are ~2 KiB each
MAX_KEY_CHARS = 16 * 1024
MIN_RSA_BITS = 2048
CERTIFICATE_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
ENCRYPTED_MARKERS = ("BEGIN ENCRYPTED PRIVATE KEY", "Proc-Type: 4,ENCRYPTED")
NAME_LENGTH = 253  # the controller's limit on a certificate name


class CertificateRefused(ValueError):
    """Bad input for a certificate upload; the message is shown as is and nothing was changed."""


@dataclass(frozen=True)
class CheckedCertificate:
    """A chain that passed every check, leaf first, with the key re-encoded as plain PKCS#8 PEM."""

    chain: list[x509.Certificate]
    chain_pem: str
    key_pem: str = ""  # never rendered, logged or stored: it goes to Deis only

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def common_name(self) -> str | None:
        return common_name(self.leaf)

    @property
    def sans(self) -> list[str]:
        return dns_names(self.leaf)

    @property
    def fingerprint(self) -> str:
        return self.leaf.fingerprint(hashes.SHA256()).hex().upper()

    def __repr__(self) -> str:  # keeps the key out of any traceback or log line that prints this object
        return f"CheckedCertificate(common_name={self.common_name!r}, fingerprint={self.fingerprint[:16]}…)"


def common_name(certificate: x509.Certificate) -> str | None:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def dns_names(certificate: x509.Certificate) -> list[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(extension.value.get_values_for_type(x509.DNSName))


def normalized_domain(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def name_matches(pattern: str, domain: str) -> bool:
    """A certificate name against a host name: exact, or `*.` standing for exactly one whole leftmost label."""
    pattern, domain = normalized_domain(pattern), normalized_domain(domain)
    if not pattern.startswith("*."):
        return "*" not in pattern and pattern == domain
    suffix = pattern[2:]
    label, dot, rest = domain.partition(".")
    # "*.example.com" covers "a.example.com", not "example.com" nor "a.b.example.com"; no partial wildcards.
    return "*" not in suffix and bool(label) and bool(dot) and rest == suffix and "*" not in label


def covered_names(certificate: x509.Certificate) -> list[str]:
    """The names a client checks: the SAN DNS names, or the common name only when there is no SAN (RFC 6125)."""
    sans = dns_names(certificate)
    if sans:
        return sans
    name = common_name(certificate)
    return [name] if name else []


def _describe(certificate: x509.Certificate) -> str:
    return common_name(certificate) or certificate.subject.rfc4514_string() or "(no subject)"


def _load_chain(certificate_pem: str) -> list[x509.Certificate]:
    if "PRIVATE KEY" in certificate_pem:
        raise CertificateRefused("The certificate field holds a private key. Paste the key in the key field and "
                                 "only the certificate chain (BEGIN CERTIFICATE blocks) here.")
    blocks = CERTIFICATE_BLOCK.findall(certificate_pem)
    if not blocks:
        raise CertificateRefused("The certificate is not a PEM certificate: paste the text from "
                                 "-----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----, the server's certificate "
                                 "first, then its intermediates.")
    chain = []
    for position, block in enumerate(blocks, start=1):
        try:
            certificate = x509.load_pem_x509_certificate(block.encode())
            # cryptography decodes the public key and extensions only when asked: a certificate altered there
            # loads, then fails later (a 500). Ask now, so that it is refused like any other damaged one.
            certificate.public_key()
            _ = certificate.extensions, certificate.subject, certificate.issuer
            chain.append(certificate)
        except (ValueError, UnsupportedAlgorithm) as error:
            raise CertificateRefused(f"Certificate {position} of the chain is not a valid PEM certificate "
                                     "(it may be cut short or altered).") from error
    return chain


def _load_key(key_pem: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if any(marker in key_pem for marker in ENCRYPTED_MARKERS):
        raise _encrypted()
    if "PRIVATE KEY-----" not in key_pem:
        raise CertificateRefused("The private key is not a PEM private key: paste the text from "
                                 "-----BEGIN PRIVATE KEY----- (or BEGIN RSA / EC PRIVATE KEY) to its END line.")
    try:
        key = serialization.load_pem_private_key(key_pem.strip().encode(), password=None)
    except TypeError as error:  # "Password was not given but private key is encrypted"
        raise _encrypted() from error
    except (ValueError, UnsupportedAlgorithm) as error:
        raise CertificateRefused("The private key could not be read: it is not a valid PEM private key (it may be "
                                 "cut short or altered).") from error
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateRefused(f"The RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are needed.")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key
    raise CertificateRefused("Only RSA and EC private keys are accepted (the Deis router serves no other kind).")


def _encrypted() -> CertificateRefused:
    return CertificateRefused("The private key is encrypted (it has a passphrase), and Deis needs it unencrypted. "
                              "Decrypt it first (`openssl pkey -in key.pem -out plain-key.pem`) and paste that.")


def _public_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_order(chain: list[x509.Certificate]) -> None:
    for position, (certificate, issuer) in enumerate(zip(chain, chain[1:]), start=1):
        if certificate.issuer != issuer.subject:
            raise CertificateRefused(
                f"The chain is out of order: certificate {position + 1} ({_describe(issuer)}) did not issue "
                f"certificate {position} ({_describe(certificate)}). Put the server's certificate first, then each "
                "intermediate that signed the one before it.")
        try:
            certificate.verify_directly_issued_by(issuer)
        except InvalidSignature as error:
            raise CertificateRefused(
                f"Certificate {position} ({_describe(certificate)}) names certificate {position + 1} as its issuer, "
                "but that certificate's key did not sign it: the chain holds the wrong intermediate.") from error
        except (ValueError, TypeError, UnsupportedAlgorithm):
            pass  # a signature scheme cryptography cannot check here: the names matched, which is what we can say


def _check_dates(chain: list[x509.Certificate], now: datetime) -> None:
    for position, certificate in enumerate(chain, start=1):
        which = "The certificate" if position == 1 else f"Intermediate {position} ({_describe(certificate)})"
        if certificate.not_valid_after_utc <= now:
            raise CertificateRefused(f"{which} expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC.")
        if certificate.not_valid_before_utc > now:
            raise CertificateRefused(f"{which} is not valid yet: it starts on "
                                     f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.")


def check_upload(certificate_pem: str, key_pem: str, domain: str, now: datetime) -> CheckedCertificate:
    """Read and check a PEM chain and key for `domain`; CertificateRefused says the first thing wrong."""
    if not certificate_pem.strip():
        raise CertificateRefused("Paste the certificate chain (PEM).")
    if not key_pem.strip():
        raise CertificateRefused("Paste the private key (PEM).")
    if len(certificate_pem) > MAX_CERTIFICATE_CHARS:
        raise CertificateRefused(f"The certificate chain is longer than {MAX_CERTIFICATE_CHARS // 1024} KiB: paste "
                                 "the server's certificate and its intermediates only.")
    if len(key_pem) > MAX_KEY_CHARS:
        raise CertificateRefused(f"The private key is longer than {MAX_KEY_CHARS // 1024} KiB: paste one key only.")
    chain = _load_chain(certificate_pem)
    key = _load_key(key_pem)
    key_der = _public_der(key.public_key())
    if _public_der(chain[0].public_key()) != key_der:
        elsewhere = next((position for position, certificate in enumerate(chain[1:], start=2)
                          if _public_der(certificate.public_key()) == key_der), None)
        if elsewhere is not None:
            raise CertificateRefused(f"The chain is out of order: the key belongs to certificate {elsewhere}, and "
                                     "the server's certificate must come first.")
        raise CertificateRefused("The private key does not belong to this certificate: their public keys differ. "
                                 "Paste the key the certificate was issued for.")
    _check_order(chain)
    _check_dates(chain, now)
    wanted = normalized_domain(domain)
    names = covered_names(chain[0])
    if not any(name_matches(name, wanted) for name in names):
        listed = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise CertificateRefused(f"The certificate does not cover {wanted}: it is for {listed or 'no name at all'}.")
    chain_pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
    plain_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode()
    return CheckedCertificate(chain=chain, chain_pem=chain_pem, key_pem=plain_key)


def certificate_name(domain: str, checked: CheckedCertificate) -> str:
    """A Deis name (`^[a-z0-9-]+$`) from the domain, the expiry date and the fingerprint: the same certificate
    uploaded again gets the same name (so a retry reuses it), a renewal a new one."""
    slug = re.sub(r"[^a-z0-9]+", "-", normalized_domain(domain).replace("*", "wildcard")).strip("-") or "domain"
    suffix = f"-{checked.leaf.not_valid_after_utc:%Y%m%d}-{checked.fingerprint[:8].lower()}"
    return slug[: NAME_LENGTH - len(suffix)].rstrip("-") + suffix
