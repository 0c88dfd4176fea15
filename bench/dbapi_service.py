"""Service-level streaming bench: the real dbapi web process and worker process, over HTTP.

Peak RSS (VmHWM) of `python -m dbapi` (web) and `python -m dbapi.worker` while a >= 500 MB database is backed up,
downloaded with a token, and uploaded back with a token.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
ADMIN = os.environ.get("BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_MB = int(os.environ.get("BENCH_MB", "520"))


def vm(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return -1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


received: list[dict] = []


def receiver(environ, start_response):
    received.append(json.loads(Request(environ).get_data()))
    return Response("ok")(environ, start_response)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from dbapi.crypto import MasterKeys

    work = Path(tempfile.mkdtemp(prefix="dbapi-svc-bench-"))
    key = "k" * 40
    queue = f"bench-{secrets.token_hex(3)}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DBAPI_DATA_DIR": str(work), "DBAPI_QUEUE": queue,
           "DBAPI_REDIS_URL": "redis://127.0.0.1:6379/11", "DBAPI_SERVICE_KEY": key,
           "DBAPI_MASTER_KEYS": MasterKeys.generate_spec("b1"),
           "DBAPI_SERVERS": json.dumps({"main": {"dsn": ADMIN, "host": "127.0.0.1", "port": 5432}})}
    port = free_port()
    web = subprocess.Popen([PY, "-m", "dbapi", "--port", str(port)], env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([PY, "-m", "dbapi.worker", "--logging-level", "WARNING"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    callback_server = make_server("127.0.0.1", 0, receiver, threaded=True)
    threading.Thread(target=callback_server.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{callback_server.server_port}/cb"
    base = f"http://127.0.0.1:{port}"
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {key}"
    for _ in range(100):
        try:
            http.get(base + "/servers", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.1)

    def wait(op_id: str) -> dict:
        while True:
            op = http.get(f"{base}/operations/{op_id}").json()["operation"]
            if op["state"] in ("succeeded", "failed") and op["callback"]["state"] != "pending":
                return op
            time.sleep(0.5)

    name = f"bench_{secrets.token_hex(3)}"
    try:
        op = wait(http.post(base + "/databases", json={"name": name, "server": "main", "callback_url": callback}).json()["operation"]["id"])
        database = next(r for r in received if r["operation_id"] == op["id"])["database"]
        started = time.monotonic()
        with psycopg.connect(ADMIN.rsplit("/", 1)[0] + "/" + name, user=database["username"],
                             password=database["password"]) as conn:
            conn.execute("CREATE TABLE blobs (id int PRIMARY KEY, payload bytea)")
            with conn.cursor().copy("COPY blobs (id, payload) FROM STDIN") as copy:
                for i in range(TARGET_MB * 256):  # 4 KiB of random bytes per row
                    copy.write_row((i, os.urandom(4096)))
        with psycopg.connect(ADMIN) as conn:
            size = conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[0] / 2**20
        print(f"database {name}: {size:.0f} MB (filled in {time.monotonic() - started:.0f} s)")
        print(f"baseline RSS: web {vm(web.pid, 'VmRSS'):.1f} MB, worker {vm(worker.pid, 'VmRSS'):.1f} MB")

        started = time.monotonic()
        op = wait(http.post(f"{base}/databases/{database['id']}/backups", json={"callback_url": callback}).json()["operation"]["id"])
        backup = http.get(f"{base}/backups/{op['backup_id']}").json()
        print(f"backup {op['state']}: {backup['size_bytes'] / 2**20:.0f} MB archive, {backup['stored_bytes'] / 2**20:.0f} MB stored, "
              f"{time.monotonic() - started:.1f} s; worker peak RSS {vm(worker.pid, 'VmHWM'):.1f} MB")

        grant = http.post(base + "/tokens", json={"action": "download", "backup_id": backup["id"]}).json()
        archive = work / "download.dump"
        digest = hashlib.sha256()
        started = time.monotonic()
        with requests.get(grant["url"], headers={"Authorization": f"Bearer {grant['token']}"}, stream=True) as r, archive.open("wb") as f:
            for chunk in r.iter_content(1 << 20):
                digest.update(chunk)
                f.write(chunk)
        assert digest.hexdigest() == backup["sha256"]
        print(f"download: {archive.stat().st_size / 2**20:.0f} MB in {time.monotonic() - started:.1f} s, sha256 ok; "
              f"web peak RSS {vm(web.pid, 'VmHWM'):.1f} MB")

        grant = http.post(base + "/tokens", json={"action": "upload", "database_id": database["id"], "callback_url": callback}).json()
        started = time.monotonic()
        with archive.open("rb") as f:
            r = requests.put(grant["url"], data=f, headers={"Authorization": f"Bearer {grant['token']}"})
        print(f"upload: HTTP {r.status_code} in {time.monotonic() - started:.1f} s, sha256 ok: "
              f"{r.json()['backup']['sha256'] == backup['sha256']}; web peak RSS {vm(web.pid, 'VmHWM'):.1f} MB")
        started = time.monotonic()
        op = wait(http.post(f"{base}/databases/{database['id']}/restore", json={"backup_id": backup["id"], "callback_url": callback}).json()["operation"]["id"])
        print(f"restore {op['state']} in {time.monotonic() - started:.1f} s; worker peak RSS {vm(worker.pid, 'VmHWM'):.1f} MB")
        wait(http.delete(f"{base}/databases/{database['id']}", json={"callback_url": callback}).json()["operation"]["id"])
    finally:
        web.terminate(); worker.terminate(); web.wait(); worker.wait()
        import redis
        from rq import Queue
        Queue(queue, connection=redis.Redis.from_url("redis://127.0.0.1:6379/11")).delete(delete_jobs=True)
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
