"""An app's database and backups: create, capture now, restore (typed confirmation + re-authentication), clone to
another app, and the section itself for live progress (admins act, everyone reads)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.clients import NotConfigured, for_config
from app.extensions import db
from app.models import App, Backup, utcnow
from app.operations import database_backups
from app.operations.database_backups import BackupRefused
from app.operations.database_provisioning import ProvisioningRefused, create_database
from app.queries import backup_rotation
from app.queries.databases import AppNotFound, clone_target, database_panel
from app.services.databases_api import DatabasesApiError
from app.views.access import admin_required, reauth_required

bp = Blueprint("databases", __name__, url_prefix="/apps")


def _back(app: App):
    return redirect(url_for("apps.show", app_id=app.id) + "#database", code=303)


def _outcome(app: App, operation, started: str):
    if operation.state == "failed":
        flash(f"{started} failed: {operation.error}", "error")
    else:
        flash(f"{started}: {operation.progress_message or operation.state}. Progress shows below.", "info")
    return _back(app)


def _backup_of(app: App, backup_id: int) -> Backup:
    backup = db.get_or_404(Backup, backup_id)
    if app.database is None or backup.database_id != app.database.id:
        abort(404)
    return backup


@bp.get("/<int:app_id>/database")
@login_required
def section(app_id: int):
    """The database and backups section alone (htmx polls it while an operation runs)."""
    app = db.get_or_404(App, app_id)
    return render_template("databases/_section.html", panel=database_panel(db.session, app, for_admin=current_user.is_admin))


@bp.get("/<int:app_id>/backups/rotation")
@login_required
def rotation(app_id: int):
    """What the cluster's rotation policy keeps and would delete now, and why (a dry run: nothing is deleted)."""
    app = db.get_or_404(App, app_id)
    if app.database is None:
        abort(404)
    policy = backup_rotation.policy_for(db.session, app.database.cluster_id)
    verdicts = backup_rotation.database_plan(db.session, app.database, utcnow())
    return render_template("databases/rotation.html", app=app, policy=policy, verdicts=verdicts)


@bp.post("/<int:app_id>/database")
@admin_required
def create(app_id: int):
    """Create a database for the app; replacing a hand-set DATABASE_URL takes the app's name typed."""
    app = db.get_or_404(App, app_id)
    clients = for_config(current_app.config)
    replace = request.form.get("confirm", "").strip() == app.name
    try:
        operation = create_database(db.session, clients.databases_api(), app, actor=current_user.username,
                                    replace=replace, server=clients.database_server(app.cluster.name))
    except (ProvisioningRefused, NotConfigured) as error:
        flash(f"{error} Nothing was changed.", "error")
        return _back(app)
    return _outcome(app, operation, f"Creating database for {app.name}")


@bp.post("/<int:app_id>/backups")
@admin_required
def capture(app_id: int):
    """Capture a manual backup now."""
    app = db.get_or_404(App, app_id)
    if app.database is None:
        flash(f"{app.name} has no database to back up. Nothing was changed.", "error")
        return _back(app)
    try:
        operation = database_backups.capture(db.session, for_config(current_app.config).databases_api(),
                                             app.database, actor=current_user.username)
    except BackupRefused as error:
        flash(f"{error} Nothing was changed.", "error")
        return _back(app)
    return _outcome(app, operation, f"Backup of {app.name}")


@bp.post("/<int:app_id>/backups/<int:backup_id>/restore")
@admin_required
@reauth_required
def restore(app_id: int, backup_id: int):
    """Restore a backup into the app's database: the app's name must be typed, and the password re-entered."""
    app = db.get_or_404(App, app_id)
    backup = _backup_of(app, backup_id)
    if request.form.get("confirm", "").strip() != app.name:
        flash(f"Type the app's name ({app.name}) to restore backup #{backup.id} over its database."
              " Nothing was changed.", "error")
        return _back(app)
    try:
        operation = database_backups.restore(db.session, for_config(current_app.config).databases_api(), backup,
                                             actor=current_user.username)
    except BackupRefused as error:
        flash(f"{error} Nothing was changed.", "error")
        return _back(app)
    return _outcome(app, operation, f"Restore of backup #{backup.id} into {app.name}")


@bp.post("/<int:app_id>/backups/<int:backup_id>/verify")
@admin_required
def verify(app_id: int, backup_id: int):
    """A restore drill of one backup, on demand."""
    app = db.get_or_404(App, app_id)
    backup = _backup_of(app, backup_id)
    try:
        operation = database_backups.verify(db.session, for_config(current_app.config).databases_api(), backup,
                                            actor=current_user.username)
    except BackupRefused as error:
        flash(f"{error} Nothing was changed.", "error")
        return _back(app)
    return _outcome(app, operation, f"Restore drill of backup #{backup.id}")


@bp.post("/<int:app_id>/backups/<int:backup_id>/clone")
@admin_required
def clone(app_id: int, backup_id: int):
    """Register a backup for another app's database (restoring it there is one more click on that app's page)."""
    app = db.get_or_404(App, app_id)
    backup = _backup_of(app, backup_id)
    try:
        target = clone_target(db.session, request.form.get("target", ""))
    except AppNotFound as error:
        flash(f"{error} Nothing was changed.", "error")
        return _back(app)
    try:
        cloned = database_backups.clone(db.session, backup, target, actor=current_user.username)
    except (BackupRefused, DatabasesApiError) as error:
        flash(f"{error} Nothing was changed.", "error")
        return _back(app)
    flash(f"Backup #{backup.id} is now backup #{cloned.id} of {target.name}; restore it from {target.name}'s page.",
          "info")
    return _back(app)
