"""What the app page and `flask backups list` show of an app's database and backups, and the sizes chart."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import App, Backup, Cluster, Database, Operation
from app.redaction import redact_text

RUNNING = ("pending", "running")


def hand_set_database_url(app: App) -> str | None:
    """Where the app's DATABASE_URL points when it was set by hand (not by a database of the panel), masked."""
    value = (app.config_values or {}).get("DATABASE_URL")
    if not value:
        return None
    parts = urlsplit(str(value))
    database = app.database
    if database is not None and database.state == "ready":
        if parts.hostname == database.host and parts.path.lstrip("/") == database.name:
            return None
    return database_url_target(str(value))


def database_url_target(value: str) -> str:
    """Where a database URL points, as `host:port/database`: never the user name or the password."""
    try:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "an address the panel cannot read"
    if not host:
        return "an address the panel cannot read"
    name = parts.path.lstrip("/").split("/")[0]
    return redact_text(f"{host}{f':{port}' if port else ''}/{name}" if name else host)


class AppNotFound(LookupError):
    """No app (or more than one) answers to the name given; the message says how to name it."""


def find_app(session: Session, reference: str) -> App:
    """The app named `reference` (`APP`, or `CLUSTER/APP` when the name is used on several clusters)."""
    cluster_name, _, app_name = reference.rpartition("/")
    query = select(App).join(App.cluster).where(App.name == app_name)
    if cluster_name:
        query = query.where(Cluster.name == cluster_name)
    apps = session.scalars(query).all()
    if not apps:
        raise AppNotFound(f"No app called {reference[:80]!r}.")
    if len(apps) > 1:
        raise AppNotFound(f"{app_name!r} is on several clusters: say which, like "
                          f"{apps[0].cluster.name}/{app_name}.")
    return apps[0]


POSTGRES_INTEGER_MAX = 2**31 - 1
CLONE_SUGGESTIONS = 50


def clone_target(session: Session, reference: str) -> App:
    """The app a backup is cloned to: its id (the form's older numeric value), `CLUSTER/APP`, or an app name used
    on one cluster only. Whether it has a ready database is the clone operation's to refuse, in its own words."""
    reference = reference.strip()
    if not reference:
        raise AppNotFound("Name the app to clone the backup to, like cluster/app.")
    if reference.isdigit():
        app = session.get(App, int(reference)) if int(reference) <= POSTGRES_INTEGER_MAX else None
        if app is None:
            raise AppNotFound(f"No app with id {reference[:20]}.")
        return app
    return find_app(session, reference)


def clone_suggestions(session: Session, app: App, limit: int = CLONE_SUGGESTIONS) -> list[str]:
    """Up to `limit` likely clone targets as `cluster/app`: the same owner's other apps with a ready database (any
    other app can still be typed; listing all of them would cost the page thousands of rows)."""
    rows = session.execute(
        select(Cluster.name, App.name).join(App.cluster).join(Database, Database.app_id == App.id)
        .where(App.owner == app.owner, App.id != app.id, Database.state == "ready")
        .order_by(App.name, Cluster.name).limit(limit))
    return [f"{cluster_name}/{app_name}" for cluster_name, app_name in rows]


def backups_of(session: Session, database: Database | None, *, include_deleted: bool = False) -> list[Backup]:
    """The database's backups, newest first (deleted ones only when asked)."""
    if database is None:
        return []
    query = select(Backup).where(Backup.database_id == database.id)
    if not include_deleted:
        query = query.where(Backup.state != "deleted")
    return list(session.scalars(query.order_by(Backup.started_at.desc(), Backup.id.desc())))


def running_operations(session: Session, database: Database | None) -> list[Operation]:
    """Operations of this database (create, backup, restore) still in progress, for live progress."""
    if database is None:
        return []
    backup_ids = [str(backup_id) for backup_id in session.scalars(
        select(Backup.id).where(Backup.database_id == database.id))]
    return list(session.scalars(select(Operation).where(
        Operation.state.in_(RUNNING),
        ((Operation.target_type == "database") & (Operation.target_id == str(database.id)))
        | ((Operation.target_type == "backup") & (Operation.target_id.in_(backup_ids or ["-"])))
    ).order_by(Operation.created_at)))


def backup_row(backup: Backup) -> dict:
    """One backup as `flask backups list --json` prints it."""
    return {"id": backup.id, "kind": backup.kind, "state": backup.state, "size_bytes": backup.size_bytes,
            "started_at": backup.started_at.isoformat() if backup.started_at else None,
            "finished_at": backup.finished_at.isoformat() if backup.finished_at else None,
            "cloned_from": backup.cloned_from_id, "requested_by": backup.requested_by}


@dataclass(frozen=True)
class SizePoint:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class SizeChart:
    """Backup sizes over time as SVG coordinates (the template draws them; no script needed)."""

    width: int
    height: int
    points: list[SizePoint]
    max_bytes: int
    first: datetime | None
    last: datetime | None

    @property
    def polyline(self) -> str:
        return " ".join(f"{point.x:.1f},{point.y:.1f}" for point in self.points)


def size_chart(backups: list[Backup], *, width: int = 480, height: int = 120, margin: int = 8) -> SizeChart:
    """Succeeded backups' sizes by time, scaled into a `width` x `height` box (oldest on the left)."""
    sized = sorted((b for b in backups if b.state == "succeeded" and b.size_bytes is not None and b.kind != "cloned"),
                   key=lambda b: b.started_at)
    if not sized:
        return SizeChart(width, height, [], 0, None, None)
    first, last = sized[0].started_at, sized[-1].started_at
    span = max((last - first).total_seconds(), 1.0)
    top = max(b.size_bytes or 0 for b in sized) or 1
    points = [
        SizePoint(x=margin + (width - 2 * margin) * ((b.started_at - first).total_seconds() / span if len(sized) > 1
                                                     else 0.5),
                  y=height - margin - (height - 2 * margin) * (b.size_bytes or 0) / top,
                  label=f"#{b.id} {b.started_at:%Y-%m-%d %H:%M} {b.size_bytes} bytes")
        for b in sized
    ]
    return SizeChart(width, height, points, top, first, last)


def wait_finished(session: Session, operation: Operation, *, timeout: float, poll: float = 0.5) -> Operation:
    """Re-read `operation` until its callback finished it or `timeout` seconds passed (then as it is)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        session.expire_all()
        current = session.get(Operation, operation.id)
        if current is None or current.state not in RUNNING or time.monotonic() >= deadline:
            return current or operation
        time.sleep(poll)


@dataclass(frozen=True)
class DatabasePanel:
    """The app page's database and backups section."""

    app: App
    database: Database | None
    backups: list[Backup]
    running: list[Operation]
    chart: SizeChart
    hand_set_url: str | None  # masked
    clone_suggestions: list[str]  # `cluster/app` of likely clone targets (any app can be typed)


def database_panel(session: Session, app: App, *, for_admin: bool = True) -> DatabasePanel:
    """What the app page shows of the app's database: backups, operations in progress, sizes, clone suggestions
    (only when the reader can clone: an admin, and a succeeded backup to clone)."""
    database = app.database if app.database is not None and app.database.state != "failed" else None
    backups = backups_of(session, database)
    clonable = for_admin and any(backup.state == "succeeded" for backup in backups[:10])
    return DatabasePanel(app=app, database=database, backups=backups, running=running_operations(session, database),
                         chart=size_chart(backups), hand_set_url=hand_set_database_url(app),
                         clone_suggestions=clone_suggestions(session, app) if clonable else [])
