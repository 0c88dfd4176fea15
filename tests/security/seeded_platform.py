"""One small platform in the panel's database, with a real row behind every variable of every route.

The authorization matrix fills each route's URL from `url_values`, so a rule is checked against an object that
exists (a 404 would otherwise hide a missing check). Objects that an admin's request destroys or changes (a limit
set deleted, an internal tool removed, a role changed) are seeded only for that route.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from sqlalchemy.orm import Session

from app.models import Alert, ChangeSet, ChangeSetItem, InternalTool
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


def seed(session: Session) -> SeededPlatform:
    """Create the rows; returns the values to put into URLs and the Chef client's token."""
    monitor = make.cluster(session, name="eu-mon", kind=MONITORING_KIND)
    cluster = make.cluster(session, name="eu-prod", monitored_from=monitor)
    shop = make.app(session, name="shop", cluster_row=cluster, owner="dev-shop")
    blog = make.app(session, name="blog", cluster_row=cluster, owner="dev-blog")
    database = make.database(session, shop, name="shop_db")
    backup = make.backup(session, database)
    make.certificate(session, cluster, "shop.example.com")
    zone = make.zone(session, "example.com")
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
    _, chef_token = api_clients.create_client(session, "chef", ["monit:read"], actor="seed")
    revocable_client, _ = api_clients.create_client(session, "spare", ["monit:read"], actor="seed")
    session.flush()
    values = {
        "alert_id": alert.id, "app_id": shop.id, "backup_id": backup.id, "change_set_id": change_set.id,
        "instance_id": instance.id, "monitor": monitor.name, "monitor_id": monitor.id, "zone_id": zone.id,
        "limit_set_id": limit_set.id, "tool_id": tool.id, "client_id": revocable_client.id, "run_id": run.id,
        "job_id": "no-such-job", "user_id": other_user.id, "filename": "panel.css",
        # Seeded for the one route that destroys it.
        "limits.delete:limit_set_id": doomed_limit_set.id,
    }
    return SeededPlatform(url_values={key: str(value) for key, value in values.items()}, chef_token=chef_token,
                          app_name=shop.name, other_app_name=blog.name, controller_url=cluster.controller_url,
                          developer_tokens={"developer_of_the_app": "deis-token-of-dev-shop",
                                            "developer_of_another_app": "deis-token-of-dev-blog"})
