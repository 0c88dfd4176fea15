"""Limit sets (the limits wanted for every app of one type on one cluster) and app types: saved only when Deis would
take every value, audited, and the apps' drift flags recomputed at once."""
from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.limit_values import LimitValueError, check_limits, limit_differences
from app.models import App, Cluster, LimitSet, User
from app.services.deis import APP_TYPE_LABEL

DEFAULT_APP_TYPE = "web"  # what an app without a type label, or a panel-set type, counts as
# App types are Kubernetes label values on Deis (the settings label "app-type"); the panel keeps them lower case.
APP_TYPE_MATCH = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,30}[a-z0-9])?$")


class LimitSetRefused(ValueError):
    """A limit set or app type the panel will not save; the message says why, and nothing was changed."""


def check_app_type(app_type: str) -> str:
    """The app type, stripped, or LimitSetRefused when it is not a label value the panel takes."""
    app_type = (app_type or "").strip()
    if not APP_TYPE_MATCH.match(app_type):
        raise LimitSetRefused(f"App type {app_type[:40]!r} is not valid: 1 to 32 lowercase letters, digits, '.', "
                              "'_' or '-', starting and ending with a letter or digit.")
    return app_type


def _snapshot(limit_set: LimitSet) -> dict:
    return {"cluster": limit_set.cluster.name, "app_type": limit_set.app_type, "memory": dict(limit_set.memory),
            "cpu": dict(limit_set.cpu), "unset_extra": limit_set.unset_extra}


def _checked(memory: dict[str, str], cpu: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    try:
        checked = check_limits("memory", memory), check_limits("cpu", cpu)
    except LimitValueError as error:
        raise LimitSetRefused(str(error)) from error
    if not checked[0] and not checked[1]:
        raise LimitSetRefused("A limit set needs at least one memory or CPU limit.")
    return checked


def create_limit_set(session: Session, *, cluster: str, app_type: str, memory: dict[str, str], cpu: dict[str, str],
                     unset_extra: bool, actor: User | str, replace: bool = False) -> LimitSet:
    """Save the limits wanted for `app_type` apps on `cluster`; audited, committed, drift recomputed.

    A set for that cluster and type already existing is refused, unless `replace` (the CLI's `--replace`).
    """
    app_type = check_app_type(app_type)
    memory, cpu = _checked(memory, cpu)
    cluster_row = session.scalar(select(Cluster).where(Cluster.name == cluster.strip()))
    if cluster_row is None:
        raise LimitSetRefused(f"No cluster called {cluster[:64]!r}.")
    existing = session.scalar(select(LimitSet).where(LimitSet.cluster_id == cluster_row.id,
                                                     LimitSet.app_type == app_type))
    if existing is not None and not replace:
        raise LimitSetRefused(f"A limit set for type {app_type} on {cluster_row.name} exists already: edit that one "
                              "instead (one set per cluster and app type).")
    if existing is not None:
        return update_limit_set(session, existing, memory=memory, cpu=cpu, unset_extra=unset_extra, actor=actor)
    limit_set = LimitSet(cluster=cluster_row, app_type=app_type, memory=memory, cpu=cpu, unset_extra=unset_extra)
    session.add(limit_set)
    session.flush()
    audit.record(session, actor=actor, action="limit_set.create", target=limit_set, after=_snapshot(limit_set))
    refresh_drift(session, cluster_row.id, app_type, limit_set)
    session.commit()
    return limit_set


def update_limit_set(session: Session, limit_set: LimitSet, *, memory: dict[str, str], cpu: dict[str, str],
                     unset_extra: bool, actor: User | str) -> LimitSet:
    """Change a limit set's limits; audited, committed, drift recomputed."""
    memory, cpu = _checked(memory, cpu)
    before = _snapshot(limit_set)
    limit_set.memory, limit_set.cpu, limit_set.unset_extra = memory, cpu, unset_extra
    audit.record(session, actor=actor, action="limit_set.update", target=limit_set, before=before,
                 after=_snapshot(limit_set))
    refresh_drift(session, limit_set.cluster_id, limit_set.app_type, limit_set)
    session.commit()
    return limit_set


def delete_limit_set(session: Session, limit_set: LimitSet, actor: User | str) -> None:
    """Delete a limit set (its apps no longer drift); audited, committed."""
    before = _snapshot(limit_set)
    cluster_id, app_type = limit_set.cluster_id, limit_set.app_type
    audit.record(session, actor=actor, action="limit_set.delete", target=limit_set, before=before)
    session.delete(limit_set)
    session.flush()
    refresh_drift(session, cluster_id, app_type, None)
    session.commit()


def refresh_drift(session: Session, cluster_id: int, app_type: str | None = None,
                  limit_set: LimitSet | None = None, apps: Iterable[App] | None = None) -> int:
    """Recompute `limit_drift` of the apps of a cluster (and type) or of `apps`; returns how many flags changed.

    `limit_set` is the set of that type when given with one; otherwise each app's set is looked up.
    """
    if apps is None:
        query = select(App).where(App.cluster_id == cluster_id)
        if app_type is not None:
            query = query.where(App.app_type == app_type)
        apps = session.scalars(query)
    sets = {ls.app_type: ls for ls in session.scalars(select(LimitSet).where(LimitSet.cluster_id == cluster_id))}
    changed = 0
    for app in apps:
        wanted = limit_set if limit_set is not None and app.app_type == limit_set.app_type else sets.get(app.app_type)
        drift = wanted is not None and bool(limit_differences(app.structure or {}, app.memory or {}, app.cpu or {},
                                                              wanted.memory, wanted.cpu, wanted.unset_extra))
        if app.limit_drift != drift:
            app.limit_drift = drift
            changed += 1
    return changed


def set_app_types(session: Session, apps: list[App], app_type: str | None, actor: User | str) -> int:
    """Give `apps` the type `app_type` in the panel (a sync keeps it), or None: back to their settings label.

    Audited per app, committed, drift recomputed; returns how many apps changed type or override.
    """
    if app_type is not None and app_type.strip():
        app_type = check_app_type(app_type)
    else:
        app_type = None
    changed = 0
    for app in apps:
        label = ((app.settings or {}).get("label") or {}).get(APP_TYPE_LABEL)
        new_type = app_type or label or DEFAULT_APP_TYPE
        if app.app_type_override == app_type and app.app_type == new_type:
            continue
        before = {"app_type": app.app_type, "override": app.app_type_override}
        app.app_type_override, app.app_type = app_type, new_type
        audit.record(session, actor=actor, action="app.set_type", target=app, before=before,
                     after={"app_type": new_type, "override": app_type})
        refresh_drift(session, app.cluster_id, apps=[app])
        changed += 1
    session.commit()
    return changed
