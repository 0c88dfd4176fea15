"""The sync page: latest runs and history, 'Sync now' enqueuing real RQ jobs, live progress of a job."""
from __future__ import annotations

import re
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, SyncRequest, SyncRun, utcnow
from app.queries.sync_status import next_scheduled_sync, sync_cron
from app.queues import queue
from app.sync.runs import SyncFailed, run_recorded
from tests import factories as make


def finish_quietly() -> str:
    """A stand-in job body for the polling tests: finishes at once (the real sync job needs the simulators)."""
    return "done"


@pytest.fixture
def sync_queue(app):
    """The real `sync` queue on the suite's real Redis, emptied first."""
    sync = queue("sync")
    sync.empty()
    yield sync
    sync.empty()


def csrf_token_of_signed_in(client) -> str:
    """The CSRF token htmx sends, read from a page as a signed-in browser gets it."""
    html = client.get("/sync/").get_data(as_text=True)
    return html.split('name="csrf-token" content="')[1].split('"')[0]


def post_run(client, data: dict, htmx: bool = True):
    headers = {"X-CSRFToken": csrf_token_of_signed_in(client)}
    if htmx:
        headers["HX-Request"] = "true"
    return client.post("/sync/run", data=data, headers=headers)


def sync_requests() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sync.request")))


def test_page_shows_latest_run_per_source_and_scope_and_the_history(client, login_as, db_session):
    now = utcnow()
    make.sync_run(db_session, "deis", "prod-eu", started_at=now - timedelta(hours=2), created=9)
    make.sync_run(db_session, "deis", "prod-eu", "failed", started_at=now - timedelta(minutes=30),
                  error="controller answered 503 Service Unavailable", api_calls=3)
    make.sync_run(db_session, "aws", "eu-west-1", started_at=now - timedelta(minutes=20), created=4, updated=2,
                  deleted=1, unchanged=120, api_calls=17, triggered_by="alice")
    make.sync_run(db_session, "cloudflare", "all", "running", started_at=now - timedelta(minutes=1), progress=35)
    db_session.commit()
    login_as("viewer")
    html = client.get("/sync/").get_data(as_text=True)
    latest = html[html.index('id="latest"'):html.index("<h3>History</h3>")]
    rows = re.findall(r"<tr><td>(\w+)</td><td>([\w-]+)</td>(.*?)</tr>", latest, re.S)
    assert [(source, scope) for source, scope, _ in rows] == [("aws", "eu-west-1"), ("cloudflare", "all"),
                                                              ("deis", "prod-eu")]
    aws, cloudflare, deis = (cells for _, _, cells in rows)
    assert "succeeded" in aws and "42.0 s" in aws
    assert re.search(r"<td>4</td><td>2</td><td>1</td><td>120</td><td>17</td>", aws)
    assert "running" in cloudflare and "35%" in cloudflare
    assert "failed" in deis and "controller answered 503 Service Unavailable" in deis
    history = html[html.index('id="history"'):]
    assert history.count("<tr><td") == 4 and "alice" in history and "4 runs" in history
    assert "Sync now" not in html  # viewers read, they do not start anything

    only_aws = client.get("/sync/?source=aws").get_data(as_text=True)
    assert only_aws[only_aws.index('id="history"'):].count("<tr><td") == 1
    assert client.get("/sync/?source=ftp").status_code == 400
    assert client.get("/sync/?page=40").status_code == 404


def test_viewer_cannot_start_a_sync(client, login_as, sync_queue):
    login_as("viewer")
    response = post_run(client, {"source": "deis"})
    assert response.status_code == 403
    assert sync_queue.count == 0 and sync_requests() == []


def test_admin_syncs_one_deis_cluster(client, login_as, db_session, sync_queue):
    make.cluster(db_session, "prod-eu")
    db_session.commit()
    admin = login_as("admin")
    html = client.get("/sync/").get_data(as_text=True)
    assert "Sync everything" in html and "Sync cloudflare" in html and ">prod-eu</button>" in html

    response = post_run(client, {"source": "deis", "scope": "prod-eu"})
    assert response.status_code == 200
    assert sync_queue.count == 1
    job = sync_queue.jobs[0]
    request = db.session.scalars(select(SyncRequest)).one()
    assert job.func_name == "jobs.sync.sync_source" and job.args == ("deis", "prod-eu", admin.username)
    assert job.kwargs == {"request_id": request.id} and request.job_id == job.id
    partial = response.get_data(as_text=True)
    assert f'hx-get="/sync/requests/{request.id}"' in partial and 'hx-trigger="every 1s"' in partial
    assert 'hx-swap-oob="afterbegin:#sync-progress-area"' in partial
    assert "Waiting for a worker" in partial and "Sync of deis / prod-eu" in partial and "<html" not in partial
    assert "prod-eu: running…</button>" in partial  # the button now says the sync it would start is running
    [event] = sync_requests()
    assert event.actor == admin.username and event.target == "deis/prod-eu"
    assert event.after == {"source": "deis", "scope": "prod-eu", "request_id": request.id}


def test_a_second_click_while_the_sync_is_queued_queues_nothing(client, login_as, db_session, sync_queue):
    make.cluster(db_session, "prod-eu")
    db_session.commit()
    login_as("admin")
    first = post_run(client, {"source": "deis", "scope": "prod-eu"})
    second = post_run(client, {"source": "deis", "scope": "prod-eu"})
    assert first.status_code == second.status_code == 200
    assert sync_queue.count == 1 and len(sync_requests()) == 1
    assert db.session.scalars(select(SyncRequest)).one()
    answer = unescape(second.get_data(as_text=True))
    assert "Sync of deis / prod-eu is already queued or running: nothing more was queued." in answer
    assert "hx-swap-oob" not in answer  # its progress panel is on the page already

    # Everything already covers one source: a click on "Sync aws" joins it; the page shows every button running.
    post_run(client, {})
    assert sync_queue.count == 2
    post_run(client, {"source": "aws"})
    assert sync_queue.count == 2
    page = client.get("/sync/").get_data(as_text=True)
    assert "Sync aws: running…</button>" in page and "Sync everything: running…</button>" in page
    assert page.count('aria-busy="true" disabled') == 5  # everything, three sources, one cluster

    # Once the queue has no job left for them (a worker finished or died), a click queues a new one.
    sync_queue.empty()  # deletes the queued jobs themselves
    post_run(client, {"source": "aws"})
    assert sync_queue.count == 1 and len(sync_requests()) == 3
    statuses = list(db.session.scalars(select(SyncRequest.status).order_by(SyncRequest.id)))
    assert statuses == ["failed", "failed", "running"]  # the lost ones are closed, never left "running"


def test_admin_syncs_everything_or_one_source(client, login_as, sync_queue):
    admin = login_as("admin")
    assert post_run(client, {"source": "cloudflare", "scope": ""}).status_code == 200
    assert post_run(client, {}).status_code == 200  # more than the open cloudflare one: a request of its own
    cloudflare, everything = sync_queue.jobs
    assert everything.func_name == "jobs.sync.sync_source" and everything.args == (None, None, admin.username)
    assert cloudflare.func_name == "jobs.sync.sync_source" and cloudflare.args == ("cloudflare", None,
                                                                                   admin.username)
    assert [event.target for event in sync_requests()] == ["cloudflare/all", "all/all"]
    assert [request.title for request in db.session.scalars(select(SyncRequest).order_by(SyncRequest.id))] == [
        "Sync of cloudflare", "Sync of every source"]


def test_without_htmx_the_request_redirects_to_its_page(client, login_as, sync_queue):
    login_as("admin")
    response = post_run(client, {"source": "aws"}, htmx=False)
    request = db.session.scalars(select(SyncRequest)).one()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/sync/requests/{request.id}")
    page = client.get(f"/sync/requests/{request.id}").get_data(as_text=True)
    assert "<html" in page and 'hx-trigger="every 1s"' in page and "<title>Sync of aws" in page
    # A link to the job (as older pages and audit entries have) leads to the request.
    old_link = client.get(f"/sync/jobs/{request.job_id}")
    assert old_link.status_code == 302 and old_link.headers["Location"].endswith(f"/sync/requests/{request.id}")


def test_bad_requests_enqueue_nothing_and_say_why(client, login_as, db_session, sync_queue):
    make.cluster(db_session, "prod-eu")
    db_session.commit()
    login_as("admin")
    cases = [
        ({"source": "ftp"}, "Unknown source 'ftp': choose one of deis, aws, cloudflare."),
        ({"source": "deis", "scope": "atlantis"}, "No cluster called 'atlantis'."),
        ({"source": "aws", "scope": "prod-eu"}, "Only a Deis sync takes a scope"),
        ({"scope": "prod-eu"}, "Only a Deis sync takes a scope"),
    ]
    for data, message in cases:
        for htmx in (True, False):
            response = post_run(client, data, htmx=htmx)
            assert response.status_code == 400, data
            assert message in unescape(response.get_data(as_text=True)), data
            if htmx:  # shown above the progress panels, not in place of the buttons that sent it
                assert response.headers["HX-Retarget"] == "#sync-progress-area", data
    assert sync_queue.count == 0 and sync_requests() == []


def test_a_request_without_csrf_token_is_refused(client, login_as, sync_queue):
    login_as("admin")
    response = client.post("/sync/run", data={"source": "deis"}, headers={"HX-Request": "true"})
    assert response.status_code == 400 and "Form expired or forged" in response.get_data(as_text=True)
    assert sync_queue.count == 0


def test_polling_shows_the_progress_of_each_scope_of_the_request(client, login_as, db_session, sync_queue):
    login_as("admin")
    post_run(client, {"source": "aws"})
    request = db.session.scalars(select(SyncRequest)).one()
    # What the fan-out job does on a worker: one scope job each, and the final one.
    request.scope_jobs = [{"source": "aws", "scope": "eu-west-1", "job_id": "scope-job-1"},
                          {"source": "aws", "scope": "us-east-1", "job_id": "scope-job-2"}]
    request.finish_job_id = sync_queue.enqueue(finish_quietly).id
    make.sync_run(db_session, "aws", "eu-west-1", "running", job_id="scope-job-1", request_id=request.id,
                  progress=40, progress_message="instances: page 4 of 10", api_calls=4)
    make.sync_run(db_session, "aws", "ap-south-1", "running", job_id="another-request", progress=90)
    db_session.commit()
    response = client.get(f"/sync/requests/{request.id}", headers={"HX-Request": "true"})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and 'hx-trigger="every 1s"' in html and "HX-Trigger" not in response.headers
    assert 'value="40"' in html and "40% · instances: page 4 of 10" in html and "aws / eu-west-1" in html
    assert "aws / us-east-1" in html and "Waiting for a worker…" in html and "ap-south-1" not in html
    assert "0 of 2 scopes done, 1 running." in html and 'value="20"' in html  # the request's mean progress
    assert "RQ" not in html and "scope-job-1" not in html  # sentences, not queue internals


def _finished_request(db_session, status="succeeded", **fields) -> SyncRequest:
    request = SyncRequest(title="Sync of cloudflare", source="cloudflare", requested_by="alice", status=status,
                          finished_at=utcnow(), finish_job_id="finished-job",
                          scope_jobs=[{"source": "cloudflare", "scope": "all", "job_id": "cf-job"}], **fields)
    db_session.add(request)
    db_session.commit()
    return request


def test_polling_stops_and_the_page_reloads_its_tables_when_the_request_ends(client, login_as, db_session):
    login_as("viewer")
    request = _finished_request(db_session, relations_changed=4)
    make.sync_run(db_session, "cloudflare", "all", job_id="cf-job", request_id=request.id, progress=100,
                  progress_message="done", created=3, updated=1, deleted=2, unchanged=50, api_calls=12)
    db_session.commit()
    response = client.get(f"/sync/requests/{request.id}", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 286  # htmx stops polling on 286
    assert response.headers["HX-Trigger"] == "sync-finished"  # the tables and buttons listen for it
    assert "hx-trigger" not in html and 'badge ok">finished' in html
    assert "3 created, 1 updated, 2 deleted, 50 unchanged" in html and "12 API calls" in html
    assert "1 scope, finished; 4 links updated." in html

    page = client.get("/sync/").get_data(as_text=True)
    assert 'id="sync-tables" hx-get="/sync/" hx-trigger="sync-finished from:body"' in page
    tables = client.get("/sync/", headers={"HX-Request": "true", "HX-Target": "sync-tables"})
    fragment = tables.get_data(as_text=True)
    assert fragment.startswith('\n<div id="sync-tables"') or fragment.lstrip().startswith('<div id="sync-tables"')
    assert 'id="latest"' in fragment and 'id="history"' in fragment and "<html" not in fragment


def test_a_finished_request_keeps_its_title_after_the_queue_forgot_its_jobs(client, login_as, db_session):
    login_as("viewer")
    request = _finished_request(db_session, status="failed")
    make.sync_run(db_session, "cloudflare", "all", "failed", job_id="cf-job", request_id=request.id,
                  error="cloudflare answered 503")
    db_session.commit()
    page = client.get(f"/sync/requests/{request.id}").get_data(as_text=True)  # no job of it exists in Redis
    assert "<title>Sync of cloudflare" in page and "<h2>Sync of cloudflare</h2>" in page and "by alice" in page
    assert 'badge bad">failed' in page and "cloudflare answered 503" in page


def test_a_request_the_queue_lost_says_it_stopped(client, login_as, db_session):
    login_as("viewer")
    request = SyncRequest(title="Sync of aws", source="aws", requested_by="alice", job_id="vanished",
                          finish_job_id="vanished-too",
                          scope_jobs=[{"source": "aws", "scope": "eu-west-1", "job_id": "vanished-3"}])
    db_session.add(request)
    db_session.commit()
    response = client.get(f"/sync/requests/{request.id}", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 286 and "It stopped before it finished" in html and 'badge bad">failed' in html


def test_history_groups_the_runs_of_one_request(client, login_as, db_session):
    now = utcnow()
    request = SyncRequest(title="Sync of every source", requested_by="cron", status="succeeded",
                          created_at=now - timedelta(minutes=10), finished_at=now,
                          scope_jobs=[{"source": "deis", "scope": "eu", "job_id": "a"},
                                      {"source": "aws", "scope": "eu-west-1", "job_id": "b"}])
    db_session.add(request)
    db_session.commit()
    make.sync_run(db_session, "aws", "eu-west-1", request_id=request.id, started_at=now - timedelta(minutes=9))
    make.sync_run(db_session, "cli-only", "all", started_at=now - timedelta(minutes=5), triggered_by="cli")
    make.sync_run(db_session, "deis", "eu", request_id=request.id, started_at=now - timedelta(minutes=8))
    db_session.commit()
    login_as("viewer")
    html = client.get("/sync/").get_data(as_text=True)
    history = html[html.index('id="history"'):]
    groups = history.split('<tbody class="sync-request">')[1:]
    assert len(groups) == 2
    assert "cli-only" in groups[0] and "group-row" not in groups[0]  # the newest: a run of its own
    assert f'href="/sync/requests/{request.id}">Sync of every source</a>' in groups[1]
    assert "by the schedule" in groups[1] and "2 scopes" in groups[1] and "finished" in groups[1]
    assert groups[1].count("<tr><td") == 2 and "eu-west-1" in groups[1] and ">deis<" in groups[1]


def test_the_next_scheduled_run_is_shown(client, login_as, app):
    login_as("viewer")
    interval = app.config["SETTINGS"].sync_interval_minutes
    html = client.get("/sync/").get_data(as_text=True)
    expected = next_scheduled_sync(utcnow(), interval)
    shown = re.search(r"every (\d+) minutes?;\s+next run <span[^>]*>at (\d\d:\d\d) UTC", html)
    assert shown and int(shown.group(1)) == interval
    # The minute may have turned between the page and this line: either answer is the schedule's.
    assert shown.group(2) in {expected.strftime("%H:%M"),
                              (expected - timedelta(minutes=interval)).strftime("%H:%M")}


def test_next_scheduled_sync_follows_the_cron_expression():
    at = datetime(2026, 12, 2, 10, 7, 30, tzinfo=timezone.utc)
    assert next_scheduled_sync(at, 10) == at.replace(minute=10, second=0)
    assert next_scheduled_sync(at.replace(minute=50), 10) == at.replace(hour=11, minute=0, second=0)
    assert next_scheduled_sync(at.replace(minute=10, second=0), 10) == at.replace(minute=20, second=0)
    assert next_scheduled_sync(at.replace(minute=59), 7) == at.replace(hour=11, minute=0, second=0)
    assert sync_cron(10) == "*/10 * * * *"


def test_unknown_or_malformed_ids_are_404(client, login_as, sync_queue):
    login_as("viewer")
    assert client.get("/sync/requests/987").status_code == 404
    assert client.get("/sync/jobs/0b0e6f3c-no-such-job").status_code == 404
    assert client.get("/sync/jobs/bad%20id%3B").status_code == 404
    other_queue = queue("default")
    foreign = other_queue.enqueue(finish_quietly)
    try:
        assert client.get(f"/sync/jobs/{foreign.id}").status_code == 404  # only sync requests' jobs lead anywhere
    finally:
        foreign.delete()


def test_a_failing_sync_stores_and_shows_its_reason_without_the_credentials(client, login_as, db_session):
    def body(progress):
        raise ConnectionError("redis://:cache-pw-9@cache.internal:6379 and https://deploy:hunter2@deis.test "
                              "refused; sent X-Auth-Token: tok-123 and key AKIAIOSFODNN7EXAMPLE")

    with pytest.raises(SyncFailed):
        run_recorded(db_session, source="deis", scope="prod-eu", lock=lambda name: nullcontext(True), body=body)
    stored = db_session.scalars(select(SyncRun)).one().error
    for leak in ("cache-pw-9", "hunter2", "tok-123", "AKIAIOSFODNN7EXAMPLE"):
        assert leak not in stored
    assert "redis://:••••••@cache.internal:6379" in stored and "https://deploy:••••••@deis.test" in stored

    # A row written before errors were stored redacted (or by hand) is redacted on the way to the page too.
    make.sync_run(db_session, "aws", "eu-west-1", "failed", error="boto: https://k:old-row-pw@s3.test failed")
    db_session.commit()
    login_as("viewer")
    for path in ("/sync/", "/"):
        html = client.get(path).get_data(as_text=True)
        assert "old-row-pw" not in html and "hunter2" not in html and "cache-pw-9" not in html, path


def test_a_failed_requests_error_loses_tokens_and_jwts_on_the_page(client, login_as, db_session):
    login_as("viewer")
    request = _finished_request(db_session, status="failed",
                                error="cloudflare: request with Authorization: Bearer cf-token-leak-7 refused; session "
                                      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwYW5lbCJ9.c2lnbmF0dXJlLWxlYWs was rejected")
    html = client.get(f"/sync/requests/{request.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Authorization: Bearer ••••••" in html
    assert "cf-token-leak-7" not in html and "c2lnbmF0dXJlLWxlYWs" not in html


def test_a_scope_that_found_its_lock_held_shows_as_skipped(client, login_as, db_session, sync_queue):
    login_as("viewer")
    skipped_job = sync_queue.enqueue(finish_quietly)  # stands for the scope job that returned "skipped"
    skipped_job.set_status("finished")
    request = SyncRequest(title="Sync of deis", source="deis", requested_by="alice", status="succeeded",
                          finished_at=utcnow(), finish_job_id="done",
                          scope_jobs=[{"source": "deis", "scope": "eu", "job_id": "eu-job"},
                                      {"source": "deis", "scope": "us", "job_id": skipped_job.id}])
    db_session.add(request)
    db_session.commit()
    make.sync_run(db_session, "deis", "eu", job_id="eu-job", request_id=request.id)
    db_session.commit()
    html = client.get(f"/sync/requests/{request.id}").get_data(as_text=True)
    assert "<strong>deis / us</strong>" in html and 'badge warn">skipped' in html
    assert "another run of this scope was in progress" in html and "2 scopes, finished." in html
