"""The Databases API (`dbapi/`) as the panel calls it: create and drop databases, capture, restore, verify and delete
backups, download/upload tokens.

Almost every action answers `202` with a dbapi operation and POSTs the result to the panel's callback URL later.
The panel's Operation uuid is sent as dbapi's `request_id`, so a request retried after a lost answer returns the same
operation instead of starting a second one: that is what makes retrying a write safe here.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any

import requests

CALLBACK_PATH = "/dbapi/callbacks"
# dbapi's rule for request_id: 1-255 of letters, digits and `. _ : -`, starting with a letter or digit.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,254}")
RETRIES = 2  # extra attempts after a connection failure; only idempotent calls (request_id or reads) are retried
# Answers that say "not now" rather than "no": an idempotent call (a read, or a write carrying its request_id, which
# dbapi resolves to the operation it already started) is sent again, so a lost answer does not fail the operation.
RETRY_STATUSES = (429, 500, 502, 503, 504)
STATUS_RETRIES = 4
RETRY_AFTER_CAP = 5.0


class DatabasesApiError(Exception):
    """A dbapi call failed; `reason` carries dbapi's own words (its `message` and field details)."""

    def __init__(self, call: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"Databases API {call} failed: {reason}")
        self.call = call
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class DbapiOperation:
    """An asynchronous dbapi action as it answered (the result comes later by callback)."""

    id: str
    kind: str
    state: str
    database_id: str | None
    backup_id: str | None
    request_id: str | None
    error: str | None
    progress_bytes: int


@dataclass(frozen=True)
class DbapiServer:
    name: str
    host: str
    port: int


@dataclass(frozen=True)
class DbapiBackup:
    id: str
    database_id: str
    state: str
    size_bytes: int | None
    error: str | None
    sha256: str | None = None  # of the plain archive a download gives


@dataclass(frozen=True)
class TransferToken:
    """A short-lived bearer token for one download or upload; `token` is a secret (never log it)."""

    token: str
    token_id: str
    url: str
    method: str
    expires_at: str


def _operation(body: dict[str, Any]) -> DbapiOperation:
    operation = body["operation"]
    return DbapiOperation(
        id=operation["id"], kind=operation["kind"], state=operation["state"],
        database_id=operation.get("database_id"), backup_id=operation.get("backup_id"),
        request_id=operation.get("request_id"), error=operation.get("error"),
        progress_bytes=int(operation.get("progress_bytes") or 0),
    )


def check_request_id(request_id: str) -> str:
    """`request_id` if dbapi will take it, else ValueError (a panel bug: uuids always fit)."""
    if not REQUEST_ID_PATTERN.fullmatch(request_id):
        raise ValueError(f"{request_id!r} is not a valid dbapi request_id")
    return request_id


class DatabasesApi:
    """A service-authenticated client of one Databases API."""

    def __init__(self, base_url: str, service_key: str, callback_url: str, *, connect_timeout: float = 5.0,
                 read_timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.callback_url = callback_url
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {service_key}"
        self.session.headers["User-Agent"] = "admin-panel/databases-api"

    def _call(self, method: str, path: str, call: str, *, json: dict[str, Any] | None = None,
              ok: tuple[int, ...] = (200,)) -> dict[str, Any]:
        last_error: Exception | None = None
        idempotent = method == "GET" or (json is not None and "request_id" in json)
        connection_failures = status_failures = 0
        while connection_failures <= RETRIES:
            try:
                response = self.session.request(method, self.base_url + path, json=json, timeout=self.timeout,
                                                allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout) as error:
                last_error = error
                connection_failures += 1
                continue
            if idempotent and response.status_code in RETRY_STATUSES and status_failures < STATUS_RETRIES:
                status_failures += 1
                time.sleep(_retry_delay(response, status_failures))
                continue
            if response.status_code not in ok:
                raise DatabasesApiError(call, _reason(response), response.status_code)
            try:
                return response.json()
            except ValueError as error:
                raise DatabasesApiError(call, f"answered HTTP {response.status_code} without JSON") from error
        raise DatabasesApiError(call, f"cannot reach {self.base_url}: {type(last_error).__name__}")

    def servers(self) -> list[DbapiServer]:
        """The PostgreSQL servers dbapi manages (`GET /servers`)."""
        body = self._call("GET", "/servers", "list servers")
        return [DbapiServer(item["name"], item["host"], int(item["port"])) for item in body["servers"]]

    def create_database(self, *, name: str, server: str, request_id: str) -> DbapiOperation:
        """Ask for a role and a database `name` on `server`; the callback carries the role's password."""
        payload = {"name": name, "server": server, "callback_url": self.callback_url,
                   "request_id": check_request_id(request_id)}
        return _operation(self._call("POST", "/databases", "create database", json=payload, ok=(202,)))

    def drop_database(self, database_id: str, *, request_id: str) -> DbapiOperation:
        """Drop a database and its role (its backups stay until deleted)."""
        payload = {"callback_url": self.callback_url, "request_id": check_request_id(request_id)}
        return _operation(self._call("DELETE", f"/databases/{database_id}", "drop database", json=payload, ok=(202,)))

    def capture_backup(self, database_id: str, *, request_id: str) -> DbapiOperation:
        """Start a backup of a database; the operation's `backup_id` names the new backup."""
        payload = {"callback_url": self.callback_url, "request_id": check_request_id(request_id)}
        return _operation(self._call("POST", f"/databases/{database_id}/backups", "capture backup", json=payload,
                                     ok=(202,)))

    def restore(self, database_id: str, *, backup_id: str, request_id: str) -> DbapiOperation:
        """Restore a succeeded backup (of this or any other database: that is a clone) into a database."""
        payload = {"backup_id": backup_id, "callback_url": self.callback_url,
                   "request_id": check_request_id(request_id)}
        return _operation(self._call("POST", f"/databases/{database_id}/restore", "restore backup", json=payload,
                                     ok=(202,)))

    def verify_backup(self, backup_id: str, *, request_id: str) -> DbapiOperation:
        """A restore drill: dbapi restores the backup into a scratch database, counts tables and rows, drops it."""
        payload = {"callback_url": self.callback_url, "request_id": check_request_id(request_id)}
        return _operation(self._call("POST", f"/backups/{backup_id}/verify", "verify backup", json=payload,
                                     ok=(202,)))

    def delete_backup(self, backup_id: str) -> DbapiBackup:
        """Delete a backup's object now (repeating it is harmless); 409 while it is written or read."""
        return _backup(self._call("DELETE", f"/backups/{backup_id}", "delete backup")["backup"])

    def backup(self, backup_id: str) -> DbapiBackup:
        """One backup's state and size."""
        return _backup(self._call("GET", f"/backups/{backup_id}", "show backup"))

    def operation(self, operation_id: str) -> DbapiOperation:
        """One operation's state (for a panel that missed a callback)."""
        return _operation(self._call("GET", f"/operations/{operation_id}", "show operation"))

    def download_token(self, backup_id: str, *, ttl_seconds: int = 900) -> TransferToken:
        """A token that lets its holder download one backup's plain archive once within `ttl_seconds`."""
        payload = {"action": "download", "backup_id": backup_id, "ttl_seconds": ttl_seconds}
        return _token(self._call("POST", "/tokens", "issue download token", json=payload, ok=(201,)))

    def upload_token(self, database_id: str, *, ttl_seconds: int = 900, callback_query: str = "") -> TransferToken:
        """A single-use token to upload a `pg_dump -Fc` archive as a backup of one database; its result is POSTed
        to the callback URL (with `callback_query` appended, e.g. `upload=<operation uuid>`)."""
        callback_url = self.callback_url + (f"?{callback_query}" if callback_query else "")
        payload = {"action": "upload", "database_id": database_id, "ttl_seconds": ttl_seconds,
                   "callback_url": callback_url}
        return _token(self._call("POST", "/tokens", "issue upload token", json=payload, ok=(201,)))


def _backup(body: dict[str, Any]) -> DbapiBackup:
    return DbapiBackup(id=body["id"], database_id=body["database_id"], state=body["state"],
                       size_bytes=body.get("size_bytes"), error=body.get("error"), sha256=body.get("sha256"))


def _token(body: dict[str, Any]) -> TransferToken:
    return TransferToken(token=body["token"], token_id=body["token_id"], url=body["url"], method=body["method"],
                         expires_at=body["expires_at"])


def _retry_delay(response: requests.Response, attempt: int) -> float:
    """Retry-After when dbapi (or a proxy) gives one, else a short growing pause."""
    try:
        return min(float(response.headers.get("Retry-After", "")), RETRY_AFTER_CAP)
    except ValueError:
        return min(0.2 * 2 ** (attempt - 1), RETRY_AFTER_CAP)


def _reason(response: requests.Response) -> str:
    """dbapi's words: its `message`, plus the fields its validation named."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    message = str(body.get("message") or f"HTTP {response.status_code}") if isinstance(body, dict) else str(body)
    detail = body.get("detail") if isinstance(body, dict) else None
    fields = detail.get("json") if isinstance(detail, dict) else None
    if isinstance(fields, dict) and fields:
        message += " (" + "; ".join(f"{field}: {' '.join(map(str, why))}" for field, why in fields.items()) + ")"
    return f"{message} (HTTP {response.status_code})"


def verify_signature(secrets: list[str], header: str, body: bytes, *, tolerance: int = 300,
                     now: float | None = None) -> bool:
    """True when `header` (X-Signature `t=<unix>,v1=<hex>[,v1=...]`) signs the raw `body` with one of `secrets`
    and is at most `tolerance` seconds away from now (docs/dbapi.md's scheme; several v1 for secret rotation)."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or not secrets:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = [hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest() for secret in secrets]
    return any(hmac.compare_digest(digest, candidate) for digest in expected for candidate in candidates)
