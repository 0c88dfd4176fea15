"""Tokens to download a backup from, or upload a dump to, the Databases API directly (the panel never carries the
bytes: dbapi stays the only place that reads or writes backup contents)."""
from __future__ import annotations

from flask import current_app

from app.clients import for_config
from app.extensions import db
from app.operations import developer_transfers
from app.operations.database_backups import BackupRefused
from app.queries import developer_api
from app.services.databases_api import DatabasesApiError
from app.views.api import bp
from app.views.api.auth import current_developer, developer_required, visible_app
from app.views.api.backups import backup_or_404, database_of, refused
from app.views.api.errors import ApiError
from app.views.api.schemas import DownloadTokenOut, TransferIn, UploadTokenOut
from app.views.api.spec import documented


def dbapi_refused(error: DatabasesApiError) -> ApiError:
    if error.status is None or error.status >= 500:
        return ApiError(502, "upstream_unavailable", "The Databases API could not be asked; try again shortly.")
    return ApiError(409, "refused", f"The Databases API refused: {error.reason} Nothing was changed.")


@bp.post("/apps/<string:app>/backups/<int:backup_id>/download-token")
@developer_required
@bp.input(TransferIn, location="json", arg_name="body")
@bp.output(DownloadTokenOut, status_code=201, description="GET url with Authorization: Bearer <token>")
@documented(404, 409, optional_body=True)
def download_token(app: str, backup_id: int, body: TransferIn):
    """A short-lived token to download the backup's plain pg_dump archive from the Databases API (streamed,
    decrypted on the fly; X-Backup-SHA256 and Content-Length let you check it)."""
    backup = backup_or_404(visible_app(app), backup_id)
    try:
        grant = developer_transfers.grant_download(db.session, for_config(current_app.config).databases_api(), backup,
                                                   actor=current_developer().actor, ttl_seconds=body.ttl_seconds)
    except BackupRefused as error:
        raise refused(error) from error
    except DatabasesApiError as error:
        raise dbapi_refused(error) from error
    return {"url": grant.token.url, "token": grant.token.token, "method": "GET",
            "expires_at": grant.token.expires_at, "size_bytes": grant.size_bytes, "sha256": grant.sha256}, 201


@bp.post("/apps/<string:app>/upload-token")
@developer_required
@bp.input(TransferIn, location="json", arg_name="body")
@bp.output(UploadTokenOut, status_code=201, description="PUT a pg_dump -Fc archive to url with Authorization: "
           "Bearer <token>; follow the operation")
@documented(404, 409, optional_body=True)
def upload_token(app: str, body: TransferIn):
    """A single-use token to upload a `pg_dump -Fc` archive as a new backup of the app's database; the operation
    ends when the Databases API has stored it (the backup is then listed, kind `uploaded`)."""
    target = visible_app(app)
    database = database_of(target)
    try:
        token, operation = developer_transfers.grant_upload(db.session, for_config(current_app.config).databases_api(),
                                                            database, actor=current_developer().actor,
                                                            ttl_seconds=body.ttl_seconds)
    except BackupRefused as error:
        raise refused(error) from error
    except DatabasesApiError as error:
        raise dbapi_refused(error) from error
    return {"url": token.url, "token": token.token, "method": "PUT", "expires_at": token.expires_at,
            "operation": developer_api.operation_view(operation, target)}, 201
