"""Request and response bodies of the Databases API (pydantic; apiflask turns them into the OpenAPI document)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from dbapi.pgtools import NAME_PATTERN, RESERVED_NAMES, validate_name
from dbapi.tokens import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS

# Patterns are anchored with ^...$ as JSON Schema expects; pydantic matches them with its Rust engine, where $ is
# the very end (a trailing newline is refused), and the Python checks behind them use re.fullmatch.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$"
SERVER_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
IDENTIFIER_PATTERN = NAME_PATTERN.pattern
# The same rule in JSON Schema terms, so the OpenAPI document tells the whole truth about valid names.
NOT_RESERVED = {"not": {"anyOf": [{"enum": sorted(RESERVED_NAMES)}, {"pattern": "^pg_"}]}}


def _not_reserved(value: str | None) -> str | None:
    # The pattern alone lets "postgres" or "pg_x" through; pgtools knows the reserved names.
    return None if value is None else validate_name(value)


# An absolute http(s) URL with a host name or IPv4 address: what a callback can be POSTed to.
PORT_PATTERN = r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
CALLBACK_URL_PATTERN = rf"^https?://[A-Za-z0-9._~-]+{PORT_PATTERN}([/?#][!-~]*)?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateDatabaseIn(_Strict):
    name: str = Field(
        pattern=IDENTIFIER_PATTERN, json_schema_extra=NOT_RESERVED, description="database name (PostgreSQL identifier)"
    )
    server: str = Field(pattern=SERVER_PATTERN, description="one of GET /servers")
    owner_role: str | None = Field(
        default=None, pattern=IDENTIFIER_PATTERN, json_schema_extra=NOT_RESERVED,
        description="role to create as owner; defaults to the name",
    )
    callback_url: str = Field(pattern=CALLBACK_URL_PATTERN, max_length=2048, description="where the result is POSTed")
    request_id: str | None = Field(
        default=None, pattern=REQUEST_ID_PATTERN, description="idempotency key: 1-255 of A-Z a-z 0-9 . _ : -"
    )

    _reserved = field_validator("name", "owner_role")(_not_reserved)


class CallbackIn(_Strict):
    callback_url: str = Field(pattern=CALLBACK_URL_PATTERN, max_length=2048, description="where the result is POSTed")
    request_id: str | None = Field(
        default=None, pattern=REQUEST_ID_PATTERN, description="idempotency key: 1-255 of A-Z a-z 0-9 . _ : -"
    )


class RestoreIn(CallbackIn):
    backup_id: str = Field(pattern=ID_PATTERN, description="any succeeded backup, of this or another database")


class DownloadTokenIn(_Strict):
    action: Literal["download"]
    backup_id: str = Field(pattern=ID_PATTERN, description="a succeeded backup")
    ttl_seconds: int = Field(default=DEFAULT_TTL_SECONDS, ge=1, le=MAX_TTL_SECONDS)


class UploadTokenIn(_Strict):
    action: Literal["upload"]
    database_id: str = Field(pattern=ID_PATTERN, description="a ready database")
    ttl_seconds: int = Field(default=DEFAULT_TTL_SECONDS, ge=1, le=MAX_TTL_SECONDS)
    callback_url: str | None = Field(
        default=None, pattern=CALLBACK_URL_PATTERN, max_length=2048, description="where the upload's result is POSTed"
    )


class TokenIn(RootModel[Annotated[DownloadTokenIn | UploadTokenIn, Field(discriminator="action")]]):
    """A download token names a backup; an upload token names a database."""


class ServerOut(BaseModel):
    name: str
    host: str
    port: int


class ServersOut(BaseModel):
    servers: list[ServerOut]


class DatabaseOut(BaseModel):
    id: str
    name: str
    server: str
    host: str
    port: int
    username: str
    state: Literal["creating", "ready", "deleting", "deleted", "failed"]
    created_at: datetime
    deleted_at: datetime | None


class BackupOut(BaseModel):
    id: str
    database_id: str
    database_name: str
    kind: Literal["manual", "uploaded"]
    state: Literal["pending", "running", "succeeded", "failed", "deleted"]
    size_bytes: int | None = Field(description="size of the plain pg_dump archive")
    stored_bytes: int | None = Field(description="size of the encrypted object in storage")
    sha256: str | None = Field(description="SHA-256 of the plain pg_dump archive")
    key_id: str | None = Field(description="master key that wraps this backup's data key")
    progress_bytes: int
    duration_seconds: float | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deleted_at: datetime | None


class CallbackStatusOut(BaseModel):
    url: str | None
    state: Literal["pending", "delivered", "abandoned"] | None
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


class OperationOut(BaseModel):
    id: str
    kind: Literal["create_database", "delete_database", "backup", "restore", "upload", "verify"]
    state: Literal["pending", "running", "succeeded", "failed"]
    database_id: str | None
    backup_id: str | None
    request_id: str | None
    progress_bytes: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    callback: CallbackStatusOut


class OperationEnvelope(BaseModel):
    operation: OperationOut


class UploadOut(BaseModel):
    operation: OperationOut
    backup: BackupOut


class BackupEnvelope(BaseModel):
    backup: BackupOut


class TokenOut(BaseModel):
    token: str = Field(description="present as 'Authorization: Bearer <token>'; shown once")
    token_id: str = Field(description="what logs refer to")
    expires_at: datetime
    url: str = Field(description="where to present the token")
    method: Literal["GET", "PUT"]
