"""Everything about one app on one page: cluster, config (secrets masked), limits, domains, DNS, database, history.

The number of queries is fixed whatever the number of domains, records or load balancer members.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models import (
    App, AuditEvent, Backup, Certificate, Cluster, Database, DnsRecord, Domain, LimitSet, LoadBalancer,
    LoadBalancerMember,
)
from app.queries.limit_comparison import LimitRow, compare_limits
from app.redaction import MASK, is_secret

CERTIFICATE_WARNING = timedelta(days=30)
AUDIT_SHOWN = 20
BACKUPS_SHOWN = 10


@dataclass(frozen=True)
class ConfigEntry:
    """One config variable as the page may show it: a secret's value is replaced here, never sent to the page."""

    key: str
    value: str
    masked: bool


@dataclass
class DomainView:
    domain: Domain
    certificate: Certificate | None
    certificate_status: str  # expired | expiring | ok | none
    records: list[DnsRecord] = field(default_factory=list)


@dataclass
class AppOverview:
    app: App
    limit_set: LimitSet | None
    limits: list[LimitRow]
    config: list[ConfigEntry]
    domains: list[DomainView]
    # Records tied to the app (DnsRecord.app_id) whose name is none of its domains.
    other_records: list[DnsRecord]
    database: Database | None
    backups: list[Backup]
    backup_count: int
    audit_events: list[AuditEvent]

    @property
    def routed_domains(self) -> list[DomainView]:
        """The domains someone added: each needs a DNS record."""
        return [view for view in self.domains if not view.domain.is_deis_default]

    @property
    def default_domains(self) -> list[DomainView]:
        """Deis's own bare domain (the app id): served through the cluster's wildcard, no record needed."""
        return [view for view in self.domains if view.domain.is_deis_default]

    @property
    def limit_drift(self) -> bool:
        return any(row.differs for row in self.limits)


def certificate_status(certificate: Certificate | None, now: datetime) -> str:
    """'expired', 'expiring' (within 30 days), 'ok', or 'none' when the domain has no certificate."""
    if certificate is None:
        return "none"
    if certificate.expires_at is None:
        return "ok"
    if certificate.expires_at <= now:
        return "expired"
    return "expiring" if certificate.expires_at <= now + CERTIFICATE_WARNING else "ok"


def masked_config(values: dict) -> list[ConfigEntry]:
    """The config sorted by key, each secret-looking value replaced by the mask (empty values stay visibly empty)."""
    entries = []
    for key in sorted(values):
        value = values[key]
        text = "" if value is None else str(value)
        secret = bool(text) and is_secret(str(key), value)
        entries.append(ConfigEntry(key=str(key), value=MASK if secret else text, masked=secret))
    return entries


def app_overview(session: Session, app_id: int, now: datetime) -> AppOverview | None:
    """The app page's content, or None when there is no app `app_id`."""
    app = session.scalar(
        select(App).where(App.id == app_id).options(
            joinedload(App.cluster).joinedload(Cluster.region),
            joinedload(App.cluster).joinedload(Cluster.monitored_from),
            selectinload(App.domains).joinedload(Domain.certificate),
        )
    )
    if app is None:
        return None
    limit_set = session.scalar(
        select(LimitSet).where(LimitSet.cluster_id == app.cluster_id, LimitSet.app_type == app.app_type)
    )
    domain_names = [domain.name for domain in app.domains]
    records = list(session.scalars(
        select(DnsRecord)
        .where(or_(DnsRecord.name.in_(domain_names), DnsRecord.app_id == app.id))
        .options(
            joinedload(DnsRecord.zone),
            joinedload(DnsRecord.instance),
            joinedload(DnsRecord.load_balancer)
            .selectinload(LoadBalancer.members).joinedload(LoadBalancerMember.instance),
        )
        .order_by(DnsRecord.name, DnsRecord.type, DnsRecord.content)
    ).unique())
    records_by_name: dict[str, list[DnsRecord]] = {}
    for record in records:
        records_by_name.setdefault(record.name, []).append(record)
    domains = [
        DomainView(domain, domain.certificate, certificate_status(domain.certificate, now),
                   records_by_name.get(domain.name, []))
        for domain in app.domains
    ]
    known_names = set(domain_names)
    database = session.scalar(select(Database).where(Database.app_id == app.id))
    backups: list[Backup] = []
    backup_count = 0
    if database is not None:
        backups = list(session.scalars(
            select(Backup).where(Backup.database_id == database.id)
            .order_by(Backup.started_at.desc(), Backup.id.desc()).limit(BACKUPS_SHOWN)
        ))
        backup_count = session.scalar(
            select(func.count()).select_from(Backup).where(Backup.database_id == database.id)
        ) or 0
    audit_events = list(session.scalars(
        select(AuditEvent).where(AuditEvent.target_type == "apps", AuditEvent.target_id == str(app.id))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(AUDIT_SHOWN)
    ))
    return AppOverview(
        app=app,
        limit_set=limit_set,
        limits=compare_limits(app.memory or {}, app.cpu or {}, limit_set.memory if limit_set else None,
                              limit_set.cpu if limit_set else None, structure=app.structure or {},
                              unset_extra=bool(limit_set and limit_set.unset_extra)),
        config=masked_config(app.config_values or {}),
        domains=domains,
        other_records=[record for record in records if record.name not in known_names],
        database=database,
        backups=backups,
        backup_count=backup_count,
        audit_events=audit_events,
    )
