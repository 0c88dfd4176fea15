"""A person signs in through the real page in Chromium and sees the home page; htmx loaded with its SRI hash."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e import screenshots


def test_sign_in_in_a_browser(page, live_server, make_user):
    make_user("alice", "admin")
    page.goto(f"{live_server}/")
    expect(page).to_have_url(f"{live_server}/login?next=%2F")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Unknown username or wrong password.")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()
    expect(page.locator("#panel-certificates")).to_contain_text("No certificate expires in the next 30 days.")
    assert page.evaluate("typeof htmx !== 'undefined' && htmx.version") == "2.0.11"
    screenshots.save(page, "01-sign-in-home")

    page.locator("details.user-menu summary").click()  # the account menu holds Sign out
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("alert")).to_have_text("Signed out.")
