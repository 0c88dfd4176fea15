"""Benchmark: render the platform pages over a large panel database; print time and SQL statements per page.

Fills a fresh database directly (no simulators): `--apps` apps with a domain and certificate each, a database for
every third app, `--instances` instances behind per-cluster load balancers, `--records` DNS records related to
them. Then signs in through the real form and times each page with the Flask test client (median of `--repeat`).
Figures only, no assertions:

    .venv/bin/python bench/pages.py [--apps 10000] [--instances 1500] [--records 30000] [--repeat 5]

`BENCH_DATABASE_URL` (a PostgreSQL database whose name contains "bench" or "test", wiped) runs it on PostgreSQL;
the default is SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import event, insert, select  # noqa: E402

from app import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import (  # noqa: E402
    App, Base, Certificate, Cluster, Database, DnsRecord, DnsZone, Domain, Instance, LoadBalancer,
    LoadBalancerMember, MaintenanceEvent, Region, utcnow,
)
from app.operations import accounts  # noqa: E402

PASSWORD = "bench password long enough"


def fill(apps: int, instances: int, records: int, monitored_every: int = 2) -> None:
    """Bulk-insert a platform of the given size (core inserts: seconds, not minutes); one app in
    `monitored_every` has monitoring on."""
    session, now = db.session, utcnow()
    region = Region(name="europe", aws_region="eu-west-1")
    clusters = [Cluster(name=f"prod-{number}", region=region, controller_url=f"http://deis-{number}.test")
                for number in range(4)]
    session.add_all(clusters)
    session.flush()
    cluster_ids = [cluster.id for cluster in clusters]
    session.execute(insert(App), [
        {"cluster_id": cluster_ids[number % 4], "name": f"app-{number:05d}", "uuid": str(uuid.uuid4()),
         "owner": f"owner-{number % 97}", "app_type": ("web", "worker", "api")[number % 3],
         "structure": {"web": 2}, "config_values": {"DATABASE_URL": "postgres://u:pw@h/db", "PLATFORM": "deis"},
         "memory": {"web": "512M"}, "cpu": {"web": "500m"}, "settings": {}, "monitoring_enabled": number % monitored_every == 0,
         "limit_drift": number % 11 == 0, "health_path": "/", "synced_at": now}
        for number in range(apps)
    ])
    app_ids = list(session.scalars(select(App.id).order_by(App.id)))
    session.execute(insert(Certificate), [
        {"cluster_id": cluster_ids[index % 4], "name": f"cert-{index}", "common_name": f"app-{index:05d}.example.com",
         "sans": [], "expires_at": now + timedelta(days=index % 120), "synced_at": now}
        for index in range(apps)
    ])
    certificate_ids = list(session.scalars(select(Certificate.id).order_by(Certificate.id)))
    session.execute(insert(Domain), [
        {"app_id": app_id, "name": f"app-{index:05d}.example.com", "certificate_id": certificate_ids[index]}
        for index, app_id in enumerate(app_ids)
    ])
    session.execute(insert(Database), [
        {"app_id": app_id, "cluster_id": cluster_ids[index % 4], "name": f"db_{index}", "username": f"db_{index}",
         "host": "pg-primary.example.com", "state": "ready", "created_at": now}
        for index, app_id in enumerate(app_ids) if index % 3 == 0
    ])
    session.execute(insert(Instance), [
        {"aws_id": f"i-{index:017x}", "aws_region": "eu-west-1", "name": f"node-{index:04d}",
         "role": ("deis", "postgres", "other")[index % 3], "cluster_id": cluster_ids[index % 4],
         "private_ip": f"10.{index // 65000}.{index // 250 % 256}.{index % 250 + 1}", "state": "running",
         "tags": {}, "synced_at": now}
        for index in range(instances)
    ])
    instance_ids = list(session.scalars(select(Instance.id).order_by(Instance.id)))
    session.execute(insert(LoadBalancer), [
        {"aws_region": "eu-west-1", "name": f"router-{number}", "kind": "classic",
         "dns_name": f"router-{number}.elb.amazonaws.com", "cluster_id": cluster_ids[number], "synced_at": now}
        for number in range(4)
    ])
    balancer_ids = list(session.scalars(select(LoadBalancer.id).order_by(LoadBalancer.id)))
    session.execute(insert(LoadBalancerMember), [
        {"load_balancer_id": balancer_ids[index % 4], "instance_id": instance_id}
        for index, instance_id in enumerate(instance_ids[:200])
    ])
    session.execute(insert(MaintenanceEvent), [
        {"instance_id": instance_id, "event_id": f"event-{index}", "code": "system-reboot", "completed": False,
         "not_before": now + timedelta(days=2), "first_seen_at": now}
        for index, instance_id in enumerate(instance_ids[::50])
    ])
    zone = DnsZone(cf_id="zone-1", name="example.com")
    session.add(zone)
    session.flush()
    rows = []
    for index in range(records):
        if index < apps:
            rows.append({"name": f"app-{index:05d}.example.com", "type": "CNAME",
                         "content": f"router-{index % 4}.elb.amazonaws.com", "load_balancer_id": balancer_ids[index % 4],
                         "app_id": app_ids[index]})
        else:
            target = index % len(instance_ids)
            rows.append({"name": f"host-{index}.example.com", "type": "A", "content": f"10.0.{index % 250}.1",
                         "instance_id": instance_ids[target], "dangling": index % 500 == 0})
    session.execute(insert(DnsRecord), [
        {"zone_id": zone.id, "cf_id": f"record-{index}", "ttl": 1, "proxied": False, "synced_at": now, **row}
        for index, row in enumerate(rows)
    ])
    session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=10000)
    parser.add_argument("--instances", type=int, default=1500)
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite'}"
    if not database_url.startswith("sqlite") and not any(word in database_url.rsplit("/", 1)[-1]
                                                            for word in ("bench", "test")):
        sys.exit("BENCH_DATABASE_URL must name a database containing 'bench' or 'test': it is wiped")
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(folder), "DATABASE_URL": database_url}
    if os.environ.get("REDIS_URL"):
        environ["REDIS_URL"] = os.environ["REDIS_URL"]
    app = create_app(Settings.from_env(environ), WTF_CSRF_ENABLED=False)
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        Base.metadata.create_all(db.engine)
        started = time.perf_counter()
        fill(args.apps, args.instances, args.records)
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as connection:  # fresh statistics, as autovacuum would give a live server
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        print(f"database ({db.engine.dialect.name}): {args.apps} apps, {args.instances} instances, "
              f"{args.records} records filled in {time.perf_counter() - started:.1f} s")
        accounts.create_user(db.session, "bench", "viewer", PASSWORD, actor="bench")
        some_app = db.session.scalar(select(App.id).where(App.name == f"app-{args.apps // 2:05d}"))
        some_instance = db.session.scalar(select(Instance.id).order_by(Instance.id))
        zone_id = db.session.scalar(select(DnsZone.id))
        cluster_id = db.session.scalar(select(Cluster.id).order_by(Cluster.id))
        balancer_id = db.session.scalar(select(LoadBalancer.id).order_by(LoadBalancer.id))
        member_id = db.session.scalar(select(LoadBalancerMember.instance_id).order_by(LoadBalancerMember.id))
        db.session.remove()

        statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute", lambda *arguments: statements.append(arguments[2]))
        client = app.test_client()
        client.post("/login", data={"username": "bench", "password": PASSWORD})
        pages = [
            ("apps list, page 1", "/apps/", {}),
            ("apps list, page 50, by owner desc", "/apps/?sort=owner&dir=desc&page=50", {}),
            ("apps live search (htmx)", "/apps/?q=app-0123", {"HX-Request": "true"}),
            ("apps filtered: database, drift", "/apps/?database=yes&drift=yes", {}),
            ("one app", f"/apps/{some_app}", {}),
            ("instances list", "/instances/", {}),
            ("instances without DNS record", "/instances/?dns=no", {}),
            ("one instance", f"/instances/{some_instance}", {}),
            ("DNS zones", "/dns/", {}),
            ("DNS zone records, dangling only", f"/dns/zones/{zone_id}?dangling=yes", {}),
            ("DNS zone records, page 100", f"/dns/zones/{zone_id}?page=100", {}),
            ("global search suggestions", "/search?q=app-01", {"HX-Request": "true"}),
            ("global search full page", "/search?q=10.0.1", {}),
            ("global search, near miss", "/search?q=app-0l234", {"HX-Request": "true"}),
            ("global search, pasted URL", "/search?q=https://app-01234.example.com/cart", {"HX-Request": "true"}),
            ("clusters", "/clusters/", {}),
            ("one cluster (2,500 apps), page 20", f"/clusters/{cluster_id}?page=20", {}),
            ("one load balancer", f"/load-balancers/{balancer_id}", {}),
            ("one instance behind a balancer", f"/instances/{member_id}", {}),
            ("sync page", "/sync/", {}),
        ]
        print(f"\n{'page':<40} {'median':>9} {'max':>9} {'SQL':>5}")
        for label, url, headers in pages:
            timings = []
            for _ in range(args.repeat):
                statements.clear()
                tick = time.perf_counter()
                response = client.get(url, headers=headers)
                timings.append(time.perf_counter() - tick)
                if response.status_code != 200:
                    sys.exit(f"{url} answered {response.status_code}")
            print(f"{label:<40} {statistics.median(timings) * 1000:7.1f}ms {max(timings) * 1000:7.1f}ms"
                  f" {len(statements):>5}")


if __name__ == "__main__":
    main()
