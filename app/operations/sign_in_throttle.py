"""Growing delays after failed passwords, per (address, username): an attacker slows only himself.

Keyed on the pair, never on the username alone, so failures from one address cannot lock a named admin out for
everyone; the per-address overall limit (`LOGIN_RATE_LIMIT`) sits on the sign-in route. The counters live in the
rate limiter's storage (Redis in production), so every web process sees the same delays.
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits.storage import Storage

FREE_FAILURES = 3  # typos are free; the fourth failure in a row starts the delays
BASE_DELAY_SECONDS = 2
MAX_DELAY_SECONDS = 15 * 60
FAILURE_MEMORY_SECONDS = 60 * 60  # failures are forgotten an hour after the first one (or at a success)


@dataclass
class SignInThrottle:
    """Failed-password bookkeeping per (address, username), with exponential back-off."""

    storage: Callable[[], Storage]  # looked up per call: the limiter builds its storage when the app starts
    free_failures: int = FREE_FAILURES
    base_delay: int = BASE_DELAY_SECONDS
    max_delay: int = MAX_DELAY_SECONDS
    clock: Callable[[], float] = time.time  # tests move it forward instead of sleeping

    def wait_seconds(self, address: str, username: str) -> int:
        """Seconds before this pair may try a password again (0: now)."""
        locked_until = self.storage().get(self._key("locked-until", address, username))
        return max(0, math.ceil(locked_until - self.clock())) if locked_until else 0

    def failed(self, address: str, username: str) -> int:
        """Count a wrong password for this pair; returns the delay it now has to wait (0 while still free)."""
        storage = self.storage()
        failures = storage.incr(self._key("failures", address, username), FAILURE_MEMORY_SECONDS)
        if failures <= self.free_failures:
            return 0
        delay = min(self.max_delay, self.base_delay * 2 ** (failures - self.free_failures - 1))
        lock_key = self._key("locked-until", address, username)
        storage.clear(lock_key)
        # The storage keeps integers with an expiry: the value is the moment the lock ends, by our own clock.
        storage.incr(lock_key, delay + 1, amount=int(self.clock()) + delay)
        return delay

    def succeeded(self, address: str, username: str) -> None:
        """The right password: this pair starts again from nothing."""
        storage = self.storage()
        storage.clear(self._key("failures", address, username))
        storage.clear(self._key("locked-until", address, username))

    @staticmethod
    def _key(kind: str, address: str, username: str) -> str:
        # Hashed: user-typed names become fixed-size keys that cannot smuggle separators into Redis key names.
        digest = hashlib.sha256(f"{address}\0{username.strip().lower()}".encode()).hexdigest()[:32]
        return f"sign-in-{kind}:{digest}"
