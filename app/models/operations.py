"""Long-running actions, alerts, DNS change sets and sync runs: what the panel did and what needs attention."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow

# stale: in progress past its kind's threshold, marked by the watchdog (a late result may still end it).
OPERATION_STATES = ("pending", "running", "succeeded", "failed", "stale")
# A sync run the mass-deletion guard stopped from deleting: it waits for an admin's confirmation.
SYNC_NEEDS_CONFIRMATION = "needs_confirmation"


class Operation(Base):
    """Every long action, local or through the Databases API, with its progress and outcome."""

    __tablename__ = "operations"
    __table_args__ = (Index("ix_operations_state_started", "state", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    progress: Mapped[int] = mapped_column(default=0)  # percent
    progress_message: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    dbapi_operation_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    result: Mapped[dict | None]


class Alert(Base):
    """Something that needs an administrator; one row per dedup key, re-seen alerts only move `last_at`."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "resolved_at", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True)
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(String(1024))
    first_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime | None]
    # What a notification shows beyond the message (window, local time, impact), as the check saw it.
    details: Mapped[dict | None]
    # What the last notification said in short (a maintenance window): a different one notifies again.
    revision: Mapped[str | None] = mapped_column(String(255))
    # A notification still to deliver to every channel: raised | changed | resolved (None: all delivered).
    pending_notice: Mapped[str | None] = mapped_column(String(16), index=True)

    deliveries: Mapped[list[AlertDelivery]] = relationship(back_populates="alert", order_by="AlertDelivery.id",
                                                           cascade="all, delete-orphan", passive_deletes=True)

    @property
    def state(self) -> str:
        """open | acknowledged | resolved, as the alerts page shows it."""
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged_at is not None else "open"


DELIVERY_STATES = ("pending", "delivered", "failed", "superseded")


class AlertDelivery(Base):
    """One notification of one alert on one channel: each run's attempts add up until it is delivered."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_alert_channel", "alert_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    notice: Mapped[str] = mapped_column(String(16))  # raised | changed | resolved
    revision: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(128))  # a stable key: "email", "webhook:<host>:<hash>"
    channel_label: Mapped[str] = mapped_column(String(255))  # masked: no webhook path, no password
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)  # redacted
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    alert: Mapped[Alert] = relationship(back_populates="deliveries")


# planned → applying → applied → rolled_back; or conflict (nothing changed), failed (what was applied was reverted),
# partially_applied (some chunks applied and could not be reverted: resume or roll back).
CHANGE_SET_STATES = ("planned", "applying", "applied", "conflict", "failed", "partially_applied", "rolling_back",
                     "rolled_back")
CHANGE_SET_FINAL = ("applied", "conflict", "failed", "partially_applied", "rolled_back")


class ChangeSet(Base):
    """A group of DNS changes applied as one action, with before/after snapshots for one-click rollback."""

    __tablename__ = "change_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # repoint | cluster_switch | dangling | rollback
    state: Mapped[str] = mapped_column(String(32), default="draft", index=True)  # "partially_applied" is 17
    description: Mapped[str | None] = mapped_column(String(512))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None]
    rollback_of_id: Mapped[int | None] = mapped_column(ForeignKey("change_sets.id"))
    # What the plan was asked for ({"from": "eu-prod", "to": "eu-staging", "zone": null}), to show and re-plan.
    parameters: Mapped[dict | None]
    applied_by: Mapped[str | None] = mapped_column(String(128))
    finished_at: Mapped[datetime | None]
    job_id: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[int] = mapped_column(default=0)  # percent of the items done
    progress_message: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    cloudflare_calls: Mapped[int] = mapped_column(default=0)  # HTTP requests the last apply sent

    items: Mapped[list[ChangeSetItem]] = relationship(back_populates="change_set", order_by="ChangeSetItem.position",
                                                      cascade="all, delete-orphan")
    rollback_of: Mapped[ChangeSet | None] = relationship(remote_side=[id])

    @property
    def finished(self) -> bool:
        return self.state in CHANGE_SET_FINAL

    @property
    def active_items(self) -> list[ChangeSetItem]:
        """The items the operator kept (dropped rows are shown, never applied)."""
        return [item for item in self.items if item.state != "dropped"]


class ChangeSetItem(Base):
    """One record change: `before` is the exact record as planned (None for a create), `after` what it becomes."""

    __tablename__ = "change_set_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_set_id: Mapped[int] = mapped_column(ForeignKey("change_sets.id", ondelete="CASCADE"), index=True)
    zone_cf_id: Mapped[str] = mapped_column(String(32))
    record_cf_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))  # create | update | delete
    before: Mapped[dict | None]
    after: Mapped[dict | None]
    # pending | applied | reverted | conflict | failed | dropped
    state: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(default=0)  # apply order; reverts run in reverse
    zone_name: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(String(512))  # why the plan holds this row
    applied: Mapped[dict | None]  # the record as Cloudflare returned it after the apply (for an exact rollback)

    change_set: Mapped[ChangeSet] = relationship(back_populates="items")

    @property
    def record_name(self) -> str:
        snapshot = self.after or self.before or {}
        return snapshot.get("name", "")

    @property
    def record_type(self) -> str:
        snapshot = self.after or self.before or {}
        return snapshot.get("type", "")


class SyncRun(Base):
    """One synchronisation of one (source, scope): running, succeeded, failed, or needs_confirmation (the
    mass-deletion guard held back the deletions in `pending_deletions` until an admin confirms them)."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_source_scope_started", "source", "scope", "started_at"),
        Index("ix_sync_runs_started_id", "started_at", "id"),  # the sync page's history, newest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # deis | aws | cloudflare
    scope: Mapped[str] = mapped_column(String(64), default="all")
    status: Mapped[str] = mapped_column(String(32), default="running", index=True)
    triggered_by: Mapped[str | None] = mapped_column(String(128))
    job_id: Mapped[str | None] = mapped_column(String(64), index=True)  # the RQ job that ran it, for live progress
    # The request this run is one scope of (None: a run from `flask sync run`, or from before requests existed).
    request_id: Mapped[int | None] = mapped_column(ForeignKey("sync_requests.id", ondelete="SET NULL"), index=True)
    progress: Mapped[int] = mapped_column(default=0)  # percent
    progress_message: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    api_calls: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # What the mass-deletion guard held back, per kind: {"apps": {"would_delete": 6, "of": 10}}.
    pending_deletions: Mapped[dict | None]

    @property
    def waiting_for_confirmation(self) -> bool:
        return self.status == SYNC_NEEDS_CONFIRMATION

    @property
    def pending_deletion_count(self) -> int:
        """How many rows this run held back, all kinds together."""
        return sum(numbers.get("would_delete", 0) for numbers in (self.pending_deletions or {}).values())
