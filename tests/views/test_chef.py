"""The Chef endpoints as Chef sees them: monit files that the real `monit -t` accepts, ETags, tokens and scopes."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import select

from app.clients import PlatformClients
from app.config import ConfigError, Settings
from app.extensions import db
from app.models import ApiClient, App, Cluster, utcnow
from app.operations import api_clients, monitoring
from app.queues import redis_url
from app.sync import runner
from app.sync.locks import redis_locks
from sandbox.scenario import load
from tests import factories as make

MONIT = shutil.which("monit") or "/usr/bin/monit"
CHECK_NAME = re.compile(r"^check host (\S+) with address (\S+)$", re.MULTILINE)


def monit_syntax(folder, conf: str) -> subprocess.CompletedProcess:
    """`monit -t` on a minimal control file (mode 0600, as monit demands) that includes `conf`."""
    assert shutil.which(MONIT), "monit is missing: `make test` installs it (apt-get install monit)"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "panel.conf").write_text(conf)
    control = folder / "monitrc"
    control.write_text(f"set daemon 60\nset idfile {folder}/monit.id\nset statefile {folder}/monit.state\n"
                       f"include {folder}/*.conf\n")
    control.chmod(0o600)
    return subprocess.run([MONIT, "-t", "-c", str(control)], capture_output=True, text=True, timeout=60)


def check_names(conf: str) -> set[str]:
    return {name for name, _ in CHECK_NAME.findall(conf)}


@pytest.fixture
def token(app) -> str:
    _, token = api_clients.create_client(db.session, "chef", ["monit:read"], actor="test")
    return token


@pytest.fixture
def pull(client, token):
    """GET a Chef URL with the Chef client's token (or the given one)."""

    def get(path: str, bearer: str | None = token, **headers: str):
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        return client.get(path, headers=headers)

    return get


@pytest.fixture
def platform(db_session):
    """Europe (eu-mon, eu-prod, eu-staging), America (us-mon, us-prod watched from eu-mon), India (in-prod, eu-mon)."""
    europe = make.region(db_session, "europe", "eu-central-1")
    america = make.region(db_session, "america", "us-east-1")
    india = make.region(db_session, "india", "ap-south-1")
    eu_mon = make.cluster(db_session, "eu-mon", europe, kind="monitoring")
    us_mon = make.cluster(db_session, "us-mon", america, kind="monitoring")
    eu_prod = make.cluster(db_session, "eu-prod", europe, monitored_from=us_mon)
    eu_staging = make.cluster(db_session, "eu-staging", europe, kind="staging")
    us_prod = make.cluster(db_session, "us-prod", america, monitored_from=eu_mon)
    in_prod = make.cluster(db_session, "in-prod", india, monitored_from=eu_mon)
    shop = make.app(db_session, "shop", eu_prod, monitoring_enabled=True, health_path="/healthz")
    make.domain(db_session, shop, "shop")  # the bare app id Deis adds: not checkable
    make.domain(db_session, shop, "www.shop.example.com")
    make.domain(db_session, shop, "shop.example.com")
    api = make.app(db_session, "api", us_prod, monitoring_enabled=True)
    make.domain(db_session, api, "api.example.com")
    blog = make.app(db_session, "blog", in_prod, monitoring_enabled=False)
    make.domain(db_session, blog, "blog.example.org")
    preview = make.app(db_session, "preview", eu_staging, monitoring_enabled=True)
    make.domain(db_session, preview, "preview.staging.example.com")
    db_session.commit()
    return {"eu-mon": eu_mon, "us-mon": us_mon, "shop": shop, "api": api, "blog": blog, "preview": preview,
            "in-prod": in_prod, "eu-prod": eu_prod}


# -- The demo platform, through the real sync, into the real monit ---------------------------------------------
@pytest.fixture
def demo_platform(sandbox, settings, app):
    """The demo scenario in the sandbox, synced from Deis into the panel's database."""
    sandbox.reseed(load("demo"))
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), "DATABASE_URL": settings.database_url,
               **sandbox.env()}
    clients = PlatformClients(Settings.from_env(environ))
    locks = redis_locks(Redis.from_url(redis_url()))
    _, failures = runner.run_many(db.session, clients, locks, runner.plan(clients, "deis", None),
                                  triggered_by="test")
    assert failures == []
    return sandbox


def test_demo_platform_gives_each_monitor_a_file_monit_accepts_with_exactly_the_enabled_apps(
        demo_platform, pull, tmp_path):
    every_app = db.session.scalars(select(App)).all()
    assert len(every_app) == 60
    # Monitoring on for every app but those of one owner; the file must hold exactly the others.
    monitoring.set_enabled_for(db.session, select(App.id).where(App.owner != "ben"), True, "test", {})
    monitoring.add_internal_tool(db.session, "grafana", "https://grafana.platform-ops.net/api/health", "test")
    monitoring.add_internal_tool(db.session, "status-page", "http://10.30.9.11:8080/status?format=json", "test")
    watched = {"eu-mon": {"eu-mon", "eu-prod", "eu-staging", "us-prod", "in-prod"},
               "us-mon": {"us-mon", "us-prod", "eu-prod"}}  # own region, plus the production clusters it watches

    for monitor, clusters in watched.items():
        response = pull(f"/chef/monit/{monitor}.conf")
        assert response.status_code == 200, response.get_data(as_text=True)
        conf = response.get_data(as_text=True)
        result = monit_syntax(tmp_path / monitor, conf)
        assert result.returncode == 0, result.stdout + result.stderr + conf
        assert "Control file syntax OK" in result.stdout + result.stderr

        expected_apps = {
            (app.cluster.name, app.name) for app in every_app
            if app.owner != "ben" and app.cluster.name in clusters
            and any("." in domain.name and "*" not in domain.name for domain in app.domains)
        }
        assert len(expected_apps) > 5
        expected = ({f"app.{cluster}.{name}" for cluster, name in expected_apps}
                    | {f"cert.{cluster}.{name}" for cluster, name in expected_apps}
                    | {"tool.grafana", "toolcert.grafana", "tool.status-page"})
        assert check_names(conf) == expected
        assert len(CHECK_NAME.findall(conf)) == len(expected)  # no name twice

        data = pull(f"/chef/monit/{monitor}.json").get_json()
        assert set(data["watches"]) == clusters
        assert {(entry["cluster"], entry["app"]) for entry in data["apps"]} == expected_apps
        without_domain = {(left["cluster"], left["name"]) for left in data["left_out"]}
        assert without_domain == {(app.cluster.name, app.name) for app in every_app if app.owner != "ben"
                                  and app.cluster.name in clusters} - expected_apps
    storefront = pull("/chef/monit/us-mon.json").get_json()["apps"]
    assert {"check": "app.eu-prod.storefront", "certificate_check": "cert.eu-prod.storefront", "cluster": "eu-prod",
            "app": "storefront", "domain": "northwind-shop.com", "health_path": "/",
            "url": "https://northwind-shop.com/"} in storefront


def test_http_and_certificate_checks_are_separate_and_use_the_configured_days(platform, pull, tmp_path, app):
    conf = pull("/chef/monit/eu-mon.conf").get_data(as_text=True)
    assert monit_syntax(tmp_path, conf).returncode == 0
    http = conf[conf.index("check host app.eu-prod.shop "):].split("\n\n")[0]
    assert "with address shop.example.com" in http  # a concrete host name, not the bare app id
    assert 'request "/healthz"' in http and "protocol https" in http and "certificate" not in http
    certificate = conf[conf.index("check host cert.eu-prod.shop "):].split("\n\n")[0]
    assert "certificate valid > 14 days" in certificate and "request" not in certificate
    assert pull("/chef/monit/eu-mon.json").get_json()["certificate_min_days"] == 14


def test_certificate_days_come_from_the_setting(platform, panel_with, token, tmp_path):
    strict = panel_with(monit_cert_min_days=30)
    response = strict.test_client().get("/chef/monit/eu-mon.conf", headers={"Authorization": f"Bearer {token}"})
    assert "certificate valid > 30 days" in response.get_data(as_text=True)


def test_the_setting_is_read_from_the_environment_and_nonsense_refused(tmp_path):
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(tmp_path)}
    assert Settings.from_env(environ).monit_cert_min_days == 14
    assert Settings.from_env({**environ, "MONIT_CERT_MIN_DAYS": "21"}).monit_cert_min_days == 21
    for bad in ("0", "-3", "fourteen", "400"):
        with pytest.raises(ConfigError, match="MONIT_CERT_MIN_DAYS"):
            Settings.from_env({**environ, "MONIT_CERT_MIN_DAYS": bad})


def test_each_monitor_watches_its_region_and_the_production_clusters_monitored_from_it(platform, pull):
    eu = pull("/chef/monit/eu-mon.conf").get_data(as_text=True)
    us = pull("/chef/monit/us-mon.conf").get_data(as_text=True)
    assert {"app.eu-prod.shop", "app.eu-staging.preview", "app.us-prod.api"} <= check_names(eu)
    assert "app.in-prod.blog" not in check_names(eu)  # monitoring off
    assert check_names(us) == {"app.eu-prod.shop", "cert.eu-prod.shop", "app.us-prod.api", "cert.us-prod.api"}
    listing = pull("/chef/monitors.json").get_json()["monitors"]
    assert [monitor["name"] for monitor in listing] == ["eu-mon", "us-mon"]
    assert listing[1]["watches"] == ["eu-prod", "us-mon", "us-prod"]
    assert listing[0]["conf_url"] == "http://localhost/chef/monit/eu-mon.conf"
    assert listing[0]["json_url"] == "http://localhost/chef/monit/eu-mon.json"


def test_toggling_an_app_changes_the_file_and_its_etag_and_an_unchanged_file_gets_304(platform, pull, app):
    first = pull("/chef/monit/us-mon.conf")
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{64}"', etag)  # strong: a sha256 (of the inputs' versions), quoted
    again = pull("/chef/monit/us-mon.conf")
    assert again.get_data() == first.get_data() and again.headers["ETag"] == etag  # deterministic
    not_modified = pull("/chef/monit/us-mon.conf", **{"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.get_data() == b""
    assert not_modified.headers["ETag"] == etag

    monitoring.set_enabled(db.session, db.session.get(App, platform["api"].id), False, "test")
    changed = pull("/chef/monit/us-mon.conf", **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "app.us-prod.api" not in check_names(changed.get_data(as_text=True))
    assert "app.us-prod.api" in check_names(first.get_data(as_text=True))

    json_etag = pull("/chef/monit/us-mon.json").headers["ETag"]
    assert pull("/chef/monit/us-mon.json", **{"If-None-Match": json_etag}).status_code == 304


def test_no_token_or_a_bad_one_is_401_and_a_wrong_scope_403(platform, pull, app):
    missing = pull("/chef/monit/eu-mon.conf", bearer=None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.get_json()["error"]
    assert pull("/chef/monit/eu-mon.conf", bearer="apc_not-a-real-token").status_code == 401
    basic = pull("/chef/monitors.json", bearer=None, Authorization="Basic Y2hlZjpjaGVm")
    assert basic.status_code == 401
    # A client holding only some other scope: made directly, as no other scope exists yet to create it with.
    other_token = "apc_" + "x" * 43
    db.session.add(ApiClient(name="dns-reader", token_hash=api_clients.token_hash(other_token), scopes=["dns:read"]))
    db.session.commit()
    for path in ("/chef/monit/eu-mon.conf", "/chef/monit/eu-mon.json", "/chef/monitors.json"):
        wrong_scope = pull(path, bearer=other_token)
        assert wrong_scope.status_code == 403, path
        assert 'error="insufficient_scope"' in wrong_scope.headers["WWW-Authenticate"]
        assert "monit:read" in wrong_scope.get_json()["error"]
        assert "check host" not in wrong_scope.get_data(as_text=True)


def test_a_revoked_token_stops_working_at_once(platform, pull, token, app):
    assert pull("/chef/monitors.json").status_code == 200
    api_clients.revoke_client(db.session, api_clients.find_client(db.session, "chef"), actor="test")
    revoked = pull("/chef/monitors.json")
    assert revoked.status_code == 401 and 'error="invalid_token"' in revoked.headers["WWW-Authenticate"]


def test_an_unknown_monitor_is_a_clear_404(platform, pull):
    for name in ("nowhere", "eu-prod"):  # eu-prod exists, but is no monitoring cluster
        response = pull(f"/chef/monit/{name}.conf")
        assert response.status_code == 404
        assert response.get_json() == {"error": f"No monitoring cluster called {name!r}.",
                                       "monitors": ["eu-mon", "us-mon"]}


def test_last_used_is_written_at_most_once_per_five_minutes(platform, pull, app):
    client = api_clients.find_client(db.session, "chef")
    assert client.last_used_at is None
    pull("/chef/monitors.json")
    db.session.expire_all()
    first_use = api_clients.find_client(db.session, "chef").last_used_at
    assert first_use is not None
    pull("/chef/monitors.json")
    db.session.expire_all()
    assert api_clients.find_client(db.session, "chef").last_used_at == first_use  # no write for this one
    client = api_clients.find_client(db.session, "chef")
    client.last_used_at = utcnow() - timedelta(minutes=6)
    db.session.commit()
    pull("/chef/monitors.json")
    db.session.expire_all()
    assert api_clients.find_client(db.session, "chef").last_used_at > first_use


def test_hostile_names_domains_and_health_paths_cannot_inject_monit_directives(platform, pull, tmp_path, app):
    # Written straight to the database, as an old row or another writer might have: the generator must not trust
    # what the input checks would have refused.
    cluster = db.session.get(Cluster, platform["eu-prod"].id)
    sneaky = make.app(db.session, 'x" then exec "/bin/sh', cluster, monitoring_enabled=True,
                      health_path='/ok"\n    then exec "/usr/bin/touch /tmp/pwned"\ncheck host a with address b')
    make.domain(db.session, sneaky, "sneaky.example.com")
    spoofed = make.app(db.session, "spoofed", cluster, monitoring_enabled=True)
    make.domain(db.session, spoofed, 'evil.example.com then exec "/bin/sh"')
    make.domain(db.session, spoofed, "*.wild.example.com")
    named = make.app(db.session, "shop_v2 beta", cluster, monitoring_enabled=True)
    make.domain(db.session, named, "beta.shop.example.com")
    twin = make.app(db.session, "shop-v2-beta", cluster, monitoring_enabled=True)
    make.domain(db.session, twin, "twin.shop.example.com")
    db.session.commit()

    conf = pull("/chef/monit/eu-mon.conf").get_data(as_text=True)
    result = monit_syntax(tmp_path, conf)
    assert result.returncode == 0, result.stdout + result.stderr + conf
    assert not re.search(r'exec\s*"', conf) and "/bin/sh" not in conf and "pwned" not in conf
    assert "evil" not in conf and "wild" not in conf
    assert "check host a with address b" not in conf
    names = check_names(conf)
    assert "app.eu-prod.shop-v2-beta" in names  # the real name is kept as it is
    assert len([name for name in names if name.startswith("app.eu-prod.shop-v2-beta")]) == 2  # the other one
    left_out = {left["name"]: left["reason"] for left in pull("/chef/monit/eu-mon.json").get_json()["left_out"]}
    assert "health path" in left_out['x" then exec "/bin/sh']
    assert "no domain monit can check" in left_out["spoofed"]

    # The check itself can fail: the same file with a quote let through is refused by monit.
    broken = conf.replace('request "/healthz"', 'request "/healthz" then exec "/bin/sh"')
    assert monit_syntax(tmp_path / "broken", broken).returncode != 0


def test_internal_tools_are_checked_with_their_own_port_and_path(platform, pull, tmp_path, app):
    monitoring.add_internal_tool(db.session, "grafana", "https://grafana.ops.example.net:3000/api/health", "test")
    monitoring.add_internal_tool(db.session, "kibana", "http://10.0.4.2/status", "test")
    conf = pull("/chef/monit/us-mon.conf").get_data(as_text=True)
    assert monit_syntax(tmp_path, conf).returncode == 0
    grafana = conf[conf.index("check host tool.grafana "):].split("\n\n")[0]
    assert "port 3000 protocol https" in grafana and 'request "/api/health"' in grafana
    assert "certificate valid" in conf[conf.index("check host toolcert.grafana "):].split("\n\n")[0]
    kibana = conf[conf.index("check host tool.kibana "):].split("\n\n")[0]
    assert "with address 10.0.4.2" in kibana and "port 80 protocol http\n" in kibana
    assert "toolcert.kibana" not in conf
    tools = json.loads(pull("/chef/monit/us-mon.json").get_data(as_text=True))["tools"]
    assert [tool["name"] for tool in tools] == ["grafana", "kibana"]

