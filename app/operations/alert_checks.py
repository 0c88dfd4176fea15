"""The alert checks over the synced data: scheduled maintenance events (with their impact), certificates crossing
an expiry threshold, sync sources failing run after run; then every pending notice goes out.

Each check raises one alert per dedup key and resolves the keys whose condition went away, so running it twice
over unchanged data notifies nothing the second time.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from app.config import Settings
from app.models import (
    Alert, App, Certificate, Cluster, Database, DnsRecord, Domain, Instance, LoadBalancer, LoadBalancerMember,
    MaintenanceEvent, Region, SyncRun,
)
from app.operations import stuck_operations
from app.operations.alerts import DeliveryOutcome, deliver_pending, raise_alert, resolve, resolve_absent
from app.redaction import redact_text
from app.services import notify
from app.services.notify import Channel
from app.sync.runs import LockFactory

MAINTENANCE, CERTIFICATE, SYNC_FAILING = "maintenance_event", "certificate_expiry", "sync_failing"
KINDS = (MAINTENANCE, CERTIFICATE, SYNC_FAILING, stuck_operations.KIND)
FAILED_RUNS_IN_A_ROW = 3
SHOWN_NAMES = 10  # names listed per impact line; the count says how many there are in all
LOCK_NAME = "admin-panel:alerts"
SEVERE_EVENT_CODES = ("instance-retirement", "instance-stop")


@dataclass
class CheckReport:
    """What one run of every check did: alerts per kind now open, and what each channel was sent."""

    open_alerts: dict[str, int] = field(default_factory=dict)
    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    skipped: bool = False  # another run held the lock

    @property
    def failures(self) -> list[DeliveryOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.delivered]


def channels_for(settings: Settings) -> list[Channel]:
    """The channels the settings configure (webhooks, then email)."""
    return notify.channels(settings.alert_webhook_urls, settings.smtp_url, settings.alert_email_to,
                           settings.alert_email_from)


def run_all(session: Session, channels: Sequence[Channel], now: datetime, cert_alert_days: Sequence[int],
            lock: LockFactory | None = None, stale_minutes: dict[str, int] | None = None,
            job_gone: Callable[[str], bool] | None = None) -> CheckReport:
    """Run every check, then deliver every pending notice; one run at a time when `lock` is given (`job_gone`:
    see stuck_operations.check)."""
    with (lock(LOCK_NAME) if lock else nullcontext(True)) as acquired:
        if not acquired:
            return CheckReport(skipped=True)
        check_maintenance_events(session, now)
        check_certificates(session, now, cert_alert_days)
        check_sync_failures(session, now)
        session.commit()
        stuck_operations.check(session, now, stale_minutes, job_gone=job_gone)
        outcomes = deliver_pending(session, channels, now)
        counts = dict(session.execute(select(Alert.kind, func.count()).where(Alert.resolved_at.is_(None))
                                      .group_by(Alert.kind)).all())
        return CheckReport(open_alerts={kind: counts.get(kind, 0) for kind in KINDS}, outcomes=outcomes)


def run_configured(session: Session, settings: Settings, now: datetime, lock: LockFactory | None = None,
                   job_gone: Callable[[str], bool] | None = None) -> CheckReport:
    """`run_all` with the channels and thresholds of `settings`."""
    return run_all(session, channels_for(settings), now, settings.cert_alert_days, lock,
                   settings.operation_stale_minutes, job_gone)


# -- maintenance events --------------------------------------------------------------------------------------------
def _names(names: Sequence[str]) -> str:
    unique = sorted(set(names))
    shown = ", ".join(unique[:SHOWN_NAMES])
    return f"{shown} and {len(unique) - SHOWN_NAMES} more" if len(unique) > SHOWN_NAMES else shown or "none"


def _region_zone(session: Session, instance: Instance) -> ZoneInfo:
    region = instance.cluster.region if instance.cluster else session.scalar(
        select(Region).where(Region.aws_region == instance.aws_region).order_by(Region.id).limit(1))
    try:
        return ZoneInfo(region.timezone if region else "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _window(start: datetime | None, end: datetime | None, zone: ZoneInfo) -> tuple[str, str]:
    """The window in UTC and in `zone`, e.g. '2026-12-05 10:00 – 12:00 UTC'."""
    if start is None:
        return "no time given", "no time given"

    def span(tz: ZoneInfo, label: str) -> str:
        begin = start.astimezone(tz)
        text = f"{begin:%Y-%m-%d %H:%M}"
        if end is not None:
            finish = end.astimezone(tz)
            text += f" – {finish:%H:%M}" if finish.date() == begin.date() else f" – {finish:%Y-%m-%d %H:%M}"
        return f"{text} {label}"

    local = span(zone, f"{zone.key} ({start.astimezone(zone):%Z})")
    return span(ZoneInfo("UTC"), "UTC"), local


@dataclass
class Impact:
    """What sits behind an instance: the relations the sync built."""

    cluster: str | None
    load_balancers: list[str]
    dns_records: list[str]
    apps: list[str]
    postgres_role: str | None


def impact_of(session: Session, instance: Instance) -> Impact:
    """The cluster, load balancers, DNS records and apps that depend on `instance`."""
    balancers = list(session.scalars(
        select(LoadBalancer).join(LoadBalancerMember, LoadBalancerMember.load_balancer_id == LoadBalancer.id)
        .where(LoadBalancerMember.instance_id == instance.id).distinct().order_by(LoadBalancer.name)))
    balancer_ids = [balancer.id for balancer in balancers]
    records = list(session.scalars(
        select(DnsRecord).where(or_(DnsRecord.instance_id == instance.id,
                                    DnsRecord.load_balancer_id.in_(balancer_ids) if balancer_ids else false()))
        .order_by(DnsRecord.name)))
    app_ids = {record.app_id for record in records if record.app_id}
    if instance.role == "postgres":
        # A database server's apps are those whose database host is a name pointing at it.
        hosts = [record.name for record in records]
        if hosts:
            app_ids |= set(session.scalars(select(Database.app_id).where(Database.host.in_(hosts),
                                                                       Database.app_id.is_not(None))))
    apps = list(session.scalars(select(App).where(App.id.in_(app_ids)).options(joinedload(App.cluster))
                                .order_by(App.name))) if app_ids else []
    return Impact(
        cluster=instance.cluster.name if instance.cluster else None,
        load_balancers=[balancer.name for balancer in balancers],
        dns_records=[record.name for record in records],
        apps=[f"{app.name} ({app.cluster.name})" for app in apps],
        postgres_role=(instance.db_role or "unknown role") if instance.role == "postgres" else None,
    )


def _event_alert(session: Session, event: MaintenanceEvent, now: datetime) -> None:
    instance = event.instance
    zone = _region_zone(session, instance)
    utc_window, local_window = _window(event.not_before, event.not_after, zone)
    impact = impact_of(session, instance)
    name = instance.name or instance.aws_id
    primary = impact.postgres_role == "primary"
    title = f"AWS {event.code} on {name} ({instance.aws_id}) from {utc_window}"
    lines = [
        f"Instance: {name} ({instance.aws_id}, {instance.aws_region}, role {instance.role})",
        f"Event: {event.code} {event.event_id}: {event.description or 'no description'}",
        f"Window (UTC): {utc_window}",
        f"Window (local): {local_window}",
        f"Cluster: {impact.cluster or 'none'}",
        f"Load balancers: {_names(impact.load_balancers)}",
        f"DNS records ({len(impact.dns_records)}): {_names(impact.dns_records)}",
        f"Apps ({len(impact.apps)}): {_names(impact.apps)}",
    ]
    if impact.postgres_role:
        lines.append("PostgreSQL: PRIMARY: plan a failover or expect downtime" if primary
                     else f"PostgreSQL: {impact.postgres_role}, not the primary")
    window = "/".join(moment.isoformat() if moment else "-" for moment in (event.not_before, event.not_after))
    raise_alert(
        session, kind=MAINTENANCE, dedup_key=f"{MAINTENANCE}:{instance.aws_id}:{event.event_id}", now=now,
        severity="critical" if primary or event.code in SEVERE_EVENT_CODES else "warning",
        target=name, target_type="instance", target_id=str(instance.id),
        message=f"{event.code} on {name} {utc_window} ({local_window}); cluster {impact.cluster or 'none'},"
                f" {len(impact.apps)} apps" + ("; PostgreSQL primary" if primary else ""),
        details={"title": title, "lines": lines, "window_utc": utc_window, "window_local": local_window,
                 "cluster": impact.cluster, "load_balancers": impact.load_balancers,
                 "dns_records": impact.dns_records, "apps": impact.apps, "postgres_role": impact.postgres_role},
        revision=window,
    )


def check_maintenance_events(session: Session, now: datetime) -> int:
    """An alert per scheduled (not completed) event; a changed window notifies again, a gone one resolves."""
    events = list(session.scalars(
        select(MaintenanceEvent).where(MaintenanceEvent.completed.is_(False))
        .options(joinedload(MaintenanceEvent.instance).joinedload(Instance.cluster).joinedload(Cluster.region))
        .order_by(MaintenanceEvent.not_before)))
    for event in events:
        _event_alert(session, event, now)
    keys = {f"{MAINTENANCE}:{event.instance.aws_id}:{event.event_id}" for event in events}
    resolve_absent(session, kind=MAINTENANCE, still_present=keys, now=now)
    return len(events)


# -- certificates --------------------------------------------------------------------------------------------------
def certificate_threshold(expires_at: datetime, now: datetime, days: Sequence[int]) -> str | None:
    """'expired', the tightest threshold crossed ('14d'), or None while the certificate is far from expiry."""
    remaining = expires_at - now
    if remaining <= timedelta(0):
        return "expired"
    crossed = [threshold for threshold in days if remaining <= timedelta(days=threshold)]
    return f"{min(crossed)}d" if crossed else None


def check_certificates(session: Session, now: datetime, days: Sequence[int]) -> int:
    """One alert per certificate and threshold crossed (and when expired); a renewed certificate resolves."""
    certificates = list(session.scalars(
        select(Certificate).where(Certificate.expires_at.is_not(None))
        .options(joinedload(Certificate.cluster), selectinload(Certificate.domains).joinedload(Domain.app))))
    current: dict[str, str] = {}  # certificate id -> its current key
    for certificate in certificates:
        threshold = certificate_threshold(certificate.expires_at, now, days)
        if threshold is None:
            continue
        key = f"{CERTIFICATE}:{certificate.id}:{threshold}"
        current[str(certificate.id)] = key
        name = certificate.common_name or certificate.name
        left = int((certificate.expires_at - now).total_seconds() // 86400)
        expiry = f"{certificate.expires_at:%Y-%m-%d %H:%M} UTC"
        when = f"expired on {expiry}" if threshold == "expired" else \
            f"expires in {left} day{'s' if left != 1 else ''}, on {expiry}"
        domains = [domain.name for domain in certificate.domains]
        apps = [domain.app.name for domain in certificate.domains]
        raise_alert(
            session, kind=CERTIFICATE, dedup_key=key, now=now,
            severity="critical" if threshold == "expired" or left < 7 else "warning",
            target=name, target_type="certificate", target_id=str(certificate.id),
            message=f"Certificate {name} on {certificate.cluster.name} {when}",
            details={"title": f"Certificate {name} on {certificate.cluster.name} {when}",
                     "threshold": threshold, "lines": [
                         f"Certificate: {certificate.name} (common name {name}) on cluster {certificate.cluster.name}",
                         f"Expiry: {expiry} ({'expired' if threshold == 'expired' else f'{left} days left'})",
                         f"Threshold: {'expired' if threshold == 'expired' else f'{threshold[:-1]} days'}",
                         f"Domains ({len(domains)}): {_names(domains)}",
                         f"Apps ({len(set(apps))}): {_names(apps)}",
                         f"Issuer: {certificate.issuer or 'unknown'}"]},
        )
    for alert in session.scalars(select(Alert).where(Alert.kind == CERTIFICATE, Alert.resolved_at.is_(None))
                                 .options(selectinload(Alert.deliveries))):
        if alert.dedup_key in current.values():
            continue
        # Replaced by a tighter threshold of the same certificate: that alert speaks now; no "resolved" for this.
        superseded = alert.target_id in current
        resolve(session, alert, now, notify=not superseded)
    return len(current)


# -- sync sources --------------------------------------------------------------------------------------------------
def check_sync_failures(session: Session, now: datetime) -> int:
    """An alert per source/scope whose last three finished runs all failed; a successful run resolves it."""
    failing: set[str] = set()
    pairs = session.execute(select(SyncRun.source, SyncRun.scope).distinct()).all()
    for source, scope in pairs:
        runs = list(session.scalars(
            select(SyncRun).where(SyncRun.source == source, SyncRun.scope == scope,
                                  SyncRun.status.in_(("succeeded", "failed")))
            .order_by(SyncRun.id.desc()).limit(FAILED_RUNS_IN_A_ROW)))
        if len(runs) < FAILED_RUNS_IN_A_ROW or any(run.status != "failed" for run in runs):
            continue
        key = f"{SYNC_FAILING}:{source}:{scope}"
        failing.add(key)
        reason = redact_text(runs[0].error) or "no reason recorded"
        since = runs[-1].started_at
        title = f"Sync of {source}/{scope} failed {FAILED_RUNS_IN_A_ROW} runs in a row"
        raise_alert(
            session, kind=SYNC_FAILING, dedup_key=key, now=now, severity="critical",
            target=f"{source}/{scope}", target_type="sync", target_id=f"{source}:{scope}",
            message=f"{title}: {reason}"[:1024],
            details={"title": title, "lines": [f"Last error: {reason}"[:1000],
                                               f"Failing since: {since:%Y-%m-%d %H:%M} UTC",
                                               "The panel shows the last good data; nothing was deleted."]},
        )
    resolve_absent(session, kind=SYNC_FAILING, still_present=failing, now=now)
    return len(failing)
