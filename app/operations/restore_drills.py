"""Restore drills: proving each database's backups restore, weekly per database and on demand.

Each drill is a `backup.verify` operation through the Databases API (it restores the backup into a scratch database,
counts tables and rows, and drops it). The scheduling decision is pure (`choose_backup`); the verify action is a
callable. A failed drill raises an alert (`drill_failed`, called by the callback handler), a passed one resolves it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.models import Alert, Backup, Cluster, Database, Operation
from app.operations.alerts import raise_alert, resolve
from app.redaction import redact_text

log = logging.getLogger(__name__)

VERIFY_KIND = "backup.verify"  # the Operation kind the Databases API's verify action records
ALERT_KIND = "restore_drill_failed"
DRILL_INTERVAL = timedelta(days=7)
DRILLS_PER_RUN = 20  # hourly runs: a fleet coming due on one day is drilled over the hours, not all at once


class DrillRefused(RuntimeError):
    """A drill that cannot be run (no good backup to restore); the message says why."""


def choose_backup(backups: Iterable[Backup], verified_at: dict[int, datetime], now: datetime,
                  interval: timedelta = DRILL_INTERVAL) -> Backup | None:
    """The backup to drill for one database now, or None: its newest good backup, unless one of its backups was
    drilled within `interval` (drills are weekly per database, however often it is backed up)."""
    if any(at > now - interval for at in verified_at.values()):
        return None
    return _newest_good(backups)


def _newest_good(backups: Iterable[Backup]) -> Backup | None:
    good = [backup for backup in backups if backup.state == "succeeded"]
    return max(good, key=lambda backup: (backup.started_at, backup.id), default=None)


def drilled_at(session: Session, backup_ids: list[int]) -> dict[int, datetime]:
    """When each backup was last drilled (any verify operation asked for it, whatever came of it)."""
    if not backup_ids:
        return {}
    rows = session.execute(
        select(Operation.target_id, func.max(Operation.created_at))
        .where(Operation.kind == VERIFY_KIND, Operation.target_id.in_([str(i) for i in backup_ids]))
        .group_by(Operation.target_id)).tuples().all()
    return {int(target_id): at for target_id, at in rows}


def _good_backups(session: Session, database: Database) -> list[Backup]:
    return list(session.scalars(select(Backup).where(Backup.database_id == database.id,
                                                     Backup.state == "succeeded")))


def run_drills(session: Session, now: datetime, verify: Callable[[Backup], object],
               limit: int = DRILLS_PER_RUN) -> list[Backup]:
    """Start the drills that are due (at most `limit`); `verify(backup)` starts one. Returns the backups drilled.

    A verify that raises (the server unreachable, say) is logged and left for the next run.
    """
    databases = session.scalars(select(Database).where(Database.state == "ready")
                                .options(joinedload(Database.cluster).joinedload(Cluster.region))
                                .order_by(Database.id)).all()
    started: list[Backup] = []
    for database in databases:
        if len(started) >= limit:
            break
        backups = _good_backups(session, database)
        backup = choose_backup(backups, drilled_at(session, [b.id for b in backups]), now)
        if backup is None:
            continue
        try:
            verify(backup)
        except Exception:
            log.exception("restore drill of backup %s of database %s could not start", backup.id, database.name)
            session.rollback()
            continue
        session.commit()
        started.append(backup)
    return started


def drill_now(session: Session, database: Database, verify: Callable[[Backup], object]) -> Backup:
    """An on-demand drill of the database's newest good backup, whenever it was last drilled."""
    backup = _newest_good(_good_backups(session, database))
    if backup is None:
        raise DrillRefused(f"database {database.name} has no good backup to drill: capture one first")
    verify(backup)
    session.commit()
    return backup


def _alert_key(backup: Backup) -> str:
    return f"{ALERT_KIND}:{backup.database_id}"


def drill_failed(session: Session, backup: Backup, reason: str, *, now: datetime) -> None:
    """Raise (or refresh) the database's drill alert: backup `backup` did not restore. The caller commits (the
    callback handler applies a result in one transaction)."""
    database = backup.database
    app_name = database.app.name if database.app else "no app"
    raise_alert(session, kind=ALERT_KIND, dedup_key=_alert_key(backup), now=now, severity="critical",
                target=f"{database.name} ({app_name})", target_type="backup", target_id=str(backup.id),
                message=f"Restore drill of backup #{backup.id} of database {database.name} ({app_name}) failed: "
                        f"{redact_text(reason) or 'no reason given'}",
                revision=str(backup.id))


def drill_passed(session: Session, backup: Backup, *, now: datetime) -> None:
    """Resolve the database's drill alert, if any, now that backup `backup` restored. The caller commits."""
    alert = session.scalar(select(Alert).where(Alert.dedup_key == _alert_key(backup), Alert.resolved_at.is_(None)))
    if alert is not None:
        resolve(session, alert, now)
