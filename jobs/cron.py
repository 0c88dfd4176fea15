"""Periodic jobs, registered with RQ's built-in cron. Run exactly one: `TZ=UTC rq cron jobs/cron.py -u $REDIS_URL`."""
from rq import cron

from jobs.stuck_operations import check_stuck_operations

cron.register(check_stuck_operations, queue_name="default", cron="*/5 * * * *", job_timeout=120,
              name="stuck-operations")
