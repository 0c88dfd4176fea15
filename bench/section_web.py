"""Page benchmark (`web.*`) and Chef endpoint benchmark (`monit.*`): the panel under gunicorn (2 workers) over a
large panel database on PostgreSQL, hit on loopback by wrk (or a Python client); every figure is also a ratio to
`GET /healthz` of the same app measured in the same run."""
from __future__ import annotations

import re
import time
from contextlib import ExitStack
from html import unescape

import requests

from bench.common import Sizes
from bench.web_site import Panel, WebSite


def cursor_link(panel: Panel, path: str) -> str:
    """The Next link (a keyset cursor) of a list page, as a browser would follow it."""
    html = unescape(panel.get(path).text)
    return re.search(r'href="([^"]+)" [^>]*rel="next"', html).group(1)


# Figures beyond the list, measured by `make bench` only: `make bench-quick` keeps under its 90 s.
FULL_ONLY_PAGES = ("apps_cursor200", "certificates", "certificates_page200")


def web_pages(found: dict[str, object], panel: Panel, only: tuple[str, ...] | None = None) -> dict[str, str]:
    # The scale curve's smaller databases (1,000 apps) have no page 199 to take the cursor from.
    cursor_200 = cursor_link(panel, "/apps/?page=199") if only is None or "apps_cursor200" in only else ""
    pages = {
        "baseline": "/healthz",
        # The stack's own floor for a signed-in page: session, user, CSRF token and the base layout around a
        # one-field form, no data. A page's ratio to it is what the page's own queries and tables add.
        "layout": "/reauth",
        "apps_list": "/apps/",
        "apps_page200": "/apps/?page=200",
        "apps_cursor200": cursor_200,
        "apps_search": "/apps/?q=app-0123",
        "app_page": f"/apps/{found['app_id']}",
        "instances": "/instances/",
        "home": "/",
        "dns_records": f"/dns/zones/{found['zone_id']}",
        # One certificate per app (20,100): deep enough for a page 200 of its own.
        "certificates": "/certificates/",
        "certificates_page200": "/certificates/?page=200",
    }
    assert tuple(pages) == PAGE_NAMES, "PAGE_NAMES lists web_pages' keys"
    return pages


PAGE_NAMES = ("baseline", "layout", "apps_list", "apps_page200", "apps_cursor200", "apps_search", "app_page",
              "instances", "home", "dns_records", "certificates", "certificates_page200")  # web_pages' keys


def fill_deep_lists(environ: dict[str, str], zone_id: int) -> dict[str, int]:
    """bench/list_depth.py's top-up (page 200 of the instances, zone records and audit lists), then VACUUM ANALYZE
    of those tables: what autovacuum gives a live server's bulk-loaded tables (statistics, and the visibility map
    index-only scans need)."""
    from app import create_app
    from app.config import Settings
    from app.extensions import db
    from bench.list_depth import fill_depth

    app = create_app(Settings.from_env(environ))
    with app.app_context():
        counts = fill_depth(db.session, zone_id)
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE instances, dns_records, audit_events")
        db.session.remove()
        db.engine.dispose()
    return counts


def bench_deep_lists(environ: dict[str, str], found: dict[str, object], panel: Panel, sizes: Sizes,
                     baseline_ms: float, log) -> dict[str, float]:
    """Page 1 and page 200 of the instances, zone records and audit lists over tables topped up for depth (after
    the other figures, which keep the large data set's sizes): `<list>_page200_*` and `<list>_depth_ratio`."""
    from bench.list_depth import DEPTH_RATIOS, deep_pages

    tick = time.perf_counter()
    counts = fill_deep_lists(environ, found["zone_id"])
    log(f"  deep lists: {counts['instances']} instances, {counts['records']} zone records,"
        f" {counts['audit_events']} audit events in {time.perf_counter() - tick:.1f} s")
    web: dict[str, float] = {}
    for name, path in deep_pages(found["zone_id"]).items():
        for _ in range(2):  # one per gunicorn worker
            panel.get(path)
        figures = panel.measure(path, sizes.web_seconds)
        web[f"{name}_p50_ms"], web[f"{name}_p95_ms"] = figures["p50_ms"], figures["p95_ms"]
        web[f"{name}_ratio"] = figures["p50_ms"] / baseline_ms
        log(f"  {name:<22} p50 {figures['p50_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms"
            f"  ({figures['requests']} requests, {figures['tool']})")
    for key, (deep, first) in DEPTH_RATIOS.items():
        web[key] = web[f"{deep}_p50_ms"] / web[f"{first}_p50_ms"]
    web.update({"deep_instances": counts["instances"], "deep_records": counts["records"],
                "deep_audit_events": counts["audit_events"]})
    return web


def bench_web(sizes: Sizes, apps: int | None = None, only: tuple[str, ...] | None = None, log=print,
              site: WebSite | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """The `web.*` and `monit.*` figures (with `apps` / `only`: the scale curve's application page). `site`: one
    prepared already (bench/run.py fills it in the background while the sync benchmark seeds), else one is built."""
    apps = apps or sizes.web_apps
    with ExitStack() as stack:
        if site is None:
            site = stack.enter_context(WebSite(apps, sizes.instances, sizes.records))
        found, panel = site.ready().found, site.panel
        log(f"  panel database: {site.apps} apps, {site.instances} instances, {site.records} records"
            f" in {site.fill_seconds:.1f} s")
        chosen = only
        if chosen is None and sizes.name != "full":
            chosen = tuple(name for name in PAGE_NAMES if name not in FULL_ONLY_PAGES)
        pages = web_pages(found, panel, chosen)
        measured: dict[str, dict[str, float]] = {}
        baselines = []
        names = [name for name in pages if name != "baseline" and (not chosen or name in chosen)]
        # The baseline three times (first, middle, last; its median counts): on a shared machine one window of a
        # trivial route can land on a busy moment.
        order = ["baseline", *names[:len(names) // 2], "baseline", *names[len(names) // 2:], "baseline"]
        for name in order:
            for _ in range(2):
                panel.get(pages[name])  # warm both workers' caches and connections
            figures = panel.measure(pages[name], sizes.web_seconds)
            if name == "baseline":
                baselines.append(figures)
            else:
                measured[name] = figures
            log(f"  {name:<15} p50 {figures['p50_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms"
                f"  ({figures['requests']} requests, {figures['tool']})")
        baselines.sort(key=lambda figures: figures["p50_ms"])
        measured = {"baseline": baselines[len(baselines) // 2], **measured}
        web: dict[str, float] = {}
        for name, figures in measured.items():
            web[f"{name}_p50_ms"], web[f"{name}_p95_ms"] = figures["p50_ms"], figures["p95_ms"]
            web[f"{name}_ratio"] = figures["p50_ms"] / measured["baseline"]["p50_ms"]
        if "layout_p50_ms" in web:  # each page against the signed-in floor (see web_pages)
            for name in [name for name in measured if name not in ("baseline", "layout")]:
                web[f"{name}_layout_ratio"] = web[f"{name}_p50_ms"] / web["layout_p50_ms"]
        if "certificates_page200_p50_ms" in web:
            web["certificates_depth_ratio"] = web["certificates_page200_p50_ms"] / web["certificates_p50_ms"]
        if "apps_page200_p50_ms" in web:
            web["depth_ratio"] = web["apps_page200_p50_ms"] / web["apps_list_p50_ms"]
            web["rows"] = site.apps
        if "apps_cursor200_p50_ms" in web:
            web["cursor_depth_ratio"] = web["apps_cursor200_p50_ms"] / web["apps_list_p50_ms"]
        monit = {} if only else bench_monit(panel, found, sizes, web["baseline_p50_ms"], log)
        if not only and sizes.name == "full":  # the deep lists top-up: `make bench` only (quick stays short)
            web.update(bench_deep_lists(site.environ, found, panel, sizes, web["baseline_p50_ms"], log))
        return web, monit


def bench_monit(panel: Panel, found: dict[str, object], sizes: Sizes, baseline_ms: float, log) -> dict[str, float]:
    path = "/chef/monit/monitor-europe.conf"
    auth = {"Authorization": f"Bearer {found['token']}"}
    first = requests.get(panel.base + path, headers=auth, timeout=300)
    if first.status_code != 200:
        raise RuntimeError(f"{path}: HTTP {first.status_code}")
    checks = first.text.count("check host")
    etag = first.headers["ETag"]
    full = panel.measure(path, sizes.web_seconds, auth)
    cached = panel.measure(path, sizes.web_seconds, {**auth, "If-None-Match": etag}, status=304)
    log(f"  monit full     p50 {full['p50_ms']:7.1f} ms; 304 p50 {cached['p50_ms']:7.1f} ms ({checks} checks,"
        f" {found['watched_apps']} apps watched)")
    return {"watched_apps": found["watched_apps"], "checks": checks, "full_p50_ms": full["p50_ms"],
            "full_p95_ms": full["p95_ms"], "etag_p50_ms": cached["p50_ms"], "etag_p95_ms": cached["p95_ms"],
            "full_ratio": full["p50_ms"] / baseline_ms, "etag_ratio": cached["p50_ms"] / baseline_ms}
