"""Template filters shared by every page."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Flask

from app.redaction import MASK, is_secret, redact_text


def relative_time(moment: datetime | None, now: datetime | None = None) -> str:
    """'in 3 days', '2 hours ago': how an operator reads a timestamp at a glance."""
    if moment is None:
        return "never"
    now = now or datetime.now(timezone.utc)
    seconds = (moment - now).total_seconds()
    future, seconds = seconds > 0, abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            break
    else:
        text = "less than a minute"
    return f"in {text}" if future else f"{text} ago"


def expiry(moment: datetime | None, now: datetime | None = None) -> str:
    """'expires in 3 days' or 'expired 3 days ago': the same words for a deadline on every page."""
    if moment is None:
        return "expiry not tracked"
    now = now or datetime.now(timezone.utc)
    return f"expired {relative_time(moment, now)}" if moment <= now else f"expires {relative_time(moment, now)}"


def timestamp(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def masked(value: object, key: str) -> object:
    return MASK if is_secret(key, value) else value


def register(app: Flask) -> None:
    @app.context_processor
    def navigation() -> dict:
        return {"has_page": lambda endpoint: endpoint in app.view_functions}

    app.add_template_filter(relative_time, "ago")
    app.add_template_filter(expiry, "expiry")
    app.add_template_filter(timestamp, "ts")
    app.add_template_filter(masked, "masked")
    # Errors are stored redacted; pages redact again so rows written before that (or by hand) cannot leak.
    app.add_template_filter(redact_text, "redact_text")
