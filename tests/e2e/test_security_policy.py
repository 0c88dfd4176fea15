"""In Chromium, under the panel's Content-Security-Policy: the pages and htmx still work, and nothing is refused.

Run with the pinned CDN files (answered from tests/e2e/assets by the `page` fixture, SRI enforced) and with
ASSETS=local (the same files from /static). Every CSP violation the browser reports (console message or
`securitypolicyviolation` event) fails the test.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from rq.job import Job

from app.queues import queue
from tests import factories as make
from tests.conftest import PASSWORD

# Reports each violation to the console, where the listener below collects it with the browser's own messages.
REPORT_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const text = `CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`;
  window.cspViolations.push(text);
  console.error(text);
});
"""


def violations_of(page) -> list[str]:
    found: list[str] = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda message: found.append(message.text)
            if "Content Security Policy" in message.text or "CSP violation" in message.text else None)
    return found


@pytest.mark.parametrize("assets", ["cdn", "local"])
def test_pages_and_htmx_work_under_the_policy(assets, page, live_server, serve, panel_with, make_user, db_session):
    base = live_server if assets == "cdn" else serve(panel_with(assets="local"))
    cluster = make.cluster(db_session, "prod-eu")
    shop = make.app(db_session, "storefront", cluster,
                    config_values={"STRIPE_KEY": "sk_live_e2e_value", "PLATFORM": "deis"})
    db_session.commit()
    make_user("root", "admin")
    violations = violations_of(page)
    cdn_requests: list[str] = []
    page.on("request", lambda request: cdn_requests.append(request.url) if "cdn.jsdelivr" in request.url else None)

    response = page.goto(f"{base}/login")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()
    assert page.evaluate("htmx.version") == "2.0.11" and page.evaluate("htmx.config.allowEval") is False
    # Pico and panel.css applied: the badge gets its rounded corners from panel.css.
    assert page.evaluate("getComputedStyle(document.querySelector('.badge')).borderRadius") != "0px"
    assert page.evaluate("document.querySelectorAll('head style').length") == 0  # htmx injected no <style>

    # htmx GET: suggestions while typing.
    page.get_by_label("Search the platform").press_sequentially("storef")
    suggestion = page.locator("#search-suggestions").get_by_role("option", name="storefront")
    expect(suggestion).to_be_visible()
    suggestion.click()
    expect(page).to_have_url(f"{base}/apps/{shop.id}")

    # htmx POST with the CSRF header: reveal one masked value in place.
    row = page.locator("#config").get_by_role("row", name="STRIPE_KEY")
    expect(row).to_contain_text("••••••")
    row.get_by_role("button", name="Reveal STRIPE_KEY").click()
    expect(row).to_contain_text("sk_live_e2e_value")
    expect(page).to_have_url(f"{base}/apps/{shop.id}")  # swapped into the cell, no navigation

    # htmx polling and the 400 handler that moved from hx-on into panel.js.
    sync = queue("sync")
    sync.empty()
    page.goto(f"{base}/sync/")
    page.get_by_role("button", name="Sync aws").click()
    expect(page.locator(".sync-progress")).to_contain_text("Waiting for a worker")
    [job_id] = sync.job_ids
    Job.fetch(job_id, connection=sync.connection).cancel()
    expect(page.locator(".sync-progress")).to_contain_text("It stopped before it finished")
    sync.empty()
    cluster.name = "prod-eu-renamed"  # the old name's button is still on the page: its request is refused (400)
    db_session.commit()
    page.get_by_role("button", name="prod-eu").click()
    expect(page.locator("#sync-progress-area")).to_contain_text("No cluster called 'prod-eu'.")
    expect(page.get_by_role("button", name="Sync everything")).to_be_visible()  # the refusal left the buttons

    assert violations == []
    assert bool(cdn_requests) == (assets == "cdn")  # local mode fetched nothing from the CDN

    # The listener does catch a violation: an inline style added now is refused and reported.
    page.evaluate("() => { const style = document.createElement('style'); style.textContent = 'body{}';"
                  " document.head.appendChild(style); }")
    page.wait_for_function("() => window.cspViolations.length > 0")
    assert "style-src" in page.evaluate("window.cspViolations[0]")
