"""Bodies of `/api/v1` (pydantic; apiflask turns them into the OpenAPI document). docs/api.md describes them."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Timestamp = str  # ISO-8601 UTC with a trailing Z, e.g. 2026-12-02T03:00:00Z
APP_NAME_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"  # Deis' rule for an app name


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Out):
    code: str = Field(description="stable snake_case code: bad_request, not_signed_in, not_found, invalid, ...")
    message: str = Field(description="a sentence for a person")
    detail: dict[str, Any] | None = None


class ErrorOut(_Out):
    error: ErrorBody


class WhoamiOut(_Out):
    username: str
    is_superuser: bool
    controller: str = Field(description="the controller URL, normalised")
    cluster: str = Field(description="the panel's name of that cluster")


class DatabaseOut(_Out):
    name: str
    host: str = Field(description="DNS name of the cluster's PostgreSQL primary")
    port: int
    username: str
    state: str = Field(description="creating | ready | ...")
    created_at: Timestamp | None


class BackupSummary(_Out):
    count: int
    latest_at: Timestamp | None
    latest_state: str | None


class AppOut(_Out):
    name: str
    cluster: str
    owner: str
    url: str | None = None
    database: DatabaseOut | None
    backups: BackupSummary


class BackupOut(_Out):
    id: int
    kind: Literal["scheduled", "manual", "uploaded", "cloned"]
    state: str = Field(description="pending | running | succeeded | failed")
    size_bytes: int | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    cloned_from: int | None
    verification: Literal["verified", "failed"] | None


class OperationOut(_Out):
    id: int
    kind: str
    state: Literal["pending", "running", "succeeded", "failed", "stale"]
    progress: int = Field(ge=0, le=100)
    message: str | None
    error: str | None
    app: str | None
    created_at: Timestamp | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    result: dict[str, Any] | None


class AppsEnvelope(_Out):
    apps: list[AppOut]


class AppEnvelope(_Out):
    app: AppOut


class DatabaseEnvelope(_Out):
    database: DatabaseOut


class OperationEnvelope(_Out):
    operation: OperationOut


class BackupsEnvelope(_Out):
    backups: list[BackupOut]


class BackupEnvelope(_Out):
    backup: BackupOut


class CaptureOut(_Out):
    operation: OperationOut
    backup: BackupOut


class CloneOut(_Out):
    backup: BackupOut = Field(description="the target app's cloned row")
    operation: OperationOut | None = Field(description="the restore into the target's database (restore true)")


class DownloadTokenOut(_Out):
    url: str
    token: str = Field(description="send it as Authorization: Bearer <token> to url; a secret")
    method: Literal["GET"]
    expires_at: Timestamp
    size_bytes: int | None
    sha256: str | None


class UploadTokenOut(_Out):
    url: str
    token: str = Field(description="send it as Authorization: Bearer <token> to url; single use; a secret")
    method: Literal["PUT"]
    expires_at: Timestamp
    operation: OperationOut


class CreateDatabaseIn(_In):
    replace: bool = Field(default=False, description="replace a DATABASE_URL that was set by hand")


class CloneIn(_In):
    to: str = Field(min_length=1, max_length=64, description="the app to clone the backup to (same cluster)")
    restore: bool = Field(default=True, description="restore the target's database from it")


class TransferIn(_In):
    ttl_seconds: int = Field(default=900, ge=60, le=3600, description="how long the token is valid")
