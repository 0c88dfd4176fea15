"""What each monitoring cluster's monit checks: the apps with monitoring on in the clusters it watches, their
certificates, and the internal tools; rendered as a monit control file fragment (for Chef) or as JSON.

The output depends only on the data: sorted, with check names derived from stable names, and no timestamps, so an
unchanged platform gives the same bytes and Chef reloads monit only when something changed.

Its ETag (`monit_etag`) is known without rendering: it is derived from the version counters that database triggers
bump on every write to what the files are made of (app/models/monit_versions.py), the monitor, the certificate
setting and the code that renders; so a 304 costs one read of a few rows.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, true
from sqlalchemy.orm import Session, joinedload

from app import health_checks
from app.health_checks import HealthCheckError, ToolAddress, health_path_problem, is_host_name, parse_tool_url
from app.models import App, Cluster, Domain, InternalTool, MonitorWatchOverride, MonitVersion
from app.models.monitoring import MONITORING_KIND, watched_by_default

_UNSAFE = re.compile(r"[^a-z0-9-]+")
# The code that turns rows into the files: a deploy that changes how they are written changes every ETag, so Chef
# fetches the new format even if no row changed.
FORMAT = hashlib.sha256(b"".join(Path(source).read_bytes()
                                 for source in (__file__, health_checks.__file__))).hexdigest()
REPRESENTATIONS = ("conf", "json")


# -- The ETag ---------------------------------------------------------------------------------------------------
def monit_etag(session: Session, monitor_name: str, certificate_min_days: int, representation: str) -> str | None:
    """The ETag of the monitor's file (`conf` or `json`), or None when no monitoring cluster has that name.

    Read it BEFORE rendering: a write committed in between then makes the body newer than its ETag (the next poll
    fetches again), never older (which would keep a stale file behind a 304).
    """
    if representation not in REPRESENTATIONS:
        raise ValueError(f"no monit file as {representation!r}")
    # One statement (a 304 costs this and the token's lookup): the monitor's id beside every version row, or no row
    # at all when there is no such monitor (a database with no version yet gives one row with NULLs).
    rows = session.execute(
        select(Cluster.id, MonitVersion.part, MonitVersion.version)
        .outerjoin(MonitVersion, true())
        .where(Cluster.name == monitor_name, Cluster.kind == MONITORING_KIND)
        .order_by(MonitVersion.part)
    ).all()
    if not rows:
        return None
    monitor_id = rows[0][0]
    versions = [(part, version) for _, part, version in rows if part is not None]
    # Every part, not just the watched clusters': which clusters are watched is itself an input.
    inputs = ",".join(f"{part}={version}" for part, version in versions)
    return hashlib.sha256(f"{FORMAT}|{representation}|{monitor_id}|{certificate_min_days}|{inputs}"
                          .encode()).hexdigest()


# -- Which clusters a monitor watches ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WatchChoice:
    """One cluster as seen from one monitor: whether it is watched by default, and whether it is watched now."""

    cluster: Cluster
    default: bool
    watched: bool

    @property
    def overridden(self) -> bool:
        return self.default != self.watched


@dataclass
class MonitorView:
    """A monitoring cluster and its choice for every cluster of the platform."""

    monitor: Cluster
    choices: list[WatchChoice] = field(default_factory=list)

    @property
    def watched(self) -> list[Cluster]:
        return [choice.cluster for choice in self.choices if choice.watched]


def find_monitor(session: Session, name: str) -> Cluster | None:
    """The monitoring cluster called `name`, or None (also when a cluster of that name is no monitoring cluster)."""
    return session.scalar(select(Cluster).where(Cluster.name == name, Cluster.kind == MONITORING_KIND)
                          .options(joinedload(Cluster.region)))


def monitor_views(session: Session, only: Cluster | None = None) -> list[MonitorView]:
    """Every monitoring cluster (or just `only`) with what it watches, by cluster name."""
    # Sorted here, not by the database: PostgreSQL's collation and SQLite's order '-' and '.' differently, and the
    # file must come out the same whatever the database.
    clusters = sorted(session.scalars(select(Cluster).options(joinedload(Cluster.region))),
                      key=lambda cluster: cluster.name)
    monitors = [only] if only is not None else [cluster for cluster in clusters if cluster.kind == MONITORING_KIND]
    overrides = {
        (override.monitor_id, override.cluster_id): override.watched
        for override in session.scalars(select(MonitorWatchOverride))
    }
    views = []
    for monitor in monitors:
        view = MonitorView(monitor)
        for cluster in clusters:
            default = watched_by_default(monitor, cluster)
            view.choices.append(WatchChoice(cluster, default, overrides.get((monitor.id, cluster.id), default)))
        views.append(view)
    return views


# -- The checks -------------------------------------------------------------------------------------------------
def check_segment(raw: str) -> str:
    """A piece of a monit service name: letters, digits and '-' only.

    A name that had to change gets a short hash of the original, so two names that sanitise alike stay distinct
    (monit refuses a file in which a service name repeats).
    """
    safe = _UNSAFE.sub("-", raw.lower()).strip("-") or "x"
    if safe == raw:
        return safe
    return f"{safe}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class AppCheck:
    check: str
    certificate_check: str
    cluster: str
    app: str
    domain: str
    health_path: str

    @property
    def url(self) -> str:
        return f"https://{self.domain}{self.health_path}"


@dataclass(frozen=True)
class ToolCheck:
    check: str
    certificate_check: str | None
    name: str
    url: str
    address: ToolAddress


@dataclass(frozen=True)
class LeftOut:
    """Something monit should check but cannot, and why: shown in the file (as a comment) and in the JSON."""

    kind: str  # app | tool
    cluster: str | None
    name: str
    reason: str


@dataclass
class MonitPlan:
    """Everything one monitor checks."""

    monitor: Cluster
    watched: list[Cluster]
    certificate_min_days: int
    apps: list[AppCheck] = field(default_factory=list)
    tools: list[ToolCheck] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)


def first_host_name(names) -> str | None:
    """The domain monit checks for an app: the first concrete host name of its domain `names`, lower-cased
    (wildcards and bare app ids are not host names)."""
    hosts = sorted({name.lower() for name in names if is_host_name(name.lower())})
    return hosts[0] if hosts else None


def monit_plan(session: Session, monitor: Cluster, certificate_min_days: int) -> MonitPlan:
    """The checks of `monitor`: apps with monitoring on in the clusters it watches, then the internal tools."""
    [view] = monitor_views(session, only=monitor)
    plan = MonitPlan(monitor, view.watched, certificate_min_days)
    watched_ids = [cluster.id for cluster in view.watched]
    # Plain rows, not ORM objects: building thousands of App instances (and their domain collections) was most of
    # the time of a render.
    watched = (App.cluster_id.in_(watched_ids), App.monitoring_enabled.is_(True))
    rows = session.execute(select(App.id, App.name, App.health_path, Cluster.name).join(App.cluster)
                           .where(*watched)).all()
    domains: dict[int, list[str]] = {}
    for app_id, domain_name in session.execute(
            select(Domain.app_id, Domain.name).where(Domain.app_id.in_(select(App.id).where(*watched)))):
        domains.setdefault(app_id, []).append(domain_name)
    cluster_segments = {cluster.name: check_segment(cluster.name) for cluster in view.watched}
    for app_id, app_name, health_path, cluster_name in sorted(rows, key=lambda row: (row[3], row[1])):
        cluster, name = cluster_segments[cluster_name], check_segment(app_name)
        domain = first_host_name(domains.get(app_id, ()))
        problem = health_path_problem(health_path or "/")
        if domain is None:
            plan.left_out.append(LeftOut("app", cluster_name, app_name,
                                         "no domain monit can check (wildcards and the app id alone are not)"))
        elif problem:
            plan.left_out.append(LeftOut("app", cluster_name, app_name, problem))
        else:
            plan.apps.append(AppCheck(f"app.{cluster}.{name}", f"cert.{cluster}.{name}", cluster_name,
                                      app_name, domain, health_path or "/"))
    for tool in sorted(session.scalars(select(InternalTool)), key=lambda tool: tool.name):
        try:
            address = parse_tool_url(tool.url)
        except HealthCheckError as error:
            plan.left_out.append(LeftOut("tool", None, tool.name, str(error)))
            continue
        name = check_segment(tool.name)
        plan.tools.append(ToolCheck(f"tool.{name}", f"toolcert.{name}" if address.protocol == "https" else None,
                                    tool.name, tool.url, address))
    return plan


# -- Output -----------------------------------------------------------------------------------------------------
def _http_check(name: str, group: str, host: str, port: int, protocol: str, path: str) -> str:
    return (f"check host {name} with address {host}\n"
            f"    group {group}\n"
            f"    if failed\n"
            f"        port {port} protocol {protocol}\n"
            f'        request "{path}"\n'
            f"        timeout 10 seconds\n"
            f"        for 2 cycles\n"
            f"    then alert\n")


def _certificate_check(name: str, host: str, port: int, days: int) -> str:
    # Its own `check host`: in one check with the HTTP test, a failing status and an expiring certificate read as
    # one failure (monit issue #680), so one would hide the other.
    return (f"check host {name} with address {host}\n"
            f"    group certificates\n"
            f"    every 12 cycles\n"
            f"    if failed\n"
            f"        port {port} protocol https\n"
            f"        and certificate valid > {days} days\n"
            f"    then alert\n")


def render_conf(plan: MonitPlan) -> str:
    """The monit control file fragment of `plan` (Chef includes it from monitrc)."""
    watched = ", ".join(check_segment(cluster.name) for cluster in plan.watched) or "none"
    blocks = [
        f"# monit checks of monitor {check_segment(plan.monitor.name)}, written by the Admin Panel.\n"
        f"# Clusters watched: {watched}\n"
        f"# Chef replaces this file whenever the panel's data changes: edit the panel, not this file.\n"
    ]
    for app in plan.apps:
        blocks.append(_http_check(app.check, "apps", app.domain, 443, "https", app.health_path))
        blocks.append(_certificate_check(app.certificate_check, app.domain, 443, plan.certificate_min_days))
    for tool in plan.tools:
        address = tool.address
        blocks.append(_http_check(tool.check, "tools", address.host, address.port, address.protocol, address.path))
        if tool.certificate_check:
            blocks.append(_certificate_check(tool.certificate_check, address.host, address.port,
                                             plan.certificate_min_days))
    if plan.left_out:
        lines = [f"# left out: {left.kind} "
                 f"{check_segment(left.cluster) + '/' if left.cluster else ''}{check_segment(left.name)}"
                 for left in plan.left_out]
        blocks.append("# Not checked (see the .json for why):\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)


def render_json(plan: MonitPlan) -> str:
    """The JSON file of `plan`."""
    return json.dumps(plan_json(plan), indent=2, sort_keys=True) + "\n"


def plan_json(plan: MonitPlan) -> dict:
    """The same checks as data, for recipes that template monit themselves."""
    return {
        "monitor": plan.monitor.name,
        "region": plan.monitor.region.name,
        "watches": [cluster.name for cluster in plan.watched],
        "certificate_min_days": plan.certificate_min_days,
        "apps": [
            {"check": app.check, "certificate_check": app.certificate_check, "cluster": app.cluster, "app": app.app,
             "domain": app.domain, "health_path": app.health_path, "url": app.url}
            for app in plan.apps
        ],
        "tools": [
            {"check": tool.check, "certificate_check": tool.certificate_check, "name": tool.name, "url": tool.url,
             "protocol": tool.address.protocol, "host": tool.address.host, "port": tool.address.port,
             "path": tool.address.path}
            for tool in plan.tools
        ],
        "left_out": [{"kind": left.kind, "cluster": left.cluster, "name": left.name, "reason": left.reason}
                     for left in plan.left_out],
    }
