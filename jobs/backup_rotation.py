"""Job: apply a database's rotation policy after one of its backups succeeded (queued by the dbapi callback)."""
from __future__ import annotations

from app.clients import for_config
from app.extensions import db
from app.models import Database, utcnow
from app.operations import backup_rotation, database_backups
from jobs.context import panel

ACTOR = "rotation"


def rotate_backups(database_id: int) -> int:
    """Delete, through the Databases API, the backups the policy does not keep; returns how many it asked to delete."""
    app = panel()
    database = db.session.get(Database, database_id)
    if database is None:
        return 0
    dbapi = for_config(app.config).databases_api()
    verdicts = backup_rotation.rotate(
        db.session, database, now=utcnow(),
        delete=lambda backup: database_backups.delete_backup(db.session, dbapi, backup, actor=ACTOR))
    db.session.commit()
    return sum(1 for verdict in verdicts if not verdict.keep)
