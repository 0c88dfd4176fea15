"""Row factories for page tests: each builds one row directly with the ORM (parents made on demand), flushed.

Use as `from tests import factories as make` then `make.app(db_session, name="shop")`; the test commits.
"""
from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.models import (
    App, Backup, Certificate, Cluster, Database, DnsRecord, DnsZone, Domain, Instance, LimitSet, LoadBalancer,
    LoadBalancerMember, MaintenanceEvent, Region, SyncRun, utcnow,
)

_sequence = itertools.count(1)


def _next() -> int:
    return next(_sequence)


def _saved(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def region(session: Session, name: str | None = None, aws_region: str = "eu-west-1", **fields: Any) -> Region:
    return _saved(session, Region(name=name or f"region-{_next()}", aws_region=aws_region,
                                  timezone=fields.pop("timezone", "Europe/Dublin"), **fields))


def cluster(session: Session, name: str | None = None, region_row: Region | None = None, **fields: Any) -> Cluster:
    name = name or f"cluster-{_next()}"
    return _saved(session, Cluster(
        name=name, region=region_row or region(session), kind=fields.pop("kind", "production"),
        controller_url=fields.pop("controller_url", f"http://deis.{name}.test"), **fields,
    ))


def app(session: Session, name: str | None = None, cluster_row: Cluster | None = None, **fields: Any) -> App:
    defaults: dict[str, Any] = {"owner": "dev", "app_type": "web", "structure": {"web": 1}, "config_values": {},
                                "memory": {}, "cpu": {}}
    defaults.update(fields)
    return _saved(session, App(name=name or f"app-{_next()}", cluster=cluster_row or cluster(session),
                               uuid=str(uuid.uuid4()), **defaults))


def certificate(session: Session, cluster_row: Cluster, common_name: str, expires_in: timedelta = timedelta(days=90),
                **fields: Any) -> Certificate:
    now = utcnow()
    return _saved(session, Certificate(
        cluster=cluster_row, name=fields.pop("name", common_name.replace("*", "wildcard").replace(".", "-")),
        common_name=common_name, sans=[common_name], starts_at=now - timedelta(days=30), expires_at=now + expires_in,
        issuer=fields.pop("issuer", "Let's Encrypt R3"), **fields,
    ))


def domain(session: Session, app_row: App, name: str, certificate_row: Certificate | None = None) -> Domain:
    return _saved(session, Domain(app=app_row, name=name, certificate=certificate_row))


def limit_set(session: Session, cluster_row: Cluster, app_type: str = "web", memory: dict | None = None,
              cpu: dict | None = None) -> LimitSet:
    return _saved(session, LimitSet(cluster=cluster_row, app_type=app_type, memory=memory or {}, cpu=cpu or {}))


def instance(session: Session, name: str | None = None, **fields: Any) -> Instance:
    number = _next()
    defaults: dict[str, Any] = {
        "aws_id": f"i-{number:017x}", "aws_region": "eu-west-1", "role": "deis", "state": "running",
        "private_ip": f"10.0.{number // 250}.{number % 250 + 1}", "availability_zone": "eu-west-1a",
        "instance_type": "m5.large", "launched_at": utcnow() - timedelta(days=10), "tags": {},
    }
    defaults.update(fields)
    return _saved(session, Instance(name=name if name is not None else f"node-{number}", **defaults))


def load_balancer(session: Session, name: str | None = None, members: list[Instance] = (), **fields: Any
                  ) -> LoadBalancer:
    name = name or f"lb-{_next()}"
    defaults: dict[str, Any] = {"aws_region": "eu-west-1", "kind": "classic",
                                "dns_name": f"{name}-123.eu-west-1.elb.amazonaws.com"}
    defaults.update(fields)
    balancer = _saved(session, LoadBalancer(name=name, **defaults))
    for member_instance in members:
        member(session, balancer, member_instance)
    return balancer


def member(session: Session, balancer: LoadBalancer, instance_row: Instance, health: str = "InService"
           ) -> LoadBalancerMember:
    return _saved(session, LoadBalancerMember(load_balancer=balancer, instance=instance_row, health=health))


def maintenance_event(session: Session, instance_row: Instance, code: str = "system-reboot",
                      starts_in: timedelta = timedelta(days=3), completed: bool = False, **fields: Any
                      ) -> MaintenanceEvent:
    not_before = utcnow() + starts_in
    return _saved(session, MaintenanceEvent(
        instance=instance_row, event_id=f"instance-event-{_next():08x}", code=code,
        description=fields.pop("description", "The instance is scheduled for a reboot"),
        not_before=not_before, not_after=not_before + timedelta(hours=2), completed=completed, **fields,
    ))


def zone(session: Session, name: str | None = None) -> DnsZone:
    return _saved(session, DnsZone(cf_id=uuid.uuid4().hex, name=name or f"zone-{_next()}.test"))


def record(session: Session, zone_row: DnsZone, name: str, type: str = "A", content: str = "192.0.2.1",
           **fields: Any) -> DnsRecord:
    return _saved(session, DnsRecord(zone=zone_row, cf_id=uuid.uuid4().hex, name=name, type=type, content=content,
                                     modified_on=fields.pop("modified_on", utcnow() - timedelta(days=1)), **fields))


def database(session: Session, app_row: App | None, name: str | None = None, **fields: Any) -> Database:
    name = name or f"db_{_next()}"
    cluster_row = fields.pop("cluster", None) or (app_row.cluster if app_row else cluster(session))
    defaults: dict[str, Any] = {"username": name, "host": f"pg.{cluster_row.name}.test", "state": "ready"}
    defaults.update(fields)
    return _saved(session, Database(app=app_row, cluster=cluster_row, name=name, **defaults))


def backup(session: Session, database_row: Database, started_at: datetime | None = None, **fields: Any) -> Backup:
    started_at = started_at or utcnow() - timedelta(hours=_next())
    defaults: dict[str, Any] = {"kind": "scheduled", "state": "succeeded", "size_bytes": 5 * 1024 * 1024,
                                "finished_at": started_at + timedelta(minutes=2)}
    defaults.update(fields)
    return _saved(session, Backup(database=database_row, started_at=started_at, **defaults))


def sync_run(session: Session, source: str = "deis", scope: str = "all", status: str = "succeeded",
             **fields: Any) -> SyncRun:
    started_at = fields.pop("started_at", utcnow() - timedelta(minutes=5))
    finished_at = fields.pop("finished_at", started_at + timedelta(seconds=42) if status != "running" else None)
    return _saved(session, SyncRun(source=source, scope=scope, status=status, started_at=started_at,
                                   finished_at=finished_at, **fields))
