"""One-click monitoring as an admin uses it: the toggle on the app page and in the list, bulk changes for the
filtered list, the health path; and what the next Chef pull of the monit file then says."""
from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import App, AuditEvent
from app.operations import api_clients
from tests import factories as make


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def actions(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def monitoring_of(name: str) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(App.monitoring_enabled).where(App.name == name))


@pytest.fixture
def platform(db_session):
    europe = make.region(db_session, "europe")
    monitor = make.cluster(db_session, "eu-mon", europe, kind="monitoring")
    prod = make.cluster(db_session, "eu-prod", europe)
    staging = make.cluster(db_session, "eu-staging", europe, kind="staging")
    apps = {}
    for name, cluster, enabled in (("shop", prod, False), ("blog", prod, True), ("api", prod, False),
                                   ("preview", staging, False)):
        apps[name] = make.app(db_session, name, cluster, monitoring_enabled=enabled)
        make.domain(db_session, apps[name], f"{name}.example.com")
    db_session.commit()
    return {"monitor": monitor, **apps}


@pytest.fixture
def chef_file(client):
    _, token = api_clients.create_client(db.session, "chef", ["monit:read"], actor="test")

    def pull() -> str:
        response = client.get("/chef/monit/eu-mon.conf", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return pull


def test_the_toggle_on_the_app_page_answers_htmx_in_place_audits_and_reaches_chef(client, login_as, platform,
                                                                                 chef_file):
    login_as("admin")
    shop = platform["shop"]
    page = client.get(f"/apps/{shop.id}").get_data(as_text=True)
    assert 'aria-label="Turn monitoring on for shop"' in page
    assert "app.eu-prod.shop" not in chef_file()

    response = client.post(f"/apps/{shop.id}/monitoring", data={"enabled": "on", "place": "page"},
                           headers={"HX-Request": "true", "X-CSRFToken": token_of(page)})
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith(f'<span class="monitoring-toggle" id="monitoring-toggle-{shop.id}">')
    assert "enabled" in fragment and 'aria-label="Turn monitoring off for shop"' in fragment
    assert "<html" not in fragment
    assert monitoring_of("shop") is True
    [event] = actions("app.monitoring")
    assert event.before == {"monitoring_enabled": False} and event.after == {"monitoring_enabled": True}
    assert event.target == "shop"
    assert "app.eu-prod.shop" in chef_file() and "cert.eu-prod.shop" in chef_file()

    # The same click again (a second tab) changes nothing and writes no second audit event.
    client.post(f"/apps/{shop.id}/monitoring", data={"enabled": "on"}, headers={"X-CSRFToken": token_of(page)})
    assert len(actions("app.monitoring")) == 1


def test_the_list_toggle_answers_with_the_list_badge_and_a_plain_post_redirects(client, login_as, platform):
    login_as("admin")
    listing = client.get("/apps/").get_data(as_text=True)
    blog = platform["blog"]
    assert 'aria-label="Turn monitoring off for blog"' in listing
    response = client.post(f"/apps/{blog.id}/monitoring", data={"enabled": "off", "place": "list"},
                           headers={"HX-Request": "true", "X-CSRFToken": token_of(listing)})
    assert '<span class="badge">off</span>' in response.get_data(as_text=True)
    assert monitoring_of("blog") is False
    plain = client.post(f"/apps/{blog.id}/monitoring", data={"enabled": "on", "place": "list"},
                        headers={"X-CSRFToken": token_of(listing)})
    assert plain.status_code == 302 and plain.headers["Location"] == "/apps/"
    assert monitoring_of("blog") is True


def test_a_bad_toggle_value_is_refused(client, login_as, platform):
    login_as("admin")
    html = client.get("/apps/").get_data(as_text=True)
    response = client.post(f"/apps/{platform['shop'].id}/monitoring", data={"enabled": "yes please"},
                           headers={"X-CSRFToken": token_of(html)})
    assert response.status_code == 400 and monitoring_of("shop") is False and not actions("app.monitoring")


def test_viewers_see_the_state_but_no_toggle_and_cannot_post(client, login_as, platform):
    login_as("viewer")
    shop = platform["shop"]
    page = client.get(f"/apps/{shop.id}").get_data(as_text=True)
    assert "disabled" in page[page.index('id="monitoring"'):] and "Turn monitoring" not in page
    assert "Turn monitoring" not in client.get("/apps/").get_data(as_text=True)
    for path, data in ((f"/apps/{shop.id}/monitoring", {"enabled": "on"}),
                       (f"/apps/{shop.id}/health-path", {"health_path": "/up"}),
                       ("/apps/monitoring", {"enabled": "on"})):
        assert client.post(path, data=data, headers={"X-CSRFToken": token_of(page)}).status_code == 403
    assert monitoring_of("shop") is False and monitoring_of("api") is False


def test_bulk_changes_exactly_the_filtered_apps_and_audits_the_counts(client, login_as, platform, chef_file):
    login_as("admin")
    listing = client.get("/apps/?cluster=eu-prod").get_data(as_text=True)
    assert "Turn monitoring on for these 3 apps" in listing
    response = client.post("/apps/monitoring", data={"cluster": "eu-prod", "enabled": "on"},
                           headers={"HX-Request": "true", "X-CSRFToken": token_of(listing)})
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "monitoring-changed"  # the rows reload themselves
    assert "Monitoring turned on for 2 of the 3 matching apps (1 already was on)." in response.get_data(as_text=True)
    assert [monitoring_of(name) for name in ("shop", "blog", "api", "preview")] == [True, True, True, False]
    [event] = actions("app.monitoring_bulk")
    assert event.after == {"monitoring_enabled": True, "matched": 3, "changed": 2, "filters": {"cluster": "eu-prod"}}
    assert {"app.eu-prod.shop", "app.eu-prod.api", "app.eu-prod.blog"} <= set(
        re.findall(r"check host (\S+)", chef_file()))

    # Off for every web app, the staging one included; a plain post redirects to the same filters.
    plain = client.post("/apps/monitoring", data={"type": "web", "enabled": "off"},
                        headers={"X-CSRFToken": token_of(listing)})
    assert plain.status_code == 302 and plain.headers["Location"] == "/apps/?type=web"
    assert [monitoring_of(name) for name in ("shop", "blog", "api", "preview")] == [False, False, False, False]
    assert actions("app.monitoring_bulk")[-1].after["changed"] == 3
    followed = client.get("/apps/?type=web").get_data(as_text=True)
    assert "Monitoring turned off for 3 of the 4 matching apps (1 already was off)." in followed
    assert "app.eu-prod" not in chef_file()


def test_a_bulk_change_with_a_bad_filter_changes_nothing(client, login_as, platform):
    # A mistyped cluster must not fall back to "every app on the platform".
    login_as("admin")
    listing = client.get("/apps/").get_data(as_text=True)
    for data in ({"cluster": "eu-prd", "enabled": "on"}, {"monitoring": "maybe", "enabled": "on"},
                 {"cluster": "eu-prod", "enabled": "sideways"}):
        response = client.post("/apps/monitoring", data=data,
                               headers={"HX-Request": "true", "X-CSRFToken": token_of(listing)})
        assert response.status_code == 400, data
        assert "Nothing was changed." in response.get_data(as_text=True)
        assert "HX-Trigger" not in response.headers
    assert "No cluster called 'eu-prd'" in unescape(client.post(
        "/apps/monitoring", data={"cluster": "eu-prd", "enabled": "on"},
        headers={"X-CSRFToken": token_of(listing)}).get_data(as_text=True))
    assert [monitoring_of(name) for name in ("shop", "blog", "api", "preview")] == [False, True, False, False]
    assert not actions("app.monitoring_bulk")


def test_the_health_path_is_saved_audited_and_used_by_the_next_pull(client, login_as, platform, chef_file):
    login_as("admin")
    blog = platform["blog"]
    page = client.get(f"/apps/{blog.id}").get_data(as_text=True)
    response = client.post(f"/apps/{blog.id}/health-path", data={"health_path": "/healthz?deep=1"},
                           headers={"HX-Request": "true", "X-CSRFToken": token_of(page)})
    assert response.status_code == 200
    assert response.get_data(as_text=True).lstrip().startswith('<section id="monitoring"')
    assert '<code id="health-path">/healthz?deep=1</code>' in response.get_data(as_text=True)
    [event] = actions("app.health_path")
    assert event.before == {"health_path": "/"} and event.after == {"health_path": "/healthz?deep=1"}
    assert 'request "/healthz?deep=1"' in chef_file()


@pytest.mark.parametrize("health_path, message", [
    ('/ok" then exec "/bin/sh', "no spaces, quotes, backslashes or control characters"),
    ("/ok\n    then exec /bin/sh", "no spaces, quotes, backslashes or control characters"),
    ("/ok'", "no spaces, quotes"),
    ("/a b", "no spaces"),
    ("/tab\there", "control characters"),
    ("/back\\slash", "backslashes"),
    ("healthz", 'A health path starts with "/"'),
    ("/" + "a" * 255, "at most 255 characters"),
])
def test_a_health_path_that_could_break_monit_syntax_is_refused(client, login_as, platform, chef_file,
                                                                health_path, message):
    login_as("admin")
    blog = platform["blog"]
    before = chef_file()
    page = client.get(f"/apps/{blog.id}").get_data(as_text=True)
    response = client.post(f"/apps/{blog.id}/health-path", data={"health_path": health_path},
                           headers={"HX-Request": "true", "X-CSRFToken": token_of(page)})
    assert response.status_code == 400
    html = unescape(response.get_data(as_text=True))
    assert message in html and "Nothing was changed." in html
    assert 'aria-invalid="true"' in html
    db.session.expire_all()
    assert db.session.get(App, blog.id).health_path == "/" and not actions("app.health_path")
    assert chef_file() == before
