"""In Chromium: an admin presses "Sync aws" and watches the job's progress update until it ends."""
from __future__ import annotations

from playwright.sync_api import expect
from rq.job import Job

from app.queues import queue
from tests import factories as make
from tests.conftest import PASSWORD


def test_sync_now_shows_live_progress_until_the_job_ends(page, live_server, make_user, db_session):
    sync = queue("sync")
    sync.empty()
    make.cluster(db_session, "prod-eu")
    db_session.commit()
    make_user("root", "admin")

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/sync/")
    page.get_by_role("button", name="Sync aws").click()  # hx-post with the CSRF header htmx adds

    panel = page.locator(".sync-progress")
    expect(panel).to_contain_text("Waiting for a worker")
    [job_id] = sync.job_ids
    assert Job.fetch(job_id, connection=sync.connection).func_name == "jobs.sync.sync_source"

    # What the sync job writes as it goes; no worker runs here, so the test plays its part.
    run = make.sync_run(db_session, "aws", "eu-west-1", "running", job_id=job_id, progress=60,
                        progress_message="instances: page 6 of 10")
    db_session.commit()
    expect(panel).to_contain_text("60% · instances: page 6 of 10")

    run.status, run.progress, run.progress_message, run.created = "succeeded", 100, "done", 7
    db_session.commit()
    Job.fetch(job_id, connection=sync.connection).cancel()  # ends the job the way an operator could
    expect(panel).to_contain_text("canceled")
    expect(panel).to_contain_text("100% · done")
    expect(panel).not_to_have_attribute("hx-trigger", "every 1s")  # the 286 answer stopped the polling
    sync.empty()
