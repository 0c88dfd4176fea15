"""Recognising secret-looking values so pages, logs and the audit log never show them."""
from __future__ import annotations

import re
from typing import Any

MASK = "••••••"
SECRET_KEY_PATTERN = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth|_url$|^database_url$|dsn|signature)",
    re.IGNORECASE,
)
# A URL with credentials in it (postgres://user:pw@host) is secret whatever its key is called.
URL_WITH_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)


def is_secret(key: str, value: Any = None) -> bool:
    """Whether a setting called `key` (holding `value`) should be masked."""
    if SECRET_KEY_PATTERN.search(key):
        return True
    return isinstance(value, str) and bool(URL_WITH_CREDENTIALS.match(value))


def redact(payload: Any) -> Any:
    """A copy of `payload` with every secret-looking value replaced by a mask, recursively."""
    if isinstance(payload, dict):
        return {
            key: (MASK if isinstance(key, str) and is_secret(key, value) and value not in (None, "") else redact(value))
            for key, value in payload.items()
        }
    if isinstance(payload, list):
        return [redact(item) for item in payload]
    return payload
