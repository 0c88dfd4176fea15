"""Records follow their instance: a sync that sees an instance's address change flags the records still pointing at
the old address, and one plan repoints them; a replaced instance hands its records to another. Against the sandbox."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import DnsRecord, Instance
from app.operations import change_sets
from app.operations.change_sets import ChangeSetRefused
from app.operations.repoint import plan_follow, plan_repoint


def new_public_ip(demo, name: str) -> str:
    """Give the instance an Elastic IP, as AWS does when an address is reassigned; the old public IP is gone."""
    seeded = demo.sandbox.aws.instance(name)
    ec2 = demo.sandbox.aws.client("ec2", seeded.aws_region)
    address = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(InstanceId=seeded.instance_id, AllocationId=address["AllocationId"])
    return address["PublicIp"]


def host_record(demo, name: str) -> dict:
    return next(r for r in demo.records("platform-ops.net") if r["name"] == f"{name}.platform-ops.net")


def apply(demo, change_set):
    change_sets.request_apply(db.session, None, change_set, "alice")
    return change_sets.apply(db.session, demo.clients.cloudflare(), change_set.id)


def test_an_address_change_flags_the_records_and_one_plan_repoints_them(demo):
    old = host_record(demo, "eu-staging-deis-1")["content"]
    address = new_public_ip(demo, "eu-staging-deis-1")

    demo.sync("aws")

    flagged = db.session.scalars(select(DnsRecord).where(DnsRecord.follows_instance_id.is_not(None))).all()
    assert [(r.name, r.content, r.follows_instance.name) for r in flagged] == [
        ("eu-staging-deis-1.platform-ops.net", old, "eu-staging-deis-1")]

    applied = apply(demo, plan_follow(db.session, demo.clients.cloudflare(), "eu-staging-deis-1", "alice"))

    assert applied.state == "applied", applied.error
    assert host_record(demo, "eu-staging-deis-1")["content"] == address
    demo.sync("cloudflare")
    db.session.expire_all()
    record = db.session.scalar(select(DnsRecord).where(DnsRecord.name == "eu-staging-deis-1.platform-ops.net"))
    assert record.follows_instance_id is None and record.instance.name == "eu-staging-deis-1"


def test_a_replaced_instance_hands_its_records_to_another(demo):
    before = {r["id"]: r for r in demo.records("platform-ops.net")}
    target = host_record(demo, "eu-staging-deis-2")["content"]

    applied = apply(demo, plan_repoint(db.session, demo.clients.cloudflare(), "eu-staging-deis-1",
                                       "eu-staging-deis-2", "alice"))

    assert applied.state == "applied", applied.error
    after = {r["id"]: r for r in demo.records("platform-ops.net")}
    changed = [after[i] for i in before if after[i] != before[i]]
    assert [(r["name"], r["content"]) for r in changed] == [("eu-staging-deis-1.platform-ops.net", target)]


def test_repoint_to_a_terminated_instance_or_to_itself_is_refused(demo):
    cf = demo.clients.cloudflare()
    db.session.execute(update(Instance).where(Instance.name == "eu-staging-deis-2").values(state="terminated"))
    db.session.commit()
    with pytest.raises(ChangeSetRefused, match="eu-staging-deis-2 is terminated"):
        plan_repoint(db.session, cf, "eu-staging-deis-1", "eu-staging-deis-2", "alice")
    with pytest.raises(ChangeSetRefused, match="cannot take over its own records"):
        plan_repoint(db.session, cf, "eu-staging-deis-1", "eu-staging-deis-1", "alice")
    with pytest.raises(ChangeSetRefused, match="No instance called 'ghost'"):
        plan_repoint(db.session, cf, "ghost", "eu-staging-deis-1", "alice")
    with pytest.raises(ChangeSetRefused, match="No record follows an old address"):
        plan_follow(db.session, cf, "eu-staging-deis-1", "alice")


def test_dangling_records_are_deleted_or_repointed_and_nothing_else_is_touched(demo):
    from app.operations.dangling import dangling_records, plan_cleanup
    rows = {row.name: row for row in dangling_records(db.session)}
    assert {"old-jenkins.platform-ops.net", "vpn.platform-ops.net", "old-shop.northwind-shop.com"} <= set(rows)
    cf = demo.clients.cloudflare()
    with pytest.raises(ChangeSetRefused, match="cannot be pointed at an instance"):
        plan_cleanup(db.session, cf, [rows["old-shop.northwind-shop.com"].id], "alice", repoint_to="eu-mon-1")
    with pytest.raises(ChangeSetRefused, match="Choose at least one dangling record"):
        plan_cleanup(db.session, cf, [host.id for host in db.session.scalars(
            select(DnsRecord).where(DnsRecord.dangling.is_(False)))], "alice")
    before = {r["id"]: r for r in demo.records("platform-ops.net")}

    applied = apply(demo, plan_cleanup(db.session, cf, [rows["vpn.platform-ops.net"].id], "alice",
                                       repoint_to="eu-mon-1"))

    assert applied.state == "applied", applied.error
    after = {r["id"]: r for r in demo.records("platform-ops.net")}
    changed = [after[i] for i in before if after[i] != before[i]]
    assert [(r["name"], r["content"]) for r in changed] == [
        ("vpn.platform-ops.net", host_record(demo, "eu-mon-1")["content"])]
