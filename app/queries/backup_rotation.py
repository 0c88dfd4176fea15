"""Backup rotation, the read side: which backups of a database its cluster's policy keeps, and why.

`plan` is pure: given a database's backups, its policy, its region's zone and now, it says keep or delete for each,
with the reason. Scheduled backups are kept grandfather-father-son: the newest of each of the last N local days,
ISO weeks and months that have one. Manual and uploaded backups stay until someone deletes them, up to a cap.
Whatever the policy says, the newest good (succeeded) backup of a database is never deleted, nor a backup another
app's database holds a clone of (they share the stored object).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import App, Backup, BackupPolicy, Cluster, Database

GOOD, FAILED = "succeeded", "failed"
IN_PROGRESS = ("pending", "running")
ROTATED_STATES = (GOOD, FAILED, *IN_PROGRESS)  # a backup being deleted (or gone) is no longer rotation's business
KEPT_UNTIL_DELETED = ("manual", "uploaded")
LIMITS = {"keep_daily": (1, 366), "keep_weekly": (0, 520), "keep_monthly": (0, 240), "manual_cap": (1, 1000)}


@dataclass(frozen=True)
class Policy:
    """How many backups rotation keeps; the defaults are what a cluster without a policy row gets."""

    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 6
    manual_cap: int = 20

    @classmethod
    def of(cls, row: BackupPolicy | None) -> Policy:
        if row is None:
            return cls()
        return cls(row.keep_daily, row.keep_weekly, row.keep_monthly, row.manual_cap)

    def describe(self) -> str:
        return (f"keep {self.keep_daily} daily, {self.keep_weekly} weekly, {self.keep_monthly} monthly; "
                f"manual and uploaded kept until deleted, at most {self.manual_cap}")


@dataclass(frozen=True)
class Verdict:
    """What rotation does with one backup, and why."""

    backup: Backup
    keep: bool
    reason: str


def _newest_per_bucket(backups: Sequence[Backup], bucket: Callable[[Backup], object], count: int
                       ) -> dict[int, str]:
    """The newest backup of each of the `count` most recent buckets that have one: {backup id: bucket label}."""
    chosen: dict[int, str] = {}
    seen: set[object] = set()
    for backup in backups:  # newest first
        key = bucket(backup)
        if key in seen:
            continue
        if len(seen) == count:
            break
        seen.add(key)
        chosen[backup.id] = str(key)
    return chosen


def plan(backups: Iterable[Backup], policy: Policy, zone: ZoneInfo, now: datetime,
         shared_ids: frozenset[int] = frozenset()) -> list[Verdict]:
    """Keep or delete each backup of one database under `policy` (local days, weeks and months of `zone`)."""
    rows = sorted((b for b in backups if b.state in ROTATED_STATES), key=lambda b: (b.started_at, b.id), reverse=True)
    local = {b.id: b.started_at.astimezone(zone).date() for b in rows}
    scheduled = [b for b in rows if b.kind == "scheduled" and b.state == GOOD]
    daily = _newest_per_bucket(scheduled, lambda b: local[b.id].isoformat(), policy.keep_daily)
    weekly = _newest_per_bucket(scheduled, lambda b: "{}-W{:02d}".format(*local[b.id].isocalendar()[:2]),
                                policy.keep_weekly)
    monthly = _newest_per_bucket(scheduled, lambda b: local[b.id].strftime("%Y-%m"), policy.keep_monthly)
    capped = [b for b in rows if b.kind in KEPT_UNTIL_DELETED and b.state == GOOD]
    within_cap = {b.id for b in capped[:policy.manual_cap]}
    last_good = next((b for b in rows if b.state == GOOD), None)
    failed_before = now - timedelta(days=policy.keep_daily)

    verdicts: list[Verdict] = []
    for backup in rows:
        if backup.state in IN_PROGRESS:
            verdict = Verdict(backup, True, "in progress")
        elif backup.kind == "cloned":
            verdict = Verdict(backup, True, "cloned backups are kept until deleted")
        elif backup.state == FAILED:
            verdict = (Verdict(backup, False, f"failed, older than {policy.keep_daily} days")
                       if backup.started_at < failed_before else Verdict(backup, True, "failed, recent"))
        elif backup.kind in KEPT_UNTIL_DELETED:
            verdict = (Verdict(backup, True, f"{backup.kind}: kept until deleted") if backup.id in within_cap else
                       Verdict(backup, False, f"over the cap of {policy.manual_cap} manual and uploaded backups"))
        else:
            kept_as = [f"{label} {buckets[backup.id]}" for label, buckets in
                       (("daily", daily), ("weekly", weekly), ("monthly", monthly)) if backup.id in buckets]
            verdict = (Verdict(backup, True, ", ".join(kept_as)) if kept_as else Verdict(
                backup, False, f"not among the {policy.keep_daily} daily, {policy.keep_weekly} weekly and "
                               f"{policy.keep_monthly} monthly backups kept"))
        # The guards win over any policy (a cluster's numbers, a kind this module does not know yet).
        if not verdict.keep and last_good is not None and backup.id == last_good.id:
            verdict = Verdict(backup, True, "the newest good backup of this database")
        elif not verdict.keep and backup.id in shared_ids:
            verdict = Verdict(backup, True, "another app's database holds a clone of it")
        verdicts.append(verdict)
    return verdicts


def policy_for(session: Session, cluster_id: int) -> Policy:
    """The cluster's policy, or the defaults."""
    return Policy.of(session.scalar(select(BackupPolicy).where(BackupPolicy.cluster_id == cluster_id)))


def database_plan(session: Session, database: Database, now: datetime) -> list[Verdict]:
    """The plan for one database as stored now (its cluster's policy, its region's zone)."""
    backups = session.scalars(select(Backup).where(Backup.database_id == database.id)).all()
    ids = [backup.id for backup in backups]
    shared = frozenset(session.scalars(select(Backup.cloned_from_id).where(
        Backup.cloned_from_id.in_(ids), Backup.database_id != database.id)).all()) if ids else frozenset()
    return plan(backups, policy_for(session, database.cluster_id), database.cluster.region.zone, now, shared)




class DatabaseNotFound(LookupError):
    """The app named has no database in the panel (or the name is ambiguous); the message says which."""


@dataclass(frozen=True)
class RotationPreview:
    """What rotation would do to one app's database now: the dry run."""

    app: str
    cluster: str
    database: Database
    policy: Policy
    verdicts: list[Verdict]

    @property
    def deletions(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if not verdict.keep]


def database_of(session: Session, app_name: str, cluster_name: str | None = None) -> Database:
    """The database of the app named (on `cluster_name` when two clusters have an app of that name)."""
    query = select(Database).join(App, Database.app_id == App.id).join(Cluster).where(App.name == app_name)
    if cluster_name:
        query = query.where(Cluster.name == cluster_name)
    databases = session.scalars(query).all()
    if not databases:
        raise DatabaseNotFound(f"app {app_name!r} has no database in the panel" +
                               (f" on cluster {cluster_name!r}" if cluster_name else ""))
    if len(databases) > 1:
        clusters = ", ".join(sorted(database.cluster.name for database in databases))
        raise DatabaseNotFound(f"apps named {app_name!r} run on several clusters ({clusters}): name the cluster")
    return databases[0]


def rotation_preview(session: Session, app_name: str, now: datetime, cluster_name: str | None = None
                     ) -> RotationPreview:
    """The dry run: every backup of the app's database with what its cluster's policy would do with it."""
    database = database_of(session, app_name, cluster_name)
    return RotationPreview(app_name, database.cluster.name, database, policy_for(session, database.cluster_id),
                           database_plan(session, database, now))
