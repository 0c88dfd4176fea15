"""Limit enforcement against the Deis simulator: only drifting apps are written, only their differing keys, one
release each; a second run writes nothing; a controller error on one app is reported in its words and the others
are fixed all the same; a dry run changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import App, AuditEvent
from app.operations.limit_sets import create_limit_set
from app.operations.limits_enforcement import FAILED, FIXED, WOULD_FIX, enforce_limits
from app.queries.limit_comparison import drift_report
from app.queues import queue
from tests.sync.conftest import clients, deis_clients, locks, sync  # noqa: F401  (fixtures: the real synchronizer)

EU_APPS = ("shop", "billing", "blog", "reports")


@pytest.fixture
def sync_queue(app):
    sync_jobs = queue("sync")
    sync_jobs.empty()
    yield sync_jobs
    sync_jobs.empty()


@pytest.fixture
def synced(sync, db_session):
    """eu-prod as a Deis sync leaves it, with a set for web apps and one for workers.

    shop (web 512M, worker 256M/512M, cpu web 500m) matches the web set once units are normalised; blog (web 256M,
    no cpu) drifts in both; billing (worker 256M, no cpu) drifts in cpu; reports (cron) has no set.
    """
    runs, failures = sync("deis", "eu-prod")
    assert not failures
    create_limit_set(db_session, cluster="eu-prod", app_type="web", memory={"web": "512M", "worker": "256M/512M"},
                     cpu={"web": "0.5"}, unset_extra=False, actor="alice")
    create_limit_set(db_session, cluster="eu-prod", app_type="worker", memory={"worker": "256M"},
                     cpu={"worker": "250m"}, unset_extra=False, actor="alice")
    return db_session


def deis_app(sandbox, name: str) -> dict:
    return sandbox.deis["eu-prod"].app(name)


def releases(sandbox) -> dict[str, int]:
    return {name: deis_app(sandbox, name)["release_version"] for name in EU_APPS}


def run(clients, **options):  # noqa: F811
    return enforce_limits(db.session, clients.deis, "alice", interval_seconds=0, **options)


def test_drift_after_sync_is_computed_with_normalised_units(synced):
    drifting = {app.name for app in synced.scalars(select(App).where(App.limit_drift.is_(True)))}
    assert drifting == {"blog", "billing"}  # shop's 500m is the set's 0.5: no drift
    report = {item.app.name: [(d.process_type, d.kind, d.wanted, d.actual) for d in item.differences]
              for item in drift_report(synced)}
    # blog has no worker process: the set's worker limit is not forced on it
    assert report == {"billing": [("worker", "cpu", "250m", None)],
                      "blog": [("web", "memory", "512M", "256M"), ("web", "cpu", "0.5", None)]}


def test_enforcement_fixes_exactly_the_drifted_apps_and_a_second_run_posts_nothing(
        synced, sandbox, clients, sync, sync_queue):  # noqa: F811
    before = releases(sandbox)
    report = run(clients, sync_queue=sync_queue)

    assert {item.app: item.outcome for item in report.apps} == {"billing": FIXED, "blog": FIXED}
    assert report.apps[1].payload == {"memory": {"web": "512M"}, "cpu": {"web": "0.5"}}  # only the differing keys
    blog, billing = deis_app(sandbox, "blog")["config"], deis_app(sandbox, "billing")["config"]
    assert (blog["memory"], blog["cpu"]) == ({"web": "512M"}, {"web": "0.5"})
    assert (billing["memory"], billing["cpu"]) == ({"worker": "256M"}, {"worker": "250m"})
    after = releases(sandbox)
    assert {name: after[name] - before[name] for name in EU_APPS} == {"shop": 0, "billing": 1, "blog": 1,
                                                                      "reports": 0}
    audited = synced.scalars(select(AuditEvent).where(AuditEvent.action == "limits.enforce")
                             .order_by(AuditEvent.id)).all()
    assert [(event.target, event.actor, event.after) for event in audited] == [
        ("billing", "alice", {"cpu": {"worker": "250m"}}),
        ("blog", "alice", {"memory": {"web": "512M"}, "cpu": {"web": "0.5"}}),
    ]
    assert audited[1].before == {"memory": {"web": "256M"}, "cpu": {"web": None}}
    assert report.syncs_requested == ["eu-prod"] and sync_queue.count == 1
    assert not synced.scalars(select(App.name).where(App.limit_drift.is_(True))).all()

    # Again, straight away and after a fresh sync: nothing differs, nothing is posted, no new release.
    assert run(clients, sync_queue=sync_queue).apps == []
    sync("deis", "eu-prod")
    assert not synced.scalars(select(App.name).where(App.limit_drift.is_(True))).all()
    assert run(clients).apps == []
    assert releases(sandbox) == after


def test_a_controller_error_on_one_app_is_reported_in_its_words_and_the_others_are_fixed(
        synced, sandbox, clients, sync_queue):  # noqa: F811
    sandbox.deis["eu-prod"].faults.configure(path_contains="/v2/apps/blog/config", error_rate=1.0,
                                             error_statuses=[503])
    before = releases(sandbox)
    report = run(clients, sync_queue=sync_queue)

    outcomes = {item.app: item for item in report.apps}
    assert outcomes["billing"].outcome == FIXED
    assert outcomes["blog"].outcome == FAILED
    assert "Service temporarily unavailable, try again later." in outcomes["blog"].error
    assert "blog" in outcomes["blog"].error
    assert [item.app for item in report.failed] == ["blog"]
    sandbox.deis["eu-prod"].faults.clear()
    assert deis_app(sandbox, "blog")["config"]["memory"] == {"web": "256M"}
    assert releases(sandbox)["billing"] == before["billing"] + 1
    failure = synced.scalar(select(AuditEvent).where(AuditEvent.action == "limits.enforce_failed"))
    assert failure.target == "blog" and "Service temporarily unavailable" in failure.after["error"]
    assert synced.scalar(select(App.limit_drift).where(App.name == "blog")) is True


def test_a_dry_run_shows_what_it_would_post_and_changes_nothing(synced, sandbox, clients, sync_queue):  # noqa: F811
    before = releases(sandbox)
    events = synced.scalars(select(AuditEvent.id)).all()
    report = run(clients, dry_run=True, sync_queue=sync_queue)

    assert [(item.app, item.outcome, item.payload) for item in report.apps] == [
        ("billing", WOULD_FIX, {"cpu": {"worker": "250m"}}),
        ("blog", WOULD_FIX, {"memory": {"web": "512M"}, "cpu": {"web": "0.5"}}),
    ]
    assert releases(sandbox) == before
    assert synced.scalars(select(AuditEvent.id)).all() == events
    assert sync_queue.count == 0 and report.syncs_requested == []
    assert set(synced.scalars(select(App.name).where(App.limit_drift.is_(True)))) == {"blog", "billing"}


def test_unset_extra_removes_limits_the_set_lacks_and_only_then(synced, sandbox, clients):  # noqa: F811
    from app.models import LimitSet
    from app.operations.limit_sets import update_limit_set

    web = synced.scalar(select(LimitSet).where(LimitSet.app_type == "web"))
    update_limit_set(synced, web, memory={"web": "512M"}, cpu={}, unset_extra=True, actor="alice")
    report = run(clients, cluster="eu-prod")

    shop = next(item for item in report.apps if item.app == "shop")
    assert shop.payload == {"memory": {"worker": None}, "cpu": {"web": None}}
    config = deis_app(sandbox, "shop")["config"]
    assert (config["memory"], config["cpu"]) == ({"web": "512M"}, {})
    assert deis_app(sandbox, "blog")["config"]["memory"] == {"web": "512M"}
    assert run(clients, cluster="eu-prod").apps == []


def test_only_the_cluster_asked_for_is_enforced(synced, sandbox, clients, sync):  # noqa: F811
    sync("deis", "us-prod")
    create_limit_set(synced, cluster="us-prod", app_type="web", memory={"web": "2G"}, cpu={}, unset_extra=False,
                     actor="alice")
    api_before = sandbox.deis["us-prod"].app("api")["release_version"]
    report = run(clients, cluster="eu-prod")
    assert {item.cluster for item in report.apps} == {"eu-prod"}
    assert sandbox.deis["us-prod"].app("api")["release_version"] == api_before


def test_writes_are_spread_out_by_the_interval(synced, clients):  # noqa: F811
    pauses: list[float] = []
    report = enforce_limits(db.session, clients.deis, "alice", interval_seconds=7.5, sleep=pauses.append)
    assert len(report.fixed) == 2
    assert pauses == [7.5]  # between the two writes, not before the first


def test_a_409_changed_nothing_after_someone_else_fixed_it_meanwhile_is_success(
        synced, sandbox, deis_clients):  # noqa: F811
    import requests

    simulator = sandbox.deis["eu-prod"]
    done = []

    def another_operator(response, *args, **kwargs):
        # Between the panel's read of blog's config and its write, someone sets exactly the wanted limits.
        if response.request.method == "GET" and response.request.path_url.startswith("/v2/apps/blog/config") \
                and not done:
            done.append(True)
            answer = requests.post(f"{sandbox.deis_url('eu-prod')}/v2/apps/blog/config",
                                   json={"memory": {"web": "512M"}, "cpu": {"web": "0.5"}},
                                   headers={"Authorization": f"token {simulator.token_for('alice')}"}, timeout=10)
            assert answer.status_code == 201
        return response

    tuned = deis_clients(response_hooks=[another_operator])
    before = releases(sandbox)
    report = enforce_limits(db.session, tuned.deis, "panel", interval_seconds=0)
    outcomes = {item.app: item.outcome for item in report.apps}
    assert outcomes == {"billing": FIXED, "blog": "already matching"}
    assert report.failed == []
    assert releases(sandbox)["blog"] == before["blog"] + 1  # only the other operator's release
    assert synced.scalars(select(AuditEvent.target).where(AuditEvent.action == "limits.enforce")).all() == ["billing"]
    assert synced.scalar(select(App.limit_drift).where(App.name == "blog")) is False
