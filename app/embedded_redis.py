"""A real Redis for a fresh machine when REDIS_URL is unset: the folder's shared embedded redis-server (localredis).

Started lazily, on the first use of Redis, so commands that never need it (migrations, say) start nothing. Every
panel process asking for the same folder joins one server, even when they start at the same moment (a file lock
around the start); it stops when the last of them exits, even if that one was killed.
"""
from __future__ import annotations

from pathlib import Path


def embedded_redis_url(folder: Path) -> str:
    """Start (or join) the embedded Redis kept in `folder` and return its unix-socket URL."""
    import localredis  # imported here: production never needs it

    return localredis.join(folder)
