"""The sync page: latest runs and history, 'Sync now' enqueuing real RQ jobs, live progress of a job."""
from __future__ import annotations

import re
import signal
from contextlib import nullcontext
from datetime import timedelta
from html import unescape

import pytest
from rq import SimpleWorker
from rq.job import Job
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, SyncRun, utcnow
from app.queues import queue
from app.sync.runs import SyncFailed, run_recorded
from tests import factories as make


def finish_quietly() -> str:
    """A stand-in job body for the polling tests: finishes at once (the real sync job needs the simulators)."""
    return "done"


def fail_loudly() -> None:
    """A stand-in job body that fails with a message carrying a credential, as a real error might."""
    raise RuntimeError("deis/prod-eu: controller https://admin:pw-leaked-42@deis.prod-eu.test answered 503")


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
    assert job.func_name == "jobs.sync.sync_source" and job.args == ("deis", "prod-eu", admin.username)
    partial = response.get_data(as_text=True)
    assert f'hx-get="/sync/jobs/{job.id}"' in partial and 'hx-trigger="every 1s"' in partial
    assert "Waiting for a worker" in partial and "Sync of deis / prod-eu" in partial and "<html" not in partial
    [event] = sync_requests()
    assert event.actor == admin.username and event.target == "deis/prod-eu"
    assert event.after == {"source": "deis", "scope": "prod-eu", "job_id": job.id}


def test_admin_syncs_everything_or_one_source(client, login_as, sync_queue):
    admin = login_as("admin")
    assert post_run(client, {}).status_code == 200
    assert post_run(client, {"source": "cloudflare", "scope": ""}).status_code == 200
    everything, cloudflare = sync_queue.jobs
    assert everything.func_name == "jobs.sync.sync_all" and everything.args == (admin.username,)
    assert cloudflare.func_name == "jobs.sync.sync_source" and cloudflare.args == ("cloudflare", None,
                                                                                   admin.username)
    assert [event.target for event in sync_requests()] == ["all/all", "cloudflare/all"]


def test_without_htmx_the_request_redirects_to_the_job_page(client, login_as, sync_queue):
    login_as("admin")
    response = post_run(client, {"source": "aws"}, htmx=False)
    job_id = sync_queue.job_ids[0]
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/sync/jobs/{job_id}")
    page = client.get(f"/sync/jobs/{job_id}").get_data(as_text=True)
    assert "<html" in page and 'hx-trigger="every 1s"' in page


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
    assert sync_queue.count == 0 and sync_requests() == []


def test_a_request_without_csrf_token_is_refused(client, login_as, sync_queue):
    login_as("admin")
    response = client.post("/sync/run", data={"source": "deis"}, headers={"HX-Request": "true"})
    assert response.status_code == 400 and "Form expired or forged" in response.get_data(as_text=True)
    assert sync_queue.count == 0


def test_polling_shows_the_progress_of_the_job_s_sync_runs(client, login_as, db_session, sync_queue):
    login_as("admin")
    post_run(client, {"source": "aws"})
    job_id = sync_queue.job_ids[0]
    make.sync_run(db_session, "aws", "eu-west-1", "running", job_id=job_id, progress=40,
                  progress_message="instances: page 4 of 10", api_calls=4)
    make.sync_run(db_session, "aws", "us-east-1", "running", job_id="some-other-job", progress=90)
    db_session.commit()
    response = client.get(f"/sync/jobs/{job_id}", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'hx-trigger="every 1s"' in html
    assert 'value="40"' in html and "40% · instances: page 4 of 10" in html and "eu-west-1" in html
    assert "RQ status queued" in html and "us-east-1" not in html


def _run_worker(sync) -> None:
    # A real RQ worker on the real Redis, in this process so it shares the test's database; it installs its own
    # signal handlers, which pytest's must replace again afterwards.
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        SimpleWorker([sync], connection=sync.connection).work(burst=True)
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)


def test_polling_stops_when_the_job_has_finished(client, login_as, db_session, sync_queue):
    login_as("viewer")
    job = sync_queue.enqueue(finish_quietly)
    _run_worker(sync_queue)
    make.sync_run(db_session, "cloudflare", "all", job_id=job.id, progress=100, progress_message="done",
                  created=3, updated=1, deleted=2, unchanged=50, api_calls=12)
    db_session.commit()
    response = client.get(f"/sync/jobs/{job.id}", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 286  # htmx stops polling on 286
    assert "hx-trigger" not in html and 'badge ok">finished' in html
    assert "3 created, 1 updated, 2 deleted, 50 unchanged" in html and "12 API calls" in html


def test_polling_stops_and_shows_why_when_the_job_failed(client, login_as, db_session, sync_queue):
    login_as("viewer")
    job = sync_queue.enqueue(fail_loudly)
    _run_worker(sync_queue)
    assert Job.fetch(job.id, connection=sync_queue.connection).is_failed
    make.sync_run(db_session, "deis", "prod-eu", "failed", job_id=job.id, error="controller answered 503")
    db_session.commit()
    response = client.get(f"/sync/jobs/{job.id}", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 286 and "hx-trigger" not in html
    assert 'badge bad">failed' in html and "controller answered 503" in html
    assert "RuntimeError: deis/prod-eu: controller https://admin:••••••@deis.prod-eu.test answered 503" in html
    assert "pw-leaked-42" not in html


def test_unknown_malformed_or_foreign_job_ids_are_404(client, login_as, sync_queue):
    login_as("viewer")
    assert client.get("/sync/jobs/0b0e6f3c-no-such-job").status_code == 404
    assert client.get("/sync/jobs/bad%20id%3B").status_code == 404
    other_queue = queue("default")
    foreign = other_queue.enqueue(finish_quietly)
    try:
        assert client.get(f"/sync/jobs/{foreign.id}").status_code == 404  # only sync jobs are followed here
    finally:
        foreign.delete()


def fail_with_a_token() -> None:
    """A job body failing with the kind of message an HTTP client error carries: a header and a JWT."""
    raise RuntimeError("cloudflare: request with Authorization: Bearer cf-token-leak-7 refused; "
                       "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwYW5lbCJ9.c2lnbmF0dXJlLWxlYWs was rejected")


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


def test_a_failed_jobs_error_loses_tokens_and_jwts_on_the_page(client, login_as, db_session, sync_queue):
    login_as("viewer")
    job = sync_queue.enqueue(fail_with_a_token)
    _run_worker(sync_queue)
    html = client.get(f"/sync/jobs/{job.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "The job failed" in html and "Authorization: Bearer ••••••" in html
    assert "cf-token-leak-7" not in html and "c2lnbmF0dXJlLWxlYWs" not in html
