"""In Chromium: find an app with the global search box, open it, read its domains and its (masked) config."""
from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from tests import factories as make
from tests.conftest import PASSWORD
from tests.e2e import screenshots

SECRET = "postgres://shop:hunter2-in-the-browser@pg.prod-eu.test/shop"


def test_search_then_open_the_app_page(page, live_server, make_user, db_session):
    cluster = make.cluster(db_session, "prod-eu")
    shop = make.app(db_session, "storefront", cluster, owner="alice",
                    config_values={"DATABASE_URL": SECRET, "PLATFORM": "deis"})
    certificate = make.certificate(db_session, cluster, "shop.example.com", timedelta(days=10))
    make.domain(db_session, shop, "shop.example.com", certificate)
    make.domain(db_session, shop, "www.shop.example.com")
    make.app(db_session, "blog", cluster)
    db_session.commit()
    make_user("alice", "viewer")

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()

    page.get_by_label("Search the platform").press_sequentially("storef")
    suggestion = page.locator("#search-suggestions").get_by_role("option", name="storefront")
    expect(suggestion).to_be_visible()
    expect(page.locator("#search-suggestions")).not_to_contain_text("blog")
    suggestion.click()

    expect(page).to_have_url(f"{live_server}/apps/{shop.id}")
    expect(page.get_by_role("heading", name="storefront", level=2)).to_be_visible()
    domains = page.locator("#domains")
    expect(domains).to_contain_text("shop.example.com")
    expect(domains).to_contain_text("www.shop.example.com")
    expect(domains).to_contain_text("expires in 9 days")
    config = page.locator("#config")
    expect(config.get_by_role("row", name="DATABASE_URL")).to_contain_text("••••••")
    expect(config.get_by_role("row", name="PLATFORM")).to_contain_text("deis")
    assert "hunter2" not in page.content()
    screenshots.save(page, "02-search-app-page")

    # Enter in the global box opens the full results page.
    box = page.get_by_label("Search the platform")
    box.fill("storef")
    box.press("Enter")
    expect(page).to_have_url(f"{live_server}/search?q=storef")
    expect(page.locator("#results-apps")).to_contain_text("storefront")

    # The applications list searches as you type: htmx swaps the table and keeps the query in the address.
    page.goto(f"{live_server}/apps/")
    expect(page.locator("#app-results tbody tr")).to_have_count(2)
    page.locator("#app-results").get_by_role("link", name="Name").click()  # name, descending
    expect(page).to_have_url(f"{live_server}/apps/?dir=desc")
    expect(page.locator("#app-results tbody tr").first).to_contain_text("storefront")
    page.get_by_label("Search applications").press_sequentially("blo")
    expect(page.locator("#app-results tbody tr")).to_have_count(1)
    expect(page.locator("#app-results")).to_contain_text("blog")
    expect(page).to_have_url(f"{live_server}/apps/?q=blo&dir=desc")  # the search keeps the chosen order
    page.get_by_label("Monitoring").select_option("yes")
    expect(page.locator("#app-results")).to_contain_text("No application matches these filters.")
