"""Certificates: reading a PEM the way the controller does, and the `/v2/certs` handlers (scoped to their owner)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Response

from sandbox.deis.auth import own_certificate
from sandbox.deis.errors import REQUIRED, ApiError, detail, invalid_data, not_found
from sandbox.deis.http import Call, empty_response, paginate
from sandbox.deis.state import Certificate, SortedIndex, now_utc
from sandbox.deis.validation import APP_ID


@dataclass(frozen=True)
class ParsedCertificate:
    common_name: str
    san: list[str]
    fingerprint: str
    expires: datetime
    starts: datetime
    issuer: str
    subject: str


_SHORT_NAMES = {NameOID.EMAIL_ADDRESS: "emailAddress"}


def _openssl_name(name: x509.Name) -> str:
    """Render a name the way the controller does with pyOpenSSL: `/C=US/O=Org/CN=host`."""
    parts = []
    for attribute in name:
        key = _SHORT_NAMES.get(attribute.oid) or attribute.rfc4514_attribute_name
        value = attribute.value if isinstance(attribute.value, str) else attribute.value.decode()
        parts.append(f"{key}={value}")
    return "/" + "/".join(parts)


def parse_certificate(pem: str) -> ParsedCertificate:
    """Read the fields the controller stores for a certificate; raises ValueError on a PEM it cannot load."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san_extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        san = list(san_extension.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        san = []
    return ParsedCertificate(
        common_name=str(common_names[0].value) if common_names else "",
        san=san,
        fingerprint=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
        expires=certificate.not_valid_after_utc,
        starts=certificate.not_valid_before_utc,
        issuer=_openssl_name(certificate.issuer),
        subject=_openssl_name(certificate.subject),
    )


class CertificateHandlers:
    """`/v2/certs`: every verb filtered by owner, superusers included, as `CertificateViewSet` does."""

    def _certs_list(self, call: Call) -> tuple[int, Any]:
        state = call.state
        names = state.certificates_by_owner.get(call.user.username, SortedIndex()).ids
        return 200, paginate(call, names, lambda name: state.certificates[name].as_json())

    def _cert_get(self, call: Call, name: str) -> tuple[int, Any]:
        return 200, own_certificate(call, name).as_json()

    def _cert_delete(self, call: Call, name: str) -> Response:
        call.state.remove_certificate(own_certificate(call, name))
        return empty_response(204)

    def _cert_create(self, call: Call) -> tuple[int, Any]:
        data = call.data
        if not isinstance(data, dict):
            raise invalid_data(data)
        state = call.state
        errors: dict[str, list[str]] = {}
        values: dict[str, str] = {}
        for name in ("name", "certificate", "key"):
            value = data.get(name)
            if value is None:
                errors[name] = [REQUIRED]
            elif not str(value):
                errors[name] = ["This field may not be blank."]
            else:
                values[name] = str(value)
        parsed: ParsedCertificate | None = None
        if "name" in values:
            problems = []
            if len(values["name"]) > 253:
                problems.append("Ensure this field has no more than 253 characters.")
            if not APP_ID.match(values["name"]):
                problems.append("Can only contain a-z (lowercase), 0-9 and hyphens")
            if values["name"] in state.certificates:  # unique across owners, though others' are invisible
                problems.append("certificate with this name already exists.")
            if problems:
                errors["name"] = problems
        if "certificate" in values:
            try:
                parsed = parse_certificate(values["certificate"])
            except ValueError as error:
                errors["certificate"] = [f"Could not load certificate: {error}"]
        if "key" in values:
            try:
                serialization.load_pem_private_key(values["key"].encode(), password=None)
            except (ValueError, TypeError) as error:
                errors["key"] = [f"Could not load private key: {error}"]
        if errors or parsed is None:
            raise ApiError(400, errors)
        certificate = Certificate(
            id=state.next_certificate_id,
            name=values["name"],
            owner=call.user.username,
            certificate=values["certificate"],
            key=values["key"],
            created=now_utc(),
            **asdict(parsed),
        )
        state.add_certificate(certificate)
        return 201, certificate.as_json()

    def _cert_attach(self, call: Call, name: str, domain: str | None) -> Response:
        # The view reads request.data['domain'] before anything else: a body without it is a 500.
        domain_name = call.field("domain")
        certificate = own_certificate(call, name)
        target = call.state.domains.get(domain_name) if isinstance(domain_name, str) else None
        if target is None:  # any app's domain, whoever owns the app
            raise not_found("Domain")
        if target.certificate is not None:
            raise detail(409, "Domain already has a certificate attached to it")
        call.state.attach(certificate, target.domain)
        return empty_response(201)

    def _cert_detach(self, call: Call, name: str, domain: str | None) -> Response:
        own_certificate(call, name)
        if domain is None or domain not in call.state.domains:
            raise not_found("Domain")
        # Certificate.detach clears the domain's certificate without checking it is this one.
        call.state.detach(domain)
        return empty_response(204)
