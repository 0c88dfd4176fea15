"""The limit set pages, the drift page and its enforcement buttons, and app types, as an admin and a viewer use them."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from app.cluster_settings import parse_clusters
from app.models import App, AuditEvent, LimitSet
from app.queues import queue
from tests import factories as make
from tests.views.test_auth import csrf_token_from_home


@pytest.fixture
def platform(db_session):
    cluster = make.cluster(db_session, "eu-prod")
    make.cluster(db_session, "us-prod")
    make.app(db_session, "shop", cluster, memory={"web": "1024M"}, cpu={"web": "1000m"})
    make.app(db_session, "blog", cluster, memory={"web": "256M"}, structure={"web": 1, "worker": 1})
    make.app(db_session, "mailer", cluster, app_type="worker", settings={"label": {"app-type": "worker"}})
    db_session.commit()
    return cluster


@pytest.fixture
def admin(client, login_as):
    login_as("admin", username="alice")
    token = csrf_token_from_home(client)
    return lambda path, **data: client.post(path, data={"csrf_token": token, **data})


def state(session) -> tuple:
    return (session.scalar(select(func.count()).select_from(LimitSet)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            session.scalars(select(LimitSet.memory)).all())


def test_admin_creates_a_set_and_sees_the_drift_with_each_difference(client, db_session, platform, admin):
    response = admin("/limits/", cluster="eu-prod", app_type="web", memory="web=1G\nworker=256M", cpu="web=1")
    assert response.status_code == 302
    page = client.get("/limits/").get_data(as_text=True)
    assert "<code>web=1G</code>" in page and "<code>worker=256M</code>" in page and "<code>web=1</code>" in page
    assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "limit_set.create")).actor == "alice"

    drift = client.get("/limits/drift").get_data(as_text=True)
    assert "1 app drifting" in drift
    rows = drift.split('<table id="drift">')[1]
    assert "blog" in rows and "shop" not in rows  # shop's 1024M and 1000m are the set's 1G and 1
    assert "<code>1G</code>" in rows and "<code>256M</code>" in rows
    listing = client.get("/apps/?drift=yes").get_data(as_text=True)
    assert ">blog</a>" in listing and ">shop</a>" not in listing
    home = client.get("/").get_data(as_text=True).split('id="panel-limits"')[1].split("</article>")[0]
    assert '<span class="badge">1</span>' in home and "blog" in home


@pytest.mark.parametrize(("fields", "words"), [
    ({"memory": "web=64"}, "A bare number has no unit"),
    ({"memory": "web=3M"}, "below the minimum of 4M"),
    ({"memory": "web=-1G"}, "cannot be negative"),
    ({"memory": "web=abc"}, "not a value Deis takes"),
    ({"cpu": "web=abc"}, "not a value Deis takes"),
    ({"memory": "Web_1=64M"}, "is not one Deis allows"),
    ({"memory": "web=1G", "cluster": "nowhere"}, "No cluster called"),
])
def test_bad_input_gets_a_clear_message_and_changes_nothing(client, db_session, platform, admin, fields, words):
    before = state(db_session)
    response = admin("/limits/", **{"cluster": "eu-prod", "app_type": "web", "memory": "", "cpu": "", **fields})
    assert response.status_code == 400
    message = response.get_data(as_text=True).split('id="limits-error">')[1].split("</p>")[0]
    assert words in message.replace("&#39;", "'") and "Nothing was changed." in message
    assert state(db_session) == before


def test_a_duplicate_set_is_refused_and_editing_checks_the_same_way(client, db_session, platform, admin):
    admin("/limits/", cluster="eu-prod", app_type="web", memory="web=1G")
    before = state(db_session)
    duplicate = admin("/limits/", cluster="eu-prod", app_type="web", memory="web=2G")
    assert duplicate.status_code == 400 and "exists already" in duplicate.get_data(as_text=True)
    assert state(db_session) == before

    limit_set = db_session.scalar(select(LimitSet))
    bad = admin(f"/limits/{limit_set.id}", memory="web=3M", cpu="")
    assert bad.status_code == 400 and "below the minimum of 4M" in bad.get_data(as_text=True)
    assert state(db_session) == before
    good = admin(f"/limits/{limit_set.id}", memory="web=256M", cpu="", unset_extra="on")
    assert good.status_code == 302
    db_session.expire_all()
    assert (limit_set.memory, limit_set.unset_extra) == ({"web": "256M"}, True)
    assert set(db_session.scalars(select(App.name).where(App.limit_drift.is_(True)))) == {"shop"}
    assert admin(f"/limits/{limit_set.id}/delete").status_code == 302
    assert db_session.scalar(select(func.count()).select_from(LimitSet)) == 0
    assert not db_session.scalars(select(App.name).where(App.limit_drift.is_(True))).all()


def test_enforce_buttons_queue_an_audited_job_and_dry_run_changes_nothing(client, db_session, platform, admin):
    admin("/limits/", cluster="eu-prod", app_type="web", memory="web=1G")
    jobs = queue("default")
    jobs.empty()
    events = db_session.scalar(select(func.count()).select_from(AuditEvent))
    dry = admin("/limits/enforce", cluster="eu-prod", dry_run="on")
    assert dry.status_code == 200 and "Nothing was changed." in dry.get_data(as_text=True)
    assert jobs.count == 0 and db_session.scalar(select(func.count()).select_from(AuditEvent)) == events

    blog = db_session.scalar(select(App).where(App.name == "blog"))
    assert admin("/limits/enforce", app_id=str(blog.id)).status_code == 302
    assert admin("/limits/enforce", cluster="eu-prod").status_code == 302
    queued = jobs.get_jobs()
    assert [(job.func_name, job.args) for job in queued] == [
        ("jobs.limits.enforce_limits_job", (None, blog.id, "alice")),
        ("jobs.limits.enforce_limits_job", ("eu-prod", None, "alice")),
    ]
    requests = db_session.scalars(select(AuditEvent.target).where(AuditEvent.action == "limits.enforce_request")
                                  .order_by(AuditEvent.id)).all()
    assert requests == ["eu-prod/blog", "eu-prod"]
    unknown = admin("/limits/enforce", cluster="nowhere")
    assert unknown.status_code == 400 and jobs.count == 2
    jobs.empty()


def test_the_enforce_job_fixes_the_app_on_the_simulator(app, client, db_session, admin, sandbox, monkeypatch):
    from app.sync import runner
    from app.sync.locks import redis_locks
    from app.clients import PlatformClients
    from app.queues import redis_connection

    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        app.config["SETTINGS"], deis_clusters=parse_clusters(sandbox.env()["DEIS_CLUSTERS"]),
        limits_enforce_interval=0))
    clients = PlatformClients(app.config["SETTINGS"])
    runner.run_many(db_session, clients, redis_locks(redis_connection()), runner.plan(clients, "deis", "eu-prod"),
                    triggered_by="test")
    admin("/limits/", cluster="eu-prod", app_type="web", memory="web=512M")
    jobs, sync_jobs = queue("default"), queue("sync")
    jobs.empty()
    sync_jobs.empty()
    blog = db_session.scalar(select(App).where(App.name == "blog"))
    admin("/limits/enforce", app_id=str(blog.id))
    jobs.get_jobs()[0].perform()  # the worker's part, in this process
    assert sandbox.deis["eu-prod"].app("blog")["config"]["memory"] == {"web": "512M"}
    assert sync_jobs.count == 1
    jobs.empty()
    sync_jobs.empty()


def test_app_type_per_app_and_for_the_filtered_apps(client, db_session, platform, admin):
    shop = db_session.scalar(select(App).where(App.name == "shop"))
    assert admin(f"/limits/apps/{shop.id}/type", app_type="batch").status_code == 302
    db_session.expire_all()
    assert (shop.app_type, shop.app_type_override) == ("batch", "batch")
    bad = admin(f"/limits/apps/{shop.id}/type", app_type="Not A Type")
    assert bad.status_code == 400 and "is not valid" in bad.get_data(as_text=True)

    listing = client.get("/apps/?cluster=eu-prod&type=web").get_data(as_text=True)
    assert 'id="bulk-app-type"' in listing and "Type of all 1 filtered app" in listing
    response = admin("/limits/apps/type", cluster="eu-prod", type="web", app_type="api")
    assert response.status_code == 302 and "type=web" in response.headers["Location"]
    db_session.expire_all()
    types = dict(db_session.execute(select(App.name, App.app_type)).tuples().all())
    assert types == {"shop": "batch", "blog": "api", "mailer": "worker"}
    back = admin("/limits/apps/type", cluster="eu-prod", app_type="")
    assert back.status_code == 302
    db_session.expire_all()
    types = dict(db_session.execute(select(App.name, App.app_type)).tuples().all())
    assert types == {"shop": "web", "blog": "web", "mailer": "worker"}  # labels, or the default


def test_viewer_reads_the_pages_but_sees_no_forms(client, db_session, platform, login_as):
    login_as("viewer")
    for path in ("/limits/", "/limits/drift"):
        page = client.get(path)
        assert page.status_code == 200
        assert "csrf_token" not in page.get_data(as_text=True).split("</nav>")[1]
    assert client.get("/limits/1/edit").status_code == 403


def test_the_app_page_agrees_with_the_drift_flag(client, db_session, platform, admin):
    # The set names a worker limit; shop has no worker process, so it is not forced on it: shop matches.
    admin("/limits/", cluster="eu-prod", app_type="web", memory="web=1G\nworker=512M", cpu="web=1")
    shop = db_session.scalar(select(App).where(App.name == "shop"))
    assert shop.limit_drift is False
    page = client.get(f"/apps/{shop.id}").get_data(as_text=True)
    assert "matches limit set" in page and "differs from limit set" not in page
    blog = db_session.scalar(select(App).where(App.name == "blog"))
    assert "differs from limit set" in client.get(f"/apps/{blog.id}").get_data(as_text=True)
