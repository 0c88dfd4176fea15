"""The HTTP API: blueprints, the mapping of refusals to JSON errors, and the OpenAPI touches apiflask cannot infer."""
from __future__ import annotations

import re
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Request
from werkzeug.exceptions import BadRequest

from dbapi.crypto import BackupIntegrityError
from dbapi.operations.errors import Refused
from dbapi.storage import StorageError
from dbapi.tokens import TokenRefused
from dbapi.views import backups, databases, operations, servers, tokens, transfers
from dbapi.views.schemas import PORT_PATTERN
from dbapi.views.security import register_security

UPLOAD_PATH = "/databases/{database_id}/uploads"


JSON_BODY_LIMIT = 1024 * 1024


class JsonRequest(Request):
    """Flask's request, with a malformed JSON body explained in the 400 answer (Flask says so only in debug), and
    a size limit on every body except uploads (which stream in whatever their size)."""

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self.method == "PUT" and self.url_rule is not None and self.url_rule.rule.endswith("/uploads"):
            return None
        return JSON_BODY_LIMIT

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if not self.get_data(cache=True):
            raise BadRequest("the request needs a JSON body and has none")
        raise BadRequest(f"the request body is not valid JSON: {e}")


def register_views(app: APIFlask) -> None:
    """Attach every blueprint and error mapping to `app`."""
    for blueprint in (servers.bp, databases.bp, backups.bp, operations.bp, tokens.bp, transfers.bp):
        app.register_blueprint(blueprint)

    @app.errorhandler(Refused)
    def refused(error: Refused) -> Any:
        detail: dict[str, Any] = {}
        if error.status == 422 and error.field:
            # The same shape as apiflask's own validation errors, so clients parse one format.
            detail = {"json": {error.field: [error.message]}}
        return app.error_callback(HTTPError(error.status, error.message, detail=detail))

    app.request_class = JsonRequest

    @app.errorhandler(BadRequest)
    def bad_request(error: BadRequest) -> Any:
        # apiflask would answer just "Bad Request"; the description says what was wrong with the body.
        return app.error_callback(HTTPError(400, error.description or "Bad Request"))

    @app.errorhandler(StorageError)
    def storage_unavailable(error: StorageError) -> Any:
        # Only reached outside operations (downloads, deleting a backup): the storage itself is at fault.
        return app.error_callback(HTTPError(503, f"backup storage failed: {error}"))

    @app.errorhandler(BackupIntegrityError)
    def backup_damaged(error: BackupIntegrityError) -> Any:
        # Only reached outside operations (a download): the stored object is not this backup's, nothing was sent.
        return app.error_callback(HTTPError(409, str(error)))

    @app.errorhandler(TokenRefused)
    def token_refused(error: TokenRefused) -> Any:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if error.status == 401 else {}
        return app.error_callback(HTTPError(error.status, error.reason, headers=headers))

    register_security(app)

    @app.spec_processor
    def document_bodies(spec: dict[str, Any]) -> dict[str, Any]:
        # Every body this API reads is required (apiflask leaves that out); the upload body is raw bytes.
        for path_item in spec.get("paths", {}).values():
            for operation in path_item.values():
                if isinstance(operation, dict) and "requestBody" in operation:
                    operation["requestBody"]["required"] = True
        # The servers are configuration, not code: the document names the ones this deployment manages.
        create = spec.get("components", {}).get("schemas", {}).get("CreateDatabaseIn")
        if create is not None:
            create["properties"]["server"]["enum"] = sorted(app.extensions["dbapi"].servers)
        # Likewise the callback hosts: the document's callback_url pattern names the ones this deployment allows.
        settings = app.extensions["dbapi"].settings
        if settings.callback_hosts:
            pattern = callback_url_pattern(settings.callback_hosts, https_only=settings.production)
            for schema in spec.get("components", {}).get("schemas", {}).values():
                _narrow_callback_url(schema.get("properties", {}).get("callback_url"), pattern)
        upload = spec.get("paths", {}).get(UPLOAD_PATH, {}).get("put")
        if upload is not None:
            upload["requestBody"] = {
                "required": True,
                "description": "A pg_dump custom-format archive (pg_dump -Fc), streamed as the raw body.",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        return spec


def callback_url_pattern(hosts: tuple[str, ...], *, https_only: bool) -> str:
    """The JSON Schema pattern of a callback URL to one of ``hosts`` (``*.domain`` = any subdomain)."""
    alternatives = [
        r"[a-z0-9-]+(\.[a-z0-9-]+)*" + re.escape(host[1:]) if host.startswith("*.") else re.escape(host)
        for host in hosts
    ]
    scheme = "https" if https_only else "https?"
    return f"^{scheme}://({'|'.join(alternatives)}){PORT_PATTERN}([/?#][!-~]*)?$"


def _narrow_callback_url(field: dict[str, Any] | None, pattern: str) -> None:
    if not field:
        return
    for member in [field, *field.get("anyOf", [])]:
        if "pattern" in member:
            member["pattern"] = pattern
