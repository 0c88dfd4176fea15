"""Nightly backups: once per database per local date of its region, when the region's clock passes its backup time.

The decision is a pure function of the clock (`due_date`); the dispatcher claims each (database, local date) with a
unique row before it asks for the backup, so two dispatchers running at once, or a rerun after a crash, ask once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from app.models import Cluster, Database, ScheduledBackupClaim

log = logging.getLogger(__name__)

SCHEDULED_STATES = ("ready",)  # only a database that exists on its server can be backed up


def backup_instant(local_date: date, zone: ZoneInfo, hour: int, minute: int = 0) -> datetime:
    """The UTC instant of `hour:minute` on `local_date` in `zone`.

    A wall time inside a spring-forward gap does not exist: fold=0 reads it with the offset before the change, which
    lands just after the gap (02:30 on a New York spring-forward night is 03:30 EDT). A wall time inside a repeated
    autumn hour exists twice: fold=0 picks the first. Either way each local date has exactly one instant.
    """
    return datetime.combine(local_date, time(hour, minute), tzinfo=zone).astimezone(timezone.utc)


def due_date(now: datetime, zone: ZoneInfo, hour: int, minute: int, *, last_taken: date | None,
             not_before: datetime | None = None) -> date | None:
    """The local date whose nightly backup is due at `now`, or None.

    Today's is due once its instant has passed. Before that, yesterday's is due if it was missed (the dispatcher was
    down): a missed night is taken once, never older nights, and never one from before the database existed
    (`not_before`). `last_taken` is the latest local date already taken.
    """
    today = now.astimezone(zone).date()
    candidates = (today, today - timedelta(days=1))
    for local_date in candidates:
        instant = backup_instant(local_date, zone, hour, minute)
        if now < instant:
            continue
        if last_taken is not None and last_taken >= local_date:
            return None
        if not_before is not None and not_before > instant:
            return None
        return local_date
    return None


@dataclass(frozen=True)
class Dispatched:
    """One nightly backup the dispatcher asked for."""

    database_id: int
    database: str
    local_date: date


def dispatch(session: Session, now: datetime, capture: Callable[[Database], str | None]) -> list[Dispatched]:
    """Ask for every nightly backup due at `now`; `capture(database)` starts one and returns its operation's uuid.

    Each (database, local date) is claimed and committed before the capture: a second dispatcher loses the insert
    and skips it. A capture that raises gives its claim back, so the next run (15 minutes later) tries again.
    """
    last_taken = dict(session.execute(
        select(ScheduledBackupClaim.database_id, func.max(ScheduledBackupClaim.local_date))
        .group_by(ScheduledBackupClaim.database_id)).tuples().all())
    databases = session.scalars(
        select(Database).where(Database.state.in_(SCHEDULED_STATES))
        .options(joinedload(Database.cluster).joinedload(Cluster.region)).order_by(Database.id)).all()
    dispatched: list[Dispatched] = []
    for database in databases:
        region = database.cluster.region
        local_date = due_date(now, region.zone, region.backup_hour, region.backup_minute or 0,
                              last_taken=last_taken.get(database.id), not_before=database.created_at)
        if local_date is None:
            continue
        claim = ScheduledBackupClaim(database_id=database.id, local_date=local_date, claimed_at=now)
        session.add(claim)
        try:
            session.commit()
        except IntegrityError:  # another dispatcher claimed it first
            session.rollback()
            continue
        try:
            claim.operation_uuid = capture(database)
        except Exception:  # one server down must not stop the other databases' backups
            log.exception("nightly backup of database %s (%s) could not start", database.name, local_date)
            session.rollback()
            session.delete(session.get(ScheduledBackupClaim, claim.id))
            session.commit()
            continue
        session.commit()
        dispatched.append(Dispatched(database.id, database.name, local_date))
    return dispatched
