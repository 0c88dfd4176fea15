"""Idempotent requests: the same request_id returns the same operation, a different body under it is refused."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dbapi.models import Operation, db
from dbapi.operations.errors import Refused


def fingerprint(kind: str, target: str | None, body: dict[str, Any]) -> str:
    """A digest of what was asked, to tell a retry (same body) from a clash (same request_id, other body)."""
    canonical = json.dumps({"kind": kind, "target": target, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def replay(request_id: str | None, request_fingerprint: str) -> Operation | None:
    """The operation an earlier identical request created, or None; Refused(409) if the request_id was used
    for a different request."""
    if request_id is None:
        return None
    operation = db.session.scalars(select(Operation).where(Operation.request_id == request_id)).one_or_none()
    if operation is not None and operation.request_fingerprint != request_fingerprint:
        raise Refused(409, f"request_id {request_id!r} was already used for a different request", "request_id")
    return operation


def commit_new(operation: Operation, conflict_message: str) -> tuple[Operation, bool]:
    """Commit the rows of a new request -> (operation, True); if a concurrent identical request won the race,
    -> (its operation, False).

    Any other uniqueness clash (a live database with the same name, say) is Refused(409, conflict_message).
    """
    try:
        db.session.commit()
        return operation, True
    except IntegrityError:
        db.session.rollback()
        if operation.request_id is not None:
            winner = replay(operation.request_id, operation.request_fingerprint or "")
            if winner is not None:
                return winner, False
        raise Refused(409, conflict_message) from None
