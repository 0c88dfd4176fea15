"""Benchmark: switch N extra records (CNAMEs to eu-prod's load balancer) of the demo platform to eu-staging and back.

Prints the plan's size, the Cloudflare requests the plan, the apply and the rollback each sent (counted by the
simulator, against the Cloudflare budget the panel takes), the batches and the seconds each step took. Uses a fresh
SQLite file unless BENCH_DATABASE_URL points at a PostgreSQL database made for it.

    .venv/bin/python bench/dns_switch.py [--records 1000] [--budget 800]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis import Redis  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import create_app  # noqa: E402
from app.clients import for_config  # noqa: E402
from app.config import Settings  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Base, LoadBalancer  # noqa: E402
from app.operations import change_sets  # noqa: E402
from app.operations.cluster_switch import plan_switch  # noqa: E402
from app.queues import redis_url  # noqa: E402
from app.sync import runner  # noqa: E402
from app.sync.locks import redis_locks  # noqa: E402
from sandbox.platform import Sandbox  # noqa: E402
from sandbox.scenario import load  # noqa: E402

ZONE = "northwind-shop.com"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=800, help="CLOUDFLARE_RATE_LIMIT: the panel's share per 5 min")
    args = parser.parse_args()

    sandbox = Sandbox(load("demo")).start()
    folder = Path(tempfile.mkdtemp(prefix="bench-dns-switch-"))
    environ = {**sandbox.env(), "ADMIN_PANEL_INSTANCE_DIR": str(folder),
               "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{folder / 'bench.sqlite'}"),
               "CLOUDFLARE_RATE_LIMIT": str(args.budget)}
    if os.environ.get("REDIS_URL"):
        environ["REDIS_URL"] = os.environ["REDIS_URL"]
    os.environ.update({key: environ[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    app = create_app(Settings.from_env(environ))
    try:
        with app.app_context():
            Base.metadata.drop_all(db.engine)
            Base.metadata.create_all(db.engine)
            clients = for_config(app.config)
            locks = redis_locks(Redis.from_url(redis_url()))
            for request in runner.plan(clients):
                runner.run_one(db.session, clients, locks, request, triggered_by="bench")
            prod = db.session.scalar(select(LoadBalancer.dns_name).where(LoadBalancer.name == "eu-prod-alb"))
            for number in range(args.records):
                sandbox.cloudflare.add_record(ZONE, name=f"bench-{number:05d}.{ZONE}", type="CNAME",
                                              content=prod.lower(), ttl=300)
            for request in runner.plan(clients, "cloudflare"):
                runner.run_one(db.session, clients, locks, request, triggered_by="bench")
            cf = clients.cloudflare()
            faults = sandbox.cloudflare.faults

            def step(label: str, action) -> object:
                faults.configure(seed=1)  # restarts the simulator's request count
                batches_before = sum(e["path"].endswith("/batch") for e in sandbox.cloudflare.write_log)
                tick = time.perf_counter()
                result = action()
                seconds = time.perf_counter() - tick
                batches = sum(e["path"].endswith("/batch") for e in sandbox.cloudflare.write_log) - batches_before
                print(f"  {label:<10} {faults.state()['requests_since_configured']:>4} Cloudflare requests"
                      f" ({max(batches, 0)} batches)  {seconds:6.2f} s")
                return result

            print(f"switch eu-prod → eu-staging with {args.records} extra records; budget {args.budget}/300 s")
            plan = step("plan", lambda: plan_switch(db.session, cf, "eu-prod", "eu-staging", "bench"))
            print(f"  plan holds {len(plan.items)} changes")
            change_sets.request_apply(db.session, None, plan, "bench")
            applied = step("apply", lambda: change_sets.apply(db.session, cf, plan.id))
            applied_state = applied.state
            undo = change_sets.plan_rollback(db.session, applied, "bench")
            change_sets.request_apply(db.session, None, undo, "bench")
            rolled = step("rollback", lambda: change_sets.apply(db.session, cf, undo.id))
            print(f"  outcome: apply {applied_state}, rollback {rolled.state};"
                  f" budget spent in this window: {cf.budget.spent()} of {args.budget}")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
