"""Signed in as an admin and as a viewer, on the demo's data: every link from the home page, two levels deep,
leads to a page that answers (no 5xx, no 404, nothing refused), and every link stays on the panel.

A Flask test client crawl (GET only; the sign-out form is a POST and never followed): what a person clicking
through the panel would reach, without a browser's cost.
"""
from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from tests.conftest import PASSWORD, csrf_token_from

SITE = "http://localhost"
DEPTH = 2
# GET links that would change something or end the session: none may exist, and the crawl would not follow them.
NEVER_FOLLOWED = ("/logout",)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def links_of(html: str, page_url: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return [urldefrag(urljoin(page_url, href))[0] for href in parser.hrefs]


def crawl(client) -> tuple[dict[str, int], list[str]]:
    """Status of every URL reached from /: pages up to DEPTH links away are read, and every link on them is
    followed (so a dead link on the last level read is caught too)."""
    statuses: dict[str, int] = {}
    problems: list[str] = []
    frontier, found_on = [f"{SITE}/"], {f"{SITE}/": "(start)"}
    for depth in range(DEPTH + 2):
        next_frontier = []
        for url in frontier:
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            response = client.get(path, buffered=True)
            statuses[url] = response.status_code
            if response.status_code >= 400:
                problems.append(f"{path} answered {response.status_code} (linked from {found_on[url]})")
                continue
            if depth > DEPTH or response.mimetype != "text/html":
                continue
            for link in links_of(response.get_data(as_text=True), url):
                target = urlsplit(link)
                if target.scheme not in ("http", "https") or f"{target.scheme}://{target.netloc}" != SITE:
                    problems.append(f"{path} links off the panel: {link}")
                    continue
                if target.path.startswith(NEVER_FOLLOWED) or link in found_on:
                    continue
                found_on[link] = path
                next_frontier.append(link)
        frontier = next_frontier
    return statuses, problems


def sign_in(client, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": csrf_token_from(client)})
    assert response.status_code == 302


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_every_link_two_levels_deep_answers(app, client, make_user, demo_platform, role):
    make_user("someone", role)
    sign_in(client, "someone")
    statuses, problems = crawl(client)
    assert not problems, "\n".join(problems)
    # A real crawl: the demo's apps, instances and zones were all reached.
    assert sum(1 for url in statuses if "/apps/" in url) > 60
    assert sum(1 for url in statuses if "/instances/" in url) > 20
    assert any("/dns/zones/" in url for url in statuses)
    assert len(statuses) > 200
