"""`flask dns ...` as an operator types it, in a subprocess against the demo sandbox and the suite's database."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from sqlalchemy import select

from app.extensions import db
from app.models import ChangeSet, LoadBalancer
from app.queues import redis_url
from tests.operations.conftest import demo, demo_scenario  # noqa: F401 (fixtures)

SHAPE = ("name", "type", "content", "ttl", "proxied", "comment")


def flask(settings, world, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **world.sandbox.env(), "ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir),
           "DATABASE_URL": settings.database_url, "REDIS_URL": redis_url(), "SECRET_KEY": settings.secret_key}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "dns", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def shapes(world, zone: str) -> list[tuple]:
    return sorted(tuple(record[field] for field in SHAPE) for record in world.records(zone))


def test_switch_apply_wait_then_rollback_wait_from_the_command_line(app, settings, demo):
    before = shapes(demo, "northwind-shop.com")
    staging = db.session.scalar(select(LoadBalancer.dns_name).where(LoadBalancer.name == "eu-staging-elb")).lower()

    dry = flask(settings, demo, "switch", "--from", "eu-prod", "--to", "eu-staging", "--zone", "northwind-shop.com")
    assert dry.returncode == 0, dry.stderr
    assert "update CNAME www.northwind-shop.com: " in dry.stdout and f"→ {staging}" in dry.stdout
    assert "CNAME staging.northwind-shop.com" not in dry.stdout  # it serves eu-staging already
    assert "change set " not in dry.stdout and shapes(demo, "northwind-shop.com") == before

    done = flask(settings, demo, "switch", "--from", "eu-prod", "--to", "eu-staging", "--zone",
                 "northwind-shop.com", "--apply", "--wait")
    assert done.returncode == 0, done.stderr
    change_set_id = int(re.search(r"^change set (\d+)$", done.stdout, re.M).group(1))
    assert f"change set {change_set_id}: applied" in done.stdout
    moved = [record for record in demo.records("northwind-shop.com") if record["content"] == staging]
    assert len(moved) == 8  # seven eu-prod names plus staging.northwind-shop.com, which was there already

    listing = flask(settings, demo, "change-sets")
    assert re.search(rf"#{change_set_id}\s+cluster_switch\s+applied\s+7 changes", listing.stdout), listing.stdout

    undone = flask(settings, demo, "rollback", str(change_set_id), "--wait")
    assert undone.returncode == 0, undone.stderr
    assert shapes(demo, "northwind-shop.com") == before
    db.session.expire_all()
    assert db.session.get(ChangeSet, change_set_id).state == "rolled_back"


def test_bad_input_gets_a_clear_refusal_and_changes_nothing(app, settings, demo):
    before = shapes(demo, "platform-ops.net")
    itself = flask(settings, demo, "switch", "--from", "eu-prod", "--to", "eu-prod", "--apply")
    assert itself.returncode == 1 and "A cluster cannot be switched to itself (eu-prod)." in itself.stderr
    no_lb = flask(settings, demo, "switch", "--from", "eu-prod", "--to", "eu-mon")
    assert no_lb.returncode == 1 and "Cluster eu-mon has no load balancer" in no_lb.stderr
    ghost = flask(settings, demo, "repoint", "--from", "eu-prod-deis-1", "--to", "ghost", "--apply")
    assert ghost.returncode == 1 and "No instance called 'ghost'." in ghost.stderr
    unknown = flask(settings, demo, "rollback", "999")
    assert unknown.returncode == 1 and "No change set #999." in unknown.stderr
    assert shapes(demo, "platform-ops.net") == before
