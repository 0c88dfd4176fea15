"""The AWS client against moto: instances with tags and scheduled events, both kinds of load balancer."""
from __future__ import annotations

import boto3
import pytest

from app.services.aws import AwsError, AwsRegion


def region(sandbox, name: str) -> AwsRegion:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    return AwsRegion(name, endpoint_url=sandbox.moto_url, session=session)


def test_instances_with_tags_and_events(sandbox):
    instances = {i.name: i for i in region(sandbox, "eu-west-1").instances()}
    primary = instances["eu-prod-pg-1"]
    assert primary.tags["role"] == "postgres" and primary.tags["db-role"] == "primary"
    assert primary.private_ip == "10.10.2.21" and primary.state == "running"
    events = [event for instance in instances.values() for event in instance.events]
    events += [event for instance in region(sandbox, "us-east-1").instances() for event in instance.events]
    assert sorted(event.completed for event in events) == [False, True]
    assert all(event.not_before is not None and event.not_before.tzinfo for event in events)


def test_classic_and_v2_load_balancers_with_members(sandbox):
    eu = {lb.name: lb for lb in region(sandbox, "eu-west-1").load_balancers()}
    us = {lb.name: lb for lb in region(sandbox, "us-east-1").load_balancers()}
    assert eu["eu-prod-elb"].kind == "classic" and eu["eu-prod-elb"].tags["cluster"] == "eu-prod"
    assert len(eu["eu-prod-elb"].members) == 2 and set(eu["eu-prod-elb"].members.values()) <= {"InService",
                                                                                                 "OutOfService"}
    alb = us["us-prod-alb"]
    assert alb.kind == "v2" and alb.arn and alb.dns_name and alb.members


def test_unreachable_endpoint_is_one_clear_error():
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    client = AwsRegion("eu-west-1", endpoint_url="http://127.0.0.1:9", session=session, max_attempts=1)
    with pytest.raises(AwsError, match=r"AWS eu-west-1: describe_instance_status failed: Could not connect"):
        client.instances()
