"""The sync lock on a real Redis: renewed while its holder runs, free soon after the holder dies."""
from __future__ import annotations

import time

from redis import Redis

from app.queues import redis_url
from app.sync.locks import redis_locks


def test_a_living_holder_keeps_its_lock_past_the_timeout(app):
    redis = Redis.from_url(redis_url())
    locks = redis_locks(redis, lock_seconds=1)
    with locks("sync-lock:test:renewed") as held:
        assert held
        time.sleep(2.5)  # more than twice the timeout: only the renewals keep it
        with locks("sync-lock:test:renewed") as second:
            assert not second
    with locks("sync-lock:test:renewed") as after:
        assert after  # released on exit


def test_the_lock_of_a_holder_that_died_expires_on_its_own(app):
    redis = Redis.from_url(redis_url())
    # A holder killed mid-run leaves its key behind and renews it no more (what SIGKILL does to a worker).
    redis.lock("sync-lock:test:dead", timeout=1, thread_local=False).acquire()
    locks = redis_locks(redis, lock_seconds=1)
    with locks("sync-lock:test:dead") as first:
        assert not first
    deadline = time.monotonic() + 10
    while redis.exists("sync-lock:test:dead") and time.monotonic() < deadline:
        time.sleep(0.1)
    with locks("sync-lock:test:dead") as later:
        assert later
