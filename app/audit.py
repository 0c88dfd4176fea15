"""The audit log: the one function every mutation calls."""
from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from app.models import AuditEvent
from app.redaction import redact

# Set per request by the web app (and per job by the worker) so events can be traced to what caused them.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# Set by `/api/v1` for the length of a request: every event it causes says it came through the developer API.
channel_var: ContextVar[str | None] = ContextVar("audit_channel", default=None)
SYSTEM_ACTOR = "system"
# What a request id may look like: a client's X-Request-ID is used only if it matches (else the panel makes one).
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Ids the panel makes itself may also say where they come from ("job:<rq id>").
_STORED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _checked_request_id() -> str | None:
    # The audit log never stores an id it has not checked, whoever set the context variable.
    request_id = request_id_var.get()
    return request_id if request_id and _STORED_REQUEST_ID.fullmatch(request_id) else None


def _actor_name(actor: Any) -> str:
    if actor is None:
        return SYSTEM_ACTOR
    if isinstance(actor, str):
        return actor
    return getattr(actor, "username", None) or getattr(actor, "name", None) or str(actor)


def _describe_target(target: Any) -> tuple[str | None, str | None, str | None]:
    if target is None:
        return None, None, None
    if isinstance(target, str):
        return None, None, target
    mapper = sa_inspect(target, raiseerr=False)
    target_type = mapper.mapper.local_table.name if mapper is not None else type(target).__name__.lower()
    identity = getattr(target, "id", None)
    label = (
        getattr(target, "username", None)
        or getattr(target, "name", None)
        or getattr(target, "target", None)
        or f"{target_type}#{identity}"
    )
    return target_type, None if identity is None else str(identity), str(label)


def record(
    session: Session,
    *,
    actor: Any,
    action: str,
    target: Any = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Add an audit event for `action` on `target` by `actor` (secrets redacted); the caller commits."""
    target_type, target_id, label = _describe_target(target)
    channel = channel_var.get()
    if channel:
        after = {**(after or {}), "via": channel}
    event = AuditEvent(
        actor=_actor_name(actor),
        action=action,
        target_type=target_type,
        target_id=target_id,
        target=label,
        before=redact(before) if before is not None else None,
        after=redact(after) if after is not None else None,
        request_id=_checked_request_id(),
    )
    session.add(event)
    return event
