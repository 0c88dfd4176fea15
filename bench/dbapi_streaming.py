"""Benchmark: memory and throughput of the Databases API streaming path on a real PostgreSQL.

Builds a database of at least ``--mb`` megabytes (generate_series + pseudo-random text, in SQL), then runs each
streaming phase in its own fresh Python process (so the peak RSS printed is that of a process doing only what the
dbapi worker or web process does, with the dbapi package imported as the service imports it):

  backup    pg_dump -Fc -> SHA-256/size -> compress + AES-256-GCM -> storage
  download  storage -> decrypt + decompress -> SHA-256 (what GET /backups/{id}/download streams)
  restore   storage -> decrypt + decompress -> pg_restore into a scratch database

Storage is a local folder, or with ``--storage s3`` an S3 bucket on moto's server (in the parent process, over
loopback HTTP), written with 8 MiB multipart parts.

Peak RSS is the high-water mark (VmHWM) of that process (pg_dump/pg_restore are separate processes and not
counted; they are PostgreSQL's own tools). "baseline" is the same figure right after importing the dbapi package,
before streaming. Target from the issue: < 150 MB.

    .venv/bin/python bench/dbapi_streaming.py --mb 500
    .venv/bin/python bench/dbapi_streaming.py --mb 20 --dsn postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/dbapi_streaming.py --mb 500 --storage s3

Server: ``--dsn``, else ``TEST_POSTGRES_URL``, else an embedded pgserver started in a temp folder. Everything it
creates (two databases, two roles, the storage folder or bucket) is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STORAGE_KEY = "bench/backup.enc"
BENCH_BACKUP_ID = "bench-backup"  # every object is bound to its backup id (crypto format 2)
BATCH_ROWS = 250_000


def peak_rss_mb() -> float:
    """Peak resident set size of this process image so far, in MiB.

    Linux's VmHWM belongs to the current program image; ``ru_maxrss`` is not usable here because Linux carries it
    over from the parent across fork + exec (a big parent would inflate the child's figure).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- child side: one streaming phase per process ---------------------------------------------------------------


def child(phase: str) -> None:
    """Run one phase with parameters from the environment; print a JSON result line."""
    import dbapi  # noqa: F401 - import the package as the service does, so its footprint is in the figure
    from dbapi import pgarchive, pgtools
    from dbapi.crypto import Digest, MasterKeys, decrypt_stream, encrypt_stream
    from dbapi.storage import storage_from_config

    server = pgtools.PgServer.from_config("bench", json.loads(os.environ["BENCH_SERVER"]))
    keys = MasterKeys.parse(os.environ["BENCH_MASTER_KEYS"])
    storage = storage_from_config(
        os.environ["BENCH_STORAGE"], Path(os.environ["BENCH_WORK"]), endpoint_url=os.environ.get("BENCH_S3_ENDPOINT")
    )
    baseline = peak_rss_mb()
    started = time.monotonic()
    result: dict[str, Any] = {"phase": phase, "baseline_rss_mb": baseline}
    if phase == "backup":
        plain = Digest()
        with pgarchive.dump(server, os.environ["BENCH_SOURCE_DB"]) as stream:
            stored = storage.write(STORAGE_KEY, encrypt_stream(plain.tap(stream), keys, backup_id=BENCH_BACKUP_ID))
        result.update(plain_bytes=plain.size, plain_sha256=plain.hexdigest, stored_bytes=stored)
    elif phase == "download":
        plain = Digest()
        for _ in plain.tap(decrypt_stream(storage.read(STORAGE_KEY), keys, backup_id=BENCH_BACKUP_ID)):
            pass
        result.update(plain_bytes=plain.size, plain_sha256=plain.hexdigest)
    elif phase == "restore":
        plain = Digest()
        pgarchive.restore(
            server, os.environ["BENCH_TARGET_DB"], plain.tap(decrypt_stream(storage.read(STORAGE_KEY), keys, backup_id=BENCH_BACKUP_ID))
        )
        result.update(plain_bytes=plain.size, plain_sha256=plain.hexdigest)
    else:
        raise SystemExit(f"unknown phase {phase!r}")
    result.update(seconds=time.monotonic() - started, peak_rss_mb=peak_rss_mb())
    print(json.dumps(result))


# --- parent side: set up, run the phases, report, clean up ------------------------------------------------------


def run_phase(phase: str, environ: dict[str, str]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", phase],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def fill(server: Any, dbname: str, target_mb: int) -> tuple[int, float]:
    """Insert rows until the database is at least ``target_mb``; return (rows, seconds)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    started = time.monotonic()
    with psycopg.connect(make_conninfo(server.dsn, dbname=dbname), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        # The tenant owns its tables, as in production: pg_dump runs with the owner's rights only.
        conn.execute(f'SET ROLE "{dbname}_owner"')
        conn.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(12,2), "
            "placed_at timestamptz, note text)"
        )
        rows = 0
        while conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] < target_mb * 1024 * 1024:
            # Pseudo-random hex text: about as compressible (2-3x) as real application text.
            conn.execute(
                "INSERT INTO orders SELECT g, 'customer-' || (g %% 50000), (random() * 10000)::numeric(12,2), "
                "timestamptz '2020-01-01' + g * interval '7 seconds', "
                "md5(random()::text) || ' ' || md5(g::text) || ' ' || md5(random()::text) "
                "FROM generate_series(%s, %s) AS g",
                (rows + 1, rows + BATCH_ROWS),
            )
            rows += BATCH_ROWS
        conn.execute("VACUUM ANALYZE orders")
    return rows, time.monotonic() - started


def database_mb(server: Any, dbname: str) -> float:
    import psycopg

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        return conn.execute("SELECT pg_database_size(%s)", (dbname,)).fetchone()[0] / 1024 / 1024


def row_count(server: Any, dbname: str) -> int:
    import psycopg
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(make_conninfo(server.dsn, dbname=dbname)) as conn:
        return conn.execute("SELECT count(*) FROM orders").fetchone()[0]


def start_moto() -> tuple[Any, str]:
    """moto's S3 server on a free loopback port, in this (parent) process, with the bench bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket="dbapi-bench")
    return server, endpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=500, help="minimum database size in MB (default 500)")
    parser.add_argument("--dsn", default=os.environ.get("TEST_POSTGRES_URL"), help="superuser DSN (default: embedded)")
    parser.add_argument("--skip-restore", action="store_true", help="only backup and download")
    parser.add_argument(
        "--storage", choices=("local", "s3"), default="local", help="local folder, or S3 on a moto server (loopback)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child)
        return

    from dbapi import pgarchive, pgtools
    from dbapi.crypto import MasterKeys

    work = Path(tempfile.mkdtemp(prefix="dbapi-bench-"))
    embedded_dir: Path | None = None
    if arguments.dsn:
        server = pgtools.PgServer.from_config("bench", {"dsn": arguments.dsn})
    else:
        from dbapi.embedded import start_embedded_postgres

        embedded_dir = work / "pg"
        server = start_embedded_postgres(embedded_dir, stop_at_exit=True)
    suffix = secrets.token_hex(3)
    source, target = f"bench_{suffix}_src", f"bench_{suffix}_dst"
    environ = {
        "BENCH_SERVER": json.dumps({"dsn": server.dsn, "bin_dir": str(server.bin_dir) if server.bin_dir else None}),
        "BENCH_MASTER_KEYS": MasterKeys.generate_spec("bench"),
        "BENCH_WORK": str(work),
        "BENCH_STORAGE": f"local:{work / 'storage'}",
        "BENCH_SOURCE_DB": source,
        "BENCH_TARGET_DB": target,
    }
    moto = None
    if arguments.storage == "s3":
        moto, endpoint = start_moto()
        environ.update(
            BENCH_STORAGE="s3://dbapi-bench/backups",
            BENCH_S3_ENDPOINT=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
    try:
        pgtools.create_role_and_database(server, source, f"{source}_owner")
        pgtools.create_role_and_database(server, target, f"{target}_owner")
        print(f"storage: {arguments.storage}; server: {pgtools.server_version(server)} via {pgtools.tool_path(server, 'pg_dump')}", flush=True)
        rows, fill_seconds = fill(server, source, arguments.mb)
        size_mb = database_mb(server, source)
        print(f"database: {size_mb:.0f} MB, {rows:,} rows (filled in {fill_seconds:.0f} s)", flush=True)

        results = [run_phase("backup", environ), run_phase("download", environ)]
        if not arguments.skip_restore:
            results.append(run_phase("restore", environ))
        backup = results[0]
        for result in results[1:]:
            assert result["plain_sha256"] == backup["plain_sha256"], f"{result['phase']}: plain dump differs"
        if not arguments.skip_restore:
            restored = row_count(server, target)
            assert restored == rows, f"restored {restored} rows, expected {rows}"

        plain_mb = backup["plain_bytes"] / 1024 / 1024
        print(f"pg_dump -Fc archive: {plain_mb:.1f} MB; stored (encrypted): {backup['stored_bytes'] / 1024 / 1024:.1f} MB")
        print(f"{'phase':<10}{'seconds':>9}{'archive MB/s':>14}{'database MB/s':>15}{'baseline RSS':>14}{'peak RSS':>10}")
        for result in results:
            print(
                f"{result['phase']:<10}{result['seconds']:>9.1f}{plain_mb / result['seconds']:>14.1f}"
                f"{size_mb / result['seconds']:>15.1f}{result['baseline_rss_mb']:>11.1f} MB{result['peak_rss_mb']:>7.1f} MB"
            )
        worst = max(result["peak_rss_mb"] for result in results)
        print(f"peak RSS of the streaming process: {worst:.1f} MB (target < 150 MB): {'OK' if worst < 150 else 'OVER'}")
        if not arguments.skip_restore:
            print(f"restore verified: {rows:,} rows in {target}, same SHA-256 of the plain archive in every phase")
    finally:
        for dbname in (source, target):
            try:
                pgtools.drop_database(server, dbname, f"{dbname}_owner")
            except pgtools.PgToolError as error:
                print(f"clean-up: {error}", file=sys.stderr)
        if moto is not None:
            moto.stop()
        if embedded_dir is not None:
            from dbapi.embedded import stop_embedded_postgres

            stop_embedded_postgres(embedded_dir)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
