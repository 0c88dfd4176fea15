"""The Redis lock that keeps one run per (source, scope) at a time, across every worker."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import LockError, RedisError

from app.sync.runs import LockFactory

# A holder renews its lock every third of this while it runs, so the lock of a worker that was killed (SIGKILL, a
# lost machine) frees itself this soon after, and the retry is not skipped for an hour. `SYNC_LOCK_SECONDS`.
LOCK_TIMEOUT = 60


def redis_locks(redis: Redis, wait_seconds: float = 0, lock_seconds: float = LOCK_TIMEOUT) -> LockFactory:
    """Locks in `redis`; a second run waits up to `wait_seconds` for the first, then skips."""

    @contextmanager
    def lock(name: str) -> Iterator[bool]:
        # Not thread-local: the renewing thread must see the token the holder got.
        held = redis.lock(name, timeout=lock_seconds, blocking=wait_seconds > 0,
                          blocking_timeout=wait_seconds or None, thread_local=False)
        acquired = held.acquire()
        stop = threading.Event()
        renewer = threading.Thread(target=_keep_alive, args=(held, stop, lock_seconds), daemon=True,
                                   name=f"renew {name}")
        if acquired:
            renewer.start()
        try:
            yield bool(acquired)
        finally:
            if acquired:
                stop.set()
                renewer.join()
                try:
                    held.release()
                except LockError:
                    pass  # it expired while we ran; nobody else relies on our release

    return lock


def _keep_alive(held, stop: threading.Event, lock_seconds: float) -> None:
    """Push the lock's expiry back while its holder runs; stop once it is lost (it expired and another took it)."""
    while not stop.wait(lock_seconds / 3):
        try:
            held.reacquire()
        except LockError:
            return
        except RedisError:
            continue  # Redis blinked: the next renewal may get through before the lock runs out
