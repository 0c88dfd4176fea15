"""In Chromium, on the demo's data, at 1440, 1280, 800 and 390 px: no page scrolls sideways, the header is one row
from 1280 px up and folds into a Menu below 900 px, and every table keeps its first column in view."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.conftest import PASSWORD

WIDTHS = (1440, 1280, 800, 390)
PAGES = ["/", "/apps/", "/instances/", "/dns/", "/dns/dangling", "/change-sets/", "/certificates/", "/alerts/",
         "/limits/", "/limits/drift", "/sync/", "/audit/?sign_ins=yes", "/users/", "/settings/", "/settings/monitors",
         "/settings/api-clients", "/settings/internal-tools", "/search?q=shop"]
# Pages of one object, found through the lists (their ids depend on the sync).
FIRST_OF = {"/apps/": r'href="(/apps/\d+)"', "/instances/": r'href="(/instances/\d+)"',
            "/dns/": r'href="(/dns/zones/\d+)"'}

MEASURE = """() => {
  const header = document.querySelector("nav.top");
  const parts = [header.querySelector(".brand"), ...header.querySelectorAll(".nav-links > li, .nav-tools > li")]
    .filter((part) => part.offsetParent !== null)
    .map((part) => { const box = part.getBoundingClientRect(); return box.top + box.height / 2; });
  const tables = [...document.querySelectorAll("main table")].filter((table) => table.offsetParent !== null)
    .map((table) => {
      const box = table.closest(".table-scroll") || table.parentElement;
      box.scrollLeft = box.scrollWidth;  // scrolled all the way right, the first column must still show
      const cell = table.querySelector("tr > :first-child");
      const frame = box.getBoundingClientRect(), first = cell.getBoundingClientRect();
      const shown = first.width > 0 && first.left >= Math.max(frame.left, 0) - 1
                    && first.right <= Math.min(frame.right, innerWidth) + 1;
      box.scrollLeft = 0;
      return {id: table.id || table.querySelector("th, td").textContent.trim().slice(0, 30), shown,
              wrapped: box.classList.contains("table-scroll")};
    });
  return {scrollWidth: document.scrollingElement.scrollWidth, innerWidth,
          rowSpread: Math.max(...parts) - Math.min(...parts), parts: parts.length, tables};
}"""


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Needs attention")).to_be_visible()


def test_pages_fit_every_width(page, live_server, make_user, demo_platform):
    make_user("root", "admin")
    sign_in(page, live_server)
    paths = list(PAGES)
    for listing, pattern in FIRST_OF.items():
        page.goto(f"{live_server}{listing}")
        paths.append(re.search(pattern, page.content())[1])

    problems: list[str] = []
    tables_checked = 0
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path in paths:
            response = page.goto(f"{live_server}{path}")
            assert response.status == 200, f"{path} answered {response.status}"
            found = page.evaluate(MEASURE)
            if found["scrollWidth"] > found["innerWidth"]:
                problems.append(f"{width}px {path}: the page is {found['scrollWidth']}px wide")
            if width >= 1280 and found["rowSpread"] > 6:
                problems.append(f"{width}px {path}: the header takes more than one row")
            for table in found["tables"]:
                tables_checked += 1
                if not table["shown"]:
                    problems.append(f"{width}px {path}: table {table['id']!r} loses its first column")
                if not table["wrapped"]:
                    problems.append(f"{width}px {path}: table {table['id']!r} has no scrolling box")
    assert not problems, "\n".join(problems)
    assert tables_checked > 4 * len(WIDTHS)  # the demo fills the lists: the check above is about real tables


def test_the_navigation_folds_into_a_menu_below_900_px(page, live_server, make_user):
    make_user("root", "admin")
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server)
    header = page.locator("nav.top")
    expect(header.get_by_role("link", name="Apps")).to_be_visible()
    expect(header.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_label("Search the platform")).to_be_visible()
    # Greyed "coming later" items are gone: the navigation lists pages that exist.
    assert page.locator("nav.top .soon").count() == 0
    for href in page.locator("nav.top a").evaluate_all("links => links.map(link => link.getAttribute('href'))"):
        assert page.request.get(f"{live_server}{href}").status == 200, href

    page.set_viewport_size({"width": 800, "height": 800})
    menu = header.get_by_role("button", name="Menu")
    expect(menu).to_be_visible()
    expect(header.get_by_role("link", name="Apps")).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(header.get_by_role("link", name="Apps")).to_be_visible()
    expect(page.get_by_label("Search the platform")).to_be_visible()
    header.locator("details.user-menu summary").click()
    header.get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(f"{live_server}/audit/")
    expect(header.get_by_role("link", name="Apps")).to_be_hidden()  # a new page starts folded

    # Low-value columns leave narrow screens; the first column stays.
    page.set_viewport_size({"width": 390, "height": 800})
    expect(page.locator("#audit-events th", has_text="Request")).to_be_hidden()
    expect(page.locator("#audit-events th", has_text="When")).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.locator("#audit-events th", has_text="Request")).to_be_visible()
