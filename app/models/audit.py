"""The audit log: one row for every mutation, by a person, an API client or the system."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_target_ref", "target_type", "target_id"),
        # The log's order (newest first, id within an instant), alone and after each exact filter: a keyset page
        # of any depth is one index range; the actor / action ones also serve the select lists' index walk. The
        # action last: the default view leaves sign-ins out, and a numbered page's key-only scan stays index-only.
        Index("ix_audit_events_at_id", "at", "id", "action"),
        Index("ix_audit_events_actor_at_id", "actor", "at", "id", "action"),
        Index("ix_audit_events_action_at_id", "action", "at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255), index=True)
    before: Mapped[dict | None]
    after: Mapped[dict | None]
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
