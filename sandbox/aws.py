"""AWS in the sandbox: moto's ThreadedMotoServer in this process, seeded from a scenario with ordinary boto3 calls.

Per AWS region the seeder builds a VPC with four subnets, launches the scenario's EC2 instances (tags Name, role,
cluster, db-role) in batches, stops the stopped ones, creates classic ELBs and ELBv2 load balancers with a target
group and registered instances, then injects scheduled maintenance events into moto's in-memory instances (moto never
returns `Events` on its own; see ../shared/reference/cloudflare-and-aws.md). The server runs in this process on
purpose: the in-memory injection only works when moto's backends live here.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import logging
import re
import threading
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import boto3
import requests
from botocore.config import Config
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from sandbox.faults import FaultInjector
from sandbox.scenario import InstanceSpec, LoadBalancerSpec, MaintenanceEventSpec, RecordSpec, Scenario, ScenarioError

ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
MOTO_SEED = 42
IMAGE_ID = "ami-0sandbox000000001"  # moto accepts any AMI id unless AMI validation is switched on
LAUNCH_BATCH = 250  # instances per run_instances call: one call per batch, not per instance
TAGGING_THREADS = 4
REBOOT_CODES = {"instance-reboot", "system-reboot"}

# Seeding makes thousands of calls; botocore's own retries would hide a seeding bug behind slow backoff.
_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=TAGGING_THREADS * 2)


SIGNED_LOG_SIZE = 1_000
# SigV4: "AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/<service>/aws4_request, ..."
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/aws4_request")

# Query-protocol actions (EC2, ELB, ELBv2) that only read: anything else marks the seeded state as changed.
READ_ACTION_PREFIXES = ("Describe", "List", "Get")


class AwsSandboxError(RuntimeError):
    """The moto server is not running, or a helper was asked about something the scenario does not have."""


@dataclass(frozen=True)
class SignedRequest:
    """Which credentials signed one request moto received (moto accepts any; tests check what clients sent)."""

    service: str
    access_key_id: str
    session_token: str | None


class WriteWatch:
    """WSGI middleware in front of moto that notes whether anything changed moto's state since the last seeding,
    and which credentials signed each request (`signed`, newest last).

    A full reseed costs about half a second; most tests only read AWS, so `reset()` skips it when nothing wrote.
    """

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app
        self.changed = False
        self.signed: deque[SignedRequest] = deque(maxlen=SIGNED_LOG_SIZE)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        credential = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if credential:
            self.signed.append(SignedRequest(service=credential.group(2), access_key_id=credential.group(1),
                                             session_token=environ.get("HTTP_X_AMZ_SECURITY_TOKEN")))
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD", "OPTIONS") and not self._reads_only(environ):
            self.changed = True
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _reads_only(environ: dict[str, Any]) -> bool:
        content_type = environ.get("CONTENT_TYPE", "")
        length = environ.get("CONTENT_LENGTH")
        if not content_type.startswith("application/x-www-form-urlencoded") or not length:
            return False  # S3 uploads, JSON protocols, /moto-api calls: treat as writes
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)  # put the body back for moto
        action = parse_qs(body.decode("latin-1")).get("Action", [""])[0]
        return action.startswith(READ_ACTION_PREFIXES)


class _WatchedMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer with `WriteWatch` in front of moto's app (same server, same handler, same thread)."""

    def __init__(self, ip_address: str, port: int) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.watch: WriteWatch | None = None
        # In front of the watch: request counts (`/__sandbox/requests`) and added latency, like every simulator.
        self.faults: FaultInjector | None = None

    def _server_entry(self) -> None:
        # Mirrors moto 5.2.5's ThreadedMotoServer._server_entry (moto is pinned) with the watch added.
        self.watch = WriteWatch(DomainDispatcherApplication(create_backend_app))
        self.faults = FaultInjector(self.watch, "aws")
        self._server = make_server(self._ip_address, self._port, self.faults, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.05)  # stop() waits for the loop to notice: keep it short


@dataclass
class SeededInstance:
    """What the seeder knows about one launched instance (kept so records resolve without an API call)."""

    name: str
    aws_region: str
    instance_id: str
    private_ip: str
    public_ip: str | None
    launch_public_ip: str | None  # the address it had while running; a stopped instance keeps stale records
    subnet_id: str


@dataclass
class SeededLoadBalancer:
    """One seeded load balancer: its kind, DNS name and (for v2) target group."""

    name: str
    aws_region: str
    kind: str
    dns_name: str
    arn: str | None = None
    target_group_arn: str | None = None


@dataclass
class _RegionNetwork:
    vpc_id: str
    cidr: ipaddress.IPv4Network
    subnets: list[tuple[str, ipaddress.IPv4Network, str]] = field(default_factory=list)  # (id, cidr, az)

    def subnet_for(self, private_ip: str) -> str:
        address = ipaddress.IPv4Address(private_ip)
        for subnet_id, cidr, _zone in self.subnets:
            if address in cidr:
                return subnet_id
        raise ScenarioError(f"private_ip {private_ip} is outside the VPC {self.cidr}")


def aws_regions(scenario: Scenario) -> list[str]:
    """Every AWS region the scenario uses, in first-mention order (regions, then instances, then load balancers)."""
    ordered: dict[str, None] = {}
    for region in scenario.regions:
        ordered.setdefault(region.aws_region)
    for instance in scenario.instances:
        ordered.setdefault(instance.aws_region)
    for balancer in scenario.load_balancers:
        ordered.setdefault(balancer.aws_region)
    return list(ordered)


def private_blocks(scenario: Scenario) -> dict[str, ipaddress.IPv4Network]:
    """The /16 VPC block of each region with chosen private IPs; ScenarioError when AWS could not honour them."""
    blocks: dict[str, ipaddress.IPv4Network] = {}
    taken: dict[tuple[str, str], str] = {}
    for instance in scenario.instances:
        if instance.private_ip is None:
            continue
        block = ipaddress.IPv4Network(f"{instance.private_ip}/16", strict=False)
        known = blocks.setdefault(instance.aws_region, block)
        if known != block:
            raise ScenarioError(
                f"instance {instance.name}: private_ip {instance.private_ip} is outside {known}, "
                f"the VPC other instances of {instance.aws_region} use"
            )
        holder = taken.setdefault((instance.aws_region, instance.private_ip), instance.name)
        if holder != instance.name:
            raise ScenarioError(f"instance {instance.name}: private_ip {instance.private_ip} is already {holder}'s")
    return blocks


def event_id_for(instance_name: str, index: int) -> str:
    """A deterministic, AWS-shaped event id (`instance-event-` + 17 hex digits) for the n-th event of an instance."""
    digest = hashlib.sha256(f"{instance_name}/{index}".encode()).hexdigest()
    return f"instance-event-0{digest[:16]}"


def event_record(instance_name: str, index: int, spec: MaintenanceEventSpec, now: datetime) -> dict[str, Any]:
    """The event as moto serialises it in `describe_instance_status` (`InstanceStatuses[].Events[]`)."""
    not_before = now + timedelta(days=spec.not_before_in_days)
    description = spec.description
    if spec.completed and not description.startswith("[Completed]"):
        description = f"[Completed] {description}"
    event: dict[str, Any] = {
        "InstanceEventId": spec.event_id or event_id_for(instance_name, index),
        "Code": spec.code,
        "Description": description,
        "NotBefore": not_before,
        "NotAfter": not_before + timedelta(hours=spec.duration_hours),
    }
    if spec.code in REBOOT_CODES:
        # Reboots can be rescheduled up to a deadline; AWS reports it for reboot events.
        event["NotBeforeDeadline"] = not_before + timedelta(days=7)
    return event


class AwsSimulator:
    """moto's ThreadedMotoServer plus the seeding helper that fills it from a scenario."""

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1", port: int = 0) -> None:
        self.scenario = scenario
        self.host = host
        self.port = port
        self._server: _WatchedMotoServer | None = None
        self._url: str | None = None
        self._http = requests.Session()
        self._session = boto3.session.Session(aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY)
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self.instances: dict[str, SeededInstance] = {}
        self.load_balancers: dict[str, SeededLoadBalancer] = {}
        self._networks: dict[str, _RegionNetwork] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self.seeded_at: datetime | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The moto endpoint (`AWS_ENDPOINT_URL`)."""
        if self._url is None:
            raise AwsSandboxError("the moto server is not started; call start() first")
        return self._url

    @property
    def faults(self) -> FaultInjector | None:
        """moto's fault injector and request counter (None until started)."""
        return self._server.faults if self._server is not None else None

    @property
    def regions(self) -> list[str]:
        """The AWS regions this scenario seeds."""
        return aws_regions(self.scenario)

    def start(self) -> str:
        """Start moto on a free loopback port, seed it, and return its URL."""
        if self._server is None:
            # moto logs every request through werkzeug at INFO; a seeded large scenario would print thousands of lines.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self._server = _WatchedMotoServer(self.host, self.port)
            self._server.start()
            host, port = self._server.get_host_and_port()
            self._url = f"http://{host}:{port}"
        self.seed()
        return self.url

    def stop(self) -> None:
        """Stop the moto server (its in-memory state is left for the next reset to wipe)."""
        if self._server is not None:
            self._server.stop()
            self._server = None
            self._url = None
            self._clients = {}
        self._http.close()

    @property
    def signed(self) -> list[SignedRequest]:
        """The credentials of the requests moto received lately (oldest first); `forget_signatures()` empties it."""
        watch = self._server.watch if self._server is not None else None
        return list(watch.signed) if watch is not None else []

    def forget_signatures(self) -> None:
        """Start a fresh log of signing credentials."""
        if self._server is not None and self._server.watch is not None:
            self._server.watch.signed.clear()

    @property
    def changed(self) -> bool:
        """True once anything (a client, a helper below) changed moto's state since the last seeding."""
        return self._server is None or self._server.watch is None or self._server.watch.changed

    def reset(self, scenario: Scenario | None = None, force: bool = False) -> bool:
        """Seed moto again from the scenario (the new one when given) unless nothing changed; True if it reseeded.

        Skipping keeps event times from the last seeding: they stay relative to that moment, not to now. Faults
        (latency) are switched off either way.
        """
        if self.faults is not None:
            self.faults.clear()
        if scenario is None and not force and not self.changed:
            return False
        self.seed(scenario)
        return True

    def client(self, service: str, region: str) -> Any:
        """A boto3 client for `service` in `region` pointed at moto (cached; boto3 clients are thread-safe)."""
        key = (service, region)
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service, region_name=region, endpoint_url=self.url, config=_BOTO_CONFIG
                )
            return self._clients[key]

    # -- seeding -------------------------------------------------------------------------------------------------
    def seed(self, scenario: Scenario | None = None) -> None:
        """Reset moto, make its ids deterministic, and create everything the scenario describes.

        A scenario whose addresses AWS would refuse raises ScenarioError before moto is touched.
        """
        used_blocks = private_blocks(scenario or self.scenario)
        if scenario is not None:
            self.scenario = scenario
        self._moto_api("reset")
        self._moto_api(f"seed?a={MOTO_SEED}")
        self.instances = {}
        self.load_balancers = {}
        self._networks = {}
        self._events = {}
        # Whole seconds: AWS reports event times to the second.
        now = datetime.now(UTC).replace(microsecond=0)
        self.seeded_at = now
        by_region: dict[str, list[InstanceSpec]] = defaultdict(list)
        for instance in self.scenario.instances:
            by_region[instance.aws_region].append(instance)
        for index, region in enumerate(self.regions):
            self._networks[region] = self._build_network(region, index, used_blocks)
            self._launch_instances(region, by_region.get(region, []))
        # Before any stop: an Elastic IP stays on a stopped instance, an automatic public IP does not, and ELBv2
        # refuses to register a target that is not running (as AWS does).
        self._make_public_ips_unique()
        for balancer in self.scenario.load_balancers:
            self._create_load_balancer(balancer)
        for region in self.regions:
            self._stop_instances(region, by_region.get(region, []))
        for instance in self.scenario.instances:
            for position, spec in enumerate(instance.events):
                self._append_event(instance.name, position, spec, now)
        assert self._server is not None and self._server.watch is not None
        self._server.watch.changed = False

    def _moto_api(self, action: str) -> None:
        response = self._http.post(f"{self.url}/moto-api/{action}", timeout=30)
        if response.status_code != 200:
            raise AwsSandboxError(f"moto refused /moto-api/{action}: HTTP {response.status_code}")

    def _build_network(self, region: str, index: int, fixed: dict[str, ipaddress.IPv4Network]) -> _RegionNetwork:
        ec2 = self.client("ec2", region)
        cidr = fixed.get(region)
        if cidr is None:
            taken = set(fixed.values()) | {network.cidr for network in self._networks.values()}
            candidate = index + 1
            while ipaddress.IPv4Network(f"10.{candidate}.0.0/16") in taken:
                candidate += 1
            cidr = ipaddress.IPv4Network(f"10.{candidate}.0.0/16")
        vpc_id = ec2.create_vpc(
            CidrBlock=str(cidr),
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"sandbox-{region}"}]}],
        )["Vpc"]["VpcId"]
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:3]
        network = _RegionNetwork(vpc_id=vpc_id, cidr=cidr)
        for position, subnet_cidr in enumerate(cidr.subnets(new_prefix=18)):
            zone = zones[position % len(zones)]
            subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=str(subnet_cidr), AvailabilityZone=zone)["Subnet"][
                "SubnetId"
            ]
            # Instances get a public IP at launch, and a new one after a stop/start, as on a public subnet in AWS.
            ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
            network.subnets.append((subnet_id, subnet_cidr, zone))
        return network

    @staticmethod
    def _tags(instance: InstanceSpec) -> list[dict[str, str]]:
        tags = [{"Key": "role", "Value": instance.role}]
        if instance.cluster:
            tags.append({"Key": "cluster", "Value": instance.cluster})
        if instance.db_role:
            tags.append({"Key": "db-role", "Value": instance.db_role})
        return tags

    def _launch_instances(self, region: str, specs: list[InstanceSpec]) -> None:
        if not specs:
            return
        ec2 = self.client("ec2", region)
        network = self._networks[region]
        launched: list[tuple[InstanceSpec, dict[str, Any]]] = []
        # Chosen addresses first: moto hands out subnet addresses in order and answers 500 (not a clean error) when a
        # chosen address is already taken by an earlier automatic one.
        for spec in specs:
            if spec.private_ip is not None:
                reply = ec2.run_instances(
                    ImageId=IMAGE_ID,
                    InstanceType=spec.instance_type,
                    MinCount=1,
                    MaxCount=1,
                    SubnetId=network.subnet_for(spec.private_ip),
                    PrivateIpAddress=spec.private_ip,
                    TagSpecifications=[{"ResourceType": "instance", "Tags": self._tags(spec)}],
                )
                launched.append((spec, reply["Instances"][0]))
        # The rest in batches of identical launch parameters, spread round-robin over the three first subnets.
        batches: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[InstanceSpec]] = defaultdict(list)
        automatic = [spec for spec in specs if spec.private_ip is None]
        for position, spec in enumerate(automatic):
            subnet_id = network.subnets[position % 3][0]
            tag_key = tuple((tag["Key"], tag["Value"]) for tag in self._tags(spec))
            batches[(subnet_id, spec.instance_type, tag_key)].append(spec)
        for (subnet_id, instance_type, tag_key), members in batches.items():
            for start in range(0, len(members), LAUNCH_BATCH):
                chunk = members[start : start + LAUNCH_BATCH]
                reply = ec2.run_instances(
                    ImageId=IMAGE_ID,
                    InstanceType=instance_type,
                    MinCount=len(chunk),
                    MaxCount=len(chunk),
                    SubnetId=subnet_id,
                    TagSpecifications=[
                        {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tag_key]}
                    ],
                )
                launched.extend(zip(chunk, reply["Instances"], strict=True))
        # Name differs per instance, so it is the one tag that needs a call per instance; a few threads overlap the
        # round trips (boto3 clients are thread-safe, moto's server is threaded).
        with ThreadPoolExecutor(max_workers=TAGGING_THREADS) as pool:
            list(
                pool.map(
                    lambda pair: ec2.create_tags(
                        Resources=[pair[1]["InstanceId"]], Tags=[{"Key": "Name", "Value": pair[0].name}]
                    ),
                    launched,
                )
            )
        for spec, described in launched:
            public_ip = described.get("PublicIpAddress")
            self.instances[spec.name] = SeededInstance(
                name=spec.name,
                aws_region=region,
                instance_id=described["InstanceId"],
                private_ip=described["PrivateIpAddress"],
                public_ip=public_ip,
                launch_public_ip=public_ip,
                subnet_id=described["SubnetId"],
            )

    def _stop_instances(self, region: str, specs: list[InstanceSpec]) -> None:
        stopped = [spec.name for spec in specs if spec.state == "stopped"]
        if not stopped:
            return
        self.client("ec2", region).stop_instances(InstanceIds=[self.instances[name].instance_id for name in stopped])
        for name in stopped:
            self.instances[name].public_ip = None  # AWS releases the automatic public IP on stop

    def _make_public_ips_unique(self) -> None:
        """Give an Elastic IP to instances whose random public IP collides with another's.

        moto draws public IPs from 54.214.0.0/16, so a fleet of a thousand instances gets a few duplicates, which
        would make DNS records match two instances; AWS never hands out one address twice.
        """
        seen: set[str] = set()
        spare = ipaddress.IPv4Network("52.95.0.0/16").hosts()
        for seeded in self.instances.values():
            address = seeded.launch_public_ip
            if address is None:
                continue
            if address not in seen:
                seen.add(address)
                continue
            fresh = str(next(spare))
            while fresh in seen:
                fresh = str(next(spare))
            self._assign_elastic_ip(seeded, fresh)
            seen.add(fresh)

    def _assign_elastic_ip(self, seeded: SeededInstance, address: str | None = None) -> str:
        ec2 = self.client("ec2", seeded.aws_region)
        request: dict[str, Any] = {"Domain": "vpc"}
        if address is not None:
            request["Address"] = address
        allocation = ec2.allocate_address(**request)
        ec2.associate_address(InstanceId=seeded.instance_id, AllocationId=allocation["AllocationId"])
        seeded.public_ip = allocation["PublicIp"]
        seeded.launch_public_ip = allocation["PublicIp"]
        return str(allocation["PublicIp"])

    def _create_load_balancer(self, spec: LoadBalancerSpec) -> None:
        network = self._networks[spec.aws_region]
        tags = [{"Key": "cluster", "Value": spec.cluster}] if spec.cluster else []
        members = [self.instances[name].instance_id for name in spec.instances]
        subnet_ids = [subnet_id for subnet_id, _cidr, _zone in network.subnets[:3]]
        if spec.kind == "classic":
            elb = self.client("elb", spec.aws_region)
            reply = elb.create_load_balancer(
                LoadBalancerName=spec.name,
                Listeners=[
                    {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}
                ],
                Subnets=subnet_ids,
                Tags=tags,
            )
            if members:
                elb.register_instances_with_load_balancer(
                    LoadBalancerName=spec.name, Instances=[{"InstanceId": member} for member in members]
                )
            self.load_balancers[spec.name] = SeededLoadBalancer(
                name=spec.name, aws_region=spec.aws_region, kind="classic", dns_name=reply["DNSName"]
            )
            return
        elbv2 = self.client("elbv2", spec.aws_region)
        protocol = "HTTP" if spec.v2_type == "application" else "TCP"
        created = elbv2.create_load_balancer(
            Name=spec.name,
            Subnets=subnet_ids,
            Type=spec.v2_type,
            Scheme="internet-facing",
            **({"Tags": tags} if tags else {}),
        )["LoadBalancers"][0]
        group = elbv2.create_target_group(
            Name=f"{spec.name[:29]}-tg",
            Protocol=protocol,
            Port=80,
            VpcId=network.vpc_id,
            TargetType="instance",
        )["TargetGroups"][0]
        elbv2.create_listener(
            LoadBalancerArn=created["LoadBalancerArn"],
            Protocol=protocol,
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
        )
        if members:
            elbv2.register_targets(
                TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": member, "Port": 80} for member in members]
            )
        self.load_balancers[spec.name] = SeededLoadBalancer(
            name=spec.name,
            aws_region=spec.aws_region,
            kind="v2",
            dns_name=created["DNSName"],
            arn=created["LoadBalancerArn"],
            target_group_arn=group["TargetGroupArn"],
        )

    def _moto_instance(self, name: str) -> Any:
        seeded = self.instance(name)
        # moto internals (pinned moto 5.2.5): the only way to make describe_instance_status return Events.
        return get_backend("ec2")[DEFAULT_ACCOUNT_ID][seeded.aws_region].get_instance(seeded.instance_id)

    def _append_event(self, name: str, position: int, spec: MaintenanceEventSpec, now: datetime) -> dict[str, Any]:
        event = event_record(name, position, spec, now)
        events = self._events.setdefault(name, [])
        events.append(event)
        self._set_events(name, events)
        return event

    def _set_events(self, name: str, events: list[dict[str, Any]]) -> None:
        self._moto_instance(name).events = list(events)
        if self._server is not None and self._server.watch is not None:
            self._server.watch.changed = True  # an in-memory change the watch cannot see on the wire

    # -- reading the seeded world ----------------------------------------------------------------------------------
    def instance(self, name: str) -> SeededInstance:
        """The seeded instance called `name` (AwsSandboxError when the scenario has none)."""
        try:
            return self.instances[name]
        except KeyError:
            raise AwsSandboxError(f"no instance named {name!r} in scenario {self.scenario.name!r}") from None

    def load_balancer(self, name: str) -> SeededLoadBalancer:
        """The seeded load balancer called `name` (AwsSandboxError when the scenario has none)."""
        try:
            return self.load_balancers[name]
        except KeyError:
            raise AwsSandboxError(f"no load balancer named {name!r} in scenario {self.scenario.name!r}") from None

    def resolve_content(self, record: RecordSpec) -> str:
        """A record's content from the seeded state: literal, an instance's public/private IP, or an LB's DNS name."""
        if record.content is not None:
            return record.content
        if record.load_balancer is not None:
            return self.load_balancer(record.load_balancer).dns_name
        assert record.instance is not None  # RecordSpec guarantees exactly one source
        seeded = self.instance(record.instance)
        if record.ip == "private":
            return seeded.private_ip
        # A stopped instance has lost its public IP; its record still holds the one it had (a stale record).
        address = seeded.public_ip or seeded.launch_public_ip
        if address is None:
            raise AwsSandboxError(f"record {record.name}: instance {record.instance} has no public IP")
        return address

    # -- changing the world (for tests) ---------------------------------------------------------------------------
    def replace_instance_ip(self, name: str) -> str:
        """Stop and start the instance, as an operator would: AWS gives it a new public IP. Returns the new IP."""
        seeded = self.instance(name)
        ec2 = self.client("ec2", seeded.aws_region)
        previous = seeded.public_ip or seeded.launch_public_ip
        taken = {other.launch_public_ip for other in self.instances.values()} | {previous}
        for _attempt in range(20):
            ec2.stop_instances(InstanceIds=[seeded.instance_id])
            ec2.start_instances(InstanceIds=[seeded.instance_id])
            described = ec2.describe_instances(InstanceIds=[seeded.instance_id])["Reservations"][0]["Instances"][0]
            address = described.get("PublicIpAddress")
            if address and address not in taken:
                break
        else:
            # Random draws kept colliding: fall back to an Elastic IP, still a real AWS call.
            address = self._assign_elastic_ip(seeded)
        seeded.public_ip = address
        seeded.launch_public_ip = address
        return str(address)

    def stop_instance(self, name: str) -> None:
        """Stop a running instance (it loses an automatic public IP, keeps an Elastic IP)."""
        seeded = self.instance(name)
        ec2 = self.client("ec2", seeded.aws_region)
        ec2.stop_instances(InstanceIds=[seeded.instance_id])
        described = ec2.describe_instances(InstanceIds=[seeded.instance_id])["Reservations"][0]["Instances"][0]
        seeded.public_ip = described.get("PublicIpAddress")

    def add_maintenance_event(self, name: str, spec: MaintenanceEventSpec) -> str:
        """Schedule a maintenance event on an instance (times relative to now); returns its event id."""
        position = len(self._events.get(name, []))
        self.instance(name)
        now = datetime.now(UTC).replace(microsecond=0)
        return str(self._append_event(name, position, spec, now)["InstanceEventId"])

    def complete_maintenance_event(self, name: str, event_id: str) -> None:
        """Mark an event completed the way AWS shows it: still listed, Description prefixed `[Completed]`."""
        events = self._events.get(name, [])
        for event in events:
            if event["InstanceEventId"] == event_id:
                if not event["Description"].startswith("[Completed]"):
                    event["Description"] = f"[Completed] {event['Description']}"
                self._set_events(name, events)
                return
        raise AwsSandboxError(f"instance {name!r} has no maintenance event {event_id!r}")

    def clear_maintenance_events(self, name: str) -> None:
        """Remove every maintenance event from an instance (AWS drops completed events after about a week)."""
        self.instance(name)
        self._events[name] = []
        self._set_events(name, [])

    def deregister_instance(self, load_balancer: str, instance: str) -> None:
        """Take an instance out of a load balancer (classic ELB or the v2 target group)."""
        balancer = self.load_balancer(load_balancer)
        instance_id = self.instance(instance).instance_id
        if balancer.kind == "classic":
            self.client("elb", balancer.aws_region).deregister_instances_from_load_balancer(
                LoadBalancerName=balancer.name, Instances=[{"InstanceId": instance_id}]
            )
        else:
            self.client("elbv2", balancer.aws_region).deregister_targets(
                TargetGroupArn=balancer.target_group_arn, Targets=[{"Id": instance_id, "Port": 80}]
            )
