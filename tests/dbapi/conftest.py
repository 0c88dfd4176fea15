"""Real infrastructure for the Databases API tests: PostgreSQL, an S3 (moto server) and Redis.

- ``dbapi_pg``: a ``PgServer`` named ``main`` with a superuser DSN. ``TEST_POSTGRES_URL`` when set (CI: the
  machine's PostgreSQL 15, its pg_dump/pg_restore on PATH, ``bin_dir`` None); otherwise a pgserver PostgreSQL
  started once per session in a temp folder (``bin_dir`` = pgserver's own binaries).
- ``dbapi_prefix`` / ``dbapi_names``: every database and role a test creates is named ``dbapi_names(label)``,
  which starts with a session-unique prefix; at the end of the session everything with that prefix is dropped.
- ``dbapi_admin_dsn(dbname)``: the superuser DSN pointed at ``dbname``.
- ``dbapi_s3``: moto's ``ThreadedMotoServer`` on 127.0.0.1 (one per session) and a fresh bucket per test.
- ``dbapi_redis``: ``REDIS_URL`` with a dedicated db number (5, plus the xdist worker index) flushed at start,
  else the embedded redis-server (localredis).
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from dbapi.pgtools import PgServer

TEST_SERVER_NAME = "main"


@pytest.fixture(scope="session")
def dbapi_prefix() -> str:
    """Session-unique prefix of every database and role the dbapi tests create."""
    return f"t{secrets.token_hex(4)}_"


@pytest.fixture(scope="session")
def dbapi_pg(dbapi_prefix: str) -> Iterator[PgServer]:
    """A real PostgreSQL (superuser DSN + client bin dir); drops everything named with the session prefix at the end."""
    url = os.environ.get("TEST_POSTGRES_URL")
    data_dir: Path | None = None
    if url:
        server = PgServer.from_config(TEST_SERVER_NAME, {"dsn": url})
    else:
        from dbapi.embedded import start_embedded_postgres

        # Not under pytest's basetemp: any other pytest session resets /tmp/pytest-of-<user> to 0700 (which locks
        # out the pgserver system user) and prunes old basetemps while this server may still be running.
        data_dir = Path(tempfile.mkdtemp(prefix="dbapi-pgserver-"))
        server = dataclasses.replace(start_embedded_postgres(data_dir, stop_at_exit=True), name=TEST_SERVER_NAME)
    yield server
    _drop_prefixed(server, dbapi_prefix)
    if data_dir is not None:
        from dbapi.embedded import stop_embedded_postgres

        stop_embedded_postgres(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def _drop_prefixed(server: PgServer, prefix: str) -> None:
    pattern = prefix.replace("_", r"\_") + "%"
    leftovers: list[str] = []
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        statements = [
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,))
        ]
        statements += [
            sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name))
            for (name,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (pattern,))
        ]
        for statement in statements:
            try:
                conn.execute(statement)
            except psycopg.Error as error:
                leftovers.append(f"{statement.as_string(conn)}: {error}")
    if leftovers:
        warnings.warn("dbapi test clean-up left objects behind: " + "; ".join(leftovers), stacklevel=1)


@pytest.fixture(scope="session")
def dbapi_names(dbapi_prefix: str) -> Callable[[str], str]:
    """``dbapi_names("shop")`` -> a fresh valid database/role name like ``t1a2b3c4d_shop_3``."""
    counter = count(1)

    def make(label: str = "db") -> str:
        cleaned = re.sub(r"[^a-z0-9_]", "_", label.lower())[:40] or "db"
        return f"{dbapi_prefix}{cleaned}_{next(counter)}"

    return make


@pytest.fixture(scope="session")
def dbapi_admin_dsn(dbapi_pg: PgServer) -> Callable[[str], str]:
    """``dbapi_admin_dsn("postgres")`` -> the superuser DSN pointed at that database."""

    def dsn(dbname: str) -> str:
        return make_conninfo(dbapi_pg.dsn, dbname=dbname)

    return dsn


@dataclass(frozen=True)
class S3Bucket:
    """A bucket on the session's moto server and a boto3 client for it."""

    endpoint_url: str
    bucket: str
    client: Any


@pytest.fixture(scope="session")
def dbapi_s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port (boto3 then talks real HTTP to it)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def dbapi_s3(dbapi_s3_endpoint: str) -> S3Bucket:
    """A fresh, empty bucket on the moto server."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=dbapi_s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"dbapi-test-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=bucket)
    return S3Bucket(endpoint_url=dbapi_s3_endpoint, bucket=bucket, client=client)


@dataclass(frozen=True)
class RedisServer:
    """A Redis URL reserved for these tests and an open connection to it."""

    url: str
    connection: Any


@pytest.fixture(scope="session")
def dbapi_redis() -> Iterator[RedisServer]:
    """Real Redis: ``REDIS_URL`` on a dedicated db number (flushed first), else the embedded redis-server."""
    import redis

    base_url = os.environ.get("REDIS_URL")
    if base_url:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
        db_number = 5 + int(worker.removeprefix("gw") or 0) % 10
        url = urlsplit(base_url)._replace(path=f"/{db_number}").geturl()
        connection = redis.Redis.from_url(url)
        connection.flushdb()
        yield RedisServer(url=url, connection=connection)
        connection.flushdb()
        connection.close()
        return
    from dbapi.embedded import embedded_redis_url, stop_embedded_redis

    data_dir = Path(tempfile.mkdtemp(prefix="dbapi-redis-"))  # outside basetemp: see dbapi_pg
    url = embedded_redis_url(data_dir)
    connection = redis.Redis.from_url(url)
    yield RedisServer(url=url, connection=connection)
    connection.close()
    stop_embedded_redis(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------------------
# The running Databases API (appended by the API/operations engineer): a live dbapi over real HTTP, a real RQ
# worker, a real callback receiver, and helpers to drive them.
# ---------------------------------------------------------------------------------------------------------------
import json as _json
import subprocess as _subprocess
import sys as _sys
import threading as _threading
import time as _time
from dataclasses import dataclass as _dataclass, field as _field
from pathlib import Path as _Path
from typing import Any as _Any

import psycopg as _psycopg
import pytest as _pytest
import requests as _requests
from psycopg import sql as _sql
from rq.timeouts import TimerDeathPenalty as _TimerDeathPenalty
from werkzeug.serving import make_server as _make_server
from werkzeug.wrappers import Request as _Request, Response as _Response

from dbapi.worker import DbapiWorker as _DbapiWorker

DBAPI_SERVICE_KEY = "test-service-key-" + "x" * 32
DBAPI_CALLBACK_SECRET = "test-callback-secret-" + "y" * 32
DBAPI_TOKEN_SECRET = "test-token-secret-" + "z" * 32
DBAPI_SERVER_NAME = "main"
_FINISHED = ("succeeded", "failed")

from tests.secret_leaks import register_secret as _register_secret  # noqa: E402

_register_secret(DBAPI_SERVICE_KEY, "dbapi service key")
_register_secret(DBAPI_CALLBACK_SECRET, "dbapi callback secret")
_register_secret(DBAPI_TOKEN_SECRET, "dbapi token secret")


@_pytest.fixture(scope="session")
def dbapi_master_keys() -> dict[str, str]:
    """Two master keys as DBAPI_MASTER_KEYS entries: k2 (current) and k1 (retired, decrypt only)."""
    from dbapi.crypto import MasterKeys

    keys = {"k2": MasterKeys.generate_spec("k2"), "k1": MasterKeys.generate_spec("k1")}
    for spec in keys.values():
        _register_secret(spec.split(":", 1)[-1], "dbapi master key")
    return keys


@_pytest.fixture(scope="session")
def dbapi_limited_dsn(dbapi_pg, dbapi_prefix) -> str:
    """An admin DSN for a role that may create roles but not databases: PostgreSQL itself refuses CREATE DATABASE
    half-way through provisioning, which is how the tests reach the clean-up of a half-made role."""
    from psycopg.conninfo import make_conninfo

    role = f"{dbapi_prefix}limited"
    with _psycopg.connect(dbapi_pg.dsn, autocommit=True) as connection:
        connection.execute(_sql.SQL("CREATE ROLE {} LOGIN CREATEROLE NOCREATEDB").format(_sql.Identifier(role)))
    return make_conninfo(dbapi_pg.dsn, user=role, password="")


@_pytest.fixture(scope="session")
def dbapi_environ(
    tmp_path_factory, dbapi_pg, dbapi_redis, dbapi_prefix, dbapi_master_keys, dbapi_limited_dsn
) -> dict[str, str]:
    """The environment a dbapi process of this test session runs with (the worker subprocess gets it too)."""
    root = tmp_path_factory.mktemp("dbapi-service")
    bin_dir = str(dbapi_pg.bin_dir) if dbapi_pg.bin_dir else None
    return {
        "DBAPI_ENV": "development",
        "DBAPI_DATA_DIR": str(root),
        "DBAPI_REDIS_URL": dbapi_redis.url,
        "DBAPI_QUEUE": f"dbapi-{dbapi_prefix.rstrip('_')}",
        "DBAPI_SERVERS": _json.dumps(
            {
                DBAPI_SERVER_NAME: {"dsn": dbapi_pg.dsn, "host": "db.main.test", "port": 5432, "bin_dir": bin_dir},
                "limited": {"dsn": dbapi_limited_dsn, "host": "db.limited.test", "port": 5432, "bin_dir": bin_dir},
            }
        ),
        "DBAPI_SERVICE_KEY": DBAPI_SERVICE_KEY,
        "DBAPI_CALLBACK_SECRET": DBAPI_CALLBACK_SECRET,
        "DBAPI_TOKEN_SECRET": DBAPI_TOKEN_SECRET,
        "DBAPI_MASTER_KEYS": f"{dbapi_master_keys['k2']},{dbapi_master_keys['k1']}",
        "DBAPI_CALLBACK_RETRY_SECONDS": "1",
        "DBAPI_CALLBACK_MAX_SECONDS": "120",
        "DBAPI_STORAGE": "local",
        # The callback receiver listens on loopback; every other callback host is refused.
        "DBAPI_CALLBACK_HOSTS": "127.0.0.1",
    }


@_pytest.fixture(scope="session")
def dbapi_app(dbapi_environ):
    """The Databases API app of this session (state in SQLite under its data folder; everything it creates on
    PostgreSQL carries the session prefix, which dbapi_pg sweeps at the end)."""
    from dbapi import create_app
    from dbapi.config import Settings

    return create_app(Settings.from_env(dbapi_environ))


@_pytest.fixture(scope="session")
def dbapi_url(dbapi_app) -> str:
    """The Databases API served over real HTTP on a free loopback port (threaded, so transfers stream)."""
    server = _make_server("127.0.0.1", 0, dbapi_app, threaded=True)
    thread = _threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


class _ThreadWorker(_DbapiWorker):
    """dbapi's own worker class, made able to live in a thread: no signal handlers, timer-based job timeouts."""

    death_penalty_class = _TimerDeathPenalty

    def _install_signal_handlers(self) -> None:  # signals are for the main thread only
        pass


class DbapiWorkerThread:
    """A real RQ worker on the session's queue, in a thread with the dbapi app context; pausable so a test can
    hand the queue to a `python -m dbapi.worker` process instead."""

    def __init__(self, app) -> None:
        self.app = app
        self._stop = _threading.Event()
        self._running = _threading.Event()
        self._running.set()
        self._busy = _threading.Lock()
        self._thread = _threading.Thread(target=self._loop, name="dbapi-worker", daemon=True)

    def _loop(self) -> None:
        from dbapi import runtime
        from dbapi.models import db

        with self.app.app_context():
            context = runtime()
            while not self._stop.is_set():
                self._running.wait(timeout=0.2)
                if self._running.is_set():
                    with self._busy:
                        worker = _ThreadWorker([context.queue], connection=context.redis)
                        try:
                            # burst + scheduler: move due retries (enqueue_in) onto the queue, run all, return.
                            worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
                        finally:
                            db.session.remove()
                self._stop.wait(timeout=0.1)

    def start(self) -> None:
        self._thread.start()

    def pause(self) -> None:
        """Stop taking jobs (returns once the current batch is done)."""
        self._running.clear()
        with self._busy:
            pass

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        self._thread.join(timeout=30)


@_pytest.fixture(scope="session")
def dbapi_worker(dbapi_app) -> DbapiWorkerThread:
    """A real RQ worker running the session's dbapi jobs."""
    worker = DbapiWorkerThread(dbapi_app)
    worker.start()
    yield worker
    worker.stop()


@_pytest.fixture
def dbapi_worker_process(dbapi_environ, dbapi_worker):
    """Start the real entry point, `python -m dbapi.worker`, on the session queue (the thread worker pauses).

    `start(extra_env, burst, wrapper)`: `extra_env` overrides the session environment, `burst` makes it quit once
    the queue is empty, `wrapper` is a shell snippet run around it (`$WORKER` is the worker command).
    """
    import os
    import shlex

    processes: list[_subprocess.Popen] = []
    root = _Path(__file__).resolve().parents[2]

    def start(extra_env: dict[str, str] | None = None, *, burst: bool = False, wrapper: str | None = None):
        dbapi_worker.pause()
        environ = {**os.environ, **dbapi_environ, **(extra_env or {})}
        environ["PYTHONPATH"] = str(root) + (":" + environ["PYTHONPATH"] if environ.get("PYTHONPATH") else "")
        command = [_sys.executable, "-m", "dbapi.worker", "--logging-level", "INFO"] + (["--burst"] if burst else [])
        if wrapper:
            environ["WORKER"] = shlex.join(command)
            command = ["sh", "-c", wrapper]
        process = _subprocess.Popen(command, env=environ, cwd=root, stdout=_subprocess.PIPE,
                                    stderr=_subprocess.STDOUT, text=True)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()  # warm shutdown: finishes the current job, releases the scheduler lock
        try:
            process.communicate(timeout=30)
        except _subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    dbapi_worker.resume()


@_dataclass
class CallbackReceiver:
    """A real HTTP endpoint that records every callback; it answers `fail_first` requests with 500 first."""

    fail_first: int = 0
    requests: list[dict[str, _Any]] = _field(default_factory=list)
    url: str = ""
    _lock: _threading.Lock = _field(default_factory=_threading.Lock)

    def __call__(self, environ, start_response):
        request = _Request(environ)
        body = request.get_data()
        with self._lock:
            failing = len(self.requests) < self.fail_first
            self.requests.append({"headers": dict(request.headers), "body": body, "status": 500 if failing else 200})
        response = _Response("try again" if failing else "ok", status=500 if failing else 200)
        return response(environ, start_response)

    def delivered(self, operation_id: str) -> list[dict[str, _Any]]:
        """The acknowledged (2xx) deliveries for one operation, parsed."""
        return [
            {**_json.loads(entry["body"]), "_headers": entry["headers"]}
            for entry in self.requests
            if entry["status"] == 200 and entry["headers"].get("X-Operation-Id") == operation_id
        ]


@_pytest.fixture
def callback_receiver() -> CallbackReceiver:
    receiver = CallbackReceiver()
    server = _make_server("127.0.0.1", 0, receiver, threaded=True)
    thread = _threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/dbapi/callbacks"
    yield receiver
    server.shutdown()
    thread.join(timeout=5)


class DbapiClient:
    """The panel's side of the conversation: service-authenticated JSON calls and waiting for operations."""

    def __init__(self, base_url: str, service_key: str) -> None:
        self.base_url = base_url
        self.http = _requests.Session()
        self.http.headers["Authorization"] = f"Bearer {service_key}"

    def call(self, method: str, path: str, **kwargs: _Any) -> _requests.Response:
        return self.http.request(method, self.base_url + path, timeout=60, **kwargs)

    def operation(self, operation_id: str) -> dict[str, _Any]:
        response = self.call("GET", f"/operations/{operation_id}")
        assert response.status_code == 200, response.text
        return response.json()["operation"]

    def wait(self, operation_id: str, *, delivered: bool = True, timeout: float = 120) -> dict[str, _Any]:
        """Poll until the operation finished (and, with `delivered`, its callback is no longer pending)."""
        deadline = _time.monotonic() + timeout
        while True:
            operation = self.operation(operation_id)
            done = operation["state"] in _FINISHED
            if done and (not delivered or operation["callback"]["state"] in (None, "delivered", "abandoned")):
                return operation
            if _time.monotonic() > deadline:
                raise AssertionError(f"operation {operation_id} did not finish in {timeout}s: {operation}")
            _time.sleep(0.1)

    def run(self, method: str, path: str, *, expect: str = "succeeded", **kwargs: _Any) -> dict[str, _Any]:
        """Start an asynchronous action, wait for it, and check how it ended."""
        response = self.call(method, path, **kwargs)
        assert response.status_code == 202, response.text
        operation = self.wait(response.json()["operation"]["id"])
        assert operation["state"] == expect, operation
        return operation


@_pytest.fixture
def dbapi_client(dbapi_url, dbapi_worker) -> DbapiClient:
    """A service-authenticated client of the live dbapi, with its worker running."""
    return DbapiClient(dbapi_url, DBAPI_SERVICE_KEY)
