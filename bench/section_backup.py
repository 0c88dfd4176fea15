"""Backup benchmark (`backup.*`): a PostgreSQL database of `backup_mb` (about 2-3x compressible text, like real
application rows), backed up and downloaded through the real Databases API (`python -m dbapi` + `python -m
dbapi.worker`, over HTTP, local storage), against this machine's plain `pg_dump -Fc | gzip -1 > file` and
`gzip -dc file` (reading + decompressing the raw file). Throughputs are database MB per second."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bench.common import PYTHON, ROOT, RssSampler, Sizes, free_port, postgres_server, private_redis, stop

POSTGRES_TOOLS = frozenset({"pg_dump", "pg_restore", "psql", "gzip"})


def fill(dsn: str, target_mb: int) -> None:
    """Rows of pseudo-random text until the database holds `target_mb`."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET synchronous_commit = off")
        connection.execute("CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(12,2),"
                           " placed_at timestamptz, note text)")
        rows, batch = 0, max(10_000, target_mb * 1_000)  # ~0.15 MB a thousand rows: overshoot stays ~15 %
        while connection.execute("SELECT pg_database_size(current_database())").fetchone()[0] < target_mb * 2**20:
            connection.execute(
                "INSERT INTO orders SELECT g, 'customer-' || (g %% 50000), (random() * 10000)::numeric(12,2),"
                " timestamptz '2020-01-01' + g * interval '7 seconds',"
                " md5(random()::text) || ' ' || md5(g::text) || ' ' || md5(random()::text)"
                " FROM generate_series(%s::bigint, %s::bigint) AS g", (rows + 1, rows + batch))
            rows += batch
        connection.execute("VACUUM ANALYZE orders")


def bench_backup(sizes: Sizes, log=print) -> dict[str, float]:
    from dbapi.crypto import MasterKeys

    import logging
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the callback receiver's access log
    work = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    received: list[dict] = []

    def receiver(environ, start_response):
        received.append(json.loads(Request(environ).get_data()))
        return Response("ok")(environ, start_response)

    callbacks = make_server("127.0.0.1", 0, receiver, threaded=True)
    threading.Thread(target=callbacks.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{callbacks.server_port}/callback"
    processes: list[subprocess.Popen] = []
    try:
        with private_redis() as redis_url, postgres_server() as server:
            key = secrets.token_urlsafe(32)
            host_port = server.split("@", 1)[1].split("/", 1)[0]
            host, _, port = host_port.partition(":")
            environ = {**os.environ, "PYTHONPATH": str(ROOT), "DBAPI_DATA_DIR": str(work / "data"),
                       "DBAPI_REDIS_URL": redis_url, "DBAPI_SERVICE_KEY": key,
                       "DBAPI_MASTER_KEYS": MasterKeys.generate_spec("bench"),
                       "DBAPI_SERVERS": json.dumps({"main": {"dsn": server, "host": host or "127.0.0.1",
                                                             "port": int(port or 5432)}})}
            web_port = free_port()
            # Web and worker start together on the fresh data folder (dbapi serialises its schema creation).
            web_log = (work / "web.log").open("wb")
            web = subprocess.Popen([PYTHON, "-m", "dbapi", "--port", str(web_port)], env=environ,
                                   cwd=ROOT, stdout=web_log, stderr=subprocess.STDOUT)
            processes.append(web)
            worker_log = (work / "worker.log").open("wb")
            worker = subprocess.Popen([PYTHON, "-m", "dbapi.worker", "--logging-level", "WARNING"], env=environ,
                                      cwd=ROOT, stdout=worker_log, stderr=subprocess.STDOUT)
            processes.append(worker)
            base = f"http://127.0.0.1:{web_port}"
            http = requests.Session()
            http.headers["Authorization"] = f"Bearer {key}"
            deadline = time.monotonic() + 180
            while True:
                try:
                    http.get(base + "/servers", timeout=2)
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline or web.poll() is not None:
                        tail = (work / "web.log").read_text(errors="replace")[-3000:]
                        raise RuntimeError(f"the dbapi web process did not answer:\n{tail}") from None
                    time.sleep(0.1)

            def wait(operation_id: str) -> dict:
                while True:
                    if worker.poll() is not None:
                        tail = (work / "worker.log").read_text(errors="replace")[-3000:]
                        raise RuntimeError(f"the dbapi worker exited ({worker.returncode}):\n{tail}")
                    operation = http.get(f"{base}/operations/{operation_id}").json()["operation"]
                    if operation["state"] in ("succeeded", "failed") and operation["callback"]["state"] != "pending":
                        return operation
                    time.sleep(0.1)

            name = f"bench_{secrets.token_hex(3)}"
            created = http.post(base + "/databases", json={"name": name, "server": "main", "callback_url": callback})
            operation = wait(created.json()["operation"]["id"])
            database = next(each for each in received if each["operation_id"] == operation["id"])["database"]
            tenant = psycopg.conninfo.make_conninfo(server, dbname=name, user=database["username"],
                                                    password=database["password"])
            tick = time.perf_counter()
            fill(tenant, sizes.backup_mb)
            with psycopg.connect(server) as connection:
                size_mb = connection.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[0] / 2**20
            log(f"  database {size_mb:.0f} MB filled in {time.perf_counter() - tick:.1f} s")
            try:
                raw_file = work / "raw.dump.gz"
                tick = time.perf_counter()
                subprocess.run(f"pg_dump -Fc '{tenant}' | gzip -1 > '{raw_file}'", shell=True, check=True)
                raw_s = time.perf_counter() - tick
                tick = time.perf_counter()
                subprocess.run(f"gzip -dc '{raw_file}' > /dev/null", shell=True, check=True)
                raw_read_s = time.perf_counter() - tick

                with RssSampler([worker.pid], exclude=POSTGRES_TOOLS) as rss:
                    tick = time.perf_counter()
                    started = http.post(f"{base}/databases/{database['id']}/backups", json={"callback_url": callback})
                    operation = wait(started.json()["operation"]["id"])
                    dbapi_s = time.perf_counter() - tick
                if operation["state"] != "succeeded":
                    raise RuntimeError(f"dbapi backup {operation['state']}: {operation.get('error')}")
                backup = http.get(f"{base}/backups/{operation['backup_id']}").json()
                grant = http.post(base + "/tokens", json={"action": "download", "backup_id": backup["id"]}).json()
                tick = time.perf_counter()
                downloaded = 0
                with requests.get(grant["url"], headers={"Authorization": f"Bearer {grant['token']}"},
                                  stream=True) as answer:
                    answer.raise_for_status()
                    for chunk in answer.iter_content(1 << 20):
                        downloaded += len(chunk)
                download_s = time.perf_counter() - tick
                log(f"  raw dump {raw_s:.1f} s, raw read {raw_read_s:.1f} s; dbapi backup {dbapi_s:.1f} s,"
                    f" download {download_s:.1f} s ({downloaded / 2**20:.0f} MB archive)")
            finally:
                wait(http.delete(f"{base}/databases/{database['id']}", json={"callback_url": callback})
                     .json()["operation"]["id"])
            return {"database_mb": size_mb, "raw_mb_s": size_mb / raw_s, "dbapi_mb_s": size_mb / dbapi_s,
                    "ratio": raw_s / dbapi_s, "raw_download_mb_s": size_mb / raw_read_s,
                    "dbapi_download_mb_s": size_mb / download_s, "download_ratio": raw_read_s / download_s,
                    "peak_rss_mb": rss.peak_mb}
    finally:
        for process in processes:
            stop(process)
        callbacks.shutdown()
        shutil.rmtree(work, ignore_errors=True)
