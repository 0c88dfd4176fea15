"""What `/api/v1` shows a developer: their apps with database and backup summary, databases (never a password),
backups and operations, as plain JSON-ready dicts (docs/api.md describes each object)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import App, Backup, Cluster, Database, Operation
from app.redaction import redact, redact_text

# The largest id an Integer primary key holds on PostgreSQL (int4): a larger one in a URL names no row, and asking
# PostgreSQL for it would be an out-of-range error, not "not found".
MAX_ROW_ID = 2**31 - 1

SHOWN_BACKUPS = Backup.state != "deleted"


def timestamp(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with `Z` (the panel stores UTC; SQLite gives it back without a zone)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def apps_on_cluster(session: Session, cluster: str, names: set[str] | None) -> list[App]:
    """The panel's apps of `cluster` (only those in `names` unless None), by name."""
    query = select(App).join(App.cluster).where(Cluster.name == cluster).order_by(App.name)
    if names is not None:
        if not names:
            return []
        query = query.where(App.name.in_(sorted(names)))
    return list(session.scalars(query))


def app_on_cluster(session: Session, cluster: str, name: str) -> App | None:
    """The panel's app `name` of `cluster`, or None."""
    return session.scalars(select(App).join(App.cluster).where(Cluster.name == cluster, App.name == name)).first()


def current_database(app: App) -> Database | None:
    """The app's database unless its creation failed (a failed one does not count as the app's)."""
    database = app.database
    return database if database is not None and database.state != "failed" else None


def database_view(database: Database) -> dict:
    return {"name": database.name, "host": database.host, "port": database.port, "username": database.username,
            "state": database.state, "created_at": timestamp(database.created_at)}


def backup_view(backup: Backup) -> dict:
    return {"id": backup.id, "kind": backup.kind, "state": backup.state, "size_bytes": backup.size_bytes,
            "started_at": timestamp(backup.started_at), "finished_at": timestamp(backup.finished_at),
            "cloned_from": backup.cloned_from_id, "verification": backup.verification}


def backup_summary(session: Session, database: Database | None) -> dict:
    """How many backups the database has, and when the newest started and how it ended."""
    if database is None:
        return {"count": 0, "latest_at": None, "latest_state": None}
    count = session.scalar(select(func.count(Backup.id)).where(Backup.database_id == database.id, SHOWN_BACKUPS))
    latest = session.scalars(select(Backup).where(Backup.database_id == database.id, SHOWN_BACKUPS)
                             .order_by(Backup.started_at.desc(), Backup.id.desc()).limit(1)).first()
    return {"count": count or 0, "latest_at": timestamp(latest.started_at) if latest else None,
            "latest_state": latest.state if latest else None}


def app_view(session: Session, app: App) -> dict:
    database = current_database(app)
    view = {"name": app.name, "cluster": app.cluster.name, "owner": app.owner,
            "database": database_view(database) if database else None,
            "backups": backup_summary(session, database)}
    # Deis lists the bare app name as a domain too; the URL is the first real host name.
    hosts = [domain.name for domain in app.domains if "." in domain.name]
    if hosts:
        view["url"] = f"https://{hosts[0]}"
    return view


def backup_of(session: Session, app: App, backup_id: int) -> Backup | None:
    """Backup `backup_id` if it belongs to the app's current database (and is not deleted)."""
    database = current_database(app)
    backup = session.get(Backup, backup_id) if 0 < backup_id <= MAX_ROW_ID else None
    if database is None or backup is None or backup.database_id != database.id or backup.state == "deleted":
        return None
    return backup


def operation_app(session: Session, operation: Operation) -> App | None:
    """The app an operation is about: through its database or backup, else (a failed create leaves its database
    without an app) the `cluster/app` label the panel gave it."""
    database: Database | None = None
    if (operation.target_id or "").isdigit():
        if operation.target_type == "database":
            database = session.get(Database, int(operation.target_id or 0))
        elif operation.target_type == "backup":
            backup = session.get(Backup, int(operation.target_id or 0))
            database = backup.database if backup is not None else None
    if database is not None and database.app is not None:
        return database.app
    cluster, _, name = (operation.target or "").partition("/")
    return app_on_cluster(session, cluster, name) if cluster and name else None


def operation_view(operation: Operation, app: App | None) -> dict:
    return {"id": operation.id, "kind": operation.kind, "state": operation.state, "progress": operation.progress,
            "message": operation.progress_message, "error": redact_text(operation.error) if operation.error else None,
            "app": app.name if app is not None else None, "created_at": timestamp(operation.created_at),
            "started_at": timestamp(operation.started_at), "finished_at": timestamp(operation.finished_at),
            "result": redact(operation.result) if operation.result else None}
