"""Backup contents, straight from and to the Databases API with the short-lived token the panel negotiated.

A download streams into a temporary file next to the target, hashing as it goes; only when the byte count matches
Content-Length and the panel's size_bytes, and the SHA-256 matches X-Backup-SHA256 and the panel's sha256, is it
renamed into place. An upload streams the file from disk (never read whole) as the request body.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import requests

from app.devcli.api import EXIT_FAILED, EXIT_NOT_ALLOWED, EXIT_USAGE, USER_AGENT, ApiError

CHUNK = 1024 * 1024
TIMEOUT = (10, 300)  # connect, read: dbapi decrypts and decompresses on the fly, a slow first byte is normal
DUMP_MAGIC = b"PGDMP"

Progress = Callable[[int], None]  # called with the number of bytes just moved


class TransferError(ApiError):
    pass


def is_dump(path: Path) -> bool:
    """Whether the file starts like a pg_dump custom-format archive (what dbapi accepts)."""
    with path.open("rb") as handle:
        return handle.read(len(DUMP_MAGIC)) == DUMP_MAGIC


def download(grant: dict[str, Any], target: Path, *, verify: bool, progress: Progress,
             on_length: Callable[[int | None], None] = lambda length: None) -> tuple[int, str]:
    """Stream the backup `grant` (the panel's download-token answer) to `target`; returns (size, sha256)."""
    headers = {"Authorization": f"Bearer {grant['token']}", "User-Agent": USER_AGENT}
    try:
        response = requests.request(grant.get("method") or "GET", grant["url"], headers=headers, stream=True,
                                    timeout=TIMEOUT, verify=verify)
    except requests.RequestException as error:
        raise TransferError(f"Cannot reach the Databases API at {_origin(grant['url'])}: {error.__class__.__name__}.",
                            EXIT_FAILED) from None
    with response:
        if response.status_code >= 400:
            raise dbapi_error(response, "download")
        length = _int(response.headers.get("Content-Length"))
        expected_size = _int(grant.get("size_bytes"))
        expected_sha = (response.headers.get("X-Backup-SHA256") or "").lower()
        panel_sha = (grant.get("sha256") or "").lower()
        if panel_sha and expected_sha and panel_sha != expected_sha:
            raise TransferError(f"The Databases API serves SHA-256 {expected_sha} but the panel records {panel_sha};"
                                " nothing was written.", EXIT_FAILED)
        if length is not None and expected_size is not None and length != expected_size:
            raise TransferError(f"The Databases API announces {length} bytes but the panel records {expected_size};"
                                " nothing was written.", EXIT_FAILED)
        on_length(length if length is not None else expected_size)
        digest = hashlib.sha256()
        size = 0
        handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".part",
                                             delete=False)
        part = Path(handle.name)
        try:
            with handle:
                try:
                    for chunk in response.iter_content(CHUNK):
                        handle.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        progress(len(chunk))
                except requests.RequestException as error:
                    raise TransferError(f"The download broke off after {size} bytes ({error.__class__.__name__});"
                                        f" nothing was written to {target}.", EXIT_FAILED) from None
                handle.flush()
                os.fsync(handle.fileno())
            sha = digest.hexdigest()
            want_size = length if length is not None else expected_size
            if want_size is not None and size != want_size:
                raise TransferError(f"The download ended after {size} of {want_size} bytes; nothing was written to"
                                    f" {target}.", EXIT_FAILED)
            want_sha = expected_sha or panel_sha
            if not want_sha:
                raise TransferError("Neither the panel nor the Databases API gave the backup's SHA-256, so the file"
                                    f" cannot be checked; nothing was written to {target}.", EXIT_FAILED)
            if sha != want_sha:
                raise TransferError(f"The downloaded file's SHA-256 is {sha}, not {want_sha}; nothing was written to"
                                    f" {target}.", EXIT_FAILED)
            os.chmod(part, 0o600)  # a database's contents: for its owner only
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    return size, sha


class _Reader:
    """A file that reports what is read from it (in steps of about CHUNK: the HTTP client reads 8 KiB blocks);
    `__len__` lets requests send Content-Length rather than a chunked body."""

    def __init__(self, handle: BinaryIO, size: int, progress: Progress):
        self.handle, self.size, self.progress = handle, size, progress
        self.unreported = 0

    def __len__(self) -> int:
        return self.size

    def read(self, amount: int = -1) -> bytes:
        data = self.handle.read(CHUNK if amount is None or amount < 0 else amount)
        self.unreported += len(data)
        if self.unreported >= CHUNK or (not data and self.unreported):
            self.progress(self.unreported)
            self.unreported = 0
        return data


def upload(grant: dict[str, Any], source: Path, *, verify: bool, progress: Progress) -> dict[str, Any]:
    """Stream `source` to the upload URL in `grant` (the panel's upload-token answer); returns dbapi's answer."""
    headers = {"Authorization": f"Bearer {grant['token']}", "User-Agent": USER_AGENT,
               "Content-Type": "application/octet-stream"}
    size = source.stat().st_size
    with source.open("rb") as handle:
        try:
            response = requests.request(grant.get("method") or "PUT", grant["url"], headers=headers,
                                        data=_Reader(handle, size, progress), timeout=TIMEOUT, verify=verify)
        except requests.RequestException as error:
            raise TransferError(f"The upload to the Databases API at {_origin(grant['url'])} failed:"
                                f" {error.__class__.__name__}.", EXIT_FAILED) from None
    if response.status_code >= 400:
        raise dbapi_error(response, "upload")
    try:
        return response.json()
    except ValueError:
        return {}


def dbapi_error(response: requests.Response, what: str) -> TransferError:
    """dbapi answers errors the apiflask way: {"message", "detail", "status_code"}."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if not message and isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    text = f"The Databases API refused the {what} (HTTP {response.status_code}): {message or response.reason}."
    if response.status_code in (401, 403):
        text += f" The {what} token may have expired; run the command again for a fresh one."
        return TransferError(text, EXIT_NOT_ALLOWED, response.status_code, body=body)
    return TransferError(text, EXIT_USAGE if response.status_code == 422 else EXIT_FAILED, response.status_code,
                         body=body)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
