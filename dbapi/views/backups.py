"""Backups: show, delete."""
from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from dbapi.operations import backups
from dbapi.operations.views import backup_view
from dbapi.views.auth import service_auth
from dbapi.views.schemas import BackupEnvelope, BackupOut

bp = APIBlueprint("backups", __name__, tag="Backups")


@bp.get("/backups/<string:backup_id>")
@bp.auth_required(service_auth)
@bp.output(BackupOut)
def show_backup(backup_id: str) -> dict[str, Any]:
    """Show a backup: state, progress, sizes, SHA-256 of the plain archive, master key id, duration."""
    return backup_view(backups.backup_or_404(backup_id))


@bp.delete("/backups/<string:backup_id>")
@bp.auth_required(service_auth)
@bp.output(BackupEnvelope, description="Deleted from storage (repeating it is harmless)")
@bp.doc(responses=[409])
def delete_backup(backup_id: str) -> dict[str, Any]:
    """Delete a backup's object from storage now; refused while it is being written or read."""
    return {"backup": backup_view(backups.delete_backup(backup_id))}
