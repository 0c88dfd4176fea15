"""One synchronisation request ("Sync now", the schedule, a change the panel made): fanned out to one job per
(source, scope), its SyncRun rows under it, and the relations rebuilt once at the end."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

# A request is open (its scopes queued or running) until its final job has rebuilt the relations.
SYNC_REQUEST_OPEN = "running"


class SyncRequest(Base):
    """What was asked (`source`/`scope`, None = every one), by whom, the scope jobs it fanned out to, and how it
    ended; its title stays here after the queue has forgotten the jobs."""

    __tablename__ = "sync_requests"
    __table_args__ = (Index("ix_sync_requests_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(16))
    scope: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # running | succeeded | failed | needs_confirmation
    status: Mapped[str] = mapped_column(String(32), default=SYNC_REQUEST_OPEN)
    # [{"source": "deis", "scope": "eu-prod", "job_id": "..."}]: one job per scope, in the order they were queued.
    scope_jobs: Mapped[list] = mapped_column(default=list)
    job_id: Mapped[str | None] = mapped_column(String(64), index=True)  # the job that fans the request out
    finish_job_id: Mapped[str | None] = mapped_column(String(64), index=True)  # the final (relations) job
    relations_changed: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)  # why the request itself failed (not one scope: see its runs)

    @property
    def is_open(self) -> bool:
        return self.status == SYNC_REQUEST_OPEN

    def covers(self, source: str | None, scope: str | None) -> bool:
        """Whether a request for `source`/`scope` asks for nothing this one does not already do."""
        if self.source is None:
            return True
        if source != self.source:
            return False
        return self.scope is None or scope == self.scope
