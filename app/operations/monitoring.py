"""Monitoring changes an administrator makes: per app (on/off, health path), in bulk, which clusters a monitor
watches, and the internal tools. Each is audited; the next Chef pull of the monit file reflects it."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from app import audit
from app.health_checks import HealthCheckError, checked_health_path, parse_tool_url, tool_name_problem
from app.models import App, Cluster, InternalTool, MonitorWatchOverride
from app.models.monitoring import MONITORING_KIND, watched_by_default


class MonitoringError(ValueError):
    """A monitoring change that cannot be carried out; the message is shown as is."""


def set_enabled(session: Session, app: App, enabled: bool, actor: object) -> bool:
    """Turn monitoring of `app` on or off; returns whether anything changed (a repeated click changes nothing)."""
    if app.monitoring_enabled == enabled:
        return False
    audit.record(session, actor=actor, action="app.monitoring", target=app,
                 before={"monitoring_enabled": app.monitoring_enabled}, after={"monitoring_enabled": enabled})
    app.monitoring_enabled = enabled
    session.commit()
    return True


def set_health_path(session: Session, app: App, health_path: str, actor: object) -> bool:
    """Set the path monit requests on the app's domain; refuses (MonitoringError) one that is not a plain path."""
    try:
        health_path = checked_health_path(health_path.strip())
    except HealthCheckError as error:
        raise MonitoringError(str(error)) from error
    if app.health_path == health_path:
        return False
    audit.record(session, actor=actor, action="app.health_path", target=app,
                 before={"health_path": app.health_path}, after={"health_path": health_path})
    app.health_path = health_path
    session.commit()
    return True


def set_enabled_for(session: Session, app_ids: Select, enabled: bool, actor: object,
                    filters: dict[str, str]) -> tuple[int, int]:
    """Turn monitoring on or off for the apps `app_ids` selects (the filtered list); one audit event with the counts.

    Returns how many apps matched and how many changed state (the others already were as asked).
    """
    matched = session.scalar(select(func.count()).select_from(app_ids.subquery()))
    changed = session.execute(
        update(App).where(App.id.in_(app_ids), App.monitoring_enabled.is_not(enabled))
        .values(monitoring_enabled=enabled).execution_options(synchronize_session=False)
    ).rowcount
    audit.record(session, actor=actor, action="app.monitoring_bulk", target="apps matching the filters",
                 after={"monitoring_enabled": enabled, "matched": matched, "changed": changed, "filters": filters})
    session.commit()
    session.expire_all()
    return matched, changed


def set_watched_clusters(session: Session, monitor: Cluster, watched_ids: Iterable[int], actor: object) -> bool:
    """Make `monitor` watch exactly the clusters `watched_ids`; only choices that differ from the default are kept.

    Returns whether anything changed.
    """
    if monitor.kind != MONITORING_KIND:
        raise MonitoringError(f"{monitor.name} is a {monitor.kind} cluster, not a monitoring cluster.")
    clusters = list(session.scalars(select(Cluster)))
    known = {cluster.id for cluster in clusters}
    wanted = set(watched_ids)
    if wanted - known:
        raise MonitoringError("Some of the chosen clusters do not exist (any more); reload the page and try again.")
    current = {override.cluster_id: override for override in
               session.scalars(select(MonitorWatchOverride).where(MonitorWatchOverride.monitor_id == monitor.id))}
    before, after = [], []
    for cluster in sorted(clusters, key=lambda cluster: cluster.name):
        default = watched_by_default(monitor, cluster)
        override = current.get(cluster.id)
        was = override.watched if override is not None else default
        now = cluster.id in wanted
        if was:
            before.append(cluster.name)
        if now:
            after.append(cluster.name)
        if now == default and override is not None:
            session.delete(override)
        elif now != default and override is None:
            session.add(MonitorWatchOverride(monitor_id=monitor.id, cluster_id=cluster.id, watched=now))
        elif now != default and override is not None:
            override.watched = now
    if before == after:
        session.rollback()
        return False
    audit.record(session, actor=actor, action="monitor.watches", target=monitor,
                 before={"watches": before}, after={"watches": after})
    session.commit()
    return True


def add_internal_tool(session: Session, name: str, url: str, actor: object) -> InternalTool:
    """Register an internal tool that every monitor checks at `url` (http or https)."""
    name, url = name.strip().lower(), url.strip()
    problem = tool_name_problem(name)
    if problem:
        raise MonitoringError(problem)
    try:
        parse_tool_url(url)
    except HealthCheckError as error:
        raise MonitoringError(str(error)) from error
    if session.scalar(select(InternalTool.id).where(InternalTool.name == name)) is not None:
        raise MonitoringError(f"An internal tool called {name!r} already exists.")
    tool = InternalTool(name=name, url=url)
    session.add(tool)
    session.flush()
    audit.record(session, actor=actor, action="internal_tool.add", target=tool, after={"name": name, "url": url})
    session.commit()
    return tool


def remove_internal_tool(session: Session, tool: InternalTool, actor: object) -> None:
    """Stop checking an internal tool."""
    audit.record(session, actor=actor, action="internal_tool.remove", target=tool,
                 before={"name": tool.name, "url": tool.url})
    session.execute(delete(InternalTool).where(InternalTool.id == tool.id))
    session.commit()
