"""Work whose RQ job is over without having finished it: the worker was killed mid-run (SIGKILL, a lost machine).

RQ notices a dead worker's job by itself (its heartbeat runs out and it moves the job to the failed registry), but
the panel's rows that job was writing stay as it left them: a sync run `running`, a change set `applying`. This
check finds them: an interrupted sync run is marked failed (nothing was deleted: a run deletes only at its end), an
interrupted change set gets an alert saying to resume or roll it back (the resume adopts what had reached
Cloudflare, so nothing is applied twice).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.models import ChangeSet, SyncRun
from app.operations.alerts import raise_alert

# (job id) -> whether that RQ job is over (failed, stopped, cancelled, finished or gone) : app.queues.job_gone
JobGone = Callable[[str], bool]
INTERRUPTED = "interrupted: the worker running it stopped before it finished"


def check(session: Session, job_gone: JobGone, now: datetime, kind: str) -> set[str]:
    """Fail interrupted sync runs and alert (as `kind`) on them and on interrupted change sets; returns the alerts'
    keys (a scope's alert stays open until a later run of it, a change set's until it is no longer applying)."""
    for run in session.scalars(select(SyncRun).where(SyncRun.status == "running", SyncRun.job_id.is_not(None))):
        if job_gone(run.job_id):
            run.status, run.finished_at, run.progress_message = "failed", now, "interrupted"
            run.error = f"{INTERRUPTED}; nothing was deleted"
    session.flush()
    keys: set[str] = set()
    latest = select(func.max(SyncRun.id)).group_by(SyncRun.source, SyncRun.scope)
    for run in session.scalars(select(SyncRun).where(SyncRun.id.in_(latest), SyncRun.status == "failed",
                                                     SyncRun.error.startswith(INTERRUPTED))):
        key = f"{kind}:sync:{run.source}:{run.scope}"
        keys.add(key)
        raise_alert(session, kind=kind, dedup_key=key, now=now, target=f"sync {run.source}/{run.scope}",
                    target_type="sync_run", target_id=str(run.id),
                    message=f"sync {run.source}/{run.scope} was interrupted: its worker stopped mid-run; nothing was"
                            " deleted. The next run (or Sync now) picks it up.")
    applying = session.scalars(select(ChangeSet).where(ChangeSet.state == "applying", ChangeSet.job_id.is_not(None))
                               .order_by(ChangeSet.id)).all()
    for change_set in applying:
        if not job_gone(change_set.job_id):
            continue
        key = f"{kind}:change-set:{change_set.id}"
        keys.add(key)
        message = (f"change set #{change_set.id} stopped mid-apply ({INTERRUPTED}); "
                   f"{change_set.progress_message or 'no progress recorded'}. Resume it or roll back what it applied.")
        if not (change_set.progress_message or "").startswith("interrupted"):
            audit.record(session, actor=None, action="change_set.interrupted", target=f"change set #{change_set.id}",
                         before={"progress": change_set.progress_message}, after={"job_id": change_set.job_id})
            change_set.progress_message = f"interrupted at: {change_set.progress_message or 'start'}"[:255]
        raise_alert(session, kind=kind, dedup_key=key, now=now, target=f"change set #{change_set.id}",
                    target_type="change_set", target_id=str(change_set.id), message=message[:1024])
    return keys
