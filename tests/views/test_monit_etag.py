"""The monit files' ETags come from counters the database keeps: any change to what a file is made of, by the panel
or by raw SQL, changes the ETag and the body; nothing else does; and a 304 reads no app at all."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import App, Cluster, MonitVersion
from app.operations import api_clients, monitoring
from app.queries import monit
from app.services.deis import DeisApp, DeisConfig, DeisSettings
from app.sync import deis, relations
from app.sync.deletion_guard import DeletionGuard
from app.sync.platform import ensure_clusters
from tests import factories as make
from tests.views.sql_statements import counting_statements

CONF = "/chef/monit/us-mon.conf"
JSON = "/chef/monit/us-mon.json"


@pytest.fixture
def token(app) -> str:
    _, token = api_clients.create_client(db.session, "chef", ["monit:read"], actor="test")
    return token


@pytest.fixture
def pull(client, token):
    def get(path: str, etag: str | None = None):
        headers = {"Authorization": f"Bearer {token}"}
        if etag:
            headers["If-None-Match"] = etag
        return client.get(path, headers=headers)

    return get


@pytest.fixture
def platform(db_session):
    """us-mon (America) watches us-prod (its region) and eu-prod (monitored from it); eu-mon watches Europe."""
    europe = make.region(db_session, "europe", "eu-central-1")
    america = make.region(db_session, "america", "us-east-1")
    eu_mon = make.cluster(db_session, "eu-mon", europe, kind="monitoring")
    us_mon = make.cluster(db_session, "us-mon", america, kind="monitoring")
    eu_prod = make.cluster(db_session, "eu-prod", europe, monitored_from=us_mon)
    us_prod = make.cluster(db_session, "us-prod", america, monitored_from=eu_mon)
    shop = make.app(db_session, "shop", eu_prod, monitoring_enabled=True, health_path="/healthz")
    make.domain(db_session, shop, "shop.example.com")
    blog = make.app(db_session, "blog", eu_prod, monitoring_enabled=False)
    make.domain(db_session, blog, "blog.example.org")
    api = make.app(db_session, "api", us_prod, monitoring_enabled=True)
    make.domain(db_session, api, "api.example.com")
    monitoring.add_internal_tool(db_session, "grafana", "https://grafana.ops.example.net/api/health", "test")
    db_session.commit()
    return {"europe": europe.id, "america": america.id, "eu-mon": eu_mon.id, "us-mon": us_mon.id,
            "eu-prod": eu_prod.id, "us-prod": us_prod.id, "shop": shop.id, "blog": blog.id, "api": api.id}


def checks(body: str) -> set[str]:
    return set(re.findall(r"^check host (\S+) with address (\S+)", body, re.MULTILINE))


def raw(*statements: str, **parameters) -> None:
    """Write with plain SQL on a connection of its own: no ORM, no session, as another program would."""
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), parameters)


def fetched(name: str, domains: list[str]) -> deis.FetchedApp:
    """An app as the Deis sync fetches it."""
    return deis.FetchedApp(DeisApp(id=name, uuid=f"uuid-{name}", owner="synced-owner", structure={"web": 2},
                                   created=None, updated=None),
                           DeisConfig(values={"FROM": "deis"}, memory={}, cpu={}),
                           DeisSettings(maintenance=False, routable=True, label={}), domains)


def deis_write(cluster_id: int, apps: list[deis.FetchedApp]) -> None:
    """The Deis sync's own write step (set-based upserts and sweeps) for one cluster."""
    deis.write(db.session, db.session.get(Cluster, cluster_id), apps, [], DeletionGuard())
    db.session.commit()


def eu_prod_as_synced(p) -> None:
    deis_write(p["eu-prod"], [fetched("shop", ["shop.example.com"]), fetched("blog", ["blog.example.org"])])


# Every input of the file, changed once by the panel (its operations, its sync's writes) and once by raw SQL.
CHANGES = {
    "monitoring flag, panel": lambda p: monitoring.set_enabled(db.session, db.session.get(App, p["blog"]), True, "t"),
    "monitoring flag, bulk": lambda p: monitoring.set_enabled_for(
        db.session, select(App.id).where(App.name == "shop"), False, "t", {}),
    "monitoring flag, sql": lambda p: raw("UPDATE apps SET monitoring_enabled = :on WHERE id = :id", on=True,
                                          id=p["blog"]),
    "health path, panel": lambda p: monitoring.set_health_path(db.session, db.session.get(App, p["shop"]),
                                                               "/status", "t"),
    "health path, sql": lambda p: raw("UPDATE apps SET health_path = '/status' WHERE id = :id", id=p["shop"]),
    "app name, sql": lambda p: raw("UPDATE apps SET name = 'shop-two' WHERE id = :id", id=p["shop"]),
    "app gone, sync": lambda p: deis_write(p["eu-prod"], [fetched("blog", ["blog.example.org"])]),
    "app gone, sql": lambda p: raw("DELETE FROM domains WHERE app_id = :id", "DELETE FROM apps WHERE id = :id",
                                   id=p["shop"]),
    "app new, sql": lambda p: raw(
        "INSERT INTO apps (cluster_id, name, uuid, owner, app_type, structure, config_values, memory, cpu, settings,"
        " monitoring_enabled, limit_drift, health_path, synced_at) VALUES (:cluster, 'cart', 'u-cart', 'dev', 'web',"
        " '{}', '{}', '{}', '{}', '{}', :on, :off, '/', CURRENT_TIMESTAMP)",
        "INSERT INTO domains (app_id, name) SELECT id, 'cart.example.com' FROM apps WHERE name = 'cart'",
        cluster=p["us-prod"], on=True, off=False),
    "app moved, sql": lambda p: raw("UPDATE apps SET cluster_id = :to WHERE id = :id", to=p["us-prod"],
                                    id=p["shop"]),
    "domain, sync": lambda p: deis_write(p["eu-prod"], [fetched("shop", ["shop.example.net"]),
                                                        fetched("blog", ["blog.example.org"])]),
    "domain renamed, sql": lambda p: raw("UPDATE domains SET name = 'shop.example.net' WHERE app_id = :id",
                                         id=p["shop"]),
    "domain added, sql": lambda p: raw("INSERT INTO domains (app_id, name) VALUES (:id, 'a.example.com')",
                                       id=p["shop"]),
    "domain deleted, sql": lambda p: raw("DELETE FROM domains WHERE app_id = :id", id=p["api"]),
    "watched clusters, panel": lambda p: monitoring.set_watched_clusters(
        db.session, db.session.get(Cluster, p["us-mon"]), [p["us-mon"], p["us-prod"]], "t"),
    "watched clusters, sql": lambda p: raw(
        "INSERT INTO monitor_watch_overrides (monitor_id, cluster_id, watched, updated_at)"
        " VALUES (:monitor, :cluster, :off, CURRENT_TIMESTAMP)", monitor=p["us-mon"], cluster=p["eu-prod"],
        off=False),
    "override flipped, sql": lambda p: raw("UPDATE monitor_watch_overrides SET watched = NOT watched"),
    "tool added, panel": lambda p: monitoring.add_internal_tool(db.session, "kibana", "http://10.0.4.2/status", "t"),
    "tool url, sql": lambda p: raw("UPDATE internal_tools SET url = 'https://grafana.ops.example.net:3000/h'"),
    "tool deleted, sql": lambda p: raw("DELETE FROM internal_tools"),
    "cluster settings, panel": lambda p: ensure_clusters(db.session, [  # eu-prod now monitored from eu-mon
        {"name": "eu-prod", "url": "http://deis.eu-prod.test", "token": "x", "region": "europe",
         "aws_region": "eu-central-1", "monitored_from": "eu-mon"},
        {"name": "eu-mon", "url": "http://deis.eu-mon.test", "token": "x", "region": "europe",
         "aws_region": "eu-central-1", "kind": "monitoring"}]) and db.session.commit(),
    "cluster renamed, sql": lambda p: raw("UPDATE clusters SET name = 'us-prod-2' WHERE id = :id", id=p["us-prod"]),
    "cluster kind, sql": lambda p: raw("UPDATE clusters SET kind = 'staging' WHERE id = :id", id=p["eu-prod"]),
    "monitored from, sql": lambda p: raw("UPDATE clusters SET monitored_from_id = NULL WHERE id = :id",
                                         id=p["eu-prod"]),
    "cluster region, sql": lambda p: raw("UPDATE clusters SET region_id = :to WHERE id = :id", to=p["europe"],
                                         id=p["us-prod"]),
    "cluster added, sql": lambda p: raw(
        "INSERT INTO clusters (name, region_id, kind, controller_url) VALUES ('us-west', :region, 'production', 'x')",
        "INSERT INTO apps (cluster_id, name, uuid, owner, app_type, structure, config_values, memory, cpu, settings,"
        " monitoring_enabled, limit_drift, health_path, synced_at) SELECT id, 'w', 'u-w', 'dev', 'web', '{}', '{}',"
        " '{}', '{}', '{}', :on, :off, '/', CURRENT_TIMESTAMP FROM clusters WHERE name = 'us-west'",
        "INSERT INTO domains (app_id, name) SELECT id, 'w.example.com' FROM apps WHERE name = 'w'",
        region=p["america"], on=True, off=False),
    "monitor's region, sql": lambda p: raw("UPDATE clusters SET region_id = :to WHERE id = :id", to=p["europe"],
                                           id=p["us-mon"]),
}


# What some changes need to exist first (made before the first pull).
BEFORE = {
    "override flipped, sql": lambda p: monitoring.set_watched_clusters(
        db.session, db.session.get(Cluster, p["us-mon"]), [p["us-mon"], p["us-prod"]], "t"),
    "app gone, sync": eu_prod_as_synced,
    "domain, sync": eu_prod_as_synced,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_input_change_changes_the_etag_and_the_body_and_a_stale_etag_gets_the_new_file(
        platform, pull, change):
    if change in BEFORE:
        BEFORE[change](platform)
    first, first_json = pull(CONF), pull(JSON)
    assert first.status_code == 200 and first_json.status_code == 200
    assert pull(CONF, first.headers["ETag"]).status_code == 304

    CHANGES[change](platform)
    db.session.expire_all()
    stale = pull(CONF, first.headers["ETag"])
    assert stale.status_code == 200
    assert stale.headers["ETag"] != first.headers["ETag"]
    assert stale.get_data() != first.get_data()
    assert pull(CONF, stale.headers["ETag"]).status_code == 304
    assert stale.get_data() == pull(CONF).get_data()  # the new ETag stands for exactly this new body
    stale_json = pull(JSON, first_json.headers["ETag"])
    assert stale_json.status_code == 200 and stale_json.headers["ETag"] != first_json.headers["ETag"]


def test_an_unchanged_platform_keeps_its_etag_and_writes_the_file_does_not_read_leave_it(platform, pull):
    eu_prod_as_synced(platform)  # rows now as the sync writes them (synced owner, uuid, config...)
    first = pull(CONF)
    again = pull(CONF)
    assert again.headers["ETag"] == first.headers["ETag"] and again.get_data() == first.get_data()
    versions = dict(db.session.execute(select(MonitVersion.part, MonitVersion.version)).tuples().all())

    # A second sync of the same picture, columns the files do not read (by the sync and by hand), the relations
    # rebuild, a same-value write of a column they do read: all real writes, none of them changes the file.
    deis_write(platform["eu-prod"], [fetched("shop", ["shop.example.com"]), fetched("blog", ["blog.example.org"])])
    raw("UPDATE apps SET synced_at = CURRENT_TIMESTAMP, owner = 'someone', config_values = '{\"A\": 1}'")
    raw("UPDATE apps SET health_path = health_path, monitoring_enabled = monitoring_enabled")
    raw("UPDATE domains SET certificate_id = NULL")
    raw("UPDATE regions SET backup_hour = 5")
    raw("UPDATE clusters SET controller_url = 'http://elsewhere.test', load_balancer_name = 'lb'")
    relations.rebuild(db.session)
    db.session.commit()
    assert db.session.scalar(select(App.owner).where(App.id == platform["shop"])) == "someone"
    assert dict(db.session.execute(select(MonitVersion.part, MonitVersion.version)).tuples().all()) == versions

    unchanged = pull(CONF, first.headers["ETag"])
    assert unchanged.status_code == 304 and unchanged.get_data() == b""
    assert unchanged.headers["ETag"] == first.headers["ETag"]
    assert unchanged.headers["Cache-Control"] == "private, no-cache"
    assert pull(CONF).get_data() == first.get_data()


def test_a_region_renamed_by_sql_or_by_the_cluster_settings_changes_the_json(platform, pull):
    first = pull(JSON)
    raw("UPDATE regions SET name = 'americas' WHERE id = :id", id=platform["america"])
    renamed = pull(JSON, first.headers["ETag"])
    assert renamed.status_code == 200 and renamed.get_json()["region"] == "americas"
    assert first.get_json()["region"] == "america"

    ensure_clusters(db.session, [{"name": "us-mon", "url": "http://deis.us-mon.test", "token": "x",
                                  "region": "north-america", "aws_region": "us-east-1", "kind": "monitoring"}])
    db.session.commit()
    moved = pull(JSON, renamed.headers["ETag"])
    assert moved.status_code == 200 and moved.get_json()["region"] == "north-america"
    assert "us-prod" not in moved.get_json()["watches"]  # no longer in the monitor's region


def test_the_certificate_setting_and_the_rendering_code_are_part_of_the_etag(platform, pull, panel_with, token,
                                                                             monkeypatch):
    first = pull(CONF)
    strict = panel_with(monit_cert_min_days=30).test_client().get(
        CONF, headers={"Authorization": f"Bearer {token}", "If-None-Match": first.headers["ETag"]})
    assert strict.status_code == 200 and "certificate valid > 30 days" in strict.get_data(as_text=True)
    assert strict.headers["ETag"] != first.headers["ETag"]
    # A deploy that changes how files are written: the same rows, another ETag (Chef fetches the new format).
    monkeypatch.setattr(monit, "FORMAT", "another version of the code")
    redeployed = pull(CONF, first.headers["ETag"])
    assert redeployed.status_code == 200 and redeployed.headers["ETag"] != first.headers["ETag"]
    # conf and json never share an ETag
    assert pull(JSON).headers["ETag"] != redeployed.headers["ETag"]


def test_a_304_reads_no_app_domain_or_cluster_list(platform, pull):
    first = pull(CONF)  # also notes the client's last use, a write a later request does not repeat
    with counting_statements() as full:
        assert pull(CONF).status_code == 200
    with counting_statements() as cached:
        answer = pull(CONF, first.headers["ETag"])
    assert answer.status_code == 304
    reads_apps = re.compile(r"\b(apps|domains|internal_tools|monitor_watch_overrides)\b", re.IGNORECASE)
    assert any(reads_apps.search(statement) for statement in full)  # the counting can see them
    assert not [statement for statement in cached if reads_apps.search(statement)], cached
    # the token, then the monitor with the versions
    assert len(cached) <= 2, cached


def test_a_monitor_that_is_no_monitor_any_more_is_404_even_with_its_old_etag(platform, pull):
    first = pull(CONF)
    raw("UPDATE clusters SET kind = 'production' WHERE id = :id", id=platform["us-mon"])
    gone = pull(CONF, first.headers["ETag"])
    assert gone.status_code == 404 and gone.get_json()["monitors"] == ["eu-mon"]


def test_a_write_committed_while_a_file_renders_is_fetched_at_the_next_poll(platform, pull, monkeypatch):
    # Another writer commits between the ETag's read and the render (forced here: the timing cannot be arranged
    # otherwise). The answer may pair the old ETag with the new body, never the new ETag with the old body, which
    # would hide the change behind 304s for good.
    render = monit.monit_plan

    def plan_after_a_concurrent_write(session, monitor, days):
        monkeypatch.setattr(monit, "monit_plan", render)
        raw("UPDATE apps SET health_path = '/moved' WHERE id = :id", id=platform["shop"])
        return render(session, monitor, days)

    monkeypatch.setattr(monit, "monit_plan", plan_after_a_concurrent_write)
    raced = pull(CONF)
    assert 'request "/moved"' in raced.get_data(as_text=True)
    next_poll = pull(CONF, raced.headers["ETag"])
    assert next_poll.status_code == 200 and 'request "/moved"' in next_poll.get_data(as_text=True)
    assert pull(CONF, next_poll.headers["ETag"]).status_code == 304


def test_a_change_kept_after_a_rolled_back_savepoint_still_changes_the_etag(platform, pull):
    # PostgreSQL bumps a part once per transaction; a savepoint rolled back takes that bump with it, and the next
    # write of the same transaction must bump again.
    first = pull(CONF)
    with db.engine.connect() as connection:
        with connection.begin():
            savepoint = connection.begin_nested()
            connection.execute(text("UPDATE apps SET health_path = '/undone' WHERE id = :id"), {"id": platform["shop"]})
            savepoint.rollback()
            # the same app, so the same part: only a bump forgotten with the savepoint lets this one through
            connection.execute(text("UPDATE apps SET health_path = '/kept' WHERE id = :id"), {"id": platform["shop"]})
    changed = pull(CONF, first.headers["ETag"])
    assert changed.status_code == 200
    body = changed.get_data(as_text=True)
    assert 'request "/kept"' in body and "/undone" not in body
