"""Where encrypted backups live: a local folder or an S3 bucket, streamed both ways.

Contract (``Storage``):
- ``write(key, chunks) -> int`` consumes the iterable and stores it under ``key``, returning the bytes written.
  It is atomic: readers see either the complete previous object or the complete new one, and a write that
  fails (storage error, or the ``chunks`` iterable raising, e.g. because ``pg_dump`` failed) leaves nothing
  behind. Errors of the storage itself are raised as ``StorageError``; an exception raised by the ``chunks``
  iterable propagates unchanged (after clean-up), except ``OSError`` ENOSPC which always means "full".
- ``read(key)`` checks the object exists (``StorageError`` if not) and returns an iterator of chunks
  (about 1 MiB each); nothing is held whole in memory.
- ``delete(key)`` is idempotent; ``exists(key)`` is a cheap check.
- Keys are ``segment/segment/...``; each segment is 1-128 characters of ``A-Z a-z 0-9 . _ -`` starting with a
  letter or digit (so no ``..``, no absolute paths, no hidden files); at most 512 characters in all.

Backends: ``LocalStorage(root)`` (temp file in the same folder + fsync + rename) and
``S3Storage(bucket, prefix, client)`` (objects under 8 MiB: one PutObject; from 8 MiB: multipart upload with
8 MiB parts, aborted on any error; reads stream with ``iter_chunks``). ``storage_from_config`` builds one from the
``DBAPI_STORAGE`` setting.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

READ_CHUNK = 1024 * 1024
S3_PART_SIZE = 8 * 1024 * 1024
# fullmatch: "$" would also accept a trailing newline.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MAX_KEY_LENGTH = 512


class StorageError(Exception):
    """The storage backend could not complete the operation (message says what and why, never secrets)."""


@runtime_checkable
class Storage(Protocol):
    """A place to put, stream back and remove backup objects by key."""

    def write(self, key: str, chunks: Iterable[bytes]) -> int:
        """Store ``chunks`` under ``key`` atomically; return the number of bytes written."""
        ...

    def read(self, key: str) -> Iterator[bytes]:
        """Stream the object under ``key``; ``StorageError`` if it does not exist."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object under ``key`` if it exists."""
        ...

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under ``key``."""
        ...


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe storage key, else raise ``StorageError`` saying why."""
    if not isinstance(key, str) or not key:
        raise StorageError("storage key must be a non-empty string")
    if len(key) > _MAX_KEY_LENGTH:
        raise StorageError(f"storage key is longer than {_MAX_KEY_LENGTH} characters")
    for segment in key.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise StorageError(
                f"invalid storage key {key!r}: each '/'-separated part must be 1-128 characters of "
                "A-Z a-z 0-9 . _ - starting with a letter or digit (no '..', no leading '/')"
            )
    return key


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]


def _close_source(source: Iterator[bytes]) -> None:
    # Let a producer generator run its clean-up (e.g. stop pg_dump) now rather than at garbage collection.
    close = getattr(source, "close", None)
    if close is not None:
        close()


def _full_storage_error(where: str) -> StorageError:
    return StorageError(f"storage is full: no space left while writing {where}; free space or grow the volume")


class LocalStorage:
    """Backups as files under ``root`` (created if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path_for(self, key: str) -> Path:
        """The file that holds ``key`` (validated; always inside ``root``)."""
        return self.root.joinpath(*validate_key(key).split("/"))

    def write(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write to a temp file next to the target, fsync, then rename over it; remove the temp file on failure."""
        target = self.path_for(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Temp names start with "." so they can never collide with a valid key.
            fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        except OSError as error:
            raise self._storage_error(error, key) from None
        temp_path = Path(temp_name)
        written = 0
        source = iter(chunks)
        try:
            # Raw fd writes: a buffered file would flush (and fail again) while closing after a disk-full error.
            try:
                while True:
                    try:
                        chunk = next(source)
                    except StopIteration:
                        break
                    except OSError as error:
                        # The producer failed; only "no space" is ours to name, the rest propagates as is.
                        if error.errno == errno.ENOSPC:
                            raise _full_storage_error(f"{key!r} under {self.root}") from None
                        raise
                    try:
                        _write_all(fd, chunk)
                        written += len(chunk)
                    except OSError as error:
                        raise self._storage_error(error, key) from None
                try:
                    os.fsync(fd)
                except OSError as error:
                    raise self._storage_error(error, key) from None
            finally:
                os.close(fd)
            try:
                os.replace(temp_path, target)
            except OSError as error:
                raise self._storage_error(error, key) from None
        except BaseException:
            temp_path.unlink(missing_ok=True)
            _close_source(source)
            raise
        return written

    def read(self, key: str) -> Iterator[bytes]:
        """Open the file now (so a missing object fails here) and stream it in 1 MiB chunks."""
        path = self.path_for(key)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the generator below
        except FileNotFoundError:
            raise StorageError(f"backup object {key!r} not found in local storage") from None
        except OSError as error:
            raise self._storage_error(error, key) from None
        return self._stream(handle, key)

    def _stream(self, handle: Any, key: str) -> Iterator[bytes]:
        with handle:
            while True:
                try:
                    chunk = handle.read(READ_CHUNK)
                except OSError as error:
                    raise self._storage_error(error, key) from None
                if not chunk:
                    return
                yield chunk

    def delete(self, key: str) -> None:
        """Remove the file; a missing file is fine."""
        try:
            self.path_for(key).unlink(missing_ok=True)
        except OSError as error:
            raise self._storage_error(error, key) from None

    def exists(self, key: str) -> bool:
        """True if the file exists."""
        return self.path_for(key).is_file()

    def _storage_error(self, error: OSError, key: str) -> StorageError:
        if error.errno == errno.ENOSPC:
            return _full_storage_error(f"{key!r} under {self.root}")
        return StorageError(f"local storage failed for {key!r}: {error.strerror or error}")


class S3Storage:
    """Backups as objects in an S3 bucket under ``prefix`` (boto3 client passed in)."""

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        prefix = prefix.strip("/")
        if prefix:
            validate_key(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.client = client

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def object_key(self, key: str) -> str:
        """The S3 object key for ``key`` (validated)."""
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def write(self, key: str, chunks: Iterable[bytes]) -> int:
        """One PutObject below 8 MiB, else a multipart upload of 8 MiB parts that is aborted on any failure."""
        from botocore.exceptions import BotoCoreError, ClientError

        object_key = self.object_key(key)
        source = iter(chunks)
        # One part-sized buffer, filled in place and handed to boto3 as is: no growing, no copies, so the
        # allocator never has to find a fresh 8 MiB block per part (that is what kept RSS creeping up).
        part = bytearray(S3_PART_SIZE)
        filled = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        written = 0
        try:
            for chunk in source:
                with memoryview(chunk) as view:
                    offset = 0
                    while offset < len(view):
                        take = min(len(view) - offset, S3_PART_SIZE - filled)
                        part[filled : filled + take] = view[offset : offset + take]
                        filled += take
                        offset += take
                        if filled == S3_PART_SIZE:
                            if upload_id is None:
                                upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=object_key)[
                                    "UploadId"
                                ]
                            parts.append(self._upload_part(object_key, upload_id, len(parts) + 1, part))
                            filled = 0
                written += len(chunk)
            if upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=object_key, Body=part[:filled])
            else:
                if filled:
                    parts.append(self._upload_part(object_key, upload_id, len(parts) + 1, part[:filled]))
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=object_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
                upload_id = None
        except (BotoCoreError, ClientError) as error:
            self._abort(object_key, upload_id)
            _close_source(source)
            raise StorageError(f"S3 upload of {key!r} to bucket {self.bucket!r} failed: {error}") from None
        except OSError as error:
            self._abort(object_key, upload_id)
            _close_source(source)
            if error.errno == errno.ENOSPC:
                raise _full_storage_error(f"{key!r} to bucket {self.bucket!r}") from None
            raise
        except BaseException:
            self._abort(object_key, upload_id)
            _close_source(source)
            raise
        return written

    def _upload_part(self, object_key: str, upload_id: str, number: int, body: bytearray) -> dict[str, Any]:
        response = self.client.upload_part(
            Bucket=self.bucket, Key=object_key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    def _abort(self, object_key: str, upload_id: str | None) -> None:
        if upload_id is None:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=object_key, UploadId=upload_id)
        except (BotoCoreError, ClientError):
            # The original error matters more; a bucket lifecycle rule should reap abandoned uploads anyway.
            pass

    def read(self, key: str) -> Iterator[bytes]:
        """GetObject now (so a missing object fails here) and stream the body in 1 MiB chunks."""
        from botocore.exceptions import BotoCoreError, ClientError

        object_key = self.object_key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
        except ClientError as error:
            if _error_code(error) in {"NoSuchKey", "404", "NotFound"}:
                raise StorageError(f"backup object {key!r} not found in bucket {self.bucket!r}") from None
            raise StorageError(f"S3 read of {key!r} from bucket {self.bucket!r} failed: {error}") from None
        except BotoCoreError as error:
            raise StorageError(f"S3 read of {key!r} from bucket {self.bucket!r} failed: {error}") from None
        return self._stream(response["Body"], key)

    def _stream(self, body: Any, key: str) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError

        try:
            yield from body.iter_chunks(chunk_size=READ_CHUNK)
        except BotoCoreError as error:
            raise StorageError(f"S3 read of {key!r} from bucket {self.bucket!r} broke off: {error}") from None
        finally:
            body.close()

    def delete(self, key: str) -> None:
        """DeleteObject (S3 treats a missing key as success)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        except (BotoCoreError, ClientError) as error:
            raise StorageError(f"S3 delete of {key!r} from bucket {self.bucket!r} failed: {error}") from None

    def exists(self, key: str) -> bool:
        """HeadObject; False on 404."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            if _error_code(error) in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise StorageError(f"S3 check of {key!r} in bucket {self.bucket!r} failed: {error}") from None
        except BotoCoreError as error:
            raise StorageError(f"S3 check of {key!r} in bucket {self.bucket!r} failed: {error}") from None
        return True


def _error_code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def storage_from_config(
    spec: str, data_dir: Path, *, endpoint_url: str | None = None, client: Any | None = None
) -> Storage:
    """Build the backend for ``DBAPI_STORAGE``: ``local`` (``<data_dir>/backups``), ``local:/abs/path`` or
    ``s3://bucket/prefix`` (boto3 client from the environment, ``endpoint_url`` for moto/MinIO)."""
    spec = spec.strip()
    if spec in ("", "local"):
        return LocalStorage(Path(data_dir) / "backups")
    if spec.startswith("local:"):
        root = Path(spec.removeprefix("local:"))
        if not root.is_absolute():
            raise StorageError(f"local storage path must be absolute, got {str(root)!r}")
        return LocalStorage(root)
    if spec.startswith("s3://"):
        bucket, _, prefix = spec.removeprefix("s3://").partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise StorageError(f"invalid S3 bucket name {bucket!r} in DBAPI_STORAGE")
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url)
        try:
            return S3Storage(bucket, prefix, client)
        except StorageError as error:
            raise StorageError(f"invalid S3 prefix in DBAPI_STORAGE: {error}") from None
    raise StorageError(f"unknown DBAPI_STORAGE {spec!r}: use 'local', 'local:/absolute/path' or 's3://bucket/prefix'")
