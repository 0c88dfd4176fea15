"""The page benchmark's site: a large panel database on PostgreSQL (bench/pages.py's fill, a monitor watching one
app in eight, a user, a Chef API client) and the panel serving it under gunicorn (2 workers), signed in.

`WebSite` builds it in the foreground, or with `background=True` in other processes while the caller does
something else (`make bench` seeds the sync benchmark's simulators meanwhile, which keep one core busy of two);
`ready()` waits for it. The fill runs as `python -m bench.web_site --apps N --instances N --records N` in the
panel's environment and prints what the pages need as one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from bench.common import (PYTHON, ROOT, USER_AGENT, free_port, measure, panel_env, postgres_server, private_redis,
                          scratch_database, stop, wait_for_http)

PASSWORD = "bench password long enough"


def fill_panel(environ: dict[str, str], apps: int, instances: int, records: int) -> dict[str, object]:
    """Schema, the platform (bench/pages.py's fill), a monitoring cluster watching the region, a user and an API
    client for Chef; returns what the pages need (ids, the Chef token)."""
    from sqlalchemy import func, select

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
        # Monitoring on for one app in eight (2,500 of 20,000): the monitor of >= 2,000 apps.
        fill(apps, instances, records, monitored_every=8)
        region = db.session.scalar(select(Cluster).order_by(Cluster.id)).region
        db.session.add(Cluster(name="monitor-europe", region=region, kind=MONITORING_KIND,
                               controller_url="http://deis-monitor.test"))
        accounts.create_user(db.session, "bench", "viewer", PASSWORD, actor="bench")
        _, token = api_clients.create_client(db.session, "bench-chef", ["monit:read"], actor="bench")
        db.session.commit()
        with db.engine.connect() as connection:
            # What autovacuum gives a live server's bulk-loaded tables (statistics, and the visibility map that
            # index-only scans need), done now so autovacuum has nothing left to do during the timed runs.
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
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
            # --preload: the app is imported once and both workers forked from it (the figures are steady-state
            # answers after warm-up, the same either way; starting costs one import instead of two).
            [PYTHON, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--timeout", "300",
             "--preload", "--log-level", "warning", "wsgi:app"], env=environ, cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
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


class WebSite:
    """The site of one page benchmark: a private Redis, a scratch database filled with `apps` apps, the panel
    serving it. A context manager: everything it started is stopped and dropped on the way out."""

    def __init__(self, apps: int, instances: int, records: int, *, background: bool = False) -> None:
        self.apps, self.instances, self.records = apps, instances, records
        self._stack = ExitStack()
        self._folder = Path(tempfile.mkdtemp(prefix="bench-web-"))
        self._filling: subprocess.Popen | None = None
        self.found: dict[str, object] | None = None
        self.panel: Panel | None = None
        self.fill_seconds = 0.0
        try:
            redis_url = self._stack.enter_context(private_redis())
            server = self._stack.enter_context(postgres_server())
            url = self._stack.enter_context(scratch_database(server, "web"))
            self.environ = panel_env(url, redis_url, self._folder / "instance", {"SECRET_KEY": os.urandom(24).hex()})
            self._started = time.perf_counter()
            if background:
                self._filling = subprocess.Popen(
                    [PYTHON, "-m", "bench.web_site", "--apps", str(apps), "--instances", str(instances),
                     "--records", str(records)], env=self.environ, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            else:
                self.found = fill_panel(self.environ, apps, instances, records)
        except BaseException:
            self.close()
            raise

    def ready(self) -> WebSite:
        """Wait for the fill (when it runs in the background), then start the panel and sign in; idempotent."""
        if self.found is None:
            output, _ = self._filling.communicate()
            if self._filling.returncode != 0:
                raise RuntimeError(f"filling the panel database failed with {self._filling.returncode}")
            self.found = json.loads(output.strip().splitlines()[-1])
        if not self.fill_seconds:
            self.fill_seconds = time.perf_counter() - self._started
        if self.panel is None:
            self.panel = Panel(self.environ)
        return self

    def close(self) -> None:
        if self.panel is not None:
            self.panel.close()
        if self._filling is not None and self._filling.poll() is None:
            stop(self._filling)
        self._stack.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> WebSite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="fill a panel database for the page benchmark (DATABASE_URL)")
    for name in ("apps", "instances", "records"):
        parser.add_argument(f"--{name}", type=int, required=True)
    options = parser.parse_args()
    found = fill_panel(dict(os.environ), options.apps, options.instances, options.records)
    print(json.dumps(found), flush=True)


if __name__ == "__main__":
    sys.exit(main())
