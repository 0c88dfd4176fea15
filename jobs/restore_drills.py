"""Job: start the restore drills that are due (cron, hourly; each database is drilled weekly)."""
from __future__ import annotations

from app.clients import for_config
from app.extensions import db
from app.models import Backup, utcnow
from app.operations import restore_drills
from jobs.context import panel

ACTOR = "restore-drills"


def run_restore_drills() -> int:
    """Ask the Databases API to verify each due database's newest good backup; returns how many drills started."""
    app = panel()
    # Imported here: the verify action lives in the Databases API side of the panel (its own module).
    from app.operations import database_backups

    dbapi = for_config(app.config).databases_api()

    def verify(backup: Backup) -> object:
        return database_backups.verify(db.session, dbapi, backup, actor=ACTOR)

    return len(restore_drills.run_drills(db.session, utcnow(), verify))
