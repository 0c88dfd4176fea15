"""The RQ worker class: builds the panel app once and runs every job inside its app context.

Run as `rq worker --worker-class jobs.worker.PanelWorker --with-scheduler -u $REDIS_URL sync default backups`.
"""
from __future__ import annotations

from rq import Worker

from app.audit import request_id_var
from app.extensions import db
from app.services.aws import preload_models
from jobs.context import panel


class PanelWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.panel_app = panel()
        preload_models()  # parsed once here, inherited by every forked work horse instead of parsed per job

    def perform_job(self, job, queue, *args, **kwargs) -> bool:
        # The work horse is a fork: connections inherited from the parent must not be shared with it.
        db.engine.dispose(close=False)
        token = request_id_var.set(f"job:{job.id}")
        try:
            return super().perform_job(job, queue, *args, **kwargs)
        finally:
            db.session.remove()  # never carry a session (or a failed transaction) into the next job
            request_id_var.reset(token)
