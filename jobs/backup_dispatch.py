"""Job: ask for the nightly backups that are due (cron, every 15 minutes)."""
from __future__ import annotations

from app.clients import for_config
from app.extensions import db
from app.models import Database, utcnow
from app.operations import backup_schedule
from jobs.context import panel

ACTOR = "schedule"


def dispatch_backups() -> int:
    """Start each database's backup for its region's local date once; returns how many were started."""
    app = panel()
    # Imported here: the backup actions live in their own module (the Databases API side of the panel).
    from app.operations import database_backups

    dbapi = for_config(app.config).databases_api()

    def capture(database: Database) -> str | None:
        operation = database_backups.capture(db.session, dbapi, database, kind="scheduled", actor=ACTOR)
        return getattr(operation, "uuid", None)

    return len(backup_schedule.dispatch(db.session, utcnow(), capture))
