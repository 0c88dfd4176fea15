"""Backup rotation, the actions: applying a cluster's policy after each successful backup (deleting through the
Databases API what it does not keep) and setting the policy. What is kept and why is `plan` (app/queries)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.models import Backup, BackupPolicy, Cluster, Database
from app.queries.backup_rotation import LIMITS, Policy, Verdict, database_plan, plan, policy_for

__all__ = ["Policy", "PolicyRefused", "Verdict", "plan", "policy_for", "rotate", "set_policy"]


class PolicyRefused(ValueError):
    """A policy setting out of range; the message says which and why."""


def rotate(session: Session, database: Database, *, delete: Callable[[Backup], object], now: datetime
           ) -> list[Verdict]:
    """Apply the policy after a successful backup: `delete(backup)` each backup it does not keep (through dbapi).

    Returns the whole plan; the deletions are the verdicts with `keep` false.
    """
    verdicts = database_plan(session, database, now)
    for verdict in verdicts:
        if not verdict.keep:
            delete(verdict.backup)
    return verdicts


def set_policy(session: Session, cluster: Cluster, *, actor: str, **values: int) -> BackupPolicy:
    """Set some of a cluster's policy numbers (audited); out-of-range values change nothing."""
    problems = []
    for name, value in values.items():
        low, high = LIMITS[name]
        if not low <= value <= high:
            problems.append(f"{name.replace('_', ' ')} must be from {low} to {high}, not {value}")
    if problems:
        raise PolicyRefused("; ".join(problems))
    row = session.scalar(select(BackupPolicy).where(BackupPolicy.cluster_id == cluster.id))
    before = Policy.of(row)
    if row is None:
        row = BackupPolicy(cluster_id=cluster.id, **vars(Policy()))
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_by = actor
    audit.record(session, actor=actor, action="backup_policy.set", target=cluster, before=vars(before),
                 after=vars(Policy.of(row)))
    session.commit()
    return row
