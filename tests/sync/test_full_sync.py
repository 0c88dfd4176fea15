"""One sync of the sandbox `test` scenario fills the database with every object and every relation."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import (App, Certificate, Cluster, DnsRecord, DnsZone, Domain, Instance, LoadBalancer,
                        LoadBalancerMember, MaintenanceEvent, Region, SyncRun)


def one(model, **where):
    return db.session.scalars(select(model).filter_by(**where)).one()


def test_one_sync_fills_every_table_and_relation(sync):
    runs, failures = sync()
    assert failures == []
    assert {(run.source, run.scope, run.status) for run in runs} == {
        ("deis", "eu-prod", "succeeded"), ("deis", "us-prod", "succeeded"), ("deis", "us-mon", "succeeded"),
        ("aws", "eu-west-1", "succeeded"), ("aws", "us-east-1", "succeeded"), ("cloudflare", "all", "succeeded"),
    }
    assert all(run.api_calls > 0 and run.created > 0 for run in runs)

    # Regions and clusters from configuration, with the monitoring relation.
    eu_prod = one(Cluster, name="eu-prod")
    assert eu_prod.region.name == "europe" and eu_prod.region.timezone == "Europe/Dublin"
    assert eu_prod.monitored_from.name == "us-mon" and eu_prod.kind == "production"
    assert db.session.scalar(select(func.count()).select_from(Region)) == 2

    # Apps with owner, type, structure, config and limits.
    assert db.session.scalar(select(func.count()).select_from(App)) == 8
    shop = one(App, name="shop")
    assert (shop.cluster.name, shop.owner, shop.app_type) == ("eu-prod", "alice", "web")
    assert shop.structure == {"web": 2, "worker": 1}
    assert shop.memory == {"web": "512M", "worker": "256M/512M"} and shop.cpu == {"web": "500m"}
    assert shop.config_values["RAILS_ENV"] == "production"
    assert one(App, name="landing").settings["maintenance"] is True

    # Domains with their certificates (the link only exists in the certificate's domain list).
    assert {d.name for d in shop.domains} >= {"www.example.com", "shop.example.com"}
    www = one(Domain, name="www.example.com")
    assert www.app.name == "shop" and www.certificate.name == "shop-example-com"
    assert www.certificate.expires_at is not None and www.certificate.cluster.name == "eu-prod"
    assert db.session.scalar(select(func.count()).select_from(Certificate)) == 3

    # Instances: role, cluster and PostgreSQL primary/replica from tags.
    assert db.session.scalar(select(func.count()).select_from(Instance)) == 9
    primary = one(Instance, name="eu-prod-pg-1")
    assert (primary.role, primary.cluster.name, primary.db_role) == ("postgres", "eu-prod", "primary")
    assert one(Instance, name="eu-prod-pg-2").db_role == "replica"
    assert primary.private_ip == "10.10.2.21"

    # Load balancers with members and cluster.
    elb = one(LoadBalancer, name="eu-prod-elb")
    assert elb.kind == "classic" and elb.cluster.name == "eu-prod"
    assert {m.instance.name for m in elb.members} == {"eu-prod-deis-1", "eu-prod-deis-2"}
    assert one(LoadBalancer, name="us-prod-alb").kind == "v2"
    assert db.session.scalar(select(func.count()).select_from(LoadBalancerMember)) >= 3

    # Maintenance events, one completed.
    events = db.session.scalars(select(MaintenanceEvent)).all()
    assert len(events) == 2 and sorted(e.completed for e in events) == [False, True]

    # DNS: zones, records and their relations.
    assert db.session.scalar(select(func.count()).select_from(DnsZone)) == 2
    deis_record = one(DnsRecord, name="eu-prod-deis-1.example.net")
    assert deis_record.instance.name == "eu-prod-deis-1" and not deis_record.dangling
    assert one(DnsRecord, name="primary.db.eu-prod.example.net").instance.name == "eu-prod-pg-1"
    www_record = one(DnsRecord, name="www.example.com")
    assert www_record.load_balancer.name == "eu-prod-elb" and www_record.app.name == "shop"
    assert one(DnsRecord, name="api.example.com").load_balancer.name == "us-prod-alb"
    dangling = db.session.scalars(select(DnsRecord.name).where(DnsRecord.dangling.is_(True))).all()
    assert dangling == ["old-build.example.net"]
    assert one(DnsRecord, name="example.net", type="TXT").dangling is False

    # An instance no record points at is visible as such.
    pointed = select(DnsRecord.instance_id).where(DnsRecord.instance_id.is_not(None))
    without_record = db.session.scalars(select(Instance.name).where(Instance.id.not_in(pointed))).all()
    assert without_record == ["chef-1"]
    assert db.session.scalar(select(func.count()).select_from(SyncRun)) == 6


def test_second_sync_over_unchanged_sandbox_writes_nothing(sync, data_writes):
    sync()
    data_writes.clear()
    runs, failures = sync()
    assert failures == []
    assert data_writes == []
    assert all(run.created == run.updated == run.deleted == 0 and run.unchanged > 0 for run in runs)


def test_unknown_scope_is_refused_before_anything_runs(clients):
    import pytest

    from app.sync import runner

    with pytest.raises(runner.UnknownScope, match="deis has no scope 'nowhere'; known: eu-prod, us-prod, us-mon"):
        runner.plan(clients, "deis", "nowhere")
    with pytest.raises(runner.UnknownScope, match="unknown source"):
        runner.plan(clients, "dropbox")
