"""AWS client for one region: instances, their scheduled maintenance events, classic and v2 load balancers.

Everything is paginated with boto3's paginators; botocore's "standard" retry mode retries throttling and
transient errors. Any failure becomes `AwsError` naming the region and the call.

Credentials come only from boto3's own chain (environment with `AWS_SESSION_TOKEN`, `AWS_PROFILE` and shared
files, SSO, instance and container roles): the panel never passes keys. A region may be read through an IAM role of
another account, assumed with STS; botocore refreshes those credentials before they expire.
"""
from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, DeferredRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import Loader, create_loader

_LOADER: Loader | None = None
_LOADER_LOCK = threading.Lock()
SERVICES = ("ec2", "elb", "elbv2", "sts")


def _shared_loader() -> Loader:
    """One botocore data loader for the process: it caches the parsed service models (EC2's alone is megabytes of
    JSON), which a fresh boto3 session would otherwise parse again for every region of every sync."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = create_loader()
        return _LOADER


def botocore_session() -> botocore.session.Session:
    """A new botocore session (its own credentials and config) sharing the process's parsed service models."""
    core = botocore.session.Session()
    core.register_component("data_loader", _shared_loader())
    return core


def preload_models() -> None:
    """Parse the service models of every client the panel creates (a worker does it once, before forking)."""
    core = botocore_session()
    for service in SERVICES:  # a client loads the model, its endpoint rules and paginators: all cached after this
        core.create_client(service, region_name="us-east-1", aws_access_key_id="preload",
                           aws_secret_access_key="preload")


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
    ipv6_addresses: tuple[str, ...] = ()  # compressed, lower case: what AAAA records hold


@dataclass(frozen=True)
class AwsTarget:
    """One registration behind a load balancer: an instance by id, or (target type `ip`) an address."""

    target_group: str  # "" for a classic ELB, which has no target groups
    instance_id: str | None
    ip: str | None
    port: int | None
    health: str


@dataclass(frozen=True)
class AwsLoadBalancer:
    name: str
    region: str
    kind: str  # classic | v2
    dns_name: str
    arn: str | None
    tags: dict[str, str]
    targets: list[AwsTarget] = field(default_factory=list)

    @property
    def members(self) -> dict[str, str]:
        """Instance id -> health of the targets registered by instance id."""
        return {target.instance_id: target.health for target in self.targets if target.instance_id}


class _AssumedRole(CredentialProvider):
    """Credentials of an IAM role, assumed on first use and again before they expire."""

    METHOD = "admin-panel-assume-role"
    CANONICAL_NAME = "admin-panel-assume-role"

    def __init__(self, fetch: Callable[[], dict[str, str]]) -> None:
        super().__init__()
        self._fetch = fetch

    def load(self) -> DeferredRefreshableCredentials:
        # Deferred: the first AWS call assumes the role, so a refusal surfaces as that call's AwsError.
        return DeferredRefreshableCredentials(refresh_using=self._fetch, method=self.METHOD)


def assumed_role_session(role_arn: str, region: str, *, base: boto3.session.Session | None = None,
                         endpoint_url: str | None = None, session_name: str = "admin-panel") -> boto3.session.Session:
    """A boto3 session acting as `role_arn`, assumed with credentials from `base` (boto3's own chain by default)."""
    sts = (base or boto3.session.Session(botocore_session=botocore_session())).client(
        "sts", endpoint_url=endpoint_url,
        config=Config(region_name=region, retries={"mode": "standard", "max_attempts": 4}))

    def fetch() -> dict[str, str]:
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        return {"access_key": answer["AccessKeyId"], "secret_key": answer["SecretAccessKey"],
                "token": answer["SessionToken"], "expiry_time": answer["Expiration"].isoformat()}

    core = botocore_session()
    core.get_component("credential_provider").insert_before("env", _AssumedRole(fetch))
    return boto3.session.Session(botocore_session=core, region_name=region)


class AwsRegion:
    """Read-only view of one AWS region."""

    def __init__(self, region: str, *, endpoint_url: str | None = None, max_attempts: int = 4,
                 session: boto3.session.Session | None = None, role_arn: str | None = None) -> None:
        self.region = region
        self.calls = 0
        session = session or boto3.session.Session(botocore_session=botocore_session())
        if role_arn:
            session = assumed_role_session(role_arn, region, base=session, endpoint_url=endpoint_url)
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
                    events=events.get(item["InstanceId"], []), ipv6_addresses=_ipv6_addresses(item),
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
            targets = [AwsTarget(target_group="", instance_id=instance_id, ip=None, port=None, health=state)
                       for instance_id, state in members.items()]
            balancers.append(AwsLoadBalancer(name=name, region=self.region, kind="classic",
                                             dns_name=description.get("DNSName", ""), arn=None,
                                             tags=tags.get(name, {}), targets=targets))
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
            targets: list[AwsTarget] = []
            for group in self._pages(self._elbv2, "describe_target_groups", "TargetGroups", LoadBalancerArn=arn):
                target_type = group.get("TargetType", "instance")
                if target_type not in ("instance", "ip"):
                    continue  # lambda and alb targets are not machines we can relate
                health = self._call(self._elbv2, "describe_target_health", TargetGroupArn=group["TargetGroupArn"])
                for target in health.get("TargetHealthDescriptions", []):
                    target_id = target["Target"]["Id"]
                    targets.append(AwsTarget(
                        target_group=group.get("TargetGroupName", ""),
                        instance_id=target_id if target_type == "instance" else None,
                        ip=_normal_ip(target_id) if target_type == "ip" else None,
                        port=target["Target"].get("Port"),
                        health=target.get("TargetHealth", {}).get("State", "unknown"),
                    ))
            balancers.append(AwsLoadBalancer(name=description["LoadBalancerName"], region=self.region, kind="v2",
                                             dns_name=description.get("DNSName", ""), arn=arn,
                                             tags=tags.get(arn, {}), targets=targets))
        return balancers


def _normal_ip(address: str) -> str:
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address


def _ipv6_addresses(item: dict[str, Any]) -> tuple[str, ...]:
    """Every IPv6 address of an instance: its primary one and those of each network interface, compressed."""
    found = [item["Ipv6Address"]] if item.get("Ipv6Address") else []
    for interface in item.get("NetworkInterfaces", []):
        found += [entry["Ipv6Address"] for entry in interface.get("Ipv6Addresses", []) if entry.get("Ipv6Address")]
    return tuple(dict.fromkeys(_normal_ip(address) for address in found))
