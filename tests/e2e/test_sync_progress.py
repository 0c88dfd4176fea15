"""In Chromium: an admin presses "Sync aws", the button says it runs, the request's progress updates until it ends,
and then the page's tables show the new run without a reload."""
from __future__ import annotations

from playwright.sync_api import expect
from rq.job import Job
from sqlalchemy import select

from app.models import SyncRequest, utcnow
from app.queues import queue
from tests import factories as make
from tests.conftest import PASSWORD


def test_sync_now_shows_live_progress_until_the_request_ends(page, live_server, make_user, db_session):
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
    expect(page.locator("#next-sync")).to_contain_text("next run at")
    page.get_by_role("button", name="Sync aws").click()  # hx-post with the CSRF header htmx adds

    panel = page.locator(".sync-progress")
    expect(panel).to_contain_text("Waiting for a worker")
    expect(panel).to_contain_text("Sync of aws")
    expect(page.get_by_role("button", name="Sync aws: running…")).to_be_disabled()
    [job_id] = sync.job_ids
    assert Job.fetch(job_id, connection=sync.connection).func_name == "jobs.sync.sync_source"

    # What the workers write as they go; none runs here, so the test plays their part: the fan-out's plan, then
    # the scope's run.
    db_session.expire_all()
    request = db_session.scalars(select(SyncRequest)).one()
    request.scope_jobs = [{"source": "aws", "scope": "eu-west-1", "job_id": "scope-job"}]
    request.finish_job_id = sync.enqueue("tests.e2e.test_sync_progress.not_run").id
    run = make.sync_run(db_session, "aws", "eu-west-1", "running", job_id="scope-job", request_id=request.id,
                        progress=60, progress_message="instances: page 6 of 10")
    db_session.commit()
    expect(panel).to_contain_text("60% · instances: page 6 of 10")
    expect(page.locator("#latest")).not_to_contain_text("eu-west-1")  # the tables have not reloaded yet

    run.status, run.progress, run.progress_message, run.created = "succeeded", 100, "done", 7
    run.finished_at = utcnow()
    request.status, request.finished_at, request.relations_changed = "succeeded", utcnow(), 2
    db_session.commit()
    expect(panel).to_contain_text("finished")
    expect(panel).to_contain_text("100% · done")
    expect(panel).to_contain_text("1 scope, finished; 2 links updated.")
    expect(panel).not_to_have_attribute("hx-trigger", "every 1s")  # the 286 answer stopped the polling
    expect(page.locator("#latest")).to_contain_text("eu-west-1")  # told "sync-finished", the tables reloaded
    expect(page.locator("#history")).to_contain_text("Sync of aws")
    expect(page.get_by_role("button", name="Sync aws", exact=True)).to_be_enabled()
    sync.empty()


def not_run() -> None:
    """The request's final job, queued only so the request counts as open; no worker runs in this test."""
