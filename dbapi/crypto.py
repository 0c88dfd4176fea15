"""Streaming compression + authenticated encryption of backups.

Contract: ``encrypt_stream(plain_chunks, keys, backup_id=...)`` turns any iterable of plain bytes (a ``pg_dump -Fc``
archive) into encrypted bytes bound to that backup id; ``decrypt_stream(encrypted_chunks, keys, backup_id=...)`` gives
the plain bytes back or raises ``BackupIntegrityError``, also when the object was made for another backup id (two
objects swapped in storage). Both hold at most about two chunks in memory, whatever the stream size.

Format (version 2, all integers big-endian)::

    header  = magic b"DBAPIENC" | version u8 = 2 | compression u8 (0 none, 1 zlib) | chunk_size u32
              | nonce_prefix 8 bytes | key_id_len u8 | key_id (ascii) | wrapped_len u16 | wrapped_key
    frame*  = final_flag u8 (0 or 1) | length u32 | AES-256-GCM ciphertext+tag (length bytes)

- The plain stream is compressed with zlib (unless the caller or the auto check on the first MiB says it is
  already compressed, as ``pg_dump -Fc`` output is: then ``compression`` = 0) and the compressed bytes are cut into chunks of ``chunk_size`` bytes
  (the last one shorter, possibly empty); each chunk is one frame. There is always at least one frame, and exactly
  the last frame has ``final_flag`` = 1, so a stream cut at a frame boundary is detected.
- Each stream has a random 32-byte data key, wrapped with AES-256-GCM under the current master key
  (``wrapped_key`` = 12-byte nonce | ciphertext | tag, AAD = ``b"dbapi-data-key/v2/" + key_id + b"/" + backup_id``).
- The backup's identity is part of the header AAD, not of the header: ``header_aad = sha256(b"dbapi-backup/v2/" +
  backup_id + b"\0" + header)``. Chunk ``i`` uses nonce ``nonce_prefix | u32(i)`` and AAD ``header_aad | u64(i) |
  final_flag``: a changed header, an object of another backup, a reordered, dropped, duplicated or truncated chunk,
  or a flipped byte anywhere fails authentication. Version 1 (no backup id) is refused: no backup of that format
  was ever kept.
- Decryption yields plain bytes chunk by chunk as each chunk authenticates; a consumer must treat an exception
  part-way through as "everything so far is void" (pg_restore runs in a single transaction for that reason).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"DBAPIENC"
FORMAT_VERSION = 2
CHUNK_SIZE = 1024 * 1024
COMPRESSION_NONE = 0
COMPRESSION_ZLIB = 1
# Level 1: several times faster than the default 6 for a few percent of size.
DEFAULT_COMPRESS_LEVEL = 1
AUTO_COMPRESS_SAMPLE = 1024 * 1024
AUTO_COMPRESS_MAX_RATIO = 0.9

# Checked with fullmatch: "$" would also accept a trailing newline.
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_BACKUP_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TAG_SIZE = 16
_DATA_KEY_SIZE = 32
_WRAP_NONCE_SIZE = 12
_NONCE_PREFIX_SIZE = 8
_MAX_CHUNKS = 2**32  # the per-chunk counter is 32 bits
_MAX_CHUNK_SIZE = 64 * 1024 * 1024  # refuse headers that would make us buffer more than this per frame
_FIXED_HEADER = struct.Struct(">8sBBI8sB")  # magic, version, compression, chunk_size, nonce_prefix, key_id_len
_FRAME_HEADER = struct.Struct(">BI")  # final flag, ciphertext length
_READ_PIECE = 1024 * 1024  # upper bound of one decompressed piece handed to the consumer


class BackupIntegrityError(Exception):
    """The encrypted stream is damaged, truncated, tampered with, or needs a master key we do not have."""


class MasterKeyError(ValueError):
    """The master key configuration is malformed (the message never contains key material)."""


class UnknownMasterKeyError(LookupError):
    """A key id was asked for that is not among the configured master keys."""


class MasterKeys:
    """The configured master keys; the first one is current (encrypts), the others only decrypt."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise MasterKeyError("no master key configured: expected at least one 'key_id:base64' entry")
        seen: dict[str, bytes] = {}
        for key_id, key in keys:
            if not _KEY_ID.fullmatch(key_id):
                raise MasterKeyError(
                    f"invalid master key id {key_id!r}: use 1-64 characters from A-Z a-z 0-9 _ . - "
                    "starting with a letter or digit"
                )
            if key_id in seen:
                raise MasterKeyError(f"master key id {key_id!r} appears twice")
            if len(key) != _DATA_KEY_SIZE:
                raise MasterKeyError(f"master key {key_id!r} must be 32 bytes, got {len(key)}")
            seen[key_id] = bytes(key)
        self._keys = seen
        self._order = tuple(seen)

    @classmethod
    def parse(cls, spec: str) -> MasterKeys:
        """Parse ``"k2:<base64 32 bytes>,k1:<base64>"`` (first = current) as found in ``DBAPI_MASTER_KEYS``."""
        entries: list[tuple[str, bytes]] = []
        for position, entry in enumerate(part.strip() for part in spec.split(",")):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep or not key_id:
                raise MasterKeyError(f"master key entry #{position + 1} is not 'key_id:base64'")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise MasterKeyError(f"master key {key_id!r} is not valid base64") from None
            entries.append((key_id, key))
        return cls(entries)

    @staticmethod
    def generate_spec(key_id: str = "k1") -> str:
        """Return a fresh ``"key_id:<base64>"`` entry (32 random bytes) for configuration or tests."""
        if not _KEY_ID.fullmatch(key_id):
            raise MasterKeyError(f"invalid master key id {key_id!r}")
        return f"{key_id}:{base64.b64encode(os.urandom(_DATA_KEY_SIZE)).decode('ascii')}"

    @property
    def current_id(self) -> str:
        """The id of the key that encrypts new backups."""
        return self._order[0]

    @property
    def ids(self) -> tuple[str, ...]:
        """All configured key ids, current first."""
        return self._order

    def get(self, key_id: str) -> bytes:
        """Return the key bytes for ``key_id``; raise ``UnknownMasterKeyError`` if it is not configured."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownMasterKeyError(
                f"master key {key_id!r} is not configured (configured: {', '.join(self._order)})"
            ) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __repr__(self) -> str:
        # Never print key material.
        return f"MasterKeys(ids={list(self._order)!r})"


@dataclass(frozen=True)
class EncryptionHeader:
    """The parsed header of an encrypted stream."""

    version: int
    compression: int
    chunk_size: int
    nonce_prefix: bytes
    key_id: str
    wrapped_key: bytes
    raw: bytes


def _encode_header(compression: int, chunk_size: int, nonce_prefix: bytes, key_id: str, wrapped_key: bytes) -> bytes:
    key_id_raw = key_id.encode("ascii")
    return (
        _FIXED_HEADER.pack(MAGIC, FORMAT_VERSION, compression, chunk_size, nonce_prefix, len(key_id_raw))
        + key_id_raw
        + struct.pack(">H", len(wrapped_key))
        + wrapped_key
    )


class Digest:
    """SHA-256 and size of the bytes that flow through ``tap()``; read ``hexdigest`` and ``size`` afterwards."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        """Account for one chunk."""
        self._sha.update(chunk)
        self.size += len(chunk)

    def tap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield ``chunks`` unchanged while hashing and counting them."""
        for chunk in chunks:
            self.update(chunk)
            yield chunk

    @property
    def hexdigest(self) -> str:
        """Hex SHA-256 of everything seen so far."""
        return self._sha.hexdigest()


def _wrap_aad(key_id: str, backup_id: str) -> bytes:
    return b"dbapi-data-key/v2/" + key_id.encode("ascii") + b"/" + _backup_id_bytes(backup_id)


def _backup_id_bytes(backup_id: str) -> bytes:
    if not isinstance(backup_id, str) or not _BACKUP_ID.fullmatch(backup_id):
        raise ValueError("backup_id must be 1-64 characters from A-Z a-z 0-9 _ . -")
    return backup_id.encode("ascii")


def _header_aad(header: bytes, backup_id: str) -> bytes:
    return hashlib.sha256(b"dbapi-backup/v2/" + _backup_id_bytes(backup_id) + b"\0" + header).digest()


def _chunk_nonce(prefix: bytes, index: int) -> bytes:
    if index >= _MAX_CHUNKS:
        raise BackupIntegrityError("stream has more chunks than the format allows (2**32)")
    return prefix + struct.pack(">I", index)


def _chunk_aad(header_hash: bytes, index: int, final: bool) -> bytes:
    return header_hash + struct.pack(">QB", index, 1 if final else 0)


def _choose_compression(sample: bytes, compress_level: int | None) -> int:
    if compress_level is not None:
        return COMPRESSION_NONE if compress_level == 0 else COMPRESSION_ZLIB
    # Auto: a pg_dump -Fc archive is already compressed and zlib runs at ~25 MB/s on such bytes for ~0% gain,
    # while an uncompressed (-Z0) archive or text compresses 3-10x. Decide from the first chunk of input.
    if not sample:
        return COMPRESSION_ZLIB
    ratio = len(zlib.compress(sample, 1)) / len(sample)
    return COMPRESSION_ZLIB if ratio < AUTO_COMPRESS_MAX_RATIO else COMPRESSION_NONE


def encrypt_stream(
    plain_chunks: Iterable[bytes],
    keys: MasterKeys,
    *,
    backup_id: str,
    chunk_size: int = CHUNK_SIZE,
    compress_level: int | None = None,
) -> Iterator[bytes]:
    """Compress and encrypt ``plain_chunks`` under a fresh data key wrapped by ``keys.current_id``, bound to
    ``backup_id`` (only ``decrypt_stream`` with the same id opens it).

    ``compress_level`` None = zlib level 1 unless the first chunk of input is incompressible; 0 = no
    compression; 1-9 = zlib at that level. Yields the header, then one frame per ``chunk_size`` bytes of
    compressed data; memory stays O(chunk_size).
    """
    if not 1 <= chunk_size <= _MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be between 1 and {_MAX_CHUNK_SIZE}")
    if compress_level is not None and not 0 <= compress_level <= 9:
        raise ValueError("compress_level must be None (auto) or 0-9")
    _backup_id_bytes(backup_id)
    plain_iter = iter(plain_chunks)
    head = bytearray()
    for plain in plain_iter:
        head += plain
        if len(head) >= AUTO_COMPRESS_SAMPLE:
            break
    compression = _choose_compression(bytes(head[:AUTO_COMPRESS_SAMPLE]), compress_level)

    data_key = AESGCM.generate_key(bit_length=256)
    wrap_nonce = os.urandom(_WRAP_NONCE_SIZE)
    key_id = keys.current_id
    wrapped = wrap_nonce + AESGCM(keys.get(key_id)).encrypt(wrap_nonce, data_key, _wrap_aad(key_id, backup_id))
    nonce_prefix = os.urandom(_NONCE_PREFIX_SIZE)
    header = _encode_header(compression, chunk_size, nonce_prefix, key_id, wrapped)
    header_hash = _header_aad(header, backup_id)
    aead = AESGCM(data_key)
    yield header

    compressor = (
        zlib.compressobj(compress_level or DEFAULT_COMPRESS_LEVEL) if compression == COMPRESSION_ZLIB else None
    )
    pending = bytearray()
    index = 0

    def seal(size: int, final: bool) -> Iterator[bytes]:
        # Encrypt straight from the pending buffer (no slice copy); frame header and body go out separately.
        with memoryview(pending) as view:
            sealed = aead.encrypt(
                _chunk_nonce(nonce_prefix, index), view[:size], _chunk_aad(header_hash, index, final)
            )
        del pending[:size]
        yield _FRAME_HEADER.pack(1 if final else 0, len(sealed))
        yield sealed

    def rest() -> Iterator[bytes]:
        yield bytes(head)
        head.clear()
        yield from plain_iter

    for plain in rest():
        if not plain:
            continue
        pending += compressor.compress(plain) if compressor else plain
        # Keep strictly more than one chunk back: the last chunk must carry the final flag.
        while len(pending) > chunk_size:
            yield from seal(chunk_size, final=False)
            index += 1
    if compressor:
        pending += compressor.flush()
    while len(pending) > chunk_size:
        yield from seal(chunk_size, final=False)
        index += 1
    yield from seal(len(pending), final=True)


class _StreamReader:
    """Reads exact byte counts out of an iterable of arbitrarily sized chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._exhausted = False

    def _fill(self, size: int) -> None:
        while len(self._buffer) < size and not self._exhausted:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                self._exhausted = True

    def read_exact(self, size: int, what: str) -> bytes:
        self._fill(size)
        if len(self._buffer) < size:
            raise BackupIntegrityError(f"encrypted backup is truncated (ended inside the {what})")
        with memoryview(self._buffer) as view:
            data = bytes(view[:size])
        del self._buffer[:size]
        return data

    def at_end(self) -> bool:
        self._fill(1)
        return not self._buffer


def _read_header(reader: _StreamReader) -> EncryptionHeader:
    fixed = reader.read_exact(_FIXED_HEADER.size, "header")
    magic, version, compression, chunk_size, nonce_prefix, key_id_len = _FIXED_HEADER.unpack(fixed)
    if magic != MAGIC:
        raise BackupIntegrityError("not an encrypted dbapi backup (bad magic bytes)")
    if version != FORMAT_VERSION:
        raise BackupIntegrityError(f"unsupported encrypted backup format version {version}")
    if compression not in (COMPRESSION_NONE, COMPRESSION_ZLIB):
        raise BackupIntegrityError(f"unknown compression method {compression} in backup header")
    if not 1 <= chunk_size <= _MAX_CHUNK_SIZE:
        raise BackupIntegrityError(f"invalid chunk size {chunk_size} in backup header")
    key_id_raw = reader.read_exact(key_id_len, "header")
    (wrapped_len,) = struct.unpack(">H", reader.read_exact(2, "header"))
    wrapped_key = reader.read_exact(wrapped_len, "header")
    try:
        key_id = key_id_raw.decode("ascii")
    except UnicodeDecodeError:
        raise BackupIntegrityError("backup header has a malformed master key id") from None
    if not _KEY_ID.fullmatch(key_id):
        raise BackupIntegrityError("backup header has a malformed master key id")
    raw = fixed + key_id_raw + struct.pack(">H", wrapped_len) + wrapped_key
    return EncryptionHeader(version, compression, chunk_size, nonce_prefix, key_id, wrapped_key, raw)


def read_header(encrypted_chunks: Iterable[bytes]) -> EncryptionHeader:
    """Parse only the header (e.g. to learn which master key a stored backup needs)."""
    return _read_header(_StreamReader(encrypted_chunks))


def _unwrap_data_key(header: EncryptionHeader, keys: MasterKeys, backup_id: str) -> bytes:
    if header.key_id not in keys:
        raise BackupIntegrityError(
            f"backup was encrypted with master key {header.key_id!r}, which is not configured "
            f"(configured: {', '.join(keys.ids)}); add it to DBAPI_MASTER_KEYS to read this backup"
        )
    wrapped = header.wrapped_key
    if len(wrapped) != _WRAP_NONCE_SIZE + _DATA_KEY_SIZE + _TAG_SIZE:
        raise BackupIntegrityError("backup header has a malformed wrapped data key")
    try:
        return AESGCM(keys.get(header.key_id)).decrypt(
            wrapped[:_WRAP_NONCE_SIZE], wrapped[_WRAP_NONCE_SIZE:], _wrap_aad(header.key_id, backup_id)
        )
    except InvalidTag:
        raise BackupIntegrityError(
            f"the stored object is not backup {backup_id}: its data key does not open for that backup with master "
            f"key {header.key_id!r} (the object belongs to another backup, the key material for that id differs, "
            "or the header was tampered with)"
        ) from None


def decrypt_stream(encrypted_chunks: Iterable[bytes], keys: MasterKeys, *, backup_id: str) -> Iterator[bytes]:
    """Authenticate, decrypt and decompress a stream made by ``encrypt_stream`` for ``backup_id``, yielding plain
    bytes.

    Raises ``BackupIntegrityError`` on tampering, truncation, trailing data, an unknown master key, or an object made
    for another backup.
    """
    _backup_id_bytes(backup_id)
    reader = _StreamReader(encrypted_chunks)
    header = _read_header(reader)
    aead = AESGCM(_unwrap_data_key(header, keys, backup_id))
    header_hash = _header_aad(header.raw, backup_id)
    decompressor = zlib.decompressobj() if header.compression == COMPRESSION_ZLIB else None
    max_frame = header.chunk_size + _TAG_SIZE
    index = 0
    while True:
        final_flag, length = _FRAME_HEADER.unpack(reader.read_exact(_FRAME_HEADER.size, f"header of chunk {index}"))
        if final_flag not in (0, 1) or not _TAG_SIZE <= length <= max_frame:
            raise BackupIntegrityError(f"chunk {index} has a corrupt frame header")
        final = final_flag == 1
        sealed = reader.read_exact(length, f"chunk {index}")
        try:
            payload = aead.decrypt(
                _chunk_nonce(header.nonce_prefix, index), sealed, _chunk_aad(header_hash, index, final)
            )
        except InvalidTag:
            raise BackupIntegrityError(
                f"chunk {index} failed authentication: the backup was modified or damaged"
            ) from None
        if decompressor is None:
            if payload:
                yield payload
        else:
            yield from _inflate(decompressor, payload, index)
        if final:
            break
        index += 1
    if not reader.at_end():
        raise BackupIntegrityError("unexpected data after the final chunk of the backup")
    if decompressor is not None:
        tail = decompressor.flush()
        if not decompressor.eof or decompressor.unused_data:
            raise BackupIntegrityError("compressed stream inside the backup is incomplete or has trailing data")
        if tail:
            yield tail


def _inflate(decompressor: zlib._Decompress, payload: bytes, index: int) -> Iterator[bytes]:
    # Bounded pieces: a highly compressible dump must not expand a 1 MiB chunk into gigabytes at once.
    data = payload
    try:
        while data:
            piece = decompressor.decompress(data, _READ_PIECE)
            if piece:
                yield piece
            data = decompressor.unconsumed_tail
            if decompressor.eof and (data or decompressor.unused_data):
                raise BackupIntegrityError("compressed stream inside the backup has trailing data")
    except zlib.error as error:
        raise BackupIntegrityError(f"chunk {index} does not decompress: {error}") from None
