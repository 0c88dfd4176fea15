"""Redis and the RQ queues: `sync`, `default`, `backups`."""
from __future__ import annotations

from flask import current_app
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from app.config import Settings
from app.embedded_redis import embedded_redis_url

QUEUE_NAMES = ("sync", "default", "backups")


def redis_url_for(settings: Settings) -> str:
    """The Redis URL from the settings, or the shared embedded server's when none is configured."""
    return settings.redis_url or embedded_redis_url(settings.instance_dir / "redis")


def redis_url() -> str:
    """The current app's Redis URL (starting the embedded server on first use when none is configured)."""
    app = current_app._get_current_object()
    if not app.config.get("REDIS_URL"):
        app.config["REDIS_URL"] = redis_url_for(app.config["SETTINGS"])
    return app.config["REDIS_URL"]


def redis_connection() -> Redis:
    """The app's Redis connection (one per app, created lazily)."""
    app = current_app._get_current_object()
    connection = app.extensions.get("redis")
    if connection is None:
        connection = Redis.from_url(redis_url())
        app.extensions["redis"] = connection
    return connection


def queue(name: str) -> Queue:
    """One of the panel's RQ queues."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; queues are {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=redis_connection())


def job_gone(job_id: str) -> bool:
    """Whether that RQ job is over (failed, stopped, cancelled, finished) or no longer known: its work is not going on.

    A job whose worker was killed counts once RQ has noticed (its heartbeat ran out and it moved to the failed jobs).
    """
    try:
        job = Job.fetch(job_id, connection=redis_connection())
    except NoSuchJobError:
        return True
    return job.get_status(refresh=True) in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED,
                                            JobStatus.FINISHED)
