"""A cluster switch of the demo platform (eu-prod → eu-staging) against the sandbox: the plan moves exactly the records
that serve eu-prod, the apply goes through Cloudflare's batch endpoint, rollback restores every record exactly, and
faults (a record changed behind the panel's back, lost answers, a 429 storm) end in a consistent, visible state."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import AuditEvent, ChangeSet, Instance, LoadBalancer, LoadBalancerMember
from app.operations import change_sets
from app.operations.change_sets import ChangeSetRefused
from app.operations.cluster_switch import plan_switch
from app.queues import queue

ZONES = ("platform-ops.net", "northwind-shop.com", "contoso-pay.com", "tailspin-travel.com", "fabrikam.in")
KEPT = ("name", "type", "content", "ttl", "proxied", "comment", "tags")


def everything(demo) -> dict[str, dict]:
    return {record["id"]: record for zone in ZONES for record in demo.records(zone)}


def shape(record: dict) -> tuple:
    return tuple(record[field] if field != "tags" else tuple(record[field]) for field in KEPT)


def lb_dns(name: str) -> str:
    return db.session.scalar(select(LoadBalancer.dns_name).where(LoadBalancer.name == name))


def ip_of(name: str) -> str:
    return db.session.scalar(select(Instance.public_ip).where(Instance.name == name))


@pytest.fixture
def sync_queue(app):
    sync = queue("sync")
    sync.empty()
    yield sync
    sync.empty()


@pytest.fixture
def edge(demo):
    """An A set serving eu-prod (its first Deis instance), next to the instances' own host records."""
    demo.sandbox.cloudflare.add_record("platform-ops.net", name="edge.platform-ops.net", type="A",
                                       content=ip_of("eu-prod-deis-1"), ttl=120, comment="edge entry")
    demo.sync("cloudflare")
    return demo


def switch(demo, sync_queue=None, **options) -> ChangeSet:
    cf = demo.clients.cloudflare()
    change_set = plan_switch(db.session, cf, "eu-prod", "eu-staging", "alice", **options)
    change_sets.request_apply(db.session, None, change_set, "alice")
    return change_sets.apply(db.session, cf, change_set.id, sync_queue=sync_queue)


def rollback(demo, change_set: ChangeSet) -> ChangeSet:
    cf = demo.clients.cloudflare()
    undo = change_sets.plan_rollback(db.session, change_set, "alice")
    change_sets.request_apply(db.session, None, undo, "alice")
    return change_sets.apply(db.session, cf, undo.id)


def test_switch_moves_exactly_the_records_that_served_eu_prod_and_rollback_restores_them(edge, sync_queue):
    before = everything(edge)
    prod, staging = lb_dns("eu-prod-alb").lower(), lb_dns("eu-staging-elb").lower()
    serving = {record_id for record_id, record in before.items()
               if record["type"] == "CNAME" and record["content"] == prod}
    staging_ips = sorted(ip_of(name) for name in ("eu-staging-deis-1", "eu-staging-deis-2"))

    applied = switch(edge, sync_queue)

    after = everything(edge)
    assert applied.state == "applied", applied.error
    changed = {record_id for record_id in before if record_id not in after or shape(after[record_id]) != shape(
        before[record_id])}
    edge_ids = {record_id for record_id, record in before.items() if record["name"] == "edge.platform-ops.net"}
    assert changed == serving | edge_ids
    for record_id in serving:  # only the content moved: ttl, proxied, comment stay
        assert after[record_id]["content"] == staging
        assert shape(after[record_id])[3:] == shape(before[record_id])[3:]
    edge_records = [record for record in after.values() if record["name"] == "edge.platform-ops.net"]
    assert sorted(record["content"] for record in edge_records) == staging_ips
    assert {record["ttl"] for record in edge_records} == {120}
    created = [record for record in edge_records if record["id"] not in before]
    assert [record["comment"] for record in created] == [f"edge entry · admin-panel change set #{applied.id}"]
    # Host records of eu-prod's instances keep pointing at them; so does the database's name.
    for name in ("eu-prod-deis-1", "eu-prod-deis-2", "eu-prod-deis-3"):
        host = next(record for record in after.values() if record["name"] == f"{name}.platform-ops.net")
        assert host["content"] == ip_of(name)
    # The panel asks for a DNS sync right after the apply.
    assert [job.args[0] for job in sync_queue.get_jobs()] == ["cloudflare"]

    undone = rollback(edge, applied)

    restored = everything(edge)
    assert undone.state == "applied", undone.error
    db.session.refresh(applied)
    assert applied.state == "rolled_back"
    assert sorted(map(shape, restored.values())) == sorted(map(shape, before.values()))
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions.count("change_set.plan") == 2 and actions.count("change_set.applied") == 2


def test_a_record_changed_between_plan_and_apply_is_a_conflict_and_nothing_is_written(demo):
    cf = demo.clients.cloudflare()
    change_set = plan_switch(db.session, cf, "eu-prod", "eu-staging", "alice")
    www = next(record for record in demo.records("northwind-shop.com") if record["name"] == "www.northwind-shop.com")
    zone = next(zone for zone in cf.zones() if zone.name == "northwind-shop.com")
    cf.update_record(zone, www["id"], comment="pinned by hand, do not move")
    before = everything(demo)

    change_sets.request_apply(db.session, None, change_set, "alice")
    outcome = change_sets.apply(db.session, cf, change_set.id)

    assert outcome.state == "conflict"
    assert everything(demo) == before  # nothing was written, the hand change stands
    conflict = next(item for item in outcome.items if item.state == "conflict")
    assert conflict.record_name == "www.northwind-shop.com"
    assert "comment: None → 'pinned by hand, do not move'" in conflict.error
    with pytest.raises(ChangeSetRefused, match="stale plan"):
        change_sets.request_apply(db.session, None, outcome, "alice")


def test_lost_batch_answers_are_read_back_and_never_applied_twice(demo):
    demo.sandbox.cloudflare.faults.configure(apply_then_fail_rate=1.0, path_contains="/batch")
    prod = lb_dns("eu-prod-alb").lower()
    serving = sum(record["content"] == prod for record in everything(demo).values())

    applied = switch(demo)

    assert applied.state == "applied", applied.error
    batches = [entry for entry in demo.sandbox.cloudflare.write_log if entry["path"].endswith("/batch")]
    assert len(batches) == 3  # one per zone: each lost answer was read back, found applied, never sent again
    staging = lb_dns("eu-staging-elb").lower()
    assert sum(record["content"] == staging for record in everything(demo).values()) >= serving


def test_a_429_storm_mid_apply_leaves_a_partially_applied_set_that_resumes(demo):
    before = everything(demo)
    cf = demo.clients.cloudflare()
    change_set = plan_switch(db.session, cf, "eu-prod", "eu-staging", "alice")
    # Three listings (the pre-check) and the first zone's batch pass; then every call gets 429 for ten minutes.
    demo.sandbox.cloudflare.faults.configure(storm_429_seconds=600, after_requests=4)

    change_sets.request_apply(db.session, None, change_set, "alice")
    stuck = change_sets.apply(db.session, cf, change_set.id)

    assert stuck.state == "partially_applied"
    assert "rate limited by Cloudflare" in stuck.error and "resume or roll back" in stuck.error
    states = {item.state for item in stuck.items}
    assert states == {"applied", "failed", "pending"} or states == {"applied", "failed"}
    moved = {item.record_cf_id for item in stuck.items if item.state == "applied"}
    after = everything(demo)
    assert {record_id for record_id in before if shape(after[record_id]) != shape(before[record_id])} == moved

    demo.sandbox.cloudflare.faults.clear()
    change_sets.request_apply(db.session, None, stuck, "alice")
    resumed = change_sets.apply(db.session, demo.clients.cloudflare(), stuck.id)
    assert resumed.state == "applied", resumed.error
    staging = lb_dns("eu-staging-elb").lower()
    assert {item.record_cf_id for item in resumed.items} == {
        record_id for record_id, record in everything(demo).items() if record["content"] == staging
        and record["name"] != "eu-staging.platform-ops.net" and record["name"] != "*.eu-staging.platform-ops.net"
        and before[record_id]["content"] != staging}


def test_a_partially_applied_set_rolls_back_to_the_exact_before_state(demo):
    before = everything(demo)
    cf = demo.clients.cloudflare()
    change_set = plan_switch(db.session, cf, "eu-prod", "eu-staging", "alice")
    demo.sandbox.cloudflare.faults.configure(storm_429_seconds=600, after_requests=4)
    change_sets.request_apply(db.session, None, change_set, "alice")
    stuck = change_sets.apply(db.session, cf, change_set.id)
    assert stuck.state == "partially_applied"
    demo.sandbox.cloudflare.faults.clear()

    undone = rollback(demo, stuck)

    assert undone.state == "applied", undone.error
    assert sorted(map(shape, everything(demo).values())) == sorted(map(shape, before.values()))


def test_a_later_chunk_refused_by_cloudflare_reverts_the_earlier_ones(demo):
    cf = demo.clients.cloudflare()
    zones = {zone.name: zone for zone in cf.zones()}
    www = next(record for record in cf.records(zones["northwind-shop.com"]) if record.name == "www.northwind-shop.com")
    vpn = next(record for record in cf.records(zones["platform-ops.net"]) if record.name == "vpn.platform-ops.net")
    before = everything(demo)
    plan = change_sets.create_plan(db.session, kind="repoint", description="two zones", actor="alice", parameters={},
                                   changes=[
        change_sets.PlannedChange(zones["northwind-shop.com"], "update", www,
                                  change_sets.wanted(www, content="elsewhere.example.net"), "test"),
        # A CNAME where an A record of that name exists: Cloudflare refuses it (81053).
        change_sets.PlannedChange(zones["platform-ops.net"], "create", None,
                                  change_sets.wanted(vpn, type="CNAME", content="vpn.example.net"), "test"),
    ])

    change_sets.request_apply(db.session, None, plan, "alice")
    outcome = change_sets.apply(db.session, cf, plan.id, chunk_size=1)

    assert outcome.state == "failed"
    assert "81053" in outcome.error and "was reverted" in outcome.error
    assert sorted(map(shape, everything(demo).values())) == sorted(map(shape, before.values()))
    assert [item.state for item in outcome.items] == ["reverted", "failed"]


def test_bad_switches_are_refused_with_a_clear_message(demo):
    cf = demo.clients.cloudflare()
    with pytest.raises(ChangeSetRefused, match="cannot be switched to itself"):
        plan_switch(db.session, cf, "eu-prod", "eu-prod", "alice")
    with pytest.raises(ChangeSetRefused, match="No cluster called 'mars'"):
        plan_switch(db.session, cf, "eu-prod", "mars", "alice")
    staging_lb = db.session.scalar(select(LoadBalancer.id).where(LoadBalancer.name == "eu-staging-elb"))
    db.session.execute(update(LoadBalancerMember).where(LoadBalancerMember.load_balancer_id == staging_lb)
                       .values(health="OutOfService"))
    db.session.commit()
    with pytest.raises(ChangeSetRefused, match="no healthy instance behind its load balancer"):
        plan_switch(db.session, cf, "eu-prod", "eu-staging", "alice")
    assert db.session.scalars(select(ChangeSet)).all() == []


def test_a_switch_of_a_thousand_records_stays_within_the_cloudflare_budget_and_shows_progress(demo):
    prod = lb_dns("eu-prod-alb").lower()
    for number in range(1000):
        demo.sandbox.cloudflare.add_record("northwind-shop.com", name=f"shop-{number:04d}.northwind-shop.com",
                                           type="CNAME", content=prod, ttl=300)
    demo.sync("cloudflare")
    # The Cloudflare user's budget for this test: 40 requests per 5 minutes; one more and everything gets 429.
    demo.sandbox.cloudflare.rate_limit(40, 300)
    demo.sandbox.cloudflare.faults.configure(seed=1)  # restarts the simulator's request count
    seen: list[tuple[int, str]] = []
    cf = demo.clients.cloudflare()

    change_set = plan_switch(db.session, cf, "eu-prod", "eu-staging", "alice")
    change_sets.request_apply(db.session, None, change_set, "alice")
    applied = change_sets.apply(db.session, cf, change_set.id,
                                listeners=[lambda cs: seen.append((cs.progress, cs.progress_message))])

    assert applied.state == "applied", applied.error
    assert len(applied.items) == 1011  # the thousand and eu-prod's eleven CNAMEs
    requests = demo.sandbox.cloudflare.faults.state()["requests_since_configured"]
    batches = [entry for entry in demo.sandbox.cloudflare.write_log if entry["path"].endswith("/batch")]
    # Plan: one listing per zone (3); pre-check: one per zone (3); batches of at most 200: 1,007 northwind records
    # in six, one each for the other two zones.
    assert len(batches) == 1 + 6 + 1 and requests == 3 + 3 + len(batches) == cf.calls
    assert all(sum(len(entry["body"].get(key) or []) for key in ("deletes", "patches", "posts")) <= 200
               for entry in batches)
    percents = [percent for percent, _ in seen]
    assert len(seen) == 1 + len(batches)  # the pre-check, then one step per chunk
    assert percents == sorted(percents) and percents[-1] == 100 and 19 in percents and 79 in percents
    assert "1011 of 1011 changes applied" in seen[-1][1]
    staging = lb_dns("eu-staging-elb").lower()
    assert sum(r["content"] == staging for r in demo.records("northwind-shop.com")) == 1000 + 7 + 1


def test_a_switch_limited_to_one_app_takes_only_its_domains(demo):
    change_set = plan_switch(db.session, demo.clients.cloudflare(), "eu-prod", "eu-staging", "alice",
                             app_name="storefront")
    assert sorted(item.record_name for item in change_set.items) == ["northwind-shop.com", "www.northwind-shop.com"]
    assert change_set.parameters == {"from": "eu-prod", "to": "eu-staging", "zone": None, "app": "storefront"}


def test_two_applies_of_one_plan_at_once_start_only_one_job(demo, app):
    change_set = plan_switch(db.session, demo.clients.cloudflare(), "eu-prod", "eu-staging", "alice")
    # A second admin's request read the same plan in its own session before the first one committed.
    other = Session(db.engine)
    twin = other.get(ChangeSet, change_set.id)
    change_sets.request_apply(db.session, None, change_set, "alice")

    with pytest.raises(ChangeSetRefused, match="is being applied already"):
        change_sets.request_apply(other, None, twin, "bob")
    other.close()
    assert db.session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "change_set.apply")).all() == [
        "alice"]


def test_a_resume_that_meets_a_hand_change_stops_and_still_rolls_back(demo):
    before = everything(demo)
    cf = demo.clients.cloudflare()
    change_set = plan_switch(db.session, cf, "eu-prod", "eu-staging", "alice")
    demo.sandbox.cloudflare.faults.configure(storm_429_seconds=600, after_requests=4)
    change_sets.request_apply(db.session, None, change_set, "alice")
    stuck = change_sets.apply(db.session, cf, change_set.id)
    assert stuck.state == "partially_applied"
    demo.sandbox.cloudflare.faults.clear()
    waiting = next(item for item in stuck.items if item.state != "applied")
    zone = next(zone for zone in cf.zones() if zone.name == waiting.zone_name)
    cf.update_record(zone, waiting.record_cf_id, comment="changed by hand meanwhile")
    hand_changed = everything(demo)[waiting.record_cf_id]

    change_sets.request_apply(db.session, None, stuck, "alice")
    resumed = change_sets.apply(db.session, cf, stuck.id)

    assert resumed.state == "partially_applied" and "nothing more was changed" in resumed.error
    assert everything(demo)[waiting.record_cf_id] == hand_changed
    undone = rollback(demo, resumed)
    assert undone.state == "applied", undone.error
    expected = {**before, waiting.record_cf_id: hand_changed}
    assert sorted(map(shape, everything(demo).values())) == sorted(map(shape, expected.values()))


class WorkerDied(Exception):
    pass


def test_an_apply_whose_worker_died_resumes_adopting_what_reached_cloudflare(demo, app):
    before = everything(demo)
    cf = demo.clients.cloudflare()
    default = queue("default")
    default.empty()
    change_set = plan_switch(db.session, cf, "eu-prod", "eu-staging", "alice")
    job = change_sets.request_apply(db.session, default, change_set, "alice")
    with pytest.raises(ChangeSetRefused, match="is applying"):  # its job is still queued: not resumable yet
        change_sets.request_apply(db.session, default, change_set, "alice")

    def die_after_first_chunk(cs: ChangeSet) -> None:
        if cs.progress > 0:
            raise WorkerDied
    with pytest.raises(WorkerDied):
        change_sets.apply(db.session, cf, change_set.id, listeners=[die_after_first_chunk])
    # The second zone's chunk reached Cloudflare, but the worker died before recording it.
    unrecorded = [item for item in change_set.items if item.state == "pending"
                  and item.zone_name == "northwind-shop.com"]
    zone = next(zone for zone in cf.zones() if zone.name == "northwind-shop.com")
    for item in unrecorded:
        cf.update_record(zone, item.record_cf_id, content=item.after["content"])
    job.delete()
    batches_before = len([e for e in demo.sandbox.cloudflare.write_log if e["path"].endswith("/batch")])

    change_sets.request_apply(db.session, default, change_set, "bob")
    resumed = change_sets.apply(db.session, cf, change_set.id)

    assert resumed.state == "applied", resumed.error
    assert {item.state for item in resumed.items} == {"applied"}
    batches = [e for e in demo.sandbox.cloudflare.write_log if e["path"].endswith("/batch")][batches_before:]
    assert len(batches) == 1  # only platform-ops.net was left: northwind's rows were adopted, not sent again
    default.empty()
    undone = rollback(demo, resumed)
    assert undone.state == "applied", undone.error
    assert sorted(map(shape, everything(demo).values())) == sorted(map(shape, before.values()))
