"""Direct developer transfers with a resource token: download a backup, upload a dump."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apiflask import APIBlueprint, HTTPError
from apiflask.schemas import FileSchema
from flask import Response, request

from dbapi import runtime, tokens
from dbapi.models import db
from dbapi.operations import transfers
from dbapi.operations.backups import backup_or_404
from dbapi.operations.databases import database_or_404
from dbapi.operations.views import backup_view, operation_view
from dbapi.storage import StorageError
from dbapi.views.auth import resource_token_auth
from dbapi.views.schemas import UploadOut

bp = APIBlueprint("transfers", __name__, tag="Transfers")

UPLOAD_READ_SIZE = 1024 * 1024


@bp.get("/backups/<string:backup_id>/download")
@bp.auth_required(resource_token_auth)
@bp.output(
    FileSchema(type="string", format="binary"),
    content_type="application/octet-stream",
    description="The plain pg_dump custom-format archive (restore it with pg_restore)",
)
@bp.doc(responses=[403, 409])
def download_backup(backup_id: str) -> Response:
    """Stream a backup's plain pg_dump archive, decrypted and decompressed on the fly."""
    record = tokens.check(
        db.session, runtime().settings.token_secret, resource_token_auth.current_user,
        action=tokens.DOWNLOAD, resource_id=backup_id,
    )
    backup = backup_or_404(backup_id)
    transfers.require_downloadable(backup)
    tokens.record_use(db.session, record)
    headers = {
        "Content-Disposition": f'attachment; filename="{transfers.download_name(backup)}"',
        "X-Backup-SHA256": backup.sha256 or "",
        "Cache-Control": "no-store",
    }
    if backup.size_bytes is not None:
        headers["Content-Length"] = str(backup.size_bytes)
    return Response(transfers.plain_archive(backup), mimetype="application/octet-stream", headers=headers)


@bp.put("/databases/<string:database_id>/uploads")
@bp.auth_required(resource_token_auth)
@bp.output(UploadOut, status_code=201, description="Stored as a backup of kind 'uploaded'")
@bp.doc(responses=[403, 409, 422, 507])
def upload_dump(database_id: str) -> tuple[dict[str, Any], int]:
    """Stream a pg_dump custom-format archive in; it is encrypted on the way to storage and registered as a backup.

    The upload token is spent by the first upload that presents it, whatever its outcome.
    """
    record = tokens.check(
        db.session, runtime().settings.token_secret, resource_token_auth.current_user,
        action=tokens.UPLOAD, resource_id=database_id,
    )
    database = database_or_404(database_id)
    transfers.check_upload_target(database)
    tokens.record_use(db.session, record)
    operation, error = transfers.receive_upload(database, record, _request_body())
    if error is not None:
        # 422: the body is at fault; 507: storage could not keep it (full, unreachable); 500: anything else.
        status = 422 if isinstance(error, transfers.NotADump) else 507 if isinstance(error, StorageError) else 500
        raise HTTPError(status, operation.error or "upload failed", detail={"operation_id": operation.id})
    backup = backup_or_404(operation.backup_id or "")
    return {"operation": operation_view(operation), "backup": backup_view(backup)}, 201


def _request_body() -> Iterator[bytes]:
    # Read the body in bounded pieces, as it arrives: an upload of any size never sits whole in memory.
    stream = request.stream
    while chunk := stream.read(UPLOAD_READ_SIZE):
        yield chunk
