"""Comparing apps' actual limits with their limit sets: per process type for one app, and every difference of
every app for the drift page.

Deis spells the same quantity several ways ("1G" and "1024M", "0.5" and "500m"): values are compared as quantities
(`app.limit_values.same_limit`), a `request/limit` pair half by half.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.limit_values import LimitDifference, limit_differences, same_limit
from app.models import App, Cluster, LimitSet

__all__ = ["AppDrift", "LimitRow", "compare_limits", "drift_report", "same_limit"]


@dataclass(frozen=True)
class LimitRow:
    """One process type: what it runs with, what the limit set wants, and whether they differ."""

    process_type: str
    memory: str | None
    desired_memory: str | None
    cpu: str | None
    desired_cpu: str | None
    memory_differs: bool
    cpu_differs: bool

    @property
    def differs(self) -> bool:
        return self.memory_differs or self.cpu_differs


@dataclass(frozen=True)
class AppDrift:
    """An app whose limits differ from its limit set, with each difference."""

    app: App
    limit_set: LimitSet
    differences: list[LimitDifference]


def compare_limits(
    memory: dict, cpu: dict, desired_memory: dict | None = None, desired_cpu: dict | None = None, *,
    structure: dict | None = None, unset_extra: bool = False,
) -> list[LimitRow]:
    """A row per process type found on either side; a side the limit set leaves unset is never a difference.

    With the app's `structure`, a row differs exactly where enforcement would write: a process type of the set
    the app does not have is not forced, and (`unset_extra`) a limit the set does not name is to be removed.
    """
    desired_memory, desired_cpu = desired_memory or {}, desired_cpu or {}
    process_types = sorted(set(memory) | set(cpu) | set(desired_memory) | set(desired_cpu))
    differing: set[tuple[str, str]] | None = None
    if structure is not None:
        differing = {(d.process_type, d.kind) for d in limit_differences(structure, memory, cpu, desired_memory,
                                                                          desired_cpu, unset_extra)}
    rows = []
    for process_type in process_types:
        wanted_memory, wanted_cpu = desired_memory.get(process_type), desired_cpu.get(process_type)
        if differing is None:
            memory_differs = wanted_memory is not None and not same_limit("memory", memory.get(process_type),
                                                                          wanted_memory)
            cpu_differs = wanted_cpu is not None and not same_limit("cpu", cpu.get(process_type), wanted_cpu)
        else:
            memory_differs, cpu_differs = (process_type, "memory") in differing, (process_type, "cpu") in differing
        rows.append(LimitRow(
            process_type=process_type,
            memory=memory.get(process_type),
            desired_memory=wanted_memory,
            cpu=cpu.get(process_type),
            desired_cpu=wanted_cpu,
            memory_differs=memory_differs,
            cpu_differs=cpu_differs,
        ))
    return rows


def app_drift(app: App, limit_set: LimitSet | None) -> list[LimitDifference]:
    """What the app would have to change to match `limit_set` (nothing without one)."""
    if limit_set is None:
        return []
    return limit_differences(app.structure or {}, app.memory or {}, app.cpu or {}, limit_set.memory or {},
                             limit_set.cpu or {}, limit_set.unset_extra)


def drift_report(session: Session, cluster: str | None = None, app_id: int | None = None) -> list[AppDrift]:
    """Every app (of `cluster`, or just `app_id`) whose limits differ from its limit set, by cluster then name.

    Computed from the rows the last sync wrote, not from the `limit_drift` flag, so a limit set changed a moment
    ago is already taken into account.
    """
    query = (
        select(App, LimitSet)
        .join(App.cluster)
        .join(LimitSet, (LimitSet.cluster_id == App.cluster_id) & (LimitSet.app_type == App.app_type))
        .options(joinedload(App.cluster))
        .order_by(Cluster.name, App.name)
    )
    if cluster is not None:
        query = query.where(Cluster.name == cluster)
    if app_id is not None:
        query = query.where(App.id == app_id)
    report = []
    for app, limit_set in session.execute(query).tuples():
        differences = app_drift(app, limit_set)
        if differences:
            report.append(AppDrift(app, limit_set, differences))
    return report
