"""Page benchmark (`web.*`) and Chef endpoint benchmark (`monit.*`): the panel under gunicorn (2 workers) over a
large panel database on PostgreSQL, hit on loopback by wrk (or a Python client); every figure is also a ratio to
`GET /healthz` of the same app measured in the same run."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from html import unescape
from pathlib import Path

import requests

from bench.common import (PYTHON, ROOT, USER_AGENT, Sizes, free_port, measure, panel_env, postgres_server,
                          private_redis, scratch_database, stop, wait_for_http)

PASSWORD = "bench password long enough"


def fill_panel(environ: dict[str, str], apps: int, instances: int, records: int) -> dict[str, object]:
    """Schema, the platform (bench/pages.py's fill), a monitoring cluster watching the region, a user and an API
    client for Chef; returns what the pages need (ids, the Chef token)."""
    from sqlalchemy import func, select, update

    from app import create_app
    from app.config import Settings
    from app.extensions import db
    from app.models import App, Base, Cluster, DnsRecord, DnsZone, Instance
    from app.models.monitoring import MONITORING_KIND
    from app.operations import accounts, api_clients
    from bench.pages import fill

    app = create_app(Settings.from_env(environ))
    with app.app_context():
        Base.metadata.create_all(db.engine)
        fill(apps, instances, records)
        # Monitoring on for one app in eight (2,500 of 20,000): the monitor of >= 2,000 apps.
        db.session.execute(update(App).values(monitoring_enabled=App.id % 8 == 0))
        region = db.session.scalar(select(Cluster).order_by(Cluster.id)).region
        db.session.add(Cluster(name="monitor-europe", region=region, kind=MONITORING_KIND,
                               controller_url="http://deis-monitor.test"))
        accounts.create_user(db.session, "bench", "viewer", PASSWORD, actor="bench")
        _, token = api_clients.create_client(db.session, "bench-chef", ["monit:read"], actor="bench")
        db.session.commit()
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        zone_id = db.session.scalar(select(DnsRecord.zone_id).group_by(DnsRecord.zone_id)
                                    .order_by(func.count().desc()).limit(1)) or db.session.scalar(select(DnsZone.id))
        found = {
            "app_id": db.session.scalar(select(App.id).where(App.name == f"app-{apps // 2:05d}")),
            "watched_apps": db.session.scalar(select(func.count()).select_from(App).where(App.monitoring_enabled)),
            "zone_id": zone_id, "token": token,
            "instance_id": db.session.scalar(select(Instance.id).order_by(Instance.id)),
        }
        db.session.remove()
        db.engine.dispose()
    return found


class Panel:
    """gunicorn serving wsgi:app with 2 workers on a free port, and a signed-in cookie for wrk."""

    def __init__(self, environ: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--timeout", "300", "--log-level",
             "warning", "wsgi:app"], env=environ, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_http(self.base + "/healthz", timeout=120)
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        form = self.http.get(self.base + "/login").text
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form) or re.search(
            r'value="([^"]+)"[^>]*name="csrf_token"', form)
        response = self.http.post(self.base + "/login", data={"username": "bench", "password": PASSWORD,
                                                             "csrf_token": csrf.group(1) if csrf else ""},
                                  allow_redirects=False)
        if response.status_code != 302:
            raise RuntimeError(f"sign-in failed: HTTP {response.status_code}")
        self.cookie = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())

    def get(self, path: str) -> requests.Response:
        response = self.http.get(self.base + path, allow_redirects=False)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {response.status_code}")
        return response

    def measure(self, path: str, seconds: float, headers: dict[str, str] | None = None,
                status: int = 200) -> dict[str, float]:
        """p50/p95 of `path` with the signed-in cookie, after checking it answers `status` to exactly that."""
        headers = {"Cookie": self.cookie, "User-Agent": USER_AGENT, **(headers or {})}
        answer = requests.get(self.base + path, headers=headers, allow_redirects=False, timeout=300)
        if answer.status_code != status:
            raise RuntimeError(f"{path}: HTTP {answer.status_code}, expected {status}")
        return measure(self.base + path, seconds, headers, status=status)

    def close(self) -> None:
        stop(self.process)


def cursor_link(panel: Panel, path: str) -> str:
    """The Next link (a keyset cursor) of a list page, as a browser would follow it."""
    html = unescape(panel.get(path).text)
    return re.search(r'href="([^"]+)" [^>]*rel="next"', html).group(1)


def web_pages(found: dict[str, object], panel: Panel, only: tuple[str, ...] | None = None) -> dict[str, str]:
    # The scale curve's smaller databases (1,000 apps) have no page 199 to take the cursor from.
    cursor_200 = cursor_link(panel, "/apps/?page=199") if not only or "apps_cursor200" in only else ""
    return {
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


def bench_web(sizes: Sizes, apps: int | None = None, only: tuple[str, ...] | None = None,
              log=print) -> tuple[dict[str, float], dict[str, float]]:
    """The `web.*` and `monit.*` figures (with `apps` / `only`: the scale curve's application page)."""
    apps = apps or sizes.web_apps
    folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
    try:
        with private_redis() as redis_url, postgres_server() as server, scratch_database(server, "web") as url:
            environ = panel_env(url, redis_url, folder / "instance", {"SECRET_KEY": os.urandom(24).hex()})
            tick = time.perf_counter()
            found = fill_panel(environ, apps, sizes.instances, sizes.records)
            log(f"  panel database: {apps} apps, {sizes.instances} instances, {sizes.records} records"
                f" in {time.perf_counter() - tick:.1f} s")
            panel = Panel(environ)
            try:
                pages = web_pages(found, panel, only)
                measured: dict[str, dict[str, float]] = {}
                baselines = []
                names = [name for name in pages if name != "baseline" and (not only or name in only)]
                # The baseline three times (first, middle, last; its median counts): on a shared machine one
                # window of a trivial route can land on a busy moment.
                order = ["baseline", *names[:len(names) // 2], "baseline", *names[len(names) // 2:], "baseline"]
                for name in order:
                    for _ in range(3):
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
                    web["cursor_depth_ratio"] = web["apps_cursor200_p50_ms"] / web["apps_list_p50_ms"]
                    web["rows"] = apps
                monit = {} if only else bench_monit(panel, found, sizes, web["baseline_p50_ms"], log)
                if not only and sizes.name == "full":  # the deep lists top-up: `make bench` only (quick stays short)
                    web.update(bench_deep_lists(environ, found, panel, sizes, web["baseline_p50_ms"], log))
                return web, monit
            finally:
                panel.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
