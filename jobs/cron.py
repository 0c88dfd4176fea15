"""Periodic jobs, registered with RQ's built-in cron. Run exactly one: `TZ=UTC rq cron jobs/cron.py -u $REDIS_URL`."""
import os

from rq import cron

from jobs.alerts import run_alerts
from jobs.backup_dispatch import dispatch_backups
from jobs.job_watchdog import watch_jobs
from jobs.limits import enforce_limits_job
from jobs.restore_drills import run_restore_drills
from jobs.stuck_operations import check_stuck_operations
from app.queries.sync_status import sync_cron
from jobs.sync import sync_all

# The same setting the sync page reads to tell when the next scheduled run comes.
SYNC_MINUTES = int(os.environ.get("SYNC_INTERVAL_MINUTES", "10"))

cron.register(sync_all, queue_name="sync", cron=sync_cron(SYNC_MINUTES), job_timeout=SYNC_MINUTES * 60 - 30,
              name="sync-all")
cron.register(check_stuck_operations, queue_name="default", cron="*/5 * * * *", job_timeout=120,
              name="stuck-operations")
cron.register(run_alerts, queue_name="default", cron="*/15 * * * *", job_timeout=600, name="alerts")
cron.register(enforce_limits_job, queue_name="default", cron="17 * * * *", job_timeout=3600, name="limits-enforce")
cron.register(dispatch_backups, queue_name="backups", cron="*/15 * * * *", job_timeout=600, name="backup-dispatch")
cron.register(run_restore_drills, queue_name="backups", cron="40 * * * *", job_timeout=600, name="restore-drills")
cron.register(watch_jobs, queue_name="default", cron="*/5 * * * *", job_timeout=120, name="job-watchdog")
