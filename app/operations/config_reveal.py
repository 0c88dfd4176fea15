"""Showing one masked config value to an admin who asks for it, on the record."""
from __future__ import annotations

from sqlalchemy.orm import Session

from app import audit
from app.models import App


class UnknownConfigKey(LookupError):
    """The app has no config variable of that name."""


def reveal_config_value(session: Session, app: App, key: str, actor: object) -> str:
    """The value of `key` in `app`'s config, audited with the key name and the app (never the value)."""
    values = app.config_values or {}
    if key not in values:
        raise UnknownConfigKey(f"{app.name} has no config variable {key!r}.")
    audit.record(session, actor=actor, action="config.reveal", target=app, after={"variable": key})
    session.commit()
    value = values[key]
    return "" if value is None else str(value)
