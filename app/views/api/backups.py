"""An app's backups: list, show, capture, restore, clone to another app the same token may see."""
from __future__ import annotations

from flask import current_app

from app.clients import for_config
from app.extensions import db
from app.models import App, Backup, Database
from app.operations import database_backups
from app.operations.database_backups import BackupRefused
from app.queries import databases as database_queries
from app.queries import developer_api
from app.views.api import bp
from app.views.api.auth import current_developer, developer_required, visible_app
from app.views.api.errors import ApiError
from app.views.api.schemas import BackupEnvelope, BackupsEnvelope, CaptureOut, CloneIn, CloneOut, OperationEnvelope
from app.views.api.spec import documented


def database_of(app: App) -> Database:
    """The app's database, else 409 no_database."""
    database = developer_api.current_database(app)
    if database is None:
        raise ApiError(409, "no_database", f"{app.name} has no database: create one first.", {"app": app.name})
    return database


def backup_or_404(app: App, backup_id: int) -> Backup:
    backup = developer_api.backup_of(db.session, app, backup_id)
    if backup is None:
        raise ApiError(404, "not_found", f"{app.name} has no backup #{backup_id}.", {"app": app.name,
                                                                                   "backup": backup_id})
    return backup


def refuse_if_busy(database: Database) -> None:
    """409 operation_running while a create, backup or restore of this database is under way."""
    running = [operation for operation in database_queries.running_operations(db.session, database)
               if operation.kind != "backup.upload"]
    if running:
        raise ApiError(409, "operation_running", f"{running[0].kind} of {database.name} is still running: wait for "
                       f"operation {running[0].id}.", {"operation": running[0].id})


def refused(error: BackupRefused) -> ApiError:
    return ApiError(409, "refused", f"{error} Nothing was changed.")


@bp.get("/apps/<string:app>/backups")
@developer_required
@bp.output(BackupsEnvelope)
@documented(404)
def list_backups(app: str):
    """The app's backups, newest first (an app without a database has none)."""
    database = developer_api.current_database(visible_app(app))
    return {"backups": [developer_api.backup_view(backup)
                        for backup in database_queries.backups_of(db.session, database)]}


@bp.get("/apps/<string:app>/backups/<int:backup_id>")
@developer_required
@bp.output(BackupEnvelope)
@documented(404)
def show_backup(app: str, backup_id: int):
    """One backup of the app."""
    return {"backup": developer_api.backup_view(backup_or_404(visible_app(app), backup_id))}


@bp.post("/apps/<string:app>/backups")
@developer_required
@bp.output(CaptureOut, status_code=202, description="Accepted: follow the operation")
@documented(404, 409)
def capture_backup(app: str):
    """Capture a manual backup of the app's database now."""
    target = visible_app(app)
    database = database_of(target)
    refuse_if_busy(database)
    try:
        operation = database_backups.capture(db.session, for_config(current_app.config).databases_api(), database,
                                             actor=current_developer().actor)
    except BackupRefused as error:
        raise refused(error) from error
    backup = db.session.get(Backup, int(operation.target_id or 0))
    return {"operation": developer_api.operation_view(operation, target), "backup": developer_api.backup_view(backup)}


@bp.post("/apps/<string:app>/backups/<int:backup_id>/restore")
@developer_required
@bp.output(OperationEnvelope, status_code=202, description="Accepted: follow the operation")
@documented(404, 409)
def restore_backup(app: str, backup_id: int):
    """Restore a backup over the app's database (what it holds now is replaced)."""
    target = visible_app(app)
    backup = backup_or_404(target, backup_id)
    refuse_if_busy(database_of(target))
    try:
        operation = database_backups.restore(db.session, for_config(current_app.config).databases_api(), backup,
                                             actor=current_developer().actor)
    except BackupRefused as error:
        raise refused(error) from error
    return {"operation": developer_api.operation_view(operation, target)}


@bp.post("/apps/<string:app>/backups/<int:backup_id>/clone")
@developer_required
@bp.input(CloneIn, location="json", arg_name="body")
@bp.output(CloneOut, status_code=202, description="Registered for the target; with restore, follow the operation")
@documented(404, 409)
def clone_backup(app: str, backup_id: int, body: CloneIn):
    """Clone a backup to another app the token may see; with `restore` (the default) its database is restored from
    it."""
    source = visible_app(app)
    backup = backup_or_404(source, backup_id)
    target = visible_app(body.to)
    target_database = database_of(target)
    if body.restore:
        refuse_if_busy(target_database)
    actor = current_developer().actor
    try:
        cloned = database_backups.clone(db.session, backup, target, actor=actor)
    except BackupRefused as error:
        raise refused(error) from error
    operation = None
    if body.restore:
        try:
            operation = database_backups.restore(db.session, for_config(current_app.config).databases_api(), cloned,
                                                 actor=actor)
        except BackupRefused as error:  # the clone is registered; only its restore could not start
            raise refused(error) from error
    return {"backup": developer_api.backup_view(cloned),
            "operation": developer_api.operation_view(operation, target) if operation else None}
