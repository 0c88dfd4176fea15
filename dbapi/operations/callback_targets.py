"""The request-time check of a callback URL: refused with 422 before any row is written or job queued."""
from __future__ import annotations

from dbapi import runtime
from dbapi.callback_hosts import CallbackRefused, check_callback_url
from dbapi.operations.errors import Refused


def require_allowed_callback(url: str | None) -> None:
    """Refused(422) naming ``callback_url`` unless callbacks may be sent to ``url`` (None: no callback)."""
    if url is None:
        return
    settings = runtime().settings
    try:
        check_callback_url(url, allowed=settings.callback_hosts, production=settings.production)
    except CallbackRefused as error:
        raise Refused(422, str(error), "callback_url") from None
