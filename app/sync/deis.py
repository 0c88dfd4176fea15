"""Deis synchronizer, one cluster at a time: apps with config and limits, settings, domains, certificates."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.limit_values import limit_differences
from app.models import App, Certificate, Cluster, Domain, LimitSet, utcnow
from app.services.deis import DeisApp, DeisAppGone, DeisCertificate, DeisClient, DeisConfig, DeisSettings
from app.sync.deletion_guard import DeletionGuard
from app.sync.runs import Outcome, Progress
from app.sync.upsert import Counts, sweep, upsert

DEFAULT_APP_TYPE = "web"


@dataclass(frozen=True)
class FetchedApp:
    app: DeisApp
    config: DeisConfig
    settings: DeisSettings
    domains: list[str]


def fetch(client: DeisClient, progress: Progress, known: set[str] | None = None,
          workers: int = 8) -> tuple[list[FetchedApp], list[DeisCertificate]]:
    """Everything the cluster has, or an exception: apps are listed, then detailed with bounded concurrency.

    The token's user is checked first (a superuser owning the certificates, or nothing would be whole). An app
    that answers 404/403 once listed was deleted or unshared meanwhile: it is left out, as vanished. An app the
    panel `known`s that the listing lacks is asked for by name before it counts as vanished: offset pages shift
    when another app is deleted and one created between two pages (`count` unchanged), and skip an app that exists.
    """
    client.ensure_panel_user()
    apps = client.list_apps()
    progress(5, f"{len(apps)} apps listed")
    listed = {app.id for app in apps}
    missing = sorted((known or set()) - listed)

    def detail(app: DeisApp) -> FetchedApp | None:
        try:
            return FetchedApp(app, client.get_config(app.id), client.get_settings(app.id),
                              client.list_domains(app.id))
        except DeisAppGone:
            return None

    fetched: list[FetchedApp] = []
    vanished = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"deis-{client.cluster}") as pool:
        for done, item in enumerate(pool.map(detail, apps), start=1):
            if item is None:
                vanished += 1
            else:
                fetched.append(item)
            if done % 50 == 0 or done == len(apps):
                gone = f" ({vanished} vanished since listed)" if vanished else ""
                progress(5 + int(80 * done / max(1, len(apps))), f"{done} of {len(apps)} apps detailed{gone}")
        if missing:
            progress(86, f"{len(missing)} known apps not listed: asking for each by name")
            missed = [app for app in pool.map(client.get_app, missing) if app is not None]
            fetched.extend(item for item in pool.map(detail, missed) if item is not None)
    certificates = client.list_certificates()
    progress(95, f"{len(certificates)} certificates listed; writing")
    return fetched, certificates


def drifts(structure: dict, memory: dict, cpu: dict, limit_set: LimitSet | None) -> bool:
    """Whether an app's limits differ from those its limit set asks for (units normalised, pairs as pairs)."""
    if limit_set is None:
        return False
    return bool(limit_differences(structure, memory, cpu, limit_set.memory, limit_set.cpu, limit_set.unset_extra))


def write(session: Session, cluster: Cluster, fetched: list[FetchedApp], certificates: list[DeisCertificate],
          guard: DeletionGuard) -> Counts:
    """Make the cluster's rows match the fetched picture (writing only differences), then sweep what vanished
    unless the guard holds back a mass deletion of apps (then nothing at all is swept)."""
    now = utcnow()
    limit_sets = {ls.app_type: ls for ls in session.scalars(select(LimitSet).where(LimitSet.cluster_id == cluster.id))}
    # A type set in the panel wins over the label, and a sync never writes it.
    overrides = dict(session.execute(select(App.name, App.app_type_override).where(
        App.cluster_id == cluster.id, App.app_type_override.is_not(None))).tuples().all())
    app_rows = []
    for item in fetched:
        app_type = overrides.get(item.app.id) or item.settings.app_type or DEFAULT_APP_TYPE
        app_rows.append({
            "cluster_id": cluster.id, "name": item.app.id, "uuid": item.app.uuid, "owner": item.app.owner,
            "app_type": app_type, "structure": item.app.structure, "config_values": item.config.values,
            "memory": item.config.memory, "cpu": item.config.cpu,
            "settings": {"maintenance": item.settings.maintenance, "routable": item.settings.routable,
                         "label": item.settings.label},
            "limit_drift": drifts(item.app.structure, item.config.memory, item.config.cpu, limit_sets.get(app_type)),
            "created_upstream_at": item.app.created, "updated_upstream_at": item.app.updated,
        })
    apps = upsert(session, App, lambda row: row["name"], app_rows, [App.cluster_id == cluster.id],
                  insert_only={"synced_at": now})
    counts = apps.counts

    certificate_rows = [{
        "cluster_id": cluster.id, "name": cert.name, "common_name": cert.common_name, "sans": cert.sans,
        "starts_at": cert.starts, "expires_at": cert.expires, "fingerprint": cert.fingerprint, "issuer": cert.issuer,
    } for cert in certificates]
    certs = upsert(session, Certificate, lambda row: row["name"], certificate_rows,
                   [Certificate.cluster_id == cluster.id], insert_only={"synced_at": now})
    counts += certs.counts
    certificate_of_domain = {domain: certs.ids[cert.name] for cert in certificates for domain in cert.domains}

    domain_rows = [
        {"app_id": apps.ids[item.app.id], "name": domain, "certificate_id": certificate_of_domain.get(domain)}
        for item in fetched for domain in item.domains
    ]
    cluster_app_ids = select(App.id).where(App.cluster_id == cluster.id)
    domains = upsert(session, Domain, lambda row: (row["app_id"], row["name"]), domain_rows,
                     [Domain.app_id.in_(cluster_app_ids)])
    counts += domains.counts
    # Sweep only now that the fetch is known complete: domains first, then what they hang on.
    # (domains of vanished apps are in the domain scope, so they are among its stale rows)
    if guard.permits("apps", len(apps.stale_ids), apps.existing):
        counts.deleted += sweep(session, Domain, domains.stale_ids)
        counts.deleted += sweep(session, App, apps.stale_ids)
        counts.deleted += sweep(session, Certificate, certs.stale_ids)
    return counts


def synchronize(session: Session, client: DeisClient, cluster: Cluster, progress: Progress,
                guard: DeletionGuard) -> Outcome:
    """Fetch the whole cluster, then write; raises (writing nothing) when the fetch is incomplete."""
    known = set(session.scalars(select(App.name).where(App.cluster_id == cluster.id)))
    fetched, certificates = fetch(client, progress, known)
    counts = write(session, cluster, fetched, certificates, guard)
    return Outcome(counts=counts, api_calls=client.calls)
