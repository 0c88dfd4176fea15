"""Contract of the AWS side of the sandbox: what boto3 sees from the seeded moto server.

Everything goes through real boto3 clients against the in-process moto server on a loopback port, as the panel's
AWS service will. The only thing not done over the wire is the maintenance events' injection, because moto never
returns `Events` on its own (see ../shared/reference/cloudflare-and-aws.md).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import boto3
import pytest

from sandbox.aws import event_id_for
from sandbox.platform import Sandbox
from sandbox.scenario import MaintenanceEventSpec, Scenario, ScenarioError, load

EVENT_ID = re.compile(r"^instance-event-[0-9a-f]{17}$")


def client(sandbox: Sandbox, service: str, region: str) -> Any:
    """A boto3 client configured only from the sandbox's env, the way the panel configures its own."""
    env = sandbox.env()
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def all_instances(sandbox: Sandbox, region: str, page_size: int = 5) -> tuple[list[dict[str, Any]], int]:
    """Every instance of a region through the paginator, and how many pages it took."""
    paginator = client(sandbox, "ec2", region).get_paginator("describe_instances")
    instances: list[dict[str, Any]] = []
    pages = 0
    for page in paginator.paginate(PaginationConfig={"PageSize": page_size}):
        pages += 1
        instances += [instance for reservation in page["Reservations"] for instance in reservation["Instances"]]
    return instances, pages


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def statuses(sandbox: Sandbox, region: str) -> dict[str, dict[str, Any]]:
    """`describe_instance_status(IncludeAllInstances=True)` through its paginator, keyed by instance id."""
    paginator = client(sandbox, "ec2", region).get_paginator("describe_instance_status")
    found: dict[str, dict[str, Any]] = {}
    for page in paginator.paginate(IncludeAllInstances=True, PaginationConfig={"PageSize": 5}):
        for status in page["InstanceStatuses"]:
            found[status["InstanceId"]] = status
    return found


def test_paginator_sees_every_seeded_instance_with_its_tags(sandbox: Sandbox) -> None:
    instances, _pages = all_instances(sandbox, "eu-west-1")
    by_name = {tags(instance)["Name"]: instance for instance in instances}
    assert sorted(by_name) == ["chef-1", "eu-prod-deis-1", "eu-prod-deis-2", "eu-prod-pg-1", "eu-prod-pg-2"]
    primary = by_name["eu-prod-pg-1"]
    assert tags(primary) == {"Name": "eu-prod-pg-1", "role": "postgres", "cluster": "eu-prod", "db-role": "primary"}
    assert primary["PrivateIpAddress"] == "10.10.2.21"
    assert primary["State"]["Name"] == "running"
    assert primary["InstanceType"] == "r5.large"
    assert primary["Placement"]["AvailabilityZone"].startswith("eu-west-1")
    assert primary["LaunchTime"].tzinfo is not None
    assert tags(by_name["chef-1"]) == {"Name": "chef-1", "role": "chef"}
    public_ips = [instance["PublicIpAddress"] for instance in instances]
    assert len(set(public_ips)) == len(public_ips)


def test_paginator_follows_next_token_across_pages(sandbox: Sandbox) -> None:
    ec2 = client(sandbox, "ec2", "eu-west-1")
    subnet = sandbox.aws.instance("chef-1").subnet_id
    # 5 is the smallest MaxResults real EC2 accepts; launch more so the region needs several pages.
    launched = [
        ec2.run_instances(ImageId="ami-0sandbox000000001", MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]
        for _ in range(7)
    ]
    instances, pages = all_instances(sandbox, "eu-west-1", page_size=5)
    ids = [instance["InstanceId"] for instance in instances]
    assert pages >= 3
    assert len(ids) == len(set(ids)) == 12
    assert {instance["InstanceId"] for instance in launched} <= set(ids)


def test_stopped_instance_has_no_public_ip_and_keeps_its_private_one(sandbox: Sandbox) -> None:
    instances, _pages = all_instances(sandbox, "us-east-1")
    replica = next(instance for instance in instances if tags(instance)["Name"] == "us-prod-pg-2")
    assert replica["State"]["Name"] == "stopped"
    assert "PublicIpAddress" not in replica
    assert replica["PrivateIpAddress"] == "10.20.2.22"
    assert tags(replica)["db-role"] == "replica"


def test_instance_status_lists_scheduled_and_completed_events(sandbox: Sandbox) -> None:
    seeded_at = sandbox.aws.seeded_at
    assert seeded_at is not None
    eu = statuses(sandbox, "eu-west-1")
    scheduled = eu[sandbox.aws.instance("eu-prod-pg-1").instance_id]["Events"]
    assert len(scheduled) == 1
    event = scheduled[0]
    assert event["InstanceEventId"] == event_id_for("eu-prod-pg-1", 0)
    assert EVENT_ID.match(event["InstanceEventId"])
    assert event["Code"] == "system-reboot"
    assert not event["Description"].startswith("[Completed]")
    assert event["NotBefore"] == seeded_at + timedelta(days=3)
    assert event["NotAfter"] == event["NotBefore"] + timedelta(hours=2)
    assert event["NotBeforeDeadline"] > event["NotBefore"]
    assert not eu[sandbox.aws.instance("eu-prod-deis-1").instance_id].get("Events")

    us = statuses(sandbox, "us-east-1")
    completed = us[sandbox.aws.instance("us-prod-deis-1").instance_id]["Events"]
    assert [e["Code"] for e in completed] == ["instance-retirement"]
    assert completed[0]["Description"].startswith("[Completed] ")
    assert completed[0]["NotBefore"] < seeded_at
    # IncludeAllInstances lists the stopped one too.
    stopped = us[sandbox.aws.instance("us-prod-pg-2").instance_id]
    assert stopped["InstanceState"]["Name"] == "stopped"


def test_event_ids_are_the_same_after_a_full_reseed(sandbox: Sandbox) -> None:
    instance_id = sandbox.aws.instance("eu-prod-pg-1").instance_id
    before = statuses(sandbox, "eu-west-1")[instance_id]["Events"][0]["InstanceEventId"]
    assert sandbox.aws.reset(force=True) is True
    after_id = sandbox.aws.instance("eu-prod-pg-1").instance_id
    assert after_id == instance_id  # moto's seeded ids are deterministic too
    assert statuses(sandbox, "eu-west-1")[after_id]["Events"][0]["InstanceEventId"] == before


def test_added_event_appears_and_reset_removes_it(sandbox: Sandbox) -> None:
    event_id = sandbox.aws.add_maintenance_event(
        "us-mon-1", MaintenanceEventSpec(code="instance-stop", description="instance stop", not_before_in_days=1)
    )
    instance_id = sandbox.aws.instance("us-mon-1").instance_id
    events = statuses(sandbox, "us-east-1")[instance_id]["Events"]
    assert [(e["InstanceEventId"], e["Code"]) for e in events] == [(event_id, "instance-stop")]

    sandbox.aws.complete_maintenance_event("us-mon-1", event_id)
    completed = statuses(sandbox, "us-east-1")[instance_id]["Events"]
    assert completed[0]["Description"] == "[Completed] instance stop"

    sandbox.reset()
    assert not statuses(sandbox, "us-east-1")[sandbox.aws.instance("us-mon-1").instance_id].get("Events")


def test_classic_elb_membership_health_and_tags(sandbox: Sandbox) -> None:
    elb = client(sandbox, "elb", "eu-west-1")
    balancers = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    assert [b["LoadBalancerName"] for b in balancers] == ["eu-prod-elb"]
    members = {i["InstanceId"] for i in balancers[0]["Instances"]}
    expected = {sandbox.aws.instance(name).instance_id for name in ("eu-prod-deis-1", "eu-prod-deis-2")}
    assert members == expected
    assert balancers[0]["DNSName"] == sandbox.aws.load_balancer("eu-prod-elb").dns_name
    described_tags = elb.describe_tags(LoadBalancerNames=["eu-prod-elb"])["TagDescriptions"][0]
    assert tags(described_tags) == {"cluster": "eu-prod"}
    health = elb.describe_instance_health(LoadBalancerName="eu-prod-elb")["InstanceStates"]
    assert {(h["InstanceId"], h["State"]) for h in health} == {(member, "InService") for member in expected}


def test_classic_elb_reports_a_stopped_member_out_of_service_and_forgets_a_deregistered_one(sandbox: Sandbox) -> None:
    elb = client(sandbox, "elb", "eu-west-1")
    stopped_id = sandbox.aws.instance("eu-prod-deis-2").instance_id
    sandbox.aws.stop_instance("eu-prod-deis-2")
    health = {
        h["InstanceId"]: h["State"]
        for h in elb.describe_instance_health(LoadBalancerName="eu-prod-elb")["InstanceStates"]
    }
    assert health[stopped_id] == "OutOfService"

    sandbox.aws.deregister_instance("eu-prod-elb", "eu-prod-deis-2")
    balancer = elb.describe_load_balancers(LoadBalancerNames=["eu-prod-elb"])["LoadBalancerDescriptions"][0]
    assert [i["InstanceId"] for i in balancer["Instances"]] == [sandbox.aws.instance("eu-prod-deis-1").instance_id]

    sandbox.reset()
    balancer = elb.describe_load_balancers(LoadBalancerNames=["eu-prod-elb"])["LoadBalancerDescriptions"][0]
    assert len(balancer["Instances"]) == 2


def test_elbv2_target_group_members_and_health(sandbox: Sandbox) -> None:
    elbv2 = client(sandbox, "elbv2", "us-east-1")
    balancers = elbv2.describe_load_balancers()["LoadBalancers"]
    assert [(b["LoadBalancerName"], b["Type"]) for b in balancers] == [("us-prod-alb", "application")]
    arn = balancers[0]["LoadBalancerArn"]
    assert balancers[0]["DNSName"] == sandbox.aws.load_balancer("us-prod-alb").dns_name
    assert tags(elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]) == {"cluster": "us-prod"}
    groups = elbv2.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"]
    assert len(groups) == 1 and groups[0]["TargetType"] == "instance"
    health = elbv2.describe_target_health(TargetGroupArn=groups[0]["TargetGroupArn"])["TargetHealthDescriptions"]
    assert [(h["Target"]["Id"], h["Target"]["Port"]) for h in health] == [
        (sandbox.aws.instance("us-prod-deis-1").instance_id, 80)
    ]
    assert health[0]["TargetHealth"]["State"] == "healthy"


def test_records_resolve_to_what_boto3_reports(sandbox: Sandbox) -> None:
    described = {}
    for region in ("eu-west-1", "us-east-1"):
        instances, _pages = all_instances(sandbox, region)
        described |= {tags(instance)["Name"]: instance for instance in instances}
    elb_dns = client(sandbox, "elb", "eu-west-1").describe_load_balancers()["LoadBalancerDescriptions"][0]["DNSName"]
    alb_dns = client(sandbox, "elbv2", "us-east-1").describe_load_balancers()["LoadBalancers"][0]["DNSName"]
    lb_dns = {"eu-prod-elb": elb_dns, "us-prod-alb": alb_dns}
    checked = 0
    for zone in sandbox.scenario.zones:
        contents = {(r["name"], r["type"]): r["content"] for r in sandbox.cloudflare.records(zone.name)}
        for record in zone.records:
            if record.instance:
                instance = described[record.instance]
                key = "PrivateIpAddress" if record.ip == "private" else "PublicIpAddress"
                expected = instance[key]
            elif record.load_balancer:
                expected = lb_dns[record.load_balancer]
            else:
                expected = record.content
            assert sandbox.aws.resolve_content(record) == expected
            assert contents[(record.name, record.type)] == expected  # what the Cloudflare simulator serves
            checked += 1
    assert checked == 19


def test_replace_instance_ip_gives_a_new_public_ip_and_reset_restores_the_seeded_one(sandbox: Sandbox) -> None:
    seeded_ip = sandbox.aws.instance("eu-prod-deis-1").public_ip
    new_ip = sandbox.aws.replace_instance_ip("eu-prod-deis-1")
    assert new_ip != seeded_ip
    instances, _pages = all_instances(sandbox, "eu-west-1")
    current = next(i for i in instances if tags(i)["Name"] == "eu-prod-deis-1")
    assert current["PublicIpAddress"] == new_ip
    assert current["State"]["Name"] == "running"

    sandbox.reset()
    instances, _pages = all_instances(sandbox, "eu-west-1")
    restored = next(i for i in instances if tags(i)["Name"] == "eu-prod-deis-1")
    assert restored["PublicIpAddress"] == seeded_ip


def test_reset_skips_moto_when_only_reads_happened_and_reseeds_after_a_write(sandbox: Sandbox) -> None:
    all_instances(sandbox, "eu-west-1")
    statuses(sandbox, "us-east-1")
    assert sandbox.aws.reset() is False
    ec2 = client(sandbox, "ec2", "eu-west-1")
    ec2.create_tags(Resources=[sandbox.aws.instance("chef-1").instance_id], Tags=[{"Key": "owner", "Value": "ops"}])
    assert sandbox.aws.changed is True
    assert sandbox.aws.reset() is True
    chef = next(i for i in all_instances(sandbox, "eu-west-1")[0] if tags(i)["Name"] == "chef-1")
    assert "owner" not in tags(chef)


def test_helpers_refuse_unknown_names_with_a_clear_error(sandbox: Sandbox) -> None:
    with pytest.raises(RuntimeError, match="no instance named 'ghost'"):
        sandbox.aws.replace_instance_ip("ghost")
    with pytest.raises(RuntimeError, match="no load balancer named 'nope'"):
        sandbox.aws.deregister_instance("nope", "chef-1")
    with pytest.raises(RuntimeError, match="no maintenance event"):
        sandbox.aws.complete_maintenance_event("chef-1", "instance-event-00000000000000000")


def test_a_scenario_aws_cannot_honour_is_refused_before_moto_changes(sandbox: Sandbox) -> None:
    document = load("test").model_dump()
    document["instances"][1]["private_ip"] = "10.99.1.12"  # another /16 than the region's other chosen addresses
    broken = Scenario.model_validate(document)
    before, _pages = all_instances(sandbox, "eu-west-1")
    with pytest.raises(ScenarioError, match=r"private_ip 10.99.1.12 is outside 10.10.0.0/16"):
        sandbox.aws.reset(broken)
    document["instances"][1]["private_ip"] = "10.10.1.11"  # eu-prod-deis-1's address
    with pytest.raises(ScenarioError, match=r"private_ip 10.10.1.11 is already eu-prod-deis-1's"):
        sandbox.aws.reset(Scenario.model_validate(document))
    after, _pages = all_instances(sandbox, "eu-west-1")
    assert [i["InstanceId"] for i in after] == [i["InstanceId"] for i in before]
    assert sandbox.aws.scenario.name == "test" and sandbox.aws.changed is False
