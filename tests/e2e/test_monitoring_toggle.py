"""In Chromium: an admin turns monitoring on from the app page and off from the list; the state changes in place
(no page load), the next Chef pull says so, and the Content-Security-Policy refuses nothing."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import App
from app.operations import api_clients
from tests import factories as make
from tests.conftest import PASSWORD
from tests.e2e import screenshots
from tests.e2e.test_security_policy import violations_of


def monitoring_of(name: str) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(App.monitoring_enabled).where(App.name == name))


def test_toggle_monitoring_on_the_app_page_and_in_the_list_without_a_reload(page, live_server, make_user,
                                                                           db_session, client):
    region = make.region(db_session, "europe")
    make.cluster(db_session, "eu-mon", region, kind="monitoring")
    cluster = make.cluster(db_session, "eu-prod", region)
    shop = make.app(db_session, "storefront", cluster)
    make.domain(db_session, shop, "shop.example.com")
    make.app(db_session, "blog", cluster, monitoring_enabled=True)
    db_session.commit()
    _, token = api_clients.create_client(db.session, "chef", ["monit:read"], actor="test")
    make_user("root", "admin")
    violations = violations_of(page)

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()

    page.goto(f"{live_server}/apps/{shop.id}")
    section = page.locator("#monitoring")
    expect(section).to_contain_text("disabled")
    page.evaluate("window.loadedOnce = 'still the same page'")  # a full page load would wipe this
    section.get_by_role("button", name="Turn monitoring on for storefront").click()
    expect(section.get_by_role("button", name="Turn monitoring off for storefront")).to_be_visible()
    expect(section.get_by_role("button", name="Turn monitoring on for storefront")).to_have_count(0)  # swapped whole
    expect(section).to_contain_text("enabled")
    assert page.evaluate("window.loadedOnce") == "still the same page"
    expect(page).to_have_url(f"{live_server}/apps/{shop.id}")
    assert monitoring_of("storefront") is True
    conf = client.get("/chef/monit/eu-mon.conf", headers={"Authorization": f"Bearer {token}"}).get_data(as_text=True)
    assert "check host app.eu-prod.storefront with address shop.example.com" in conf

    # In the list: switch blog off in its row, the rest of the table stays as it was.
    page.goto(f"{live_server}/apps/")
    row = page.locator("#app-results").get_by_role("row", name="blog")
    page.evaluate("window.loadedOnce = 'the list'")
    row.get_by_role("button", name="Turn monitoring off for blog").click()
    expect(row.get_by_role("button", name="Turn monitoring on for blog")).to_be_visible()
    expect(row).to_contain_text("off")
    assert page.evaluate("window.loadedOnce") == "the list"
    assert monitoring_of("blog") is False

    # Bulk: every app shown, on; the rows reload themselves with the new state.
    page.get_by_role("button", name="Turn monitoring on for all 2 apps").click()
    expect(page.locator("#bulk-monitoring-result")).to_contain_text(
        "Monitoring turned on for 1 of the 2 matching apps (1 already was on).")
    expect(row.get_by_role("button", name="Turn monitoring off for blog")).to_be_visible()
    assert page.evaluate("window.loadedOnce") == "the list"
    assert monitoring_of("blog") is True
    screenshots.save(page, "03-monitoring-toggle", focus=page.locator("h2"))

    assert violations == []
