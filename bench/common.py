"""What every bench section shares: the sizes of a run, free ports, a private Redis, scratch PostgreSQL databases,
an RSS sampler, and a load generator (wrk when installed, else a Python client)."""
from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MACHINE_POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Sizes:
    """How big a run is: `quick` (make bench-quick, under 90 s) or `full` (make bench)."""

    name: str
    apps: int
    records: int
    instances: int
    latency_ms: int
    web_apps: int  # the panel database of the page benchmark: page 200 needs 200 x 100 apps
    web_seconds: float  # how long the load generator hits each page
    backup_mb: int
    scale_apps: tuple[int, ...] = ()


QUICK = Sizes("quick", apps=1000, records=6000, instances=300, latency_ms=5, web_apps=20_100, web_seconds=1.0,
              backup_mb=30)
FULL = Sizes("full", apps=5000, records=30000, instances=1500, latency_ms=20, web_apps=20_100, web_seconds=5.0,
             backup_mb=300, scale_apps=(1000, 5000, 20000))


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM one process we started (then SIGKILL if it lingers) and reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of our own on a free loopback port (no other session's keys, no shared database number)."""
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    try:
        import redis
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(server)
        shutil.rmtree(folder, ignore_errors=True)


def machine_postgres_reachable() -> bool:
    try:
        import psycopg
        with psycopg.connect(MACHINE_POSTGRES, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - any failure means "use the embedded server"
        return False


@contextmanager
def postgres_server() -> Iterator[str]:
    """A superuser URL: the machine's PostgreSQL when reachable, else a pgserver started for this run."""
    if machine_postgres_reachable():
        yield MACHINE_POSTGRES
        return
    import pgserver
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    server = pgserver.get_server(folder, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def scratch_database(server_url: str, label: str) -> Iterator[str]:
    """A fresh database on `server_url` (named bench_<label>_<random>), dropped afterwards."""
    import psycopg
    name = f"bench_{label}_{secrets.token_hex(3)}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class RssSampler:
    """Samples the RSS of process trees every 50 ms; `peak_mb` is the largest single process seen."""

    def __init__(self, pids: list[int], exclude: frozenset[str] = frozenset()) -> None:
        self.pids = pids
        self.exclude = exclude  # process names not counted (PostgreSQL's own pg_dump / pg_restore)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                try:
                    root = psutil.Process(pid)
                    for process in [root, *root.children(recursive=True)]:
                        if process.name() in self.exclude:
                            continue
                        self.peak_mb = max(self.peak_mb, process.memory_info().rss / 2**20)
                except psutil.Error:
                    continue
            self._stop.wait(0.05)


# Every answer whose status is not the expected one is counted (wrk's own `errors.status` counts only >= 400, so a
# redirect to the sign-in page would pass for a fast page); the counters live in each thread's Lua state and are
# collected in `done`.
WRK_SCRIPT = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) wrong = 0; expected = tonumber(args[1]) end
response = function(status, headers, body) if status ~= expected then wrong = wrong + 1 end end
done = function(summary, latency, requests)
  local unexpected = 0
  for _, thread in ipairs(threads) do unexpected = unexpected + thread:get("wrong") end
  io.write(string.format('{"p50_us": %d, "p95_us": %d, "requests": %d, "errors": %d, "unexpected": %d}\\n',
    latency:percentile(50), latency:percentile(95), summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, unexpected))
end
"""
USER_AGENT = "admin-panel-bench"  # the sign-in's and every measured request's: Flask-Login's "strong" protection
# ends a session whose user agent changes, so a load generator with its own would measure redirects to /login


def measure(url: str, seconds: float, headers: dict[str, str] | None = None, connections: int = 2,
            status: int = 200) -> dict[str, float]:
    """p50 and p95 in ms of GET `url` for `seconds` with `connections` keep-alive connections (wrk, else Python);
    any answer other than `status` fails the measurement."""
    headers = {"User-Agent": USER_AGENT, **(headers or {})}
    if shutil.which("wrk"):
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT)
        # --timeout: wrk's default (2 s) counts a slow page's answers as errors instead of timing them.
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "60s", "-s",
                   script.name]
        for key, value in headers.items():
            command += ["-H", f"{key}: {value}"]
        output = subprocess.run([*command, url, "--", str(status)], capture_output=True, text=True,
                                timeout=seconds + 60).stdout
        os.unlink(script.name)
        line = next(line for line in output.splitlines() if line.startswith("{"))
        figures = json.loads(line)
        if figures["unexpected"] or figures["errors"]:
            raise RuntimeError(f"{url}: expected HTTP {status} every time: {figures}")
        if figures["requests"] >= MIN_REQUESTS:
            return {"p50_ms": figures["p50_us"] / 1000, "p95_ms": figures["p95_us"] / 1000,
                    "requests": figures["requests"], "tool": "wrk"}
        # A page slower than the window allows: wrk's few samples say little, time enough of them one by one.
    return _measure_python(url, seconds, headers, connections, status)


MIN_REQUESTS = 20  # fewer from wrk: the page is slow, time it one request at a time instead
MIN_SAMPLES = 6  # ...at least this many


def _measure_python(url: str, seconds: float, headers: dict[str, str], connections: int,
                    status: int = 200) -> dict[str, float]:
    import requests
    timings: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline or len(timings) < MIN_SAMPLES:
            tick = time.perf_counter()
            response = session.get(url, headers=headers, allow_redirects=False)
            elapsed = time.perf_counter() - tick
            if response.status_code != status:
                raise RuntimeError(f"{url}: HTTP {response.status_code}, expected {status}")
            with lock:
                timings.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(timings)
    return {"p50_ms": statistics.median(ordered) * 1000,
            "p95_ms": ordered[max(0, math.ceil(len(ordered) * 0.95) - 1)] * 1000, "requests": len(ordered),
            "tool": "python"}


def panel_env(database_url: str, redis_url: str, instance_dir: Path, extra: dict[str, str] | None = None) -> dict:
    """The environment a panel process (gunicorn, rq worker, CLI) of the bench runs with."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "REDIS_"))}
    environ.update({"PYTHONPATH": str(ROOT), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "ADMIN_PANEL_INSTANCE_DIR": str(instance_dir), **(extra or {})})
    return environ
