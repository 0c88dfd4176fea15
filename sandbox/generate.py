"""The `large` scenario generator: thousands of apps, records and instances for benchmarks.

`generate_large()` builds a valid `Scenario` deterministically from a seed: four regions with production, staging
and monitoring clusters, a PostgreSQL primary and replica per production and staging cluster, a load balancer per
cluster that serves apps, one A record per instance (a few left without), CNAMEs to the load balancers, app domain
records, dangling records and filler TXT records up to the exact count asked. Run as a module to write it as YAML:

    python -m sandbox.generate --apps 5000 --records 30000 --instances 1500 -o large.yaml
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import yaml

from sandbox.scenario import Scenario, ScenarioError, parse

REGIONS = (
    ("europe", "eu-west-1", "Europe/Dublin", 3),
    ("north-america", "us-east-1", "America/New_York", 3),
    ("singapore", "ap-southeast-1", "Asia/Singapore", 2),
    ("india", "ap-south-1", "Asia/Kolkata", 2),
)
REGION_SHORT = {"europe": "eu", "north-america": "us", "singapore": "sg", "india": "in"}
BRANDS = (
    "northwind",
    "contoso",
    "fabrikam",
    "tailspin",
    "wingtip",
    "litware",
    "proseware",
    "woodgrove",
    "lucerne",
    "alpine",
    "coho",
    "blueyonder",
    "wideworld",
    "treyresearch",
    "humongous",
    "fourthcoffee",
    "margies",
    "adatum",
    "relecloud",
    "southridge",
    "graphicdesign",
    "vanarsdel",
    "bellows",
    "cronus",
    "datum",
    "fineartschool",
)
TLDS = ("com", "net", "io", "in", "co.uk", "sg")
APP_WORDS = (
    "storefront",
    "checkout",
    "catalog",
    "search",
    "payments",
    "ledger",
    "mailer",
    "notifier",
    "inventory",
    "orders",
    "billing",
    "invoices",
    "reports",
    "analytics",
    "images",
    "uploads",
    "auth",
    "accounts",
    "loyalty",
    "booking",
    "fares",
    "partners",
    "support",
    "status",
    "webhooks",
    "scheduler",
    "exports",
    "imports",
    "pricing",
    "reviews",
)
APP_SUFFIXES = ("", "api", "worker", "web", "cron", "admin", "sync")
APP_TYPES = {
    "": "web",
    "api": "api",
    "worker": "worker",
    "web": "web",
    "cron": "cron",
    "admin": "web",
    "sync": "worker",
}
STRUCTURE = {"web": {"web": 2}, "api": {"web": 3}, "worker": {"worker": 2}, "cron": {"cron": 1}}
MEMORY = {"web": {"web": "512M"}, "api": {"web": "768M"}, "worker": {"worker": "256M/512M"}, "cron": {"cron": "128M"}}
CPU = {"web": {"web": "500m"}, "api": {"web": "250m/1000m"}, "worker": {"worker": "250m"}, "cron": {}}
MAINTENANCE_CODES = ("system-reboot", "instance-reboot", "system-maintenance", "instance-retirement", "instance-stop")


def generate_large(apps: int = 5000, records: int = 30000, instances: int = 1500, seed: int = 1) -> Scenario:
    """Build a large valid scenario with exactly `apps` apps, `records` DNS records and `instances` instances."""
    if apps < 0 or records < 0 or instances < 0:
        raise ScenarioError("generate_large: apps, records and instances must not be negative")
    return parse(large_document(apps, records, instances, seed), source=f"large(apps={apps}, records={records})")


def large_document(apps: int, records: int, instances: int, seed: int) -> dict[str, Any]:
    """The large scenario as a plain document (what `-o FILE` writes)."""
    rng = random.Random(seed)
    regions, clusters = _regions()
    users = _users(max(10, apps // 25), rng)
    usernames = [user["username"] for user in users]
    serving = [c for c in clusters if c["kind"] != "monitoring"]
    instance_rows = _instances(instances, clusters, rng)
    balancers = _load_balancers(serving, instance_rows)
    balancer_of = {lb["cluster"]: lb["name"] for lb in balancers}
    zones = [f"{brand}.{tld}" for brand in BRANDS for tld in TLDS]
    zone_count = max(3, min(len(zones), records // 1500 + 1))
    app_zones = zones[: zone_count - 1]
    app_rows = _apps(apps, serving, clusters, usernames, app_zones, rng)
    certificates = _certificates(app_rows, rng)
    zone_records = _records(records, instance_rows, balancers, balancer_of, app_rows, app_zones, rng)
    return {
        "name": "large",
        "panel_user": {"username": "admin-panel", "password": "admin-panel-large-password", "admin": True},
        "users": users,
        "regions": regions,
        "apps": app_rows,
        "certificates": certificates,
        "instances": instance_rows,
        "load_balancers": balancers,
        "cloudflare": {
            "token": "sandbox-cloudflare-token",
            "rate_limit_requests": 1200,
            "rate_limit_window_seconds": 300,
        },
        "zones": [{"name": name, "records": rows} for name, rows in zone_records.items()],
    }


def _regions() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    regions: list[dict[str, Any]] = []
    clusters: list[dict[str, Any]] = []
    short_names = [REGION_SHORT[name] for name, *_ in REGIONS]
    for position, (name, aws_region, timezone, backup_hour) in enumerate(REGIONS):
        short = REGION_SHORT[name]
        # Each production cluster is watched from the monitoring cluster of the next region.
        watcher = f"{short_names[(position + 1) % len(short_names)]}-mon"
        rows = [
            {"name": f"{short}-prod-1", "kind": "production", "monitored_from": watcher},
            {"name": f"{short}-prod-2", "kind": "production", "monitored_from": watcher},
            {"name": f"{short}-staging", "kind": "staging"},
            {"name": f"{short}-mon", "kind": "monitoring"},
        ]
        for row in rows:
            if row["kind"] != "monitoring":
                row["load_balancer"] = f"{row['name']}-lb"
            clusters.append({**row, "aws_region": aws_region})
        regions.append(
            {"name": name, "aws_region": aws_region, "timezone": timezone, "backup_hour": backup_hour, "clusters": rows}
        )
    return regions, clusters


def _users(count: int, rng: random.Random) -> list[dict[str, Any]]:
    first = ("anna", "ben", "chen", "dmitri", "emma", "farid", "grace", "hiro", "ines", "jonas", "kate", "liam")
    users = []
    for number in range(count):
        name = f"{first[number % len(first)]}{number // len(first) + 1}"
        users.append({"username": name, "password": f"{name}-password", "admin": number % 40 == 0})
    rng.shuffle(users)
    return users


def _instances(count: int, clusters: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """PostgreSQL pairs and monitoring nodes first (while the budget lasts), then Deis nodes round-robin."""
    rows: list[dict[str, Any]] = []
    counters: dict[str, int] = {}

    def add(cluster: dict[str, Any] | None, role: str, aws_region: str, **extra: Any) -> None:
        if len(rows) >= count:
            return
        prefix = cluster["name"] if cluster else f"{role}-{aws_region}"
        key = f"{prefix}-{role}"
        counters[key] = counters.get(key, 0) + 1
        row = {"name": f"{key}-{counters[key]}", "aws_region": aws_region, "role": role, **extra}
        if cluster:
            row["cluster"] = cluster["name"]
        rows.append(row)

    for cluster in clusters:
        if cluster["kind"] == "monitoring":
            add(cluster, "monitoring", cluster["aws_region"], instance_type="t3.medium")
        else:
            add(cluster, "pg", cluster["aws_region"], db_role="primary", instance_type="r5.xlarge")
            add(cluster, "pg", cluster["aws_region"], db_role="replica", instance_type="r5.xlarge")
    add(None, "chef", "eu-west-1", instance_type="t3.medium")
    serving = [c for c in clusters if c["kind"] != "monitoring"]
    position = 0
    while len(rows) < count:
        add(serving[position % len(serving)], "deis", serving[position % len(serving)]["aws_region"])
        position += 1
    for row in rows:
        if row["role"] == "pg":
            row["role"] = "postgres"
        elif row["role"] == "deis" and rng.random() < 0.02:
            row["state"] = "stopped"
        if rng.random() < 0.01:
            completed = rng.random() < 0.3
            row["events"] = [
                {
                    "code": rng.choice(MAINTENANCE_CODES),
                    "description": "scheduled maintenance on the underlying host",
                    "not_before_in_days": round(rng.uniform(-5, -1) if completed else rng.uniform(0.5, 14), 2),
                    "duration_hours": 2,
                    "completed": completed,
                }
            ]
    return rows


def _load_balancers(serving: list[dict[str, Any]], instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    members: dict[str, list[str]] = {}
    for row in instances:
        if row["role"] == "deis":
            members.setdefault(row["cluster"], []).append(row["name"])
    balancers = []
    for position, cluster in enumerate(serving):
        balancer = {
            "name": cluster["load_balancer"],
            "aws_region": cluster["aws_region"],
            "kind": "classic" if position % 2 == 0 else "v2",
            "cluster": cluster["name"],
            "instances": members.get(cluster["name"], []),
        }
        if balancer["kind"] == "v2":
            balancer["v2_type"] = "application" if position % 4 == 1 else "network"
        balancers.append(balancer)
    return balancers


def _apps(
    count: int,
    serving: list[dict[str, Any]],
    clusters: list[dict[str, Any]],
    usernames: list[str],
    app_zones: list[str],
    rng: random.Random,
) -> list[dict[str, Any]]:
    monitoring = [c for c in clusters if c["kind"] == "monitoring"]
    rows = []
    for number in range(count):
        word = APP_WORDS[number % len(APP_WORDS)]
        suffix = APP_SUFFIXES[(number // len(APP_WORDS)) % len(APP_SUFFIXES)]
        name = "-".join(part for part in (word, suffix, str(number)) if part)
        # One app in fifty is a probe on a monitoring cluster; the rest spread over the serving clusters.
        cluster = monitoring[number % len(monitoring)] if number % 50 == 49 else serving[number % len(serving)]
        app_type = "monitoring" if cluster["kind"] == "monitoring" else APP_TYPES[suffix]
        kind = "web" if app_type == "monitoring" else app_type
        config = {"APP_ENV": cluster["kind"], "LOG_LEVEL": rng.choice(("info", "warn", "debug"))}
        if kind != "cron":
            config["DATABASE_URL"] = (
                f"postgres://{name.replace('-', '_')}:{rng.getrandbits(64):016x}"
                f"@primary.db.{cluster['name']}.platform-ops.net:5432/{name.replace('-', '_')}"
            )
        if kind == "api":
            config["API_KEY"] = f"sk_live_{rng.getrandbits(96):024x}"
        app: dict[str, Any] = {
            "name": name,
            "cluster": cluster["name"],
            "owner": usernames[number % len(usernames)],
            "app_type": app_type,
            "structure": dict(STRUCTURE[kind]),
            "config": config,
        }
        if rng.random() < 0.9:  # the rest lag behind the desired limits: drift for the limits job
            app["memory"] = dict(MEMORY[kind])
            if CPU[kind]:
                app["cpu"] = dict(CPU[kind])
        if kind in ("web", "api") and app_type != "monitoring" and app_zones:
            app["domains"] = [f"{name}.{app_zones[number % len(app_zones)]}"]
        if rng.random() < 0.1:
            app["shared_with"] = [usernames[(number + 7) % len(usernames)]]
        rows.append(app)
    return rows


def _certificates(apps: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    with_domains = [app for app in apps if app.get("domains")]
    for position, app in enumerate(with_domains[::10]):
        domain = app["domains"][0]
        roll = rng.random()
        expires = rng.randint(-10, -1) if roll < 0.03 else rng.randint(1, 13) if roll < 0.1 else rng.randint(20, 360)
        rows.append(
            {
                "name": f"cert-{position}-{app['name']}"[:60].rstrip("-"),
                "cluster": app["cluster"],
                "common_name": domain,
                "sans": [domain],
                "starts_days_ago": rng.randint(5, 300),
                "expires_in_days": expires,
                "domains": [domain],
            }
        )
    return rows


def _records(
    count: int,
    instances: list[dict[str, Any]],
    balancers: list[dict[str, Any]],
    balancer_of: dict[str, str],
    apps: list[dict[str, Any]],
    app_zones: list[str],
    rng: random.Random,
) -> dict[str, list[dict[str, Any]]]:
    """Exactly `count` records: instances, load balancers, app domains, dangling ones, then TXT filler."""
    infra_zone = "platform-ops.net"
    wanted: list[tuple[str, dict[str, Any]]] = []
    for row in instances:
        if rng.random() < 0.03:
            continue  # an instance with no record: the panel should point it out
        record = {"name": f"{row['name']}.{infra_zone}", "type": "A", "instance": row["name"]}
        if row["role"] == "postgres":
            record["ip"] = "private"
        wanted.append((infra_zone, record))
    for balancer in balancers:
        cluster = balancer["cluster"]
        wanted.append(
            (infra_zone, {"name": f"{cluster}.{infra_zone}", "type": "CNAME", "load_balancer": balancer["name"]})
        )
        wanted.append(
            (infra_zone, {"name": f"*.{cluster}.{infra_zone}", "type": "CNAME", "load_balancer": balancer["name"]})
        )
        primary = next((r for r in instances if r.get("cluster") == cluster and r.get("db_role") == "primary"), None)
        if primary is not None:
            wanted.append(
                (
                    infra_zone,
                    {
                        "name": f"primary.db.{cluster}.{infra_zone}",
                        "type": "A",
                        "instance": primary["name"],
                        "ip": "private",
                        "ttl": 60,
                    },
                )
            )
    for app in apps:
        for domain in app.get("domains", []):
            zone = domain.split(".", 1)[1]
            wanted.append(
                (
                    zone,
                    {
                        "name": domain,
                        "type": "CNAME",
                        "load_balancer": balancer_of[app["cluster"]],
                        "proxied": rng.random() < 0.7,
                    },
                )
            )
    zones_for_filler = [infra_zone, *app_zones]
    dangling = max(1, count // 100)
    for number in range(dangling):
        zone = zones_for_filler[number % len(zones_for_filler)]
        wanted.append(
            (
                zone,
                {
                    "name": f"old-{number}.{zone}",
                    "type": "A",
                    "content": f"198.51.{100 + number // 250 % 2}.{number % 250 + 1}",
                    "comment": "left over from a decommissioned server",
                },
            )
        )
    number = 0
    while len(wanted) < count:
        zone = zones_for_filler[number % len(zones_for_filler)]
        wanted.append(
            (
                zone,
                {
                    "name": f"_verify-{number}.{zone}",
                    "type": "TXT",
                    "content": f"site-verification={rng.getrandbits(64):016x}",
                },
            )
        )
        number += 1
    by_zone: dict[str, list[dict[str, Any]]] = {zone: [] for zone in zones_for_filler}
    for zone, record in wanted[:count]:
        by_zone[zone].append(record)
    return by_zone


def main(argv: list[str] | None = None) -> int:
    """CLI: write a generated large scenario as YAML."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=5000)
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--instances", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-o", "--output", type=Path, required=True, help="YAML file to write")
    options = parser.parse_args(argv)
    try:
        scenario = generate_large(options.apps, options.records, options.instances, options.seed)
    except ScenarioError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    document = scenario.model_dump(mode="json", exclude_defaults=True)
    options.output.write_text(yaml.safe_dump(document, sort_keys=False, width=120))
    print(
        f"wrote {options.output}: {len(scenario.apps)} apps, "
        f"{sum(len(zone.records) for zone in scenario.zones)} records, {len(scenario.instances)} instances"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
