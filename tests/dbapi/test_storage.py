"""Backup storage: local folder and S3 (moto's real HTTP server), streaming, atomic writes, safe keys."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dbapi import storage as storage_module
from dbapi.storage import (
    READ_CHUNK,
    S3_PART_SIZE,
    LocalStorage,
    S3Storage,
    Storage,
    StorageError,
    storage_from_config,
)

BAD_KEYS = [
    "",
    "../escape",
    "backups/../../escape",
    "/etc/passwd",
    "a//b",
    "a/b/",
    ".hidden",
    "a/./b",
    "a/..",
    "a\\..\\b",
    "name with space",
    "new\nline",
    "x" * 600,
    "%2e%2e/x",
]


def pieces(data: bytes, size: int = 300_000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def failing_after(data: bytes, error: BaseException) -> Iterator[bytes]:
    """A producer that delivers ``data`` and then fails, like pg_dump dying half-way."""
    yield from pieces(data)
    raise error


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "backups")


@pytest.fixture
def s3(dbapi_s3) -> S3Storage:
    return S3Storage(dbapi_s3.bucket, "backups/prod", dbapi_s3.client)


def all_objects(dbapi_s3) -> list[str]:
    listing = dbapi_s3.client.list_objects_v2(Bucket=dbapi_s3.bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def pending_uploads(dbapi_s3) -> list[str]:
    listing = dbapi_s3.client.list_multipart_uploads(Bucket=dbapi_s3.bucket)
    return [upload["Key"] for upload in listing.get("Uploads", [])]


# --- local folder ---------------------------------------------------------------------------------------------


def test_local_round_trip_streams_in_bounded_chunks(local: LocalStorage):
    data = os.urandom(3 * READ_CHUNK + 123)
    assert isinstance(local, Storage)
    assert local.write("db1/backup-1.enc", pieces(data)) == len(data)
    assert local.exists("db1/backup-1.enc")
    chunks = list(local.read("db1/backup-1.enc"))
    assert max(len(chunk) for chunk in chunks) <= READ_CHUNK
    assert b"".join(chunks) == data
    assert files_under(local.root) == ["db1/backup-1.enc"]
    assert (local.root / "db1" / "backup-1.enc").stat().st_mode & 0o077 == 0  # only dbapi's user reads backups


def test_local_empty_object_and_overwrite(local: LocalStorage):
    assert local.write("empty", iter([])) == 0
    assert b"".join(local.read("empty")) == b""
    local.write("key", [b"first version"])
    local.write("key", [b"second"])
    assert b"".join(local.read("key")) == b"second"


def test_local_failure_mid_write_leaves_nothing_and_keeps_the_previous_object(local: LocalStorage):
    local.write("db1/backup", [b"previous complete object"])
    with pytest.raises(RuntimeError, match="pg_dump died"):
        local.write("db1/backup", failing_after(os.urandom(2_000_000), RuntimeError("pg_dump died")))
    assert files_under(local.root) == ["db1/backup"]
    assert b"".join(local.read("db1/backup")) == b"previous complete object"

    with pytest.raises(RuntimeError):
        local.write("db1/new", failing_after(b"partial", RuntimeError("boom")))
    assert not local.exists("db1/new")
    assert files_under(local.root) == ["db1/backup"]


def test_local_disk_full_from_the_producer_is_a_clear_storage_error(local: LocalStorage):
    """Simulated: a real ENOSPC needs a small mounted filesystem (root + mount rights), which tests cannot
    assume; the producer raising OSError(ENOSPC) is exactly what a full spool or pipe reports."""
    with pytest.raises(StorageError, match="storage is full") as caught:
        local.write("db1/backup", failing_after(b"x" * 1000, OSError(errno.ENOSPC, "No space left on device")))
    assert "backups" in str(caught.value)
    assert files_under(local.root) == []


def test_local_disk_full_while_writing_is_a_clear_storage_error(local: LocalStorage, monkeypatch):
    """Simulated at the write() system call for the same reason (no way to fill a real disk portably):
    the third write fails with ENOSPC as a full filesystem would."""
    real_write = os.write
    calls = {"count": 0}

    def write_until_full(fd: int, data) -> int:
        calls["count"] += 1
        if calls["count"] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(storage_module.os, "write", write_until_full)
    with pytest.raises(StorageError, match="storage is full"):
        local.write("db1/backup", pieces(os.urandom(1_000_000)))
    monkeypatch.undo()
    assert files_under(local.root) == []


def test_local_other_write_errors_are_storage_errors(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    storage = LocalStorage(blocker)
    with pytest.raises(StorageError, match="local storage failed"):
        storage.write("key", [b"data"])


def test_local_missing_object(local: LocalStorage):
    with pytest.raises(StorageError, match="'nope' not found"):
        local.read("nope")
    assert not local.exists("nope")
    local.delete("nope")  # idempotent


def test_local_delete(local: LocalStorage):
    local.write("a/b", [b"data"])
    local.delete("a/b")
    assert not local.exists("a/b")
    with pytest.raises(StorageError):
        local.read("a/b")


@pytest.mark.parametrize("key", BAD_KEYS)
def test_local_refuses_unsafe_keys(tmp_path: Path, key: str):
    storage = LocalStorage(tmp_path / "root")
    (tmp_path / "escape").write_bytes(b"outside")
    for action in (
        lambda: storage.write(key, [b"payload"]),
        lambda: storage.read(key),
        lambda: storage.delete(key),
        lambda: storage.exists(key),
    ):
        with pytest.raises(StorageError, match="storage key"):
            action()
    assert (tmp_path / "escape").read_bytes() == b"outside"
    assert not (tmp_path / "root").exists() or files_under(tmp_path / "root") == []


# --- S3 (moto server) -----------------------------------------------------------------------------------------


def test_s3_small_round_trip(s3: S3Storage, dbapi_s3):
    data = os.urandom(100_000)
    assert s3.write("db1/backup-1.enc", pieces(data, 7000)) == len(data)
    assert all_objects(dbapi_s3) == ["backups/prod/db1/backup-1.enc"]
    assert s3.exists("db1/backup-1.enc")
    assert b"".join(s3.read("db1/backup-1.enc")) == data


def test_s3_large_write_is_a_multipart_upload_and_reads_stream(s3: S3Storage, dbapi_s3):
    data = os.urandom(2 * S3_PART_SIZE + 1_500_000)
    assert s3.write("db1/big", pieces(data, 1_000_000)) == len(data)
    head = dbapi_s3.client.head_object(Bucket=dbapi_s3.bucket, Key="backups/prod/db1/big")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of a 3-part multipart upload
    chunks = list(s3.read("db1/big"))
    assert len(chunks) > 2 and max(len(chunk) for chunk in chunks) <= READ_CHUNK
    assert b"".join(chunks) == data
    assert pending_uploads(dbapi_s3) == []


def test_s3_exact_part_size_and_empty_object(s3: S3Storage):
    data = os.urandom(S3_PART_SIZE)
    assert s3.write("exact", [data]) == len(data)
    assert b"".join(s3.read("exact")) == data
    assert s3.write("empty", iter([])) == 0
    assert b"".join(s3.read("empty")) == b""


def test_s3_failure_mid_multipart_aborts_and_leaves_nothing(s3: S3Storage, dbapi_s3):
    s3.write("db1/backup", [b"previous complete object"])
    with pytest.raises(RuntimeError, match="pg_dump died"):
        s3.write("db1/backup", failing_after(os.urandom(S3_PART_SIZE + 2_000_000), RuntimeError("pg_dump died")))
    assert pending_uploads(dbapi_s3) == []
    assert all_objects(dbapi_s3) == ["backups/prod/db1/backup"]
    assert b"".join(s3.read("db1/backup")) == b"previous complete object"


def test_s3_disk_full_producer_is_a_clear_storage_error(s3: S3Storage, dbapi_s3):
    """Simulated ENOSPC from the producer (see the local test for why it cannot be real)."""
    with pytest.raises(StorageError, match="storage is full"):
        s3.write("db1/backup", failing_after(os.urandom(S3_PART_SIZE + 10), OSError(errno.ENOSPC, "full")))
    assert pending_uploads(dbapi_s3) == []
    assert all_objects(dbapi_s3) == []


def test_s3_missing_object_and_delete(s3: S3Storage):
    with pytest.raises(StorageError, match="'nope' not found in bucket"):
        s3.read("nope")
    assert not s3.exists("nope")
    s3.delete("nope")
    s3.write("gone", [b"data"])
    s3.delete("gone")
    assert not s3.exists("gone")


def test_s3_missing_bucket_is_a_clear_storage_error(dbapi_s3):
    storage = S3Storage("no-such-bucket-here", "", dbapi_s3.client)
    with pytest.raises(StorageError, match="S3 upload of 'key' to bucket 'no-such-bucket-here' failed"):
        storage.write("key", [b"data"])
    with pytest.raises(StorageError, match="S3 upload"):
        storage.write("big", pieces(os.urandom(S3_PART_SIZE + 1)))


@pytest.mark.parametrize("key", BAD_KEYS)
def test_s3_refuses_unsafe_keys(s3: S3Storage, dbapi_s3, key: str):
    for action in (
        lambda: s3.write(key, [b"payload"]),
        lambda: s3.read(key),
        lambda: s3.delete(key),
        lambda: s3.exists(key),
    ):
        with pytest.raises(StorageError, match="storage key"):
            action()
    assert all_objects(dbapi_s3) == []


# --- configuration --------------------------------------------------------------------------------------------


def test_storage_from_config(tmp_path: Path, dbapi_s3):
    local = storage_from_config("local", tmp_path)
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "backups"
    explicit = storage_from_config(f"local:{tmp_path / 'elsewhere'}", tmp_path)
    assert isinstance(explicit, LocalStorage) and explicit.root == tmp_path / "elsewhere"

    s3 = storage_from_config(f"s3://{dbapi_s3.bucket}/team/backups", tmp_path, client=dbapi_s3.client)
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == (dbapi_s3.bucket, "team/backups")
    s3.write("k", [b"v"])
    assert all_objects(dbapi_s3) == ["team/backups/k"]

    for spec, message in {
        "ftp://host/x": "unknown DBAPI_STORAGE",
        "local:relative/path": "must be absolute",
        "s3://UPPER_bucket/x": "invalid S3 bucket",
        "s3://bucket/../x": "invalid S3 prefix",
    }.items():
        with pytest.raises(StorageError, match=message):
            storage_from_config(spec, tmp_path, client=dbapi_s3.client)


def test_storage_from_config_builds_a_boto3_client_for_the_endpoint(tmp_path: Path, dbapi_s3, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    storage = storage_from_config(f"s3://{dbapi_s3.bucket}", tmp_path, endpoint_url=dbapi_s3.endpoint_url)
    storage.write("via-config", [b"hello"])
    assert b"".join(dbapi_s3.client.get_object(Bucket=dbapi_s3.bucket, Key="via-config")["Body"].iter_chunks()) == (
        b"hello"
    )
