"""Browser tests: Playwright driving Debian's Chromium; CDN assets are served from disk so SRI checks still run."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.e2e.screenshots import VIEWPORT
from tests.panel_variants import panel_with  # noqa: F401  (a fixture)

ASSETS = Path(__file__).parent / "assets"
CHROMIUM = "/usr/bin/chromium"
CDN_FILES = {
    "https://cdn.jsdelivr.net/npm/htmx.org@2.0.11/dist/htmx.min.js": ("htmx.min.js", "application/javascript"),
    "https://cdn.jsdelivr.net/npm/@picocss/pico@2.1.1/css/pico.min.css": ("pico.min.css", "text/css"),
}


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    reason = f"{CHROMIUM} is missing: `make test` installs it with apt when run as root (apt-get install chromium)"
    for item in items:
        if "e2e" in item.nodeid.split("::")[0]:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": VIEWPORT}


@pytest.fixture
def page(page):
    """A page whose CDN requests are answered from tests/e2e/assets (no network here), SRI still enforced."""

    def serve_from_disk(route):
        name, content_type = CDN_FILES.get(route.request.url, (None, None))
        if name is None:
            route.abort()
            return
        route.fulfill(path=ASSETS / name, headers={"Access-Control-Allow-Origin": "*", "Content-Type": content_type})

    page.route("https://cdn.jsdelivr.net/**", serve_from_disk)
    page.set_default_timeout(15_000)
    return page


@pytest.fixture
def serve():
    """`serve(app)`: that panel app over real HTTP on a free loopback port (for variants built with panel_with)."""
    servers = []

    def start(panel) -> str:
        server = make_server("127.0.0.1", 0, panel, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join(timeout=5)
