"""In Chromium: the global search from the keyboard. "/" focuses the box, the arrow keys walk the suggestions,
Enter on one opens it, Escape and a click outside close them, and the Content-Security-Policy refuses nothing."""
from __future__ import annotations

from playwright.sync_api import expect

from tests import factories as make
from tests.conftest import PASSWORD
from tests.e2e.test_security_policy import violations_of


def test_slash_arrows_escape_and_outside_click(page, live_server, make_user, db_session):
    cluster = make.cluster(db_session, "eu-prod")
    checkout = make.app(db_session, "checkout", cluster)
    make.app(db_session, "checkout-worker", cluster)
    make.domain(db_session, checkout, "checkout.example.com")
    db_session.commit()
    make_user("viewer-1", "viewer")
    violations = violations_of(page)

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("viewer-1")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()

    box = page.get_by_label("Search the platform")
    page.locator("body").click()
    page.keyboard.press("/")
    expect(box).to_be_focused()
    expect(box).to_have_value("")  # the slash itself is not typed into the box

    page.keyboard.type("checkout")
    suggestions = page.locator("#search-suggestions [role=option]")
    expect(suggestions.first).to_be_visible()
    expect(page.locator("#search-suggestions")).to_contain_text("checkout-worker")

    page.keyboard.press("ArrowDown")
    expect(suggestions.nth(0)).to_be_focused()
    expect(suggestions.nth(0)).to_have_text("checkout")
    page.keyboard.press("ArrowDown")
    expect(suggestions.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(suggestions.nth(0)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(box).to_be_focused()  # above the first suggestion is the box

    page.keyboard.press("Escape")
    expect(suggestions).to_have_count(0)
    expect(box).to_be_focused()

    page.keyboard.type("-")  # the suggestions come back as you type again
    expect(suggestions.first).to_be_visible()
    page.locator("main h2").first.click()
    expect(suggestions).to_have_count(0)

    # Inside the box "/" is a character like any other: a URL typed (or pasted) there finds the app serving it.
    page.keyboard.press("/")
    expect(box).to_be_focused()
    page.keyboard.type("https://checkout.example.com/cart")
    expect(box).to_have_value("https://checkout.example.com/cart")
    expect(page.locator("#search-suggestions")).to_contain_text("Serving checkout.example.com")
    page.keyboard.press("ArrowDown")
    expect(suggestions.nth(0)).to_have_text("checkout")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server}/apps/{checkout.id}")
    assert violations == []
