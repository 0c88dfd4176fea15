"""Backups: show, delete, verify (a restore drill, 202)."""
from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from dbapi.operations import backups, drills
from dbapi.operations.views import backup_view, operation_view
from dbapi.views.auth import service_auth
from dbapi.views.schemas import BackupEnvelope, BackupOut, CallbackIn, OperationEnvelope

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


@bp.post("/backups/<string:backup_id>/verify")
@bp.auth_required(service_auth)
@bp.input(CallbackIn, location="json", arg_name="body")
@bp.output(OperationEnvelope, status_code=202, description="Accepted; the result is POSTed to callback_url")
@bp.doc(responses=[400, 409])
def verify_backup(backup_id: str, body: CallbackIn) -> dict[str, Any]:
    """A restore drill: restore the backup into a scratch database, count tables and rows, drop it.

    The callback's `verification` carries `{"tables", "rows"}`; a damaged backup fails the operation and says why.
    """
    operation = drills.request_verify(backup_id, callback_url=body.callback_url, request_id=body.request_id)
    return {"operation": operation_view(operation)}
