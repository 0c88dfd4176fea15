"""Sync benchmark (`sync.*`): the sandbox `large` scenario behind a fixed latency per request, synced through the
real "Sync now" path (`request_sync` on the `sync` queue) by real `rq worker` processes on a private Redis and a
scratch PostgreSQL database.

Runs: a first sync with 1 worker (everything new: `full_s`), a second one over the unchanged sandbox (`noop_s`,
`noop_writes`), and the same unchanged sync with 4 workers (`fanout_ratio` = 4 workers / 1 worker).
"""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench.common import PYTHON, ROOT, RssSampler, Sizes, panel_env, postgres_server, private_redis, scratch_database, stop

DEIS_DETAIL = re.compile(r"^GET /v2/apps/[^/]+/(config|settings|domains)/?$")
DEIS_DETAIL_CONCURRENCY = 8  # app/sync/deis.py fetch(workers=8): config, settings and domains of 8 apps at once
MAX_WORKERS = 4  # the fan-out run's workers
BOOKKEEPING_TABLES = {"sync_runs", "sync_requests", "audit_events", "alerts", "alert_deliveries"}


def injectors(sandbox) -> dict[str, Any]:
    """The in-process simulators the panel syncs: AWS (moto) and Cloudflare (the Deis ones are in shards)."""
    return {"aws": sandbox.aws.faults, "cloudflare": sandbox.cloudflare.faults}


class Counters:
    """Request counts of every simulator the panel talks to: in-process ones and the Deis shards."""

    def __init__(self, sandbox, shards) -> None:
        self.sandbox, self.shards = sandbox, shards

    def reset(self) -> None:
        for injector in injectors(self.sandbox).values():
            injector.reset_request_counts()
        self.shards.reset_counts()

    def counts(self) -> dict[str, dict]:
        found = {name: injector.request_counts() for name, injector in injectors(self.sandbox).items()}
        return {**found, **self.shards.counts()}


def lower_bound(counts: dict[str, dict], latency_s: float, cloudflare_limit: int, cloudflare_window: int,
                workers: int = 1) -> tuple[float, dict[str, float]]:
    """The floor of the design: the time the counted requests need at each client's concurrency and the latency.

    Deis (one scope per cluster): the per-app detail requests (config, settings, domains) run 8 at a time, every
    other request one at a time. AWS (one client per region, boto3 paginators) and Cloudflare: one at a time, and
    Cloudflare at most `cloudflare_limit` requests per `cloudflare_window` seconds. One worker runs the scopes one
    after another (the sum); W workers at best split it evenly, never below the longest scope.
    """
    floors: dict[str, float] = {}
    for name, served in counts.items():
        by_path = served["by_path"]
        if name.startswith("deis:"):
            detail = sum(n for key, n in by_path.items() if DEIS_DETAIL.match(key))
            serial = served["total"] - detail
            floors[name] = (serial + math.ceil(detail / DEIS_DETAIL_CONCURRENCY)) * latency_s
        elif name == "cloudflare":
            total = served["total"]
            rate_floor = ((total - 1) // cloudflare_limit) * cloudflare_window if total > cloudflare_limit else 0
            floors[name] = max(total * latency_s, rate_floor)
        else:
            floors[name] = served["total"] * latency_s
    total = sum(floors.values())
    return max(total / workers, max(floors.values(), default=0.0)), floors


class SyncBench:
    """One sandbox, one database, one Redis; `run(workers)` is one "Sync now" over every source and scope."""

    def __init__(self, counters: Counters, environ: dict[str, str], sql_dir: Path) -> None:
        self.counters, self.environ, self.sql_dir = counters, environ, sql_dir
        # Workers stay up between runs (the runs go 1, 1, 4 workers). One launcher (bench/sync_worker.py main)
        # imports the panel once, here, and forks a worker each time a run asks for one more.
        self.launcher = subprocess.Popen(
            [PYTHON, "-m", "bench.sync_worker", "--worker-class", "bench.sync_worker.CountingWorker",
             "--logging_level", "WARNING", "-u", self.environ["REDIS_URL"], "sync"],
            env=self.environ, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.workers = 0
        self._app = None
        self._release(1)  # the first run's worker: listening before the clock starts (a run waits for it anyway)

    def run(self, workers: int) -> dict[str, Any]:
        import redis
        from rq import Queue, Worker
        from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry

        connection = redis.Redis.from_url(self.environ["REDIS_URL"])
        queue = Queue("sync", connection=connection)
        for each in self.sql_dir.iterdir():
            each.unlink()
        self.counters.reset()
        if not self.workers <= workers <= MAX_WORKERS:
            raise ValueError(f"the runs only ever add workers, up to {MAX_WORKERS}")
        self._release(workers)
        deadline = time.monotonic() + 120
        while Worker.count(queue=queue) < workers:
            if time.monotonic() > deadline or self.launcher.poll() is not None:
                raise RuntimeError("rq workers did not start: " + self.launcher.stderr.read().decode()[-2000:])
            time.sleep(0.05)
        with RssSampler([self.launcher.pid]) as rss:  # its forked workers and their work horses
            started = time.perf_counter()
            first_job = self._request_sync(queue)
            registries = [StartedJobRegistry(queue=queue), DeferredJobRegistry(queue=queue),
                          ScheduledJobRegistry(queue=queue)]
            while True:
                status = first_job.get_status(refresh=True)
                if status in ("finished", "failed", "stopped", "canceled") and queue.count == 0 and not any(
                        registry.count for registry in registries):
                    break
                time.sleep(0.05)
            seconds = time.perf_counter() - started
        if status != "finished":
            raise RuntimeError(f"the sync job ended {status}: {first_job.latest_result()}")
        self._wait_for_figures(first_job)
        statements, writes, write_statements = 0, {}, {}
        for each in self.sql_dir.iterdir():
            figures = json.loads(each.read_text())
            statements += figures["statements"]
            for table, count in figures["writes"].items():
                writes[table] = writes.get(table, 0) + count
            for table, count in figures["write_statements"].items():
                write_statements[table] = write_statements.get(table, 0) + count
        counts = self.counters.counts()
        return {"seconds": seconds, "statements": statements, "writes": writes, "write_statements": write_statements,
                "counts": counts,
                "peak_rss_mb": rss.peak_mb, "runs": self._runs_since(started)}

    def close(self) -> None:
        try:
            self.launcher.stdin.close()  # the end of stdin: the launcher stops its workers, then itself
        except OSError:
            pass
        stop(self.launcher, timeout=30)

    def _release(self, workers: int) -> None:
        """Have the launcher fork workers until `workers` run."""
        while self.workers < workers:
            self.launcher.stdin.write(b"go\n")
            self.launcher.stdin.flush()
            self.workers += 1

    def _wait_for_figures(self, first_job) -> None:
        """Until every job of the request has written its SQL figures: each job's horse writes them as it exits,
        a moment after RQ marks the job finished (the fan-out job, each scope job, the relations job)."""
        from app.models import SyncRequest

        with self._panel().app_context():
            from app.extensions import db
            request = db.session.query(SyncRequest).filter_by(job_id=first_job.id).one()
            jobs = {first_job.id, request.finish_job_id, *(each["job_id"] for each in request.scope_jobs)}
            db.session.remove()
        deadline = time.monotonic() + 30
        while not all((self.sql_dir / f"{job_id}.json").exists() for job_id in jobs if job_id):
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not write the SQL figures of every job")
            time.sleep(0.02)

    def _panel(self):
        """The panel app this process asks for syncs with (made once: an app costs a second to build)."""
        if self._app is None:
            from app import create_app
            from app.config import Settings
            self._app = create_app(Settings.from_env(self.environ))
        return self._app

    def _request_sync(self, queue):
        from app.extensions import db
        from app.operations.sync_requests import request_sync
        from rq.job import Job
        from sqlalchemy import text

        app = self._panel()
        with app.app_context():
            self._since = db.session.scalar(text("SELECT coalesce(max(id), 0) FROM sync_runs"))
            requested = request_sync(db.session, queue, None, None, "bench")
            # Before the fan-out request_sync returned the RQ job; with it, a request holding the fan-out job's id.
            job_id = requested.id if isinstance(requested, Job) else requested.job_id
            db.session.remove()
        return Job.fetch(job_id, connection=queue.connection)

    def _runs_since(self, _started: float) -> dict[str, int]:
        import psycopg
        with psycopg.connect(self.environ["DATABASE_URL"]) as connection:
            row = connection.execute(
                "SELECT count(*), coalesce(sum(created), 0), coalesce(sum(updated), 0), coalesce(sum(deleted), 0),"
                " coalesce(sum(unchanged), 0), count(*) FILTER (WHERE status <> 'succeeded')"
                " FROM sync_runs WHERE id > %s", (self._since,)).fetchone()
        return dict(zip(("runs", "created", "updated", "deleted", "unchanged", "not_succeeded"), row))


def schema(environ: dict[str, str]) -> None:
    from app import create_app
    from app.config import Settings
    from app.extensions import db
    from app.models import Base

    app = create_app(Settings.from_env(environ))
    with app.app_context():
        Base.metadata.create_all(db.engine)
        db.engine.dispose()


def bench_sync(sizes: Sizes, apps: int | None = None, fanout: bool = True, log=print,
               before_runs: Callable[[], object] | None = None) -> dict[str, float]:
    """The `sync.*` figures for `sizes` (or only `apps` apps, records and instances scaled alike, for the curve).
    `before_runs` is called once everything is seeded and before the first timed run (bench/run.py waits there
    for the page benchmark's site, prepared meanwhile)."""
    import os

    from bench.deis_shards import deis_shards
    from sandbox.generate import generate_large
    from sandbox.platform import Sandbox

    apps = apps or sizes.apps
    scale = apps / sizes.apps
    records, instances = int(sizes.records * scale), int(sizes.instances * scale)
    tick = time.perf_counter()
    scenario = generate_large(apps=apps, records=records, instances=instances)
    names = [cluster.name for cluster in scenario.clusters]
    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    sql_dir = folder / "sql"
    sql_dir.mkdir()
    sandbox = None
    try:
        # The shards seed their controllers while this process seeds moto and Cloudflare.
        with deis_shards(names, apps, records, instances, sizes.latency_ms) as shards, private_redis() as redis_url, \
                postgres_server() as server, scratch_database(server, "sync") as url:
            sandbox = Sandbox(scenario).start()
            shards.wait()
            log(f"  sandbox: {apps} apps, {records} records, {instances} instances seeded in"
                f" {time.perf_counter() - tick:.1f} s")
            for injector in injectors(sandbox).values():
                injector.configure(latency_ms=sizes.latency_ms)
            # SANDBOX_DEIS_USERS (every user's token on every cluster) is for tests and the CLI, not the panel; at
            # the full sizes it alone passes the kernel's 128 KB limit for one environment string.
            sandbox_env = {key: value for key, value in shards.env(sandbox.env()).items() if key != "SANDBOX_DEIS_USERS"}
            extra = {**sandbox_env, "BENCH_SQL_DIR": str(sql_dir), "SECRET_KEY": os.urandom(24).hex()}
            environ = panel_env(url, redis_url, folder / "instance", extra)
            os.environ.update({key: extra[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
            bench = SyncBench(Counters(sandbox, shards), environ, sql_dir)  # its workers import meanwhile
            try:
                schema(environ)
                if before_runs is not None:
                    before_runs()
                from app.config import Settings
                settings = Settings.from_env(environ)
                limit, window = settings.cloudflare_rate_limit, settings.cloudflare_rate_window
                full = bench.run(1)
                log(f"  full sync, 1 worker: {full['seconds']:.1f} s, runs {full['runs']}")
                floor, floors = lower_bound(full["counts"], sizes.latency_ms / 1000, limit, window)
                requests = sum(served["total"] for served in full["counts"].values())
                result = {"objects": full["runs"]["created"], "requests": requests, "full_s": full["seconds"],
                          "lower_bound_s": floor, "ratio": full["seconds"] / floor if floor else 0.0,
                          "peak_rss_mb": full["peak_rss_mb"], "sql_statements": full["statements"],
                          "latency_ms": sizes.latency_ms, "failed_runs": full["runs"]["not_succeeded"]}
                if not fanout:
                    return result
                noop = bench.run(1)
                log(f"  unchanged sync, 1 worker: {noop['seconds']:.1f} s, runs {noop['runs']}")
                data_writes = {table: n for table, n in noop["writes"].items()
                               if table not in BOOKKEEPING_TABLES and n}
                data_statements = {table: n for table, n in noop["write_statements"].items()
                                   if table not in BOOKKEEPING_TABLES}
                result.update(noop_s=noop["seconds"], noop_writes=sum(data_writes.values()),
                              noop_reported_changes=noop["runs"]["created"] + noop["runs"]["updated"]
                              + noop["runs"]["deleted"], noop_sql_statements=noop["statements"],
                              noop_write_statements=sum(data_statements.values()))
                log(f"  rows the unchanged sync wrote, by table: {data_writes or 'none'}"
                    f" (write statements sent: {data_statements or 'none'})")
                four = bench.run(4)
                log(f"  unchanged sync, 4 workers: {four['seconds']:.1f} s, runs {four['runs']}")
                floor_4, _ = lower_bound(four["counts"], sizes.latency_ms / 1000, limit, window, workers=4)
                result.update(fanout_4w_s=four["seconds"], fanout_ratio=four["seconds"] / noop["seconds"],
                              lower_bound_4w_s=floor_4)
                log("  floors by simulator (s): " + ", ".join(f"{name} {value:.2f}" for name, value in floors.items()))
                return result
            finally:
                bench.close()
    finally:
        if sandbox is not None:
            sandbox.stop()
        shutil.rmtree(folder, ignore_errors=True)
