"""One small platform in the panel's database, with a real row behind every variable of every route.

It goes on top of the sandbox's test scenario as a Deis sync leaves it (eu-prod with alice's shop, bob's billing),
so the developer tokens are real Deis tokens whose visibility the controller decides.

The authorization matrix fills each route's URL from `url_values`, so a rule is checked against an object that
exists (a 404 would otherwise hide a missing check). Objects that an admin's request destroys or changes (a limit
set deleted, an internal tool removed, a role changed) are seeded only for that route.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (Alert, App, ChangeSet, ChangeSetItem, Cluster, DnsZone, InternalTool, Operation,
                        SyncRequest)
from app.models.monitoring import MONITORING_KIND
from app.operations import accounts, api_clients
from tests import factories as make

PASSWORD = "correct horse battery staple"


@dataclass
class SeededPlatform:
    url_values: dict[str, str] = field(default_factory=dict)
    chef_token: str = ""
    app_name: str = ""
    other_app_name: str = ""
    # Deis tokens of a developer of the app and of one of another app, and the controller they belong to.
    developer_tokens: dict[str, str] = field(default_factory=dict)
    controller_url: str = ""


def _named(session: Session, model, name: str):
    return session.scalar(select(model).where(model.name == name))


def seed(session: Session, sandbox=None) -> SeededPlatform:
    """Create the rows (on the synced scenario's, when there are); returns the values to put into URLs, the Chef
    client's token and, with `sandbox`, the Deis tokens of alice (shop's owner) and bob (who may not see shop)."""
    monitor = (session.scalar(select(Cluster).where(Cluster.kind == MONITORING_KIND).order_by(Cluster.id).limit(1))
               or make.cluster(session, name="eu-mon", kind=MONITORING_KIND))
    cluster = _named(session, Cluster, "eu-prod") or make.cluster(session, name="eu-prod", monitored_from=monitor)
    shop = _named(session, App, "shop") or make.app(session, name="shop", cluster_row=cluster, owner="alice")
    blog = _named(session, App, "blog") or make.app(session, name="blog", cluster_row=cluster, owner="alice")
    database = make.database(session, shop, name="shop_db", dbapi_id="5a1e0000-0000-4000-8000-000000000001")
    backup = make.backup(session, database, kind="manual", dbapi_backup_id="5a1e0000-0000-4000-8000-000000000002")
    operation = Operation(kind="backup.capture", state="succeeded", target_type="backup", target_id=str(backup.id),
                          target=f"{cluster.name}/{shop.name}", requested_by="seed")
    session.add(operation)
    make.certificate(session, cluster, "shop.example.com", name="matrix-shop-example-com")
    zone = _named(session, DnsZone, "example.com") or make.zone(session, "example.com")
    record = make.record(session, zone, "shop.example.com", type="CNAME", content="eu-prod.example.net")
    instance = make.instance(session, name="deis-1")
    limit_set = make.limit_set(session, cluster, "web", memory={"web": "512M"})
    doomed_limit_set = make.limit_set(session, cluster, "worker", memory={"worker": "256M"})
    run = make.sync_run(session, status="needs_confirmation", pending_deletions={"apps": {"would_delete": 1}})
    tool = InternalTool(name="grafana", url="https://grafana.example.com/")
    alert = Alert(kind="certificate", dedup_key="certificate:shop.example.com", message="Expires in 6 days",
                  target_type="certificate", target="shop.example.com")
    change_set = ChangeSet(kind="repoint", state="planned", created_by="seed", description="repoint shop")
    change_set.items.append(ChangeSetItem(
        zone_cf_id=zone.cf_id, record_cf_id=record.cf_id, action="update", zone_name=zone.name,
        before={"name": record.name, "type": "CNAME", "content": record.content, "proxied": False, "ttl": 300},
        after={"name": record.name, "type": "CNAME", "content": "eu-staging.example.net", "proxied": False,
               "ttl": 300}))
    session.add_all([tool, alert, change_set])
    other_user, _ = accounts.create_user(session, "someone-else", "viewer", PASSWORD, actor="seed")
    doomed_user, _ = accounts.create_user(session, "leaving-soon", "viewer", PASSWORD, actor="seed")
    balancer = make.load_balancer(session, name="matrix-lb", members=[instance])
    sync_request = SyncRequest(title="Sync everything", requested_by="seed", status="succeeded")
    session.add(sync_request)
    _, chef_token = api_clients.create_client(session, "chef", ["monit:read"], actor="seed")
    revocable_client, _ = api_clients.create_client(session, "spare", ["monit:read"], actor="seed")
    session.flush()
    values = {"app": shop.name, "operation_id": operation.id,
        "alert_id": alert.id, "app_id": shop.id, "backup_id": backup.id, "change_set_id": change_set.id,
        "instance_id": instance.id, "monitor": monitor.name, "monitor_id": monitor.id, "zone_id": zone.id,
        "limit_set_id": limit_set.id, "tool_id": tool.id, "client_id": revocable_client.id, "run_id": run.id,
        "job_id": "no-such-job", "user_id": other_user.id, "filename": "panel.css",
        # Seeded for the one route that destroys it.
        "limits.delete:limit_set_id": doomed_limit_set.id, "users.delete:user_id": doomed_user.id,
        "cluster_id": cluster.id, "load_balancer_id": balancer.id, "request_id": sync_request.id,
    }
    return SeededPlatform(url_values={key: str(value) for key, value in values.items()}, chef_token=chef_token,
                          app_name=shop.name, other_app_name=blog.name,
                          controller_url=sandbox.deis_url("eu-prod") if sandbox else cluster.controller_url,
                          developer_tokens={
                              "developer_of_the_app": sandbox.deis["eu-prod"].token_for("alice") if sandbox
                              else "not-a-deis-token-alice",
                              "developer_of_another_app": sandbox.deis["eu-prod"].token_for("bob") if sandbox
                              else "not-a-deis-token-bob"})
