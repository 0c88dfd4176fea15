"""The Redis lock that keeps one run per (source, scope) at a time, across every worker."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import LockError

from app.sync.runs import LockFactory

LOCK_TIMEOUT = 3600  # a crashed worker's lock expires on its own


def redis_locks(redis: Redis, wait_seconds: float = 0) -> LockFactory:
    """Locks in `redis`; a second run waits up to `wait_seconds` for the first, then skips."""

    @contextmanager
    def lock(name: str) -> Iterator[bool]:
        held = redis.lock(name, timeout=LOCK_TIMEOUT, blocking=wait_seconds > 0,
                          blocking_timeout=wait_seconds or None)
        acquired = held.acquire()
        try:
            yield bool(acquired)
        finally:
            if acquired:
                try:
                    held.release()
                except LockError:
                    pass  # it expired while we ran; nobody else relies on our release

    return lock
