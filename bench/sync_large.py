"""Benchmark: sync the `large` sandbox scenario (5,000 apps, 30,000 records, 1,500 instances by default).

Prints, per source and scope, the counts, API calls and seconds of a first run (everything new) and of a second run
(nothing changed, nothing written), plus the peak RSS of this process. Uses a fresh SQLite file unless
BENCH_DATABASE_URL points at a PostgreSQL database made for it.

    .venv/bin/python bench/sync_large.py [--apps N] [--records N] [--instances N]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis  # noqa: E402

from app import create_app  # noqa: E402
from app.clients import for_config  # noqa: E402
from app.config import Settings  # noqa: E402
from app.extensions import db
from app.queues import redis_url  # noqa: E402
from app.models import Base  # noqa: E402
from app.sync import runner  # noqa: E402
from app.sync.locks import redis_locks  # noqa: E402
from sandbox.generate import generate_large  # noqa: E402
from sandbox.platform import Sandbox  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=5000)
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--instances", type=int, default=1500)
    args = parser.parse_args()

    started = time.perf_counter()
    scenario = generate_large(apps=args.apps, records=args.records, instances=args.instances)
    sandbox = Sandbox(scenario).start()
    print(f"sandbox: large scenario built and seeded in {time.perf_counter() - started:.1f} s")
    folder = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    environ = {**sandbox.env(), "ADMIN_PANEL_INSTANCE_DIR": str(folder),
               "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{folder / 'bench.sqlite'}"),
               "CLOUDFLARE_RATE_LIMIT": "100000"}
    if os.environ.get("REDIS_URL"):
        environ["REDIS_URL"] = os.environ["REDIS_URL"]
    # The panel never passes AWS keys: boto3 reads moto's fake ones from this process's environment.
    os.environ.update({key: environ[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    app = create_app(Settings.from_env(environ))
    try:
        with app.app_context():
            Base.metadata.drop_all(db.engine)
            Base.metadata.create_all(db.engine)
            clients = for_config(app.config)
            locks = redis_locks(Redis.from_url(redis_url()))
            for label in ("first run (all new)", "second run (unchanged)"):
                print(f"\n{label}")
                total = time.perf_counter()
                for request in runner.plan(clients):
                    tick = time.perf_counter()
                    run = runner.run_one(db.session, clients, locks, request, triggered_by="bench")
                    print(f"  {request.source:<10} {request.scope:<14} created {run.created:>6} updated"
                          f" {run.updated:>5} deleted {run.deleted:>4} unchanged {run.unchanged:>6}"
                          f"  calls {run.api_calls:>5}  {time.perf_counter() - tick:6.1f} s")
                print(f"  total {time.perf_counter() - total:.1f} s")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak RSS of this process (panel + simulators): {peak:.0f} MB")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
