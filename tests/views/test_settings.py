"""Settings pages: which clusters each monitor watches, internal tools, API clients; and what Chef then pulls."""
from __future__ import annotations

import hashlib
import re
from html import unescape

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiClient, AuditEvent, InternalTool, MonitorWatchOverride
from app.operations import api_clients
from tests import factories as make
from tests.conftest import PASSWORD

MINUTE = 60


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def actions(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def travel(client, **seconds_ago: int) -> None:
    with client.session_transaction() as session:
        for stamp, seconds in seconds_ago.items():
            session[stamp] -= seconds


@pytest.fixture
def platform(db_session):
    europe = make.region(db_session, "europe")
    america = make.region(db_session, "america", "us-east-1")
    eu_mon = make.cluster(db_session, "eu-mon", europe, kind="monitoring")
    us_mon = make.cluster(db_session, "us-mon", america, kind="monitoring")
    eu_prod = make.cluster(db_session, "eu-prod", europe, monitored_from=us_mon)
    eu_staging = make.cluster(db_session, "eu-staging", europe, kind="staging")
    us_prod = make.cluster(db_session, "us-prod", america, monitored_from=eu_mon)
    for name, cluster in (("shop", eu_prod), ("preview", eu_staging), ("api", us_prod)):
        app = make.app(db_session, name, cluster, monitoring_enabled=True)
        make.domain(db_session, app, f"{name}.example.com")
    db_session.commit()
    return {"eu-mon": eu_mon, "us-mon": us_mon, "eu-prod": eu_prod, "eu-staging": eu_staging, "us-prod": us_prod}


@pytest.fixture
def chef_checks(client):
    _, token = api_clients.create_client(db.session, "chef", ["monit:read"], actor="test")

    def pull(monitor: str) -> set[str]:
        conf = client.get(f"/chef/monit/{monitor}.conf", headers={"Authorization": f"Bearer {token}"})
        return set(re.findall(r"^check host (\S+)", conf.get_data(as_text=True), re.MULTILINE))

    return pull


def checked_boxes(html: str, monitor: str) -> dict[str, bool]:
    """Cluster name → whether its box is checked, in the monitor's form."""
    section = html[html.index(f'id="monitor-{monitor}"'):].split("</article>")[0]
    return {name: "checked" in attributes for attributes, name in
            re.findall(r'<input type="checkbox" name="watch" value="\d+"([^>]*)>\s*([\w-]+)', section)}


# -- Monitors ---------------------------------------------------------------------------------------------------
def test_the_monitors_page_shows_the_defaults_from_regions_and_monitored_from(client, login_as, platform):
    login_as("viewer")
    home = client.get("/").get_data(as_text=True)
    assert '<a href="/settings/"' in home  # in the navigation
    overview = client.get("/settings/").get_data(as_text=True)
    for path in ("/settings/monitors", "/settings/internal-tools", "/settings/api-clients"):
        assert f'href="{path}"' in overview
    html = client.get("/settings/monitors").get_data(as_text=True)
    assert checked_boxes(html, "eu-mon") == {"eu-mon": True, "eu-prod": True, "eu-staging": True, "us-mon": False,
                                             "us-prod": True}
    assert checked_boxes(html, "us-mon") == {"eu-mon": False, "eu-prod": True, "eu-staging": False, "us-mon": True,
                                             "us-prod": True}
    assert "<fieldset class=\"watch-choices\" disabled>" in html and "Save eu-mon" not in html  # viewers read only


def test_an_admin_changes_what_a_monitor_watches_and_chef_follows(client, login_as, platform, chef_checks):
    login_as("admin")
    assert "app.eu-staging.preview" in chef_checks("eu-mon")
    html = client.get("/settings/monitors").get_data(as_text=True)
    ids = {name: platform[name].id for name in ("eu-mon", "eu-prod", "eu-staging", "us-prod")}
    # Stop watching staging from eu-mon; watch nothing new.
    response = client.post(f"/settings/monitors/{ids['eu-mon']}", data={
        "csrf_token": token_of(html), "watch": [ids["eu-mon"], ids["eu-prod"], ids["us-prod"]]})
    assert response.status_code == 302
    page = client.get("/settings/monitors").get_data(as_text=True)
    assert "eu-mon now watches the chosen clusters." in page
    assert checked_boxes(page, "eu-mon")["eu-staging"] is False
    assert 'badge warn">removed' in page[page.index('id="monitor-eu-mon"'):].split("</article>")[0]
    assert "app.eu-staging.preview" not in chef_checks("eu-mon")
    assert chef_checks("eu-mon") >= {"app.eu-prod.shop", "app.us-prod.api"}
    [event] = actions("monitor.watches")
    assert event.target == "eu-mon"
    assert event.before == {"watches": ["eu-mon", "eu-prod", "eu-staging", "us-prod"]}
    assert event.after == {"watches": ["eu-mon", "eu-prod", "us-prod"]}
    assert db.session.scalar(select(func.count()).select_from(MonitorWatchOverride)) == 1  # only the difference

    # Back to the defaults: the override row goes, and a cluster added later will get its default.
    client.post(f"/settings/monitors/{ids['eu-mon']}", data={
        "csrf_token": token_of(html), "watch": [ids["eu-mon"], ids["eu-prod"], ids["eu-staging"], ids["us-prod"]]})
    assert db.session.scalar(select(func.count()).select_from(MonitorWatchOverride)) == 0
    assert "app.eu-staging.preview" in chef_checks("eu-mon")
    assert len(actions("monitor.watches")) == 2


def test_bad_monitor_changes_are_refused_and_change_nothing(client, login_as, platform):
    login_as("admin")
    html = client.get("/settings/monitors").get_data(as_text=True)
    monitor = platform["eu-mon"].id
    for watch in (["1; DROP TABLE clusters"], ["999999"]):
        response = client.post(f"/settings/monitors/{monitor}", data={"csrf_token": token_of(html), "watch": watch})
        assert response.status_code == 400
        assert "Nothing was changed" in response.get_data(as_text=True) or "reload the page" in response.get_data(
            as_text=True)
    not_a_monitor = client.post(f"/settings/monitors/{platform['eu-prod'].id}",
                                data={"csrf_token": token_of(html), "watch": []})
    assert not_a_monitor.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(MonitorWatchOverride)) == 0
    assert not actions("monitor.watches")


# -- Internal tools ---------------------------------------------------------------------------------------------
def test_internal_tools_are_added_and_removed_audited_and_checked_by_every_monitor(client, login_as, platform,
                                                                                  chef_checks):
    login_as("admin")
    html = client.get("/settings/internal-tools").get_data(as_text=True)
    response = client.post("/settings/internal-tools", data={
        "csrf_token": token_of(html), "name": "Grafana", "url": "https://grafana.ops.example.net/api/health"})
    assert response.status_code == 302
    page = client.get("/settings/internal-tools").get_data(as_text=True)
    assert "Every monitor now checks grafana." in page and "https://grafana.ops.example.net/api/health" in page
    for monitor in ("eu-mon", "us-mon"):
        assert {"tool.grafana", "toolcert.grafana"} <= chef_checks(monitor)
    [added] = actions("internal_tool.add")
    assert added.after == {"name": "grafana", "url": "https://grafana.ops.example.net/api/health"}

    tool = db.session.scalar(select(InternalTool))
    client.post(f"/settings/internal-tools/{tool.id}/delete", data={"csrf_token": token_of(html)})
    assert db.session.scalar(select(func.count()).select_from(InternalTool)) == 0
    assert "tool.grafana" not in chef_checks("eu-mon")
    assert len(actions("internal_tool.remove")) == 1


@pytest.mark.parametrize("name, url, message", [
    ("grafana", "javascript:alert(1)", "starts with https:// or http://"),
    ("grafana", "ftp://files.example.net/", "starts with https:// or http://"),
    ("grafana", "https://admin:hunter2@grafana.example.net/", "no user name or password"),
    ("grafana", 'https://grafana.example.net/a"then exec', "no spaces"),
    ("grafana", 'https://grafana.example.net/health"x', "quotes"),
    ("grafana", "https://grafana.example.net/\nhealth", "no spaces or control characters"),
    ("grafana", "https://*.example.net/", "is not a host name"),
    ("grafana", "https://grafana.example.net:99999/", "not a number from 1 to 65535"),
    ("bad name", "https://grafana.example.net/", "A tool name is 1 to 64 characters"),
])
def test_a_bad_internal_tool_is_refused_with_a_clear_message(client, login_as, platform, name, url, message):
    login_as("admin")
    html = client.get("/settings/internal-tools").get_data(as_text=True)
    response = client.post("/settings/internal-tools", data={"csrf_token": token_of(html), "name": name, "url": url})
    assert response.status_code == 400
    page = unescape(response.get_data(as_text=True))
    assert message in page and "Nothing was changed." in page
    assert db.session.scalar(select(func.count()).select_from(InternalTool)) == 0
    assert not actions("internal_tool.add")
    assert "hunter2" not in page  # a password typed into the URL is not echoed back


# -- API clients ------------------------------------------------------------------------------------------------
def test_an_admin_creates_a_client_after_confirming_the_password_and_sees_the_token_once(client, login_as):
    login_as("admin")
    travel(client, reauth_at=6 * MINUTE)  # signed in more than REAUTH_MINUTES ago
    html = client.get("/settings/api-clients").get_data(as_text=True)
    prompt = client.post("/settings/api-clients", data={"csrf_token": token_of(html), "name": "chef",
                                                        "scope": "monit:read"})
    assert prompt.status_code == 200 and 'name="reauth_password"' in prompt.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ApiClient)) == 0

    created = client.post("/settings/api-clients", data={"csrf_token": token_of(html), "name": "chef",
                                                         "scope": "monit:read", "reauth_password": PASSWORD})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    page = created.get_data(as_text=True)
    token = re.search(r'<code class="once">([^<]+)</code>', page)[1]
    stored = db.session.scalar(select(ApiClient))
    assert stored.name == "chef" and stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert client.get("/chef/monitors.json", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    later = client.get("/settings/api-clients").get_data(as_text=True)
    assert token not in later and stored.token_hash not in later and "chef" in later
    assert "monit:read" in later
    [event] = actions("api_client.create")
    assert event.actor == "admin-user" and token not in str(event.after)


def test_revoking_needs_the_password_and_the_token_stops_working(client, login_as):
    login_as("admin")
    _, token = api_clients.create_client(db.session, "chef", ["monit:read"], actor="test")
    chef = db.session.scalar(select(ApiClient))
    html = client.get("/settings/api-clients").get_data(as_text=True)
    assert 'aria-label="Revoke chef"' in html
    travel(client, reauth_at=6 * MINUTE)
    prompt = client.post(f"/settings/api-clients/{chef.id}/revoke", data={"csrf_token": token_of(html)})
    assert 'name="reauth_password"' in prompt.get_data(as_text=True)
    wrong = client.post(f"/settings/api-clients/{chef.id}/revoke",
                        data={"csrf_token": token_of(html), "reauth_password": "not my password"})
    assert wrong.status_code == 401
    assert client.get("/chef/monitors.json", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    done = client.post(f"/settings/api-clients/{chef.id}/revoke",
                       data={"csrf_token": token_of(html), "reauth_password": PASSWORD})
    assert done.status_code == 302
    assert client.get("/chef/monitors.json", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    page = client.get("/settings/api-clients").get_data(as_text=True)
    assert "revoked" in page and 'aria-label="Revoke chef"' not in page
    assert len(actions("api_client.revoke")) == 1


def test_a_bad_client_is_refused_and_viewers_see_the_list_without_forms(client, login_as, make_user):
    login_as("admin")
    html = client.get("/settings/api-clients").get_data(as_text=True)
    for data in ({"name": "bad name!", "scope": "monit:read"}, {"name": "chef", "scope": "root"},
                 {"name": "chef"}):
        response = client.post("/settings/api-clients", data={"csrf_token": token_of(html), **data})
        assert response.status_code == 400, data
        assert "Nothing was changed." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ApiClient)) == 0

    api_clients.create_client(db.session, "chef", ["monit:read"], actor="test")
    client.post("/logout", data={"csrf_token": token_of(html)})
    login_as("viewer")
    page = client.get("/settings/api-clients").get_data(as_text=True)
    assert "chef" in page and "Revoke" not in page and "Create client" not in page
