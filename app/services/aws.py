"""AWS client for one region: instances, their scheduled maintenance events, classic and v2 load balancers.

Everything is paginated with boto3's paginators; botocore's "standard" retry mode retries throttling and
transient errors. Any failure becomes `AwsError` naming the region and the call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

TAG_BATCH = 20  # describe_tags takes at most 20 load balancers per call


class AwsError(Exception):
    """An AWS call failed; the message says which region, which call, and why."""

    def __init__(self, region: str, call: str, reason: str) -> None:
        self.region, self.call, self.reason = region, call, reason
        super().__init__(f"AWS {region}: {call} failed: {reason}")


@dataclass(frozen=True)
class AwsMaintenanceEvent:
    event_id: str
    code: str
    description: str
    not_before: datetime | None
    not_after: datetime | None

    @property
    def completed(self) -> bool:
        # AWS keeps finished events listed for about a week, marking them in the description.
        return self.description.startswith(("[Completed]", "[Canceled]"))


@dataclass(frozen=True)
class AwsInstance:
    aws_id: str
    region: str
    name: str | None
    state: str
    private_ip: str | None
    public_ip: str | None
    availability_zone: str | None
    instance_type: str | None
    launched_at: datetime | None
    tags: dict[str, str]
    events: list[AwsMaintenanceEvent] = field(default_factory=list)


@dataclass(frozen=True)
class AwsLoadBalancer:
    name: str
    region: str
    kind: str  # classic | v2
    dns_name: str
    arn: str | None
    tags: dict[str, str]
    members: dict[str, str]  # instance id -> health state


class AwsRegion:
    """Read-only view of one AWS region."""

    def __init__(self, region: str, *, endpoint_url: str | None = None, max_attempts: int = 4,
                 session: boto3.session.Session | None = None) -> None:
        self.region = region
        self.calls = 0
        session = session or boto3.session.Session()
        config = Config(region_name=region, retries={"mode": "standard", "max_attempts": max_attempts},
                        connect_timeout=10, read_timeout=30)
        self._ec2 = session.client("ec2", endpoint_url=endpoint_url, config=config)
        self._elb = session.client("elb", endpoint_url=endpoint_url, config=config)
        self._elbv2 = session.client("elbv2", endpoint_url=endpoint_url, config=config)

    def _pages(self, client, operation: str, key: str, **kwargs):
        try:
            for page in client.get_paginator(operation).paginate(**kwargs):
                self.calls += 1
                yield from page.get(key, [])
        except (BotoCoreError, ClientError) as error:
            raise AwsError(self.region, operation, str(error)) from error

    def _call(self, client, operation: str, **kwargs) -> dict:
        self.calls += 1
        try:
            return getattr(client, operation)(**kwargs)
        except (BotoCoreError, ClientError) as error:
            raise AwsError(self.region, operation, str(error)) from error

    def instances(self) -> list[AwsInstance]:
        """Every instance of the region (terminated ones excluded) with its scheduled events."""
        events: dict[str, list[AwsMaintenanceEvent]] = {}
        for status in self._pages(self._ec2, "describe_instance_status", "InstanceStatuses",
                                  IncludeAllInstances=True):
            events[status["InstanceId"]] = [
                AwsMaintenanceEvent(
                    event_id=event.get("InstanceEventId") or f"{status['InstanceId']}:{event.get('Code')}",
                    code=event.get("Code", "unknown"), description=event.get("Description", ""),
                    not_before=event.get("NotBefore"), not_after=event.get("NotAfter"),
                )
                for event in status.get("Events", [])
            ]
        found = []
        for reservation in self._pages(self._ec2, "describe_instances", "Reservations"):
            for item in reservation.get("Instances", []):
                state = item.get("State", {}).get("Name", "unknown")
                if state == "terminated":
                    continue
                tags = {tag["Key"]: tag["Value"] for tag in item.get("Tags", [])}
                found.append(AwsInstance(
                    aws_id=item["InstanceId"], region=self.region, name=tags.get("Name"), state=state,
                    private_ip=item.get("PrivateIpAddress"), public_ip=item.get("PublicIpAddress"),
                    availability_zone=item.get("Placement", {}).get("AvailabilityZone"),
                    instance_type=item.get("InstanceType"), launched_at=item.get("LaunchTime"), tags=tags,
                    events=events.get(item["InstanceId"], []),
                ))
        return found

    def load_balancers(self) -> list[AwsLoadBalancer]:
        """Classic and v2 load balancers with their member instances and health."""
        return self._classic_load_balancers() + self._v2_load_balancers()

    def _classic_load_balancers(self) -> list[AwsLoadBalancer]:
        descriptions = list(self._pages(self._elb, "describe_load_balancers", "LoadBalancerDescriptions"))
        names = [d["LoadBalancerName"] for d in descriptions]
        tags: dict[str, dict[str, str]] = {}
        for start in range(0, len(names), TAG_BATCH):
            answer = self._call(self._elb, "describe_tags", LoadBalancerNames=names[start:start + TAG_BATCH])
            for item in answer.get("TagDescriptions", []):
                tags[item["LoadBalancerName"]] = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
        balancers = []
        for description in descriptions:
            name = description["LoadBalancerName"]
            members = {i["InstanceId"]: "unknown" for i in description.get("Instances", [])}
            if members:
                health = self._call(self._elb, "describe_instance_health", LoadBalancerName=name)
                for state in health.get("InstanceStates", []):
                    members[state["InstanceId"]] = state.get("State", "unknown")
            balancers.append(AwsLoadBalancer(name=name, region=self.region, kind="classic",
                                             dns_name=description.get("DNSName", ""), arn=None,
                                             tags=tags.get(name, {}), members=members))
        return balancers

    def _v2_load_balancers(self) -> list[AwsLoadBalancer]:
        descriptions = list(self._pages(self._elbv2, "describe_load_balancers", "LoadBalancers"))
        arns = [d["LoadBalancerArn"] for d in descriptions]
        tags: dict[str, dict[str, str]] = {}
        for start in range(0, len(arns), TAG_BATCH):
            answer = self._call(self._elbv2, "describe_tags", ResourceArns=arns[start:start + TAG_BATCH])
            for item in answer.get("TagDescriptions", []):
                tags[item["ResourceArn"]] = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
        balancers = []
        for description in descriptions:
            arn = description["LoadBalancerArn"]
            members: dict[str, str] = {}
            for group in self._pages(self._elbv2, "describe_target_groups", "TargetGroups", LoadBalancerArn=arn):
                if group.get("TargetType", "instance") != "instance":
                    continue  # ip/lambda targets are not instances we can relate
                health = self._call(self._elbv2, "describe_target_health", TargetGroupArn=group["TargetGroupArn"])
                for target in health.get("TargetHealthDescriptions", []):
                    members[target["Target"]["Id"]] = target.get("TargetHealth", {}).get("State", "unknown")
            balancers.append(AwsLoadBalancer(name=description["LoadBalancerName"], region=self.region, kind="v2",
                                             dns_name=description.get("DNSName", ""), arn=arn,
                                             tags=tags.get(arn, {}), members=members))
        return balancers
