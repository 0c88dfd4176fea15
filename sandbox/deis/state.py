"""What one controller knows, in memory: users and tokens, apps (config, settings, domains, perms), certificates."""
from __future__ import annotations

import bisect
import copy
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.scenario import DeisUser


API_VERSION = "2.3"
PLATFORM_VERSION = "2.3.0"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def api_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(DATE_FORMAT)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class User:
    id: int
    username: str
    password: str
    email: str
    is_superuser: bool
    token: str
    date_joined: datetime

    def as_json(self) -> dict[str, Any]:
        # UserSerializer's fields in deis/controller (no `id`, whatever the v2.3 document's example shows).
        return {
            "email": self.email,
            "username": self.username,
            "first_name": "",
            "last_name": "",
            "is_superuser": self.is_superuser,
            "is_staff": self.is_superuser,
            "groups": [],
            "user_permissions": [],
            "last_login": api_date(self.date_joined),
            "date_joined": api_date(self.date_joined),
            "is_active": True,
        }


@dataclass
class AppConfig:
    uuid: str
    owner: str
    values: dict[str, str] = field(default_factory=dict)
    memory: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    registry: dict[str, str] = field(default_factory=dict)
    healthcheck: dict[str, Any] = field(default_factory=dict)
    created: datetime = field(default_factory=now_utc)
    updated: datetime = field(default_factory=now_utc)

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
            "created": api_date(self.created),
            "updated": api_date(self.updated),
        }


@dataclass
class AppSettings:
    uuid: str
    owner: str
    maintenance: bool = False
    routable: bool = True
    whitelist: list[str] = field(default_factory=list)
    autoscale: dict[str, Any] = field(default_factory=dict)
    label: dict[str, Any] = field(default_factory=dict)
    created: datetime = field(default_factory=now_utc)
    updated: datetime = field(default_factory=now_utc)

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
            "created": api_date(self.created),
            "updated": api_date(self.updated),
        }


@dataclass
class Domain:
    domain: str
    app_id: str
    owner: str
    created: datetime
    certificate: str | None = None

    def as_json(self) -> dict[str, Any]:
        # No certificate here: the real API only exposes the link from the certificate's side.
        return {
            "owner": self.owner,
            "created": api_date(self.created),
            "updated": api_date(self.created),
            "app": self.app_id,
            "domain": self.domain,
        }


@dataclass
class Release:
    """One release of an app: every config change makes one (and the controller deploys it before answering)."""

    version: int
    uuid: str
    owner: str
    summary: str
    config: str  # uuid of the config it runs
    created: datetime

    def as_json(self, app_id: str) -> dict[str, Any]:
        return {
            "app": app_id,
            "build": None,
            "config": self.config,
            "created": api_date(self.created),
            "owner": self.owner,
            "summary": self.summary,
            "updated": api_date(self.created),
            "uuid": self.uuid,
            "version": self.version,
        }


@dataclass
class App:
    id: str
    uuid: str
    owner: str
    structure: dict[str, int]
    created: datetime
    updated: datetime
    config: AppConfig
    settings: AppSettings
    domains: list[str] = field(default_factory=list)  # creation order, as the controller's queryset returns them
    shared_with: set[str] = field(default_factory=set)
    releases: list[Release] = field(default_factory=list)  # oldest first

    @property
    def release_version(self) -> int:
        return self.releases[-1].version if self.releases else 0

    def release(self, owner: str, summary: str, created: datetime) -> Release:
        """Record the next release (deterministic uuid: a reseed must not look like a change)."""
        version = self.release_version + 1
        release_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"deis-release:{self.uuid}:{version}"))
        release = Release(version=version, uuid=release_uuid, owner=owner, summary=summary, config=self.config.uuid,
                          created=created)
        self.releases.append(release)
        return release

    def as_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "id": self.id,
            "owner": self.owner,
            "structure": dict(self.structure),
            "created": api_date(self.created),
            "updated": api_date(self.updated),
        }


@dataclass
class Certificate:
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
            "expires": api_date(self.expires),
            "starts": api_date(self.starts),
            "issuer": self.issuer,
            "subject": self.subject,
            "created": api_date(self.created),
            "updated": api_date(self.created),
        }


class SortedIndex:
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


class ControllerState:
    """Everything one controller knows: users and tokens, apps with config/settings/domains/perms, certificates."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.usernames_by_token: dict[str, str] = {}
        self.apps: dict[str, App] = {}
        self.app_index = SortedIndex()
        self.visible: dict[str, SortedIndex] = {}  # username -> apps they own or were shared
        self.domains: dict[str, Domain] = {}
        self.certificates: dict[str, Certificate] = {}
        self.certificates_by_owner: dict[str, SortedIndex] = {}
        self.next_certificate_id = 1

    # -- users -------------------------------------------------------------------------------------------------
    def add_user(self, spec: DeisUser, token: str, is_superuser: bool, joined: datetime) -> None:
        user = User(
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

    def set_token(self, user: User, token: str) -> None:
        self.usernames_by_token.pop(user.token, None)
        user.token = token
        self.usernames_by_token[token] = user.username

    # -- visibility ----------------------------------------------------------------------------------------------
    def refresh_visibility(self, username: str, app: App) -> None:
        index = self.visible.setdefault(username, SortedIndex())
        if app.id in self.apps and (app.owner == username or username in app.shared_with):
            index.add(app.id)
        else:
            index.discard(app.id)

    def visible_ids(self, user: User) -> list[str]:
        if user.is_superuser:
            return self.app_index.ids
        return self.visible.get(user.username, SortedIndex()).ids

    # -- apps ----------------------------------------------------------------------------------------------------
    def create_app(self, app_id: str, owner: str, now: datetime) -> App:
        """`App.create`: an empty app with its initial release and a domain equal to its id."""
        app = App(
            id=app_id,
            uuid=str(uuid.uuid4()),
            owner=owner,
            structure={},
            created=now,
            updated=now,
            config=AppConfig(uuid=str(uuid.uuid4()), owner=owner, created=now, updated=now),
            settings=AppSettings(uuid=str(uuid.uuid4()), owner=owner, created=now, updated=now),
        )
        app.release(owner, f"{owner} created initial release", now)
        self.add_app(app)
        if app_id not in self.domains:  # App.create skips the default domain when another app already has it
            self.add_domain(app, app_id, owner, now)
        return app

    def add_app(self, app: App) -> None:
        self.apps[app.id] = app
        self.app_index.add(app.id)
        self.refresh_visibility(app.owner, app)
        for username in app.shared_with:
            self.refresh_visibility(username, app)

    def remove_app(self, app: App) -> None:
        for domain_name in list(app.domains):
            self.remove_domain(app, domain_name)
        del self.apps[app.id]
        self.app_index.discard(app.id)
        for username in {app.owner, *app.shared_with}:
            self.refresh_visibility(username, app)

    def add_domain(self, app: App, domain_name: str, owner: str, created: datetime) -> Domain:
        domain = Domain(domain=domain_name, app_id=app.id, owner=owner, created=created)
        self.domains[domain_name] = domain
        app.domains.append(domain_name)
        return domain

    def remove_domain(self, app: App, domain_name: str) -> None:
        domain = self.domains.pop(domain_name)
        app.domains.remove(domain_name)
        if domain.certificate and domain.certificate in self.certificates:
            self.certificates[domain.certificate].domains.discard(domain_name)

    # -- certificates --------------------------------------------------------------------------------------------
    def add_certificate(self, certificate: Certificate) -> None:
        self.certificates[certificate.name] = certificate
        self.certificates_by_owner.setdefault(certificate.owner, SortedIndex()).add(certificate.name)
        self.next_certificate_id = max(self.next_certificate_id, certificate.id + 1)

    def remove_certificate(self, certificate: Certificate) -> None:
        for domain_name in list(certificate.domains):
            self.detach(domain_name)
        del self.certificates[certificate.name]
        self.certificates_by_owner[certificate.owner].discard(certificate.name)

    def attach(self, certificate: Certificate, domain_name: str) -> None:
        self.domains[domain_name].certificate = certificate.name
        certificate.domains.add(domain_name)

    def detach(self, domain_name: str) -> None:
        domain = self.domains[domain_name]
        if domain.certificate and domain.certificate in self.certificates:
            self.certificates[domain.certificate].domains.discard(domain_name)
        domain.certificate = None
