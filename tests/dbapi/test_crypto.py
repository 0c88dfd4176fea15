"""Encrypted backup streams: round trips across chunk boundaries, tamper and truncation detection, key rotation."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import tracemalloc
from collections.abc import Iterator

import pytest

from dbapi.crypto import (
    CHUNK_SIZE,
    COMPRESSION_NONE,
    COMPRESSION_ZLIB,
    BackupIntegrityError,
    Digest,
    MasterKeyError,
    MasterKeys,
    UnknownMasterKeyError,
    decrypt_stream,
    encrypt_stream,
    read_header,
)

K1 = MasterKeys.generate_spec("k1")
K2 = MasterKeys.generate_spec("k2")
SMALL_CHUNK = 4096
BACKUP_ID = "5d0c3f9e-2b7a-4c1e-9f43-8a6d2e1b7c90"


def encrypt(data: bytes, keys: MasterKeys, **options: int | None) -> bytes:
    """Encrypt ``data`` fed in irregular pieces, as a pipe would deliver it."""
    return b"".join(encrypt_stream(_pieces(data, 7919), keys, backup_id=BACKUP_ID, **options))


def decrypt(blob: bytes, keys: MasterKeys, piece: int = 65536) -> bytes:
    return b"".join(decrypt_stream(_pieces(blob, piece), keys, backup_id=BACKUP_ID))


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def frames(blob: bytes) -> tuple[bytes, list[bytes]]:
    """Split an encrypted stream into its header and its raw frames (flag + length + ciphertext)."""
    header = read_header([blob]).raw
    position, result = len(header), []
    while position < len(blob):
        _, length = struct.unpack(">BI", blob[position : position + 5])
        result.append(blob[position : position + 5 + length])
        position += 5 + length
    return header, result


@pytest.fixture
def keys() -> MasterKeys:
    return MasterKeys.parse(K1)


@pytest.mark.parametrize(
    ("size", "expected_frames"),
    [
        (0, 1),
        (1, 1),
        (SMALL_CHUNK - 1, 1),
        (SMALL_CHUNK, 1),
        (SMALL_CHUNK + 1, 2),
        (5 * SMALL_CHUNK + SMALL_CHUNK // 2, 6),
        (3 * SMALL_CHUNK, 3),
    ],
)
def test_round_trip_across_chunk_boundaries(keys, size, expected_frames):
    data = os.urandom(size)
    blob = encrypt(data, keys, chunk_size=SMALL_CHUNK, compress_level=0)
    assert len(frames(blob)[1]) == expected_frames
    assert decrypt(blob, keys) == data
    # Any re-chunking of the ciphertext (storage reads, HTTP bodies) decrypts the same.
    assert decrypt(blob, keys, piece=1 if size < 3 * SMALL_CHUNK else 999) == data


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 12345])
def test_round_trip_with_default_chunks_and_compression(keys, size):
    # Text compresses: auto mode picks zlib and several plain MiB fit in few encrypted chunks.
    data = (b"INSERT INTO orders VALUES (%d, 'customer');\n" * (size // 40 + 1))[:size]
    blob = encrypt(data, keys)
    assert decrypt(blob, keys) == data
    if size >= CHUNK_SIZE:
        assert read_header([blob]).compression == COMPRESSION_ZLIB
        assert len(blob) < size // 10


def test_incompressible_input_is_not_compressed_again(keys):
    # A pg_dump -Fc archive is already compressed: auto mode stores it as is (inside the encryption).
    data = os.urandom(2 * CHUNK_SIZE + 5)
    blob = encrypt(data, keys)
    assert read_header([blob]).compression == COMPRESSION_NONE
    assert decrypt(blob, keys) == data
    assert len(blob) - len(data) < 200


def test_many_chunks_with_compression_forced(keys):
    data = os.urandom(40_000) + b"A" * 100_000 + os.urandom(30_000)
    blob = encrypt(data, keys, chunk_size=1024, compress_level=6)
    assert read_header([blob]).compression == COMPRESSION_ZLIB
    assert len(frames(blob)[1]) > 60
    assert decrypt(blob, keys) == data


def test_no_plaintext_is_visible_in_the_ciphertext(keys):
    secret_sql = b"CREATE TABLE customers (card_number text); -- SECRET-MARKER-4242\n"
    data = secret_sql * 2000
    for level in (None, 0):
        blob = encrypt(data, keys, compress_level=level)
        assert b"SECRET-MARKER" not in blob
        assert b"CREATE TABLE" not in blob
        assert b"PGDMP" not in blob
        # Not even a 12-byte window of the plain text shows through.
        assert not any(data[i : i + 12] in blob for i in range(0, len(secret_sql)))


def test_two_encryptions_of_the_same_data_differ(keys):
    data = b"same dump" * 1000
    assert encrypt(data, keys) != encrypt(data, keys)


def test_one_flipped_byte_anywhere_is_detected(keys):
    data = os.urandom(300)
    blob = encrypt(data, keys, chunk_size=64, compress_level=0)
    assert len(frames(blob)[1]) == 5
    for position in range(len(blob)):
        for bit in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[position] ^= bit
            with pytest.raises(BackupIntegrityError):
                decrypt(bytes(tampered), keys)


def test_one_flipped_byte_in_a_compressed_stream_is_detected(keys):
    blob = encrypt(b"row\n" * 50_000, keys, chunk_size=512, compress_level=6)
    for position in range(0, len(blob), 7):
        tampered = bytearray(blob)
        tampered[position] ^= 0x04
        with pytest.raises(BackupIntegrityError):
            decrypt(bytes(tampered), keys)


def test_every_truncation_is_detected(keys):
    data = os.urandom(250)
    blob = encrypt(data, keys, chunk_size=64, compress_level=0)
    for length in range(len(blob)):
        with pytest.raises(BackupIntegrityError) as caught:
            decrypt(blob[:length], keys)
        assert "truncated" in str(caught.value) or "magic" in str(caught.value)


def test_reordered_dropped_duplicated_or_appended_chunks_are_detected(keys):
    blob = encrypt(os.urandom(400), keys, chunk_size=64, compress_level=0)
    header, chunks = frames(blob)
    swapped = [chunks[0], chunks[2], chunks[1], *chunks[3:]]
    dropped = [chunks[0], *chunks[2:]]
    duplicated = [chunks[0], chunks[1], *chunks[1:]]
    final_dropped = chunks[:-1]
    for variant in (swapped, dropped, duplicated, final_dropped):
        with pytest.raises(BackupIntegrityError):
            decrypt(header + b"".join(variant), keys)
    with pytest.raises(BackupIntegrityError, match="after the final chunk"):
        decrypt(blob + b"\x00", keys)
    with pytest.raises(BackupIntegrityError):
        decrypt(blob + blob, keys)


def test_truncation_with_a_forged_final_flag_is_detected(keys):
    # Cut after chunk 2 and mark it final: only the AAD's final flag tells this from a genuine 3-chunk stream.
    blob = encrypt(os.urandom(400), keys, chunk_size=64, compress_level=0)
    header, chunks = frames(blob)
    forged_last = b"\x01" + chunks[2][1:]
    with pytest.raises(BackupIntegrityError, match="chunk 2 failed authentication"):
        decrypt(header + chunks[0] + chunks[1] + forged_last, keys)


def test_chunks_of_another_stream_do_not_fit(keys):
    first = encrypt(os.urandom(200), keys, chunk_size=64, compress_level=0)
    second = encrypt(os.urandom(200), keys, chunk_size=64, compress_level=0)
    header, _ = frames(first)
    _, foreign = frames(second)
    with pytest.raises(BackupIntegrityError, match="authentication"):
        decrypt(header + b"".join(foreign), keys)


def test_garbage_is_not_an_encrypted_backup(keys):
    with pytest.raises(BackupIntegrityError, match="not an encrypted dbapi backup"):
        decrypt(b"PGDMP\x01\x0e\x00" + os.urandom(200), keys)
    with pytest.raises(BackupIntegrityError, match="truncated"):
        decrypt(b"", keys)


def test_key_rotation_old_backups_still_decrypt(keys):
    data = os.urandom(5000)
    old_blob = encrypt(data, keys)
    assert read_header([old_blob]).key_id == "k1"

    rotated = MasterKeys.parse(f"{K2},{K1}")
    assert rotated.current_id == "k2"
    assert decrypt(old_blob, rotated) == data
    new_blob = encrypt(data, rotated)
    assert read_header([new_blob]).key_id == "k2"
    assert decrypt(new_blob, rotated) == data

    only_new = MasterKeys.parse(K2)
    with pytest.raises(BackupIntegrityError) as caught:
        decrypt(old_blob, only_new)
    message = str(caught.value)
    assert "'k1'" in message and "not configured" in message and "k2" in message
    assert K1.split(":")[1] not in message


def test_same_key_id_with_other_key_material_is_refused(keys):
    blob = encrypt(b"data" * 100, keys)
    impostor = MasterKeys.parse(MasterKeys.generate_spec("k1"))
    with pytest.raises(BackupIntegrityError, match="does not open for that backup with master key 'k1'"):
        decrypt(blob, impostor)


def test_master_keys_parse_and_refuse_bad_configuration():
    keys = MasterKeys.parse(f" {K2} , {K1} ,")
    assert keys.ids == ("k2", "k1")
    assert keys.get("k1") == base64.b64decode(K1.split(":")[1])
    assert "k1" in keys and "k3" not in keys
    with pytest.raises(UnknownMasterKeyError, match="'k3' is not configured"):
        keys.get("k3")
    assert base64.b64encode(keys.get("k2")).decode() not in repr(keys)

    secret_material = base64.b64encode(b"x" * 31).decode()
    bad_specs = {
        "": "no master key",
        "k1": "not 'key_id:base64'",
        f"k1:{secret_material}": "must be 32 bytes",
        "k1:not base64!!": "not valid base64",
        f"{K1},{K1}": "appears twice",
        f"../k:{K1.split(':')[1]}": "invalid master key id",
    }
    for spec, expected in bad_specs.items():
        with pytest.raises(MasterKeyError) as caught:
            MasterKeys.parse(spec)
        assert expected in str(caught.value)
        assert secret_material not in str(caught.value)


def test_digest_counts_and_hashes_what_passes_through(keys):
    data = os.urandom(3 * CHUNK_SIZE + 17)
    digest = Digest()
    blob = b"".join(encrypt_stream(digest.tap(_pieces(data, 65536)), keys, backup_id=BACKUP_ID))
    assert digest.size == len(data)
    assert digest.hexdigest == hashlib.sha256(data).hexdigest()
    assert decrypt(blob, keys) == data


def test_memory_stays_flat_for_a_large_highly_compressible_stream(keys):
    """64 MiB of zeros compresses to under 1 MiB (one chunk); decrypting must still hand it out in bounded pieces.

    tracemalloc counts Python allocations (bytes objects included), so the peak is the streaming working set.
    """
    total = 64 * 1024 * 1024

    def zeros() -> Iterator[bytes]:
        for _ in range(total // CHUNK_SIZE):
            yield bytes(CHUNK_SIZE)

    blob = b"".join(encrypt_stream(zeros(), keys, backup_id=BACKUP_ID))
    assert len(blob) < CHUNK_SIZE  # one encrypted chunk that inflates to 64 MiB
    tracemalloc.start()
    try:
        seen = 0
        for piece in decrypt_stream([blob], keys, backup_id=BACKUP_ID):
            assert len(piece) <= CHUNK_SIZE
            seen += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == total
    assert peak < 8 * 1024 * 1024

    tracemalloc.start()
    try:
        for _ in encrypt_stream(zeros(), keys, backup_id=BACKUP_ID):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


def test_an_object_opens_only_as_the_backup_it_was_made_for(keys):
    """Swapping two objects in storage: each one, read as the other backup, fails before any plaintext comes out."""
    blob = encrypt(b"the archive of backup A" * 1000, keys)
    with pytest.raises(BackupIntegrityError, match="the stored object is not backup other-backup"):
        next(decrypt_stream([blob], keys, backup_id="other-backup"))
    assert decrypt(blob, keys) == b"the archive of backup A" * 1000


def test_master_key_ids_and_backup_ids_are_matched_in_full(keys):
    with pytest.raises(MasterKeyError, match="invalid master key id"):
        MasterKeys([("k1\n", b"k" * 32)])
    for backup_id in ("a\n", "", "a/b", "x" * 65):
        with pytest.raises(ValueError, match="backup_id"):
            b"".join(encrypt_stream([b"x"], keys, backup_id=backup_id))


def test_version_1_objects_are_refused_by_name(keys):
    blob = bytearray(encrypt(b"data", keys))
    blob[8] = 1  # the version byte
    with pytest.raises(BackupIntegrityError, match="unsupported encrypted backup format version 1"):
        decrypt(bytes(blob), keys)
