"""A Deis Workflow controller (API v2.3) simulator: one WSGI app per cluster, state in memory, seeded from a scenario.

It reproduces what the real controller (Django REST Framework, deis/controller 2018) does on the wire, quirks
included, because a kinder simulator hides bugs in the panel:

- routes are Django regexes: trailing slash optional except `auth/login/` and `auth/tokens/` (required) and the
  cert detach `DELETE /v2/certs/{name}/domain/{domain}` (forbidden); an unmatched URL is Django's HTML 404 page;
- DRF token auth (`Authorization: token <key>`, keyword case-insensitive), DRF error shapes, and a 404 that is a
  bare JSON string (`"No App matches the given query."`);
- `limit`/`offset` pagination with absolute `next`/`previous` URLs; a bad `limit` silently means the default 100;
- config POST merges, `null` unsets, 422 on unsetting a missing key, 409 "<user> changed nothing - release
  stopped", values converted to strings, memory/cpu/proc-type validation;
- certificates filtered by `owner == request user` for every verb, superusers included; names unique across owners;
- cert detach clears whatever certificate the domain has, as the real `Certificate.detach` does.

Every response carries `DEIS_API_VERSION: 2.3` and `DEIS_PLATFORM_VERSION: 2.3.0`. The app is wrapped in
`sandbox.faults.FaultInjector` so tests can inject latency, errors and resets at run time.
"""
from __future__ import annotations

import bisect
import copy
import hashlib
import ipaddress
import json
import logging
import random
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import idna
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from werkzeug.wrappers import Request, Response

from sandbox.certs import make_certificate
from sandbox.faults import FaultInjector
from sandbox.scenario import AppSpec, CertificateSpec, DeisUser, Scenario, ScenarioError

logger = logging.getLogger(__name__)

API_VERSION = "2.3"
PLATFORM_VERSION = "2.3.0"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
PAGE_SIZE = 100
APP_ID_MAX_LENGTH = 24
MIN_MEMORY_BYTES = 4 * 1024 * 1024

# The controller's own validation patterns (deis/controller api/serializers.py, final release).
APP_ID = re.compile(r"^[a-z0-9-]+$")
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
PROCTYPE_MATCH = re.compile(r"^(?P<type>[a-z0-9]+(\-[a-z0-9]+)*)$")
MEMLIMIT_MATCH = re.compile(r"^(?P<mem>(([0-9]+(MB|KB|GB|[BKMG])|0)(/([0-9]+(MB|KB|GB|[BKMG])))?))$", re.IGNORECASE)
CPUSHARE_MATCH = re.compile(r"^(?P<cpu>(([-+]?[0-9]*\.?[0-9]+[m]?)(/([-+]?[0-9]*\.?[0-9]+[m]?))?))$")
TAGVAL_MATCH = re.compile(r"^(?:[a-zA-Z\d][-\.\w]{0,61})?[a-zA-Z\d]$")
CONFIGKEY_MATCH = re.compile(r"^[a-z_]+[a-z0-9_]*$", re.IGNORECASE)
MEMORY_PART = re.compile(r"^(?P<number>[0-9]+)(?P<unit>MB|KB|GB|[BKMG])?$", re.IGNORECASE)
MEMORY_UNITS = {"B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3}

PROCTYPE_MISMATCH = "Process types can only contain lowercase alphanumeric characters"
CONFIGKEY_MISMATCH = "Config keys must start with a letter or underscore and only contain [A-z0-9_]"
MEMLIMIT_MISMATCH = (
    "Memory limit format: <number><unit> or <number><unit>/<number><unit>, where unit = B, K, M or G"
)
CPUSHARE_MISMATCH = "CPU limit format: <value> or <value>/<value>, where value must be a numeric"

NOT_AUTHENTICATED = "Authentication credentials were not provided."
PERMISSION_DENIED = "You do not have permission to perform this action."
REQUIRED = "This field is required."

# Words for generated app names, in the spirit of the controller's `generate_app_name()`.
_ADJECTIVES = (
    "ablest absurd actual allied artful atomic august bamboo benign blonde blurry bolder breezy bubbly burley "
    "calmer candid casual cheery classy clever convex cubist dainty dapper decent deluxe docile double dreamy "
    "eldest elfish elvish exotic famous fluffy frozen gaslit gilded glossy golden gothic grassy groovy hearty "
    "heroic honest humble iambic icebox jagged jovial kindly lively loudly lovely lumpen mellow merry modern"
).split()
_NOUNS = (
    "aerial amulet apache arcade armada ashtray badger beacon bedpan bikini bitmap blazer bonbon bovine "
    "breeze buzzer cabana caboose caddie candle cannon cement cheddar chimney cobalt coffee condor cowboy "
    "crayon custard dagger dakota debris decoy diesel dingbat doctor dolphin donkey dugout eagle eggnog "
    "elixir emblem engine ermine falcon fender ferris finch fondue forger gazebo gelato gopher gravel hamlet"
).split()


class _ApiError(Exception):
    """An answer other than success; `payload` is rendered as JSON exactly as DRF would."""

    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload
        self.headers = headers or {}


def _detail(status: int, message: str) -> _ApiError:
    return _ApiError(status, {"detail": message})


def _not_found(model: str) -> _ApiError:
    # Deis' exception handler turns Django's Http404 into a bare JSON string, unlike DRF's {"detail": ...}.
    return _ApiError(404, f"No {model} matches the given query.")


def _invalid_data(data: Any) -> _ApiError:
    # DRF's serializer-level error for a body that is JSON but not an object.
    message = f"Invalid data. Expected a dictionary, but got {type(data).__name__}."
    return _ApiError(400, {"non_field_errors": [message]})


def _server_error() -> _ApiError:
    # What the controller answers when a view raises something DRF does not handle (KeyError on a missing field,
    # AttributeError on a list where a dict was expected...): the real service is not kinder, so neither are we.
    return _detail(500, "Server Error")


def _date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(DATE_FORMAT)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# ---------------------------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class _User:
    id: int
    username: str
    password: str
    email: str
    is_superuser: bool
    token: str
    date_joined: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "username": self.username,
            "first_name": "",
            "last_name": "",
            "is_superuser": self.is_superuser,
            "is_staff": self.is_superuser,
            "groups": [],
            "user_permissions": [],
            "last_login": _date(self.date_joined),
            "date_joined": _date(self.date_joined),
            "is_active": True,
        }


@dataclass
class _Config:
    uuid: str
    owner: str
    values: dict[str, str] = field(default_factory=dict)
    memory: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    registry: dict[str, str] = field(default_factory=dict)
    healthcheck: dict[str, Any] = field(default_factory=dict)
    created: datetime = field(default_factory=_now)
    updated: datetime = field(default_factory=_now)

    def as_json(self, app_id: str) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "app": app_id,
            "owner": self.owner,
            "values": dict(self.values),
            "memory": dict(self.memory),
            "cpu": dict(self.cpu),
            "tags": dict(self.tags),
            "registry": dict(self.registry),
            "healthcheck": copy.deepcopy(self.healthcheck),
            "created": _date(self.created),
            "updated": _date(self.updated),
        }


@dataclass
class _Settings:
    uuid: str
    owner: str
    maintenance: bool = False
    routable: bool = True
    whitelist: list[str] = field(default_factory=list)
    autoscale: dict[str, Any] = field(default_factory=dict)
    label: dict[str, Any] = field(default_factory=dict)
    created: datetime = field(default_factory=_now)
    updated: datetime = field(default_factory=_now)

    def as_json(self, app_id: str) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "app": app_id,
            "owner": self.owner,
            "maintenance": self.maintenance,
            "routable": self.routable,
            "whitelist": list(self.whitelist),
            "autoscale": copy.deepcopy(self.autoscale),
            "label": copy.deepcopy(self.label),
            "created": _date(self.created),
            "updated": _date(self.updated),
        }


@dataclass
class _Domain:
    domain: str
    app_id: str
    owner: str
    created: datetime
    certificate: str | None = None

    def as_json(self) -> dict[str, Any]:
        # No certificate here: the real API only exposes the link from the certificate's side.
        return {
            "owner": self.owner,
            "created": _date(self.created),
            "updated": _date(self.created),
            "app": self.app_id,
            "domain": self.domain,
        }


@dataclass
class _App:
    id: str
    uuid: str
    owner: str
    structure: dict[str, int]
    created: datetime
    updated: datetime
    config: _Config
    settings: _Settings
    domains: list[str] = field(default_factory=list)  # creation order, as the controller's queryset returns them
    shared_with: set[str] = field(default_factory=set)
    release_version: int = 1

    def as_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "id": self.id,
            "owner": self.owner,
            "structure": dict(self.structure),
            "created": _date(self.created),
            "updated": _date(self.updated),
        }


@dataclass
class _Certificate:
    id: int
    name: str
    owner: str
    certificate: str
    key: str
    common_name: str
    san: list[str]
    fingerprint: str
    expires: datetime
    starts: datetime
    issuer: str
    subject: str
    created: datetime
    domains: set[str] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        # `certificate` and `key` are write-only in the real serializer.
        return {
            "id": self.id,
            "owner": self.owner,
            "name": self.name,
            "common_name": self.common_name,
            "san": list(self.san),
            "domains": sorted(self.domains),
            "fingerprint": self.fingerprint,
            "expires": _date(self.expires),
            "starts": _date(self.starts),
            "issuer": self.issuer,
            "subject": self.subject,
            "created": _date(self.created),
            "updated": _date(self.created),
        }


@dataclass(frozen=True)
class _ParsedCertificate:
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


def parse_certificate(pem: str) -> _ParsedCertificate:
    """Read the fields the controller stores for a certificate; raises ValueError on a PEM it cannot load."""
    certificate = x509.load_pem_x509_certificate(pem.encode())
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        san_extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        san = list(san_extension.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        san = []
    return _ParsedCertificate(
        common_name=str(common_names[0].value) if common_names else "",
        san=san,
        fingerprint=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
        expires=certificate.not_valid_after_utc,
        starts=certificate.not_valid_before_utc,
        issuer=_openssl_name(certificate.issuer),
        subject=_openssl_name(certificate.subject),
    )


class _SortedIndex:
    """A sorted list of ids with O(log n) lookups, so list pages are slices and never a sort of everything."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self.ids: list[str] = sorted(set(ids))

    def add(self, item: str) -> None:
        position = bisect.bisect_left(self.ids, item)
        if position == len(self.ids) or self.ids[position] != item:
            self.ids.insert(position, item)

    def discard(self, item: str) -> None:
        position = bisect.bisect_left(self.ids, item)
        if position < len(self.ids) and self.ids[position] == item:
            del self.ids[position]

    def __len__(self) -> int:
        return len(self.ids)


class _ControllerState:
    """Everything one controller knows: users and tokens, apps with config/settings/domains/perms, certificates."""

    def __init__(self) -> None:
        self.users: dict[str, _User] = {}
        self.usernames_by_token: dict[str, str] = {}
        self.apps: dict[str, _App] = {}
        self.app_index = _SortedIndex()
        self.visible: dict[str, _SortedIndex] = {}  # username -> apps they own or were shared
        self.domains: dict[str, _Domain] = {}
        self.certificates: dict[str, _Certificate] = {}
        self.certificates_by_owner: dict[str, _SortedIndex] = {}
        self.next_certificate_id = 1

    # -- users -------------------------------------------------------------------------------------------------
    def add_user(self, spec: DeisUser, token: str, is_superuser: bool, joined: datetime) -> None:
        user = _User(
            id=len(self.users) + 1,
            username=spec.username,
            password=spec.password,
            email=spec.email or f"{spec.username}@example.com",
            is_superuser=is_superuser,
            token=token,
            date_joined=joined,
        )
        self.users[user.username] = user
        self.usernames_by_token[token] = user.username

    def set_token(self, user: _User, token: str) -> None:
        self.usernames_by_token.pop(user.token, None)
        user.token = token
        self.usernames_by_token[token] = user.username

    # -- visibility ----------------------------------------------------------------------------------------------
    def refresh_visibility(self, username: str, app: _App) -> None:
        index = self.visible.setdefault(username, _SortedIndex())
        if app.id in self.apps and (app.owner == username or username in app.shared_with):
            index.add(app.id)
        else:
            index.discard(app.id)

    def visible_ids(self, user: _User) -> list[str]:
        if user.is_superuser:
            return self.app_index.ids
        return self.visible.get(user.username, _SortedIndex()).ids

    # -- apps ----------------------------------------------------------------------------------------------------
    def add_app(self, app: _App) -> None:
        self.apps[app.id] = app
        self.app_index.add(app.id)
        self.refresh_visibility(app.owner, app)
        for username in app.shared_with:
            self.refresh_visibility(username, app)

    def remove_app(self, app: _App) -> None:
        for domain_name in list(app.domains):
            self.remove_domain(app, domain_name)
        del self.apps[app.id]
        self.app_index.discard(app.id)
        for username in {app.owner, *app.shared_with}:
            self.refresh_visibility(username, app)

    def add_domain(self, app: _App, domain_name: str, owner: str, created: datetime) -> _Domain:
        domain = _Domain(domain=domain_name, app_id=app.id, owner=owner, created=created)
        self.domains[domain_name] = domain
        app.domains.append(domain_name)
        return domain

    def remove_domain(self, app: _App, domain_name: str) -> None:
        domain = self.domains.pop(domain_name)
        app.domains.remove(domain_name)
        if domain.certificate and domain.certificate in self.certificates:
            self.certificates[domain.certificate].domains.discard(domain_name)

    # -- certificates --------------------------------------------------------------------------------------------
    def add_certificate(self, certificate: _Certificate) -> None:
        self.certificates[certificate.name] = certificate
        self.certificates_by_owner.setdefault(certificate.owner, _SortedIndex()).add(certificate.name)
        self.next_certificate_id = max(self.next_certificate_id, certificate.id + 1)

    def remove_certificate(self, certificate: _Certificate) -> None:
        for domain_name in list(certificate.domains):
            self.detach(domain_name)
        del self.certificates[certificate.name]
        self.certificates_by_owner[certificate.owner].discard(certificate.name)

    def attach(self, certificate: _Certificate, domain_name: str) -> None:
        self.domains[domain_name].certificate = certificate.name
        certificate.domains.add(domain_name)

    def detach(self, domain_name: str) -> None:
        domain = self.domains[domain_name]
        if domain.certificate and domain.certificate in self.certificates:
            self.certificates[domain.certificate].domains.discard(domain_name)
        domain.certificate = None


# ---------------------------------------------------------------------------------------------------------------
# Validation shared by seeding and the API (the controller's serializer rules)
# ---------------------------------------------------------------------------------------------------------------
def _memory_bytes(part: str) -> int:
    match = MEMORY_PART.match(part)
    if match is None:  # MEMLIMIT_MATCH already vouched for the shape; keep the type checker honest
        raise ValueError(part)
    unit = (match["unit"] or "B").upper()
    return int(match["number"]) * MEMORY_UNITS[unit]


def _validate_values(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if value is None:  # null unsets a key
            continue
        if not CONFIGKEY_MATCH.match(key):
            return CONFIGKEY_MISMATCH
        if key == "PORT":
            if not str(value).isnumeric():
                return "PORT can only be a numeric value"
            if int(value) not in range(1, 65536):
                return "PORT needs to be between 1 and 65535"
        if key == "HEALTHCHECK_URL":
            parts = urlsplit(str(value))
            if not parts.path:
                return f"{key} is missing a URI path (such as /healthz). Without it no health check can be done"
            if parts.query or parts.fragment or parts.netloc:
                return (
                    f"{key} can only be a URI path (such as /healthz) that does not contain other things "
                    "such as query params"
                )
        elif key.startswith("HEALTHCHECK_") and not str(value).isnumeric():
            return f"{key} can only be a numeric value"
    return None


def _validate_memory(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if value is None:
            continue
        if not PROCTYPE_MATCH.match(key):
            return PROCTYPE_MISMATCH
        if not MEMLIMIT_MATCH.match(str(value)):
            return MEMLIMIT_MISMATCH
        for part in str(value).split("/"):
            size = _memory_bytes(part)
            # Kubernetes (and Docker under it) refuse a memory limit under 4 MiB; "0" means "no request".
            if 0 < size < MIN_MEMORY_BYTES:
                return f"Memory limit {value} is below the minimum of 4M"
    return None


def _validate_cpu(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if value is None:
            continue
        if not PROCTYPE_MATCH.match(key):
            return PROCTYPE_MISMATCH
        if not CPUSHARE_MATCH.match(str(value)):
            return CPUSHARE_MISMATCH
    return None


def _validate_tags(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if value is None:
            continue
        prefix, name = key.split("/", 1) if "/" in key else (None, key)
        if prefix:
            if len(prefix) > 253:
                return "Tag key prefixes must 253 characters or less."
            if not TAGVAL_MATCH.match(prefix):
                return "Tag key prefixes must be DNS subdomains."
        if not TAGVAL_MATCH.match(name):
            return 'Tag keys must be alphanumeric or "-_.", and 1-63 characters.'
        if value and not TAGVAL_MATCH.match(str(value)):
            return 'Tag values must be alphanumeric or "-_.", and 1-63 characters.'
    return None


def _validate_registry(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if value is not None and not CONFIGKEY_MATCH.match(key):
            return CONFIGKEY_MISMATCH
    return None


def _validate_healthcheck(data: dict[str, Any]) -> str | None:
    for healthcheck in data.values():
        if healthcheck is None:
            continue
        if not isinstance(healthcheck, dict):
            raise _server_error()  # the controller calls .items() on it
        for key, probe in healthcheck.items():
            if probe is None:
                continue
            if key not in ("livenessProbe", "readinessProbe"):
                return "Healthcheck keys must be either livenessProbe or readinessProbe"
            if not isinstance(probe, dict):
                return f"could not validate {probe}: {probe!r} is not of type 'object'"
        liveness = healthcheck.get("livenessProbe")
        if isinstance(liveness, dict) and liveness.get("successThreshold") not in (None, 1):
            return "livenessProbe successThreshold can only be 1"
    return None


CONFIG_FIELDS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "values": _validate_values,
    "memory": _validate_memory,
    "cpu": _validate_cpu,
    "tags": _validate_tags,
    "registry": _validate_registry,
    "healthcheck": _validate_healthcheck,
}


def _json_field(raw: Any) -> dict[str, Any]:
    """The controller's JSONFieldSerializer: a JSON string is decoded (form posts send them), a dict kept."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            raise _server_error() from error  # json.loads' ValueError escapes DRF's validation in the real service
    if not isinstance(raw, dict):
        raise _server_error()  # validate_<field> calls .items() and crashes with an AttributeError
    return raw


_PLAIN_LABEL = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")


def _ace_label(label: str) -> str:
    """idna.alabel, with a fast path for plain ASCII labels (idna is slow enough to dominate seeding)."""
    if _PLAIN_LABEL.match(label) and label[2:4] != "--":
        return label  # what idna.alabel returns for such a label, byte for byte
    return str(idna.alabel(label).decode("utf-8", "strict"))


def _validate_domain(value: str) -> str:
    """The controller's DomainSerializer.validate_domain (without the uniqueness check); returns the ACE form."""
    if value[-1:] == ".":
        value = value[:-1]
    if value == "*":
        raise ValueError("Hostname can't only be a wildcard")
    labels = value.split(".")
    wildcard = labels[0] == "*"
    if wildcard:
        labels.pop(0)
    try:
        labels = [_ace_label(label) for label in labels]
    except idna.IDNAError as error:
        raise ValueError(f"Hostname does not look valid, could not convert to ACE {value}: {error}") from error
    if labels[-1].isdigit():
        raise ValueError("Hostname does not look valid.")
    if wildcard:
        labels.insert(0, "*")
    ace_value = ".".join(labels)
    if len(ace_value) > 253:
        raise ValueError("Hostname must be 253 characters or less.")
    return ace_value


# ---------------------------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------------------------
_UNSET: Any = object()
_TRUE_VALUES = {"t", "T", "y", "Y", "yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1", 1}
_FALSE_VALUES = {"f", "F", "n", "N", "no", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0", 0}


class _Call:
    """One API request: the werkzeug request, the authenticated user, and the body parsed on first use (as DRF)."""

    def __init__(self, request: Request, state: _ControllerState, user: _User | None) -> None:
        self.request = request
        self.state = state
        self._user = user
        self._data: Any = _UNSET

    @property
    def authenticated(self) -> bool:
        return self._user is not None

    @property
    def user(self) -> _User:
        if self._user is None:  # routes that reach here always authenticated first
            raise _detail(401, NOT_AUTHENTICATED)
        return self._user

    @property
    def data(self) -> Any:
        if self._data is _UNSET:
            self._data = _parse_body(self.request)
        return self._data

    def field(self, name: str) -> Any:
        """`request.data[name]` as the controller writes it: a missing key or a non-object body is a 500."""
        data = self.data
        if not isinstance(data, dict) or name not in data:
            raise _server_error()
        return data[name]

    def absolute_url(self) -> str:
        query = self.request.query_string.decode("latin-1")
        url = self.request.host_url.rstrip("/") + quote(self.request.path)
        return f"{url}?{query}" if query else url


def _parse_body(request: Request) -> Any:
    """DRF's parsers: JSON, form and multipart; an empty body is `{}`; anything else is 415."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    media_type = request.mimetype
    if media_type == "application/json":
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise _detail(400, f"JSON parse error - {error}") from error
    if media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {key: request.form.getlist(key)[-1] for key in request.form}
    raise _detail(415, f'Unsupported media type "{request.content_type or ""}" in request.')


def _positive_int(raw: str, strict: bool) -> int:
    number = int(raw)
    if number < 0 or (number == 0 and strict):
        raise ValueError(raw)
    return number


def _with_query(url: str, key: str, value: int | None) -> str:
    """DRF's replace_query_param / remove_query_param: the query is re-encoded with keys sorted."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    if value is None:
        params.pop(key, None)
    else:
        params[key] = [str(value)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment))


def _paginate(call: _Call, items: list[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """DRF LimitOffsetPagination: a bad `limit` silently means the default page size, a bad offset means 0."""
    args = call.request.args
    limit = PAGE_SIZE
    if "limit" in args:
        try:
            limit = _positive_int(args.getlist("limit")[-1], strict=True)
        except ValueError:
            limit = PAGE_SIZE
    try:
        offset = _positive_int(args.getlist("offset")[-1], strict=False) if "offset" in args else 0
    except ValueError:
        offset = 0
    count = len(items)
    page = [] if count == 0 or offset > count else items[offset : offset + limit]
    url = call.absolute_url()
    next_url = None
    if offset + limit < count:
        next_url = _with_query(_with_query(url, "limit", limit), "offset", offset + limit)
    previous_url = None
    if offset > 0:
        previous_url = _with_query(url, "limit", limit)
        previous_url = _with_query(previous_url, "offset", None if offset - limit <= 0 else offset - limit)
    return {"count": count, "next": next_url, "previous": previous_url, "results": [render(item) for item in page]}


@dataclass(frozen=True)
class _Route:
    """A Django-style regex on the full path, the methods it maps, and who may call it."""

    pattern: re.Pattern[str]
    methods: dict[str, str]  # HTTP method -> handler method name on DeisSimulator
    auth: str = "token"  # "token": DRF token auth + IsAuthenticated; "admin": + IsAdmin; "none": public


def _route(regex: str, methods: dict[str, str], auth: str = "token") -> _Route:
    return _Route(re.compile(regex), methods, auth)


APP = r"(?P<id>[a-z0-9-]+)"
DOMAIN = r"(?P<domain>\**\.?[-\._\w]+)"
ROUTES: tuple[_Route, ...] = (
    _route(r"^/healthz/?$", {"GET": "health"}, auth="none"),
    _route(r"^/readiness/?$", {"GET": "health"}, auth="none"),
    _route(r"^/v2/$", {"GET": "api_root"}),
    _route(rf"^/v2/apps/{APP}/config/?$", {"GET": "config_get", "POST": "config_post"}),
    _route(rf"^/v2/apps/{APP}/domains/{DOMAIN}/?$", {"DELETE": "domain_delete"}),
    _route(rf"^/v2/apps/{APP}/domains/?$", {"GET": "domains_list", "POST": "domain_create"}),
    _route(rf"^/v2/apps/{APP}/settings/?$", {"GET": "settings_get", "POST": "settings_post"}),
    _route(rf"^/v2/apps/{APP}/perms/(?P<username>[-_\w]+)/?$", {"DELETE": "perm_delete"}),
    _route(rf"^/v2/apps/{APP}/perms/?$", {"GET": "perms_list", "POST": "perm_create"}),
    _route(rf"^/v2/apps/{APP}/?$", {"GET": "app_get", "POST": "app_update", "DELETE": "app_delete"}),
    _route(r"^/v2/apps/?$", {"GET": "apps_list", "POST": "app_create"}),
    _route(r"^/v2/auth/whoami/?$", {"GET": "whoami"}),
    _route(r"^/v2/auth/login/$", {"POST": "login"}, auth="none"),
    _route(r"^/v2/auth/tokens/$", {"POST": "tokens_regenerate"}),
    _route(r"^/v2/admin/perms/(?P<username>[-_\w]+)/?$", {"DELETE": "admin_perm_delete"}, auth="admin"),
    _route(r"^/v2/admin/perms/?$", {"GET": "admin_perms_list", "POST": "admin_perm_create"}, auth="admin"),
    # No trailing slash allowed after the domain (and attach needs the slash with no domain): Django's regex.
    _route(
        r"^/v2/certs/(?P<name>[-_*.\w]+)/domain/(?P<domain>\**\.?[-\._\w]+)?$",
        {"POST": "cert_attach", "DELETE": "cert_detach"},
    ),
    _route(r"^/v2/certs/(?P<name>[-_*.\w]+)/?$", {"GET": "cert_get", "DELETE": "cert_delete"}),
    _route(r"^/v2/certs/?$", {"GET": "certs_list", "POST": "cert_create"}),
    _route(r"^/v2/users/?$", {"GET": "users_list"}, auth="admin"),
)


def _error_body(status: int) -> tuple[bytes, str]:
    """Bodies for injected faults, in what a client of a real cluster would receive for that status."""
    if status == 502 or status == 504:
        # Gateway errors come from the deis-router (nginx) in front of the controller, not from Django.
        title = "502 Bad Gateway" if status == 502 else "504 Gateway Time-out"
        html = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        return (html + "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode(), "text/html"
    messages = {
        429: "Request was throttled.",
        500: "Server Error",
        503: "Service temporarily unavailable, try again later.",
    }
    body = {"detail": messages.get(status, "Server Error")}
    return json.dumps(body, separators=(",", ":")).encode(), "application/json"


# ---------------------------------------------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------------------------------------------
class DeisSimulator:
    """One Deis Workflow controller for one scenario cluster, as a WSGI app (`.wsgi_app`, FaultInjector-wrapped)."""

    def __init__(self, scenario: Scenario, cluster: str) -> None:
        if cluster not in {c.name for c in scenario.clusters}:
            raise ScenarioError(f"scenario {scenario.name}: no cluster named {cluster!r}")
        self.cluster = cluster
        self.scenario = scenario
        self._lock = threading.RLock()
        self._names = random.Random()
        self._state = self._seed(scenario)
        self.faults = FaultInjector(self._serve, name=f"deis:{cluster}", error_body=_error_body)
        self.wsgi_app = self.faults

    # -- public interface for the sandbox runner and tests ------------------------------------------------------
    def reset(self, scenario: Scenario | None = None) -> None:
        """Reseed every app, user, token and certificate from the scenario (the same one if None); clear faults."""
        new_scenario = scenario or self.scenario
        if self.cluster not in {c.name for c in new_scenario.clusters}:
            raise ScenarioError(f"scenario {new_scenario.name}: no cluster named {self.cluster!r}")
        state = self._seed(new_scenario)  # built outside the lock: requests keep being served meanwhile
        with self._lock:
            self.scenario = new_scenario
            self._state = state
        self.faults.clear()

    def token_for(self, username: str) -> str:
        """The user's current token on this cluster (it changes when someone regenerates it through the API)."""
        with self._lock:
            user = self._state.users.get(username)
            if user is None:
                raise KeyError(f"no Deis user {username!r} on cluster {self.cluster}")
            return user.token

    def users(self) -> list[dict[str, Any]]:
        """Every user of this controller with their current token and admin flag (what SANDBOX_DEIS_USERS lists)."""
        with self._lock:
            return [
                {"username": user.username, "cluster": self.cluster, "token": user.token, "admin": user.is_superuser}
                for user in self._state.users.values()
            ]

    @property
    def panel_username(self) -> str:
        """The Deis user the panel uses: superuser, owner of every seeded certificate."""
        return self.scenario.panel_user.username

    def app_ids(self) -> list[str]:
        """Every app id on this cluster, sorted (what an admin's `GET /v2/apps` walks through)."""
        with self._lock:
            return list(self._state.app_index.ids)

    def app(self, app_id: str) -> dict[str, Any] | None:
        """What a test wants to see of one app: the app object plus config, settings, domains and perms."""
        with self._lock:
            app = self._state.apps.get(app_id)
            if app is None:
                return None
            return {
                **app.as_json(),
                "config": app.config.as_json(app.id),
                "settings": app.settings.as_json(app.id),
                "domains": list(app.domains),
                "perms": sorted(app.shared_with),
            }

    def certificates(self) -> list[dict[str, Any]]:
        """Every certificate on the cluster whoever owns it (the API itself only shows a user their own)."""
        with self._lock:
            return [self._state.certificates[name].as_json() for name in sorted(self._state.certificates)]

    # -- seeding -------------------------------------------------------------------------------------------------
    def _derived_token(self, username: str) -> str:
        # 40 hex characters like a DRF authtoken key, stable for a (cluster, user) pair across resets and runs.
        return hashlib.sha1(f"sandbox-deis:{self.cluster}:{username}".encode()).hexdigest()

    def _seed(self, scenario: Scenario) -> _ControllerState:
        state = _ControllerState()
        seeded_at = _now()
        epoch = datetime(2024, 1, 1, tzinfo=UTC)  # fixed, so a reseed does not look like a change
        everyone = [scenario.panel_user, *[u for u in scenario.users if u.username != scenario.panel_user.username]]
        for position, spec in enumerate(everyone):
            token = spec.tokens.get(self.cluster) or self._derived_token(spec.username)
            is_superuser = spec.admin or spec.username == scenario.panel_user.username
            state.add_user(spec, token, is_superuser, epoch + timedelta(days=position))
        apps = [app_spec for app_spec in scenario.apps if app_spec.cluster == self.cluster]
        for position, app_spec in enumerate(apps):
            self._seed_app(state, app_spec, epoch + timedelta(minutes=position))
        for certificate_spec in scenario.certificates:
            if certificate_spec.cluster == self.cluster:
                self._seed_certificate(state, scenario, certificate_spec, seeded_at, epoch)
        return state

    def _seed_app(self, state: _ControllerState, spec: AppSpec, created: datetime) -> None:
        where = f"app {spec.name} on {self.cluster}"
        if spec.owner not in state.users:
            raise ScenarioError(f"{where}: unknown owner {spec.owner!r}")
        for username in spec.shared_with:
            if username not in state.users:
                raise ScenarioError(f"{where}: shared_with names unknown user {username!r}")
        problems = [
            f"{name}: {message}"
            for name, values in (("config", spec.config), ("memory", spec.memory), ("cpu", spec.cpu))
            if (message := CONFIG_FIELDS["values" if name == "config" else name](values))
        ]
        if problems:
            raise ScenarioError(f"{where}: " + "; ".join(problems))
        key = f"{self.cluster}/{spec.name}"
        config = _Config(
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"deis-config:{key}")),
            owner=spec.owner,
            values={k: str(v) for k, v in spec.config.items()},
            memory=dict(spec.memory),
            cpu=dict(spec.cpu),
            created=created,
            updated=created,
        )
        settings = _Settings(
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"deis-settings:{key}")),
            owner=spec.owner,
            maintenance=spec.maintenance,
            label={"app-type": spec.app_type},
            created=created,
            updated=created,
        )
        app = _App(
            id=spec.name,
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"deis-app:{key}")),
            owner=spec.owner,
            structure=dict(spec.structure),
            created=created,
            updated=created,
            config=config,
            settings=settings,
            shared_with=set(spec.shared_with),
            release_version=2,  # created + first deploy
        )
        state.add_app(app)
        # The controller adds a domain equal to the app id when the app is created.
        for domain_name in [spec.name, *[d for d in spec.domains if d != spec.name]]:
            try:
                domain_name = _validate_domain(domain_name)
            except ValueError as error:
                raise ScenarioError(f"{where}: domain {domain_name!r}: {error}") from error
            if domain_name in state.domains:
                other = state.domains[domain_name].app_id
                raise ScenarioError(f"{where}: domain {domain_name} is already used by app {other}")
            state.add_domain(app, domain_name, spec.owner, created)

    def _seed_certificate(
        self, state: _ControllerState, scenario: Scenario, spec: CertificateSpec, seeded_at: datetime, epoch: datetime
    ) -> None:
        where = f"certificate {spec.name} on {self.cluster}"
        owner = spec.owner or scenario.panel_user.username
        if owner not in state.users:
            raise ScenarioError(f"{where}: unknown owner {owner!r}")
        if spec.name in state.certificates:
            raise ScenarioError(f"{where}: defined twice (names are unique on a controller)")
        # Anchored on the minute: a reseed within the same minute reuses the signed PEM (RSA signing is the cost).
        anchor = seeded_at.replace(second=0)
        not_before = anchor - timedelta(days=spec.starts_days_ago)
        not_after = anchor + timedelta(days=spec.expires_in_days)
        pem, key = make_certificate(spec.common_name, spec.sans, not_before, not_after)
        parsed = parse_certificate(pem)
        certificate = _Certificate(
            id=state.next_certificate_id,
            name=spec.name,
            owner=owner,
            certificate=pem,
            key=key,
            created=epoch + timedelta(hours=state.next_certificate_id),
            **asdict(parsed),
        )
        state.add_certificate(certificate)
        for domain_name in spec.domains:
            domain = state.domains.get(domain_name)
            if domain is None:
                raise ScenarioError(f"{where}: domain {domain_name} belongs to no app on {self.cluster}")
            if domain.certificate is not None:
                raise ScenarioError(f"{where}: domain {domain_name} already has certificate {domain.certificate}")
            state.attach(certificate, domain_name)

    # -- WSGI ----------------------------------------------------------------------------------------------------
    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            response = self._dispatch(request)
        response.headers["DEIS_API_VERSION"] = API_VERSION
        response.headers["DEIS_PLATFORM_VERSION"] = PLATFORM_VERSION
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        for route in ROUTES:
            match = route.pattern.match(path)
            if match is not None:
                break
        else:
            return _django_404(path)
        method = request.method.upper()
        if method == "HEAD":
            method = "GET"
        allowed = ", ".join([*route.methods, "OPTIONS"])
        try:
            if route.auth == "none":
                if method not in route.methods:
                    if route.methods.keys() == {"GET"}:  # plain Django view (health checks): empty 405
                        return Response(b"", status=405, headers={"Allow": "GET, HEAD"}, content_type="text/html")
                    raise _detail(405, f'Method "{request.method}" not allowed.')
                call = _Call(request, self._state, None)
            else:
                call = _Call(request, self._state, self._authenticate(request))
                if not call.authenticated:
                    raise _ApiError(401, {"detail": NOT_AUTHENTICATED}, {"WWW-Authenticate": "Token"})
                if route.auth == "admin" and not call.user.is_superuser:
                    raise _detail(403, PERMISSION_DENIED)
                if method == "OPTIONS":
                    return _json(200, _options_body(), allowed)
                if method not in route.methods:
                    raise _detail(405, f'Method "{request.method}" not allowed.')
            handler = getattr(self, "_" + route.methods[method])
            result = handler(call, **match.groupdict())
        except _ApiError as error:
            response = _json(error.status, error.payload, allowed)
            response.headers.update(error.headers)
            return response
        except Exception:  # a simulator bug: answer like the controller's handler would, and say where it broke
            logger.exception("deis simulator %s: %s %s failed", self.cluster, request.method, path)
            return _json(500, {"detail": "Server Error"}, allowed)
        if isinstance(result, Response):
            return result
        status, payload = result
        return _json(status, payload, allowed)

    def _authenticate(self, request: Request) -> _User | None:
        """DRF TokenAuthentication: `token <key>`, keyword case-insensitive; other schemes mean anonymous."""
        header = request.headers.get("Authorization", "").encode("latin-1", "replace").split()
        if not header or header[0].lower() != b"token":
            return None
        if len(header) == 1:
            raise _auth_failed("Invalid token header. No credentials provided.")
        if len(header) > 2:
            raise _auth_failed("Invalid token header. Token string should not contain spaces.")
        try:
            token = header[1].decode()
        except UnicodeError as error:
            raise _auth_failed("Invalid token header. Token string should not contain invalid characters.") from error
        username = self._state.usernames_by_token.get(token)
        if username is None:
            raise _auth_failed("Invalid token.")
        return self._state.users[username]

    # -- lookups shared by handlers ------------------------------------------------------------------------------
    def _app_for(self, call: _Call, app_id: str) -> _App:
        """`get_object_or_404(App)` then the IsAppUser permission: owner, superuser, or shared (except DELETE)."""
        app = call.state.apps.get(app_id)
        if app is None:
            raise _not_found("App")
        user = call.user
        if user.is_superuser or app.owner == user.username:
            return app
        if user.username in app.shared_with and call.request.method.upper() != "DELETE":
            return app
        raise _detail(403, PERMISSION_DENIED)

    def _user_named(self, call: _Call, username: Any) -> _User:
        user = call.state.users.get(username) if isinstance(username, str) else None
        if user is None:
            raise _not_found("User")
        return user

    def _own_certificate(self, call: _Call, name: str) -> _Certificate:
        # CertificateViewSet filters by owner for every verb: an admin gets a 404 for someone else's certificate.
        certificate = call.state.certificates.get(name)
        if certificate is None or certificate.owner != call.user.username:
            raise _not_found("Certificate")
        return certificate

    # -- health and auth -----------------------------------------------------------------------------------------
    def _health(self, call: _Call) -> Response:
        return Response(b"OK", status=200, content_type="text/html; charset=utf-8")

    def _api_root(self, call: _Call) -> tuple[int, Any]:
        return 200, {}

    def _login(self, call: _Call) -> tuple[int, Any]:
        data = call.data
        if not isinstance(data, dict):
            raise _invalid_data(data)
        errors: dict[str, list[str]] = {}
        for name in ("username", "password"):
            value = data.get(name)
            if value is None:
                errors[name] = [REQUIRED]
            elif not str(value):
                errors[name] = ["This field may not be blank."]
        if errors:
            raise _ApiError(400, errors)
        user = call.state.users.get(str(data["username"]))
        if user is None or not secrets.compare_digest(user.password.encode(), str(data["password"]).encode()):
            raise _ApiError(400, {"non_field_errors": ["Unable to log in with provided credentials."]})
        return 200, {"token": user.token}

    def _whoami(self, call: _Call) -> tuple[int, Any]:
        return 200, call.user.as_json()

    def _tokens_regenerate(self, call: _Call) -> tuple[int, Any]:
        data = call.data if isinstance(call.data, dict) else {}
        if ("username" in data or "all" in data) and not call.user.is_superuser:
            raise _detail(403, PERMISSION_DENIED)
        if "all" in data:
            for user in call.state.users.values():
                call.state.set_token(user, secrets.token_hex(20))
            return 200, ""
        target = call.user
        if "username" in data:
            target = self._user_named(call, data["username"])
        call.state.set_token(target, secrets.token_hex(20))
        return 200, {"token": target.token}

    # -- apps ----------------------------------------------------------------------------------------------------
    def _apps_list(self, call: _Call) -> tuple[int, Any]:
        state = call.state
        return 200, _paginate(call, state.visible_ids(call.user), lambda app_id: state.apps[app_id].as_json())

    def _app_create(self, call: _Call) -> tuple[int, Any]:
        data = call.data
        if not isinstance(data, dict):
            raise _invalid_data(data)
        state = call.state
        app_id = data.get("id")
        if app_id in (None, ""):
            app_id = self._generate_name(state)
        else:
            app_id = str(app_id)
            problems = []
            if len(app_id) > APP_ID_MAX_LENGTH:
                problems.append(f"Ensure this field has no more than {APP_ID_MAX_LENGTH} characters.")
            if not SLUG.match(app_id):
                problems.append('Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.')
            if not APP_ID.match(app_id):
                problems.append("App name can only contain a-z (lowercase), 0-9 and hypens")
            if app_id in state.apps:
                problems.append("app with this id already exists.")
            if problems:
                raise _ApiError(400, {"id": problems})
        now = _now()
        owner = call.user.username
        app = _App(
            id=app_id,
            uuid=str(uuid.uuid4()),
            owner=owner,
            structure={},
            created=now,
            updated=now,
            config=_Config(uuid=str(uuid.uuid4()), owner=owner, created=now, updated=now),
            settings=_Settings(uuid=str(uuid.uuid4()), owner=owner, created=now, updated=now),
        )
        state.add_app(app)
        if app_id not in state.domains:  # App.create skips the default domain when another app already has it
            state.add_domain(app, app_id, owner, now)
        return 201, app.as_json()

    def _generate_name(self, state: _ControllerState) -> str:
        while True:
            name = f"{self._names.choice(_ADJECTIVES)}-{self._names.choice(_NOUNS)}"
            if name not in state.apps:
                return name

    def _app_get(self, call: _Call, id: str) -> tuple[int, Any]:
        return 200, self._app_for(call, id).as_json()

    def _app_update(self, call: _Call, id: str) -> Response:
        app = self._app_for(call, id)
        data = call.data if isinstance(call.data, dict) else {}
        if data.get("owner"):
            if call.user.username != app.owner and not call.user.is_superuser:
                raise _detail(403, PERMISSION_DENIED)
            new_owner = self._user_named(call, data["owner"])
            previous_owner = app.owner
            app.owner = new_owner.username
            call.state.refresh_visibility(previous_owner, app)
            call.state.refresh_visibility(new_owner.username, app)
        app.updated = _now()
        return _empty(200)

    def _app_delete(self, call: _Call, id: str) -> Response:
        app = self._app_for(call, id)
        call.state.remove_app(app)
        return _empty(204)

    # -- config --------------------------------------------------------------------------------------------------
    def _config_get(self, call: _Call, id: str) -> tuple[int, Any]:
        app = self._app_for(call, id)
        return 200, app.config.as_json(app.id)

    def _config_post(self, call: _Call, id: str) -> tuple[int, Any]:
        app = self._app_for(call, id)
        data = call.data
        if not isinstance(data, dict):
            raise _server_error()
        # 1. serializer validation: every field checked, errors reported together as {"field": ["message"]}
        posted: dict[str, dict[str, Any]] = {}
        errors: dict[str, list[str]] = {}
        for name, validate in CONFIG_FIELDS.items():
            if name not in data:
                continue
            if data[name] is None:
                errors[name] = ["This field may not be null."]
                continue
            posted[name] = _json_field(data[name])
            message = validate(posted[name])
            if message:
                errors[name] = [message]
        if errors:
            raise _ApiError(400, errors)
        # 2. merge into the previous config (Config.save): null unsets, unsetting a missing key is a 422
        previous = app.config
        merged: dict[str, dict[str, Any]] = {}
        for name in ("cpu", "memory", "tags", "registry", "values"):
            current = dict(getattr(previous, name))
            for key, value in posted.get(name, {}).items():
                if value is None:
                    if key not in current:
                        raise _detail(422, f"{key} does not exist under {name}")
                    del current[key]
                else:
                    current[key] = str(value)  # JSONFieldSerializer renders every value as a string
            merged[name] = current
        merged["healthcheck"] = _merge_healthcheck(previous.healthcheck, posted.get("healthcheck", {}))
        if merged["registry"] and merged["values"].get("PORT") is None:
            raise _detail(400, "PORT needs to be set in the config when using a private registry")
        if merged["tags"]:
            # The controller looks for Kubernetes nodes carrying these labels; the sandbox has none.
            labels = ", ".join(f"{key}={value}" for key, value in merged["tags"].items())
            raise _detail(400, f"No nodes matched the provided labels: {labels}")
        # 3. the new release: nothing changed means no release, and a 409 naming the requesting user
        if all(merged[name] == getattr(previous, name) for name in merged):
            raise _detail(409, f"{call.user.username} changed nothing - release stopped")
        now = _now()
        app.config = _Config(uuid=str(uuid.uuid4()), owner=call.user.username, created=now, updated=now, **merged)
        app.release_version += 1
        app.updated = now
        return 201, app.config.as_json(app.id)

    # -- settings ------------------------------------------------------------------------------------------------
    def _settings_get(self, call: _Call, id: str) -> tuple[int, Any]:
        app = self._app_for(call, id)
        return 200, app.settings.as_json(app.id)

    def _settings_post(self, call: _Call, id: str) -> tuple[int, Any]:
        app = self._app_for(call, id)
        data = call.data
        if not isinstance(data, dict):
            raise _invalid_data(data)
        previous = app.settings
        errors: dict[str, list[str]] = {}
        maintenance = _boolean(data, "maintenance", errors)
        routable = _boolean(data, "routable", errors)
        whitelist = _whitelist(data, errors)
        autoscale = _settings_json(data, "autoscale", errors)
        label = _settings_json(data, "label", errors)
        if errors:
            raise _ApiError(400, errors)
        new = _Settings(
            uuid=str(uuid.uuid4()),
            owner=call.user.username,
            maintenance=previous.maintenance if maintenance is None else maintenance,
            routable=previous.routable if routable is None else routable,
            whitelist=previous.whitelist if not whitelist else whitelist,
            autoscale=_merge_settings_dict(previous.autoscale, autoscale, "autoscale"),
            label=_merge_settings_dict(previous.label, label, "label"),
        )
        unchanged = (
            new.maintenance == previous.maintenance
            and new.routable == previous.routable
            and set(new.whitelist) == set(previous.whitelist)
            and new.autoscale == previous.autoscale
            and new.label == previous.label
        )
        if unchanged:
            raise _detail(409, f"{call.user.username} changed nothing")
        app.settings = new
        return 201, new.as_json(app.id)

    # -- domains -------------------------------------------------------------------------------------------------
    def _domains_list(self, call: _Call, id: str) -> tuple[int, Any]:
        app = self._app_for(call, id)
        domains = call.state.domains
        return 200, _paginate(call, list(app.domains), lambda name: domains[name].as_json())

    def _domain_create(self, call: _Call, id: str) -> tuple[int, Any]:
        app = self._app_for(call, id)
        data = call.data
        if not isinstance(data, dict):
            raise _invalid_data(data)
        raw = data.get("domain")
        if raw is None:
            raise _ApiError(400, {"domain": [REQUIRED]})
        if not str(raw):
            raise _ApiError(400, {"domain": ["This field may not be blank."]})
        raw = str(raw)
        try:
            domain_name = _validate_domain(raw)
        except ValueError as error:
            raise _ApiError(400, {"domain": [str(error)]}) from error
        if domain_name in call.state.domains:
            # Same words whether the other app is this one or not: the controller only checks existence.
            shown = raw[:-1] if raw.endswith(".") else raw
            raise _ApiError(400, {"domain": [f"The domain {shown} is already in use by another app"]})
        domain = call.state.add_domain(app, domain_name, call.user.username, _now())
        return 201, domain.as_json()

    def _domain_delete(self, call: _Call, id: str, domain: str) -> Response:
        app = self._app_for(call, id)
        if domain not in app.domains:
            raise _not_found("Domain")
        call.state.remove_domain(app, domain)
        return _empty(204)

    # -- perms ---------------------------------------------------------------------------------------------------
    def _perms_list(self, call: _Call, id: str) -> tuple[int, Any]:
        app = self._app_for(call, id)
        return 200, {"users": sorted(app.shared_with)}

    def _perm_create(self, call: _Call, id: str) -> Response:
        app = self._app_for(call, id)
        if not (call.user.is_superuser or app.owner == call.user.username):
            raise _detail(403, PERMISSION_DENIED)
        user = self._user_named(call, call.field("username"))
        app.shared_with.add(user.username)
        call.state.refresh_visibility(user.username, app)
        return _empty(201)

    def _perm_delete(self, call: _Call, id: str, username: str) -> Response:
        app = call.state.apps.get(id)
        if app is None:
            raise _not_found("App")
        user = self._user_named(call, username)
        # guardian's has_perm is True for superusers on every object; anyone else needs an explicit share.
        if not (user.is_superuser or user.username in app.shared_with):
            raise _detail(403, PERMISSION_DENIED)
        requester = call.user
        if user.username != requester.username and not (
            requester.is_superuser or app.owner == requester.username
        ):
            raise _detail(403, PERMISSION_DENIED)
        app.shared_with.discard(user.username)
        call.state.refresh_visibility(user.username, app)
        return _empty(204)

    # -- admin ---------------------------------------------------------------------------------------------------
    def _admin_perms_list(self, call: _Call) -> tuple[int, Any]:
        admins = [user for user in call.state.users.values() if user.is_superuser]
        return 200, _paginate(call, admins, lambda user: {"username": user.username, "is_superuser": True})

    def _admin_perm_create(self, call: _Call) -> Response:
        self._user_named(call, call.field("username")).is_superuser = True
        return _empty(201)

    def _admin_perm_delete(self, call: _Call, username: str) -> Response:
        self._user_named(call, username).is_superuser = False
        return _empty(204)

    def _users_list(self, call: _Call) -> tuple[int, Any]:
        return 200, _paginate(call, list(call.state.users.values()), _User.as_json)

    # -- certificates --------------------------------------------------------------------------------------------
    def _certs_list(self, call: _Call) -> tuple[int, Any]:
        state = call.state
        names = state.certificates_by_owner.get(call.user.username, _SortedIndex()).ids
        return 200, _paginate(call, names, lambda name: state.certificates[name].as_json())

    def _cert_get(self, call: _Call, name: str) -> tuple[int, Any]:
        return 200, self._own_certificate(call, name).as_json()

    def _cert_delete(self, call: _Call, name: str) -> Response:
        call.state.remove_certificate(self._own_certificate(call, name))
        return _empty(204)

    def _cert_create(self, call: _Call) -> tuple[int, Any]:
        data = call.data
        if not isinstance(data, dict):
            raise _invalid_data(data)
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
        parsed: _ParsedCertificate | None = None
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
            raise _ApiError(400, errors)
        certificate = _Certificate(
            id=state.next_certificate_id,
            name=values["name"],
            owner=call.user.username,
            certificate=values["certificate"],
            key=values["key"],
            created=_now(),
            **asdict(parsed),
        )
        state.add_certificate(certificate)
        return 201, certificate.as_json()

    def _cert_attach(self, call: _Call, name: str, domain: str | None) -> Response:
        # The view reads request.data['domain'] before anything else: a body without it is a 500.
        domain_name = call.field("domain")
        certificate = self._own_certificate(call, name)
        target = call.state.domains.get(domain_name) if isinstance(domain_name, str) else None
        if target is None:  # any app's domain, whoever owns the app
            raise _not_found("Domain")
        if target.certificate is not None:
            raise _detail(409, "Domain already has a certificate attached to it")
        call.state.attach(certificate, target.domain)
        return _empty(201)

    def _cert_detach(self, call: _Call, name: str, domain: str | None) -> Response:
        self._own_certificate(call, name)
        if domain is None or domain not in call.state.domains:
            raise _not_found("Domain")
        # Certificate.detach clears the domain's certificate without checking it is this one.
        call.state.detach(domain)
        return _empty(204)


# ---------------------------------------------------------------------------------------------------------------
# Small pieces of the request handlers
# ---------------------------------------------------------------------------------------------------------------
def _auth_failed(message: str) -> _ApiError:
    return _ApiError(401, {"detail": message}, {"WWW-Authenticate": "Token"})


def _json(status: int, payload: Any, allowed: str) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(
        body, status=status, content_type="application/json", headers={"Allow": allowed, "Vary": "Accept"}
    )


def _empty(status: int) -> Response:
    return Response(b"", status=status, content_type="application/json")


def _django_404(path: str) -> Response:
    # No route matched: Django's own page (DEBUG off), not JSON. This is what a wrong trailing slash gets.
    body = f"<h1>Not Found</h1><p>The requested URL {path} was not found on this server.</p>"
    return Response(body.encode(), status=404, content_type="text/html")


def _options_body() -> dict[str, Any]:
    return {
        "name": "Deis API",
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
    }


def _merge_healthcheck(previous: dict[str, Any], posted: dict[str, Any]) -> dict[str, Any]:
    """Config.set_healthcheck: per proc type, per probe; null unsets, unsetting a missing one is a 422."""
    data = copy.deepcopy(previous)
    new_data = dict(posted)
    if "livenessProbe" in data or "readinessProbe" in data:
        data = {"web/cmd": data}
    if "livenessProbe" in new_data or "readinessProbe" in new_data:
        new_data = {"web/cmd": new_data}
    for key, value in new_data.items():
        if value is None:
            if key not in data:
                raise _detail(422, f"{key} does not exist under healthcheck")
            data.pop(key)
            continue
        for probe_type, probe in value.items():
            if probe is None:
                if key not in data or probe_type not in data[key]:
                    raise _detail(422, f"{key} does not exist under healthcheck")
                data[key].pop(probe_type)
            else:
                data.setdefault(key, {})[probe_type] = probe
    return data


def _boolean(data: dict[str, Any], name: str, errors: dict[str, list[str]]) -> bool | None:
    if name not in data or data[name] is None:
        return None
    value = data[name]
    try:
        if value in _TRUE_VALUES:
            return True
        if value in _FALSE_VALUES:
            return False
    except TypeError:  # unhashable (a list or an object)
        pass
    errors[name] = [f'"{value}" is not a valid boolean.']
    return None


def _whitelist(data: dict[str, Any], errors: dict[str, list[str]]) -> list[str]:
    value = data.get("whitelist")
    if value is None:
        return []
    if not isinstance(value, list):
        errors["whitelist"] = [f'Expected a list of items but got type "{type(value).__name__}".']
        return []
    for address in value:
        try:
            ipaddress.ip_network(str(address), strict=False)
        except ValueError:
            errors["whitelist"] = [f"The address {address} is not valid"]
            return []
    return [str(address) for address in value]


def _settings_json(data: dict[str, Any], name: str, errors: dict[str, list[str]]) -> dict[str, Any]:
    if name not in data or data[name] is None:
        return {}
    value = _json_field(data[name])
    if name == "autoscale":
        for rule in value.values():
            if rule is None:
                continue
            missing = [k for k in ("min", "max", "cpu_percent") if not isinstance(rule, dict) or k not in rule]
            wrong = [k for k in ("min", "max", "cpu_percent") if isinstance(rule, dict) and k in rule
                     and not isinstance(rule[k], int)]
            if missing or wrong:
                reason = f"'{(missing or wrong)[0]}' is a required property" if missing else (
                    f"{rule[wrong[0]]!r} is not of type 'integer'"
                )
                errors[name] = [f"could not validate {rule}: {reason}"]
                break
    return value


def _merge_settings_dict(previous: dict[str, Any], posted: dict[str, Any], name: str) -> dict[str, Any]:
    """AppSettings.update_label / update_autoscale: an empty post keeps the old value; null unsets (422 if absent)."""
    data = copy.deepcopy(previous)
    if not posted or posted == data:
        return data
    for key, value in posted.items():
        if value is None:
            if key not in data:
                raise _detail(422, f"{key} does not exist under {name}")
            del data[key]
        else:
            data[key] = value
    return data
