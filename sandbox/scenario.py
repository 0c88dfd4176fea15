"""The scenario file format: one declarative YAML document describing a whole platform.

A scenario names regions with their clusters, Deis users, apps, certificates, AWS instances and load balancers,
Cloudflare zones and records, and scheduled maintenance events. Every simulator seeds itself from one `Scenario`.
Relative dates (`expires_in_days`, `not_before_in_days`) are resolved against the moment of seeding, so a demo
always has certificates about to expire.
"""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SCENARIO_DIR = Path(__file__).parent / "scenarios"
APP_ID = re.compile(r"^[a-z0-9-]+$")
CONFIG_KEY = re.compile(r"^[a-z_]+[a-z0-9_]*$", re.IGNORECASE)
PROC_TYPE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class ScenarioError(ValueError):
    """A scenario file that cannot be loaded; the message says which file and which field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class DeisUser(_Strict):
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=150)
    password: str = Field(min_length=1)
    admin: bool = False
    email: str | None = None
    # Tokens are per cluster in Deis (each controller has its own user table). When omitted, the simulator derives
    # a deterministic token from username and cluster name.
    tokens: dict[str, str] = Field(default_factory=dict)


class ClusterSpec(_Strict):
    # The panel's rule for a cluster name (DEIS_CLUSTERS): a scenario the panel cannot run against is refused here.
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=63)
    kind: Literal["production", "staging", "monitoring"] = "production"
    monitored_from: str | None = None
    load_balancer: str | None = None  # name of the cluster's AWS load balancer


class RegionSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9-]+$")
    aws_region: str = Field(min_length=1)
    timezone: str
    backup_hour: int = Field(default=3, ge=0, le=23)
    clusters: list[ClusterSpec]

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{value!r} is not an IANA time zone (like Europe/Dublin)") from error
        return value


class AppSpec(_Strict):
    name: str
    cluster: str
    owner: str
    app_type: str = "web"  # stored in Deis app settings as label {"app-type": ...}
    shared_with: list[str] = Field(default_factory=list)
    structure: dict[str, int] = Field(default_factory=lambda: {"web": 1})
    config: dict[str, str] = Field(default_factory=dict)
    memory: dict[str, str] = Field(default_factory=dict)
    cpu: dict[str, str] = Field(default_factory=dict)
    domains: list[str] = Field(default_factory=list)
    maintenance: bool = False

    @field_validator("name")
    @classmethod
    def _app_id(cls, value: str) -> str:
        if not APP_ID.match(value):
            raise ValueError(f"app name {value!r} must match [a-z0-9-]+")
        return value

    @field_validator("config")
    @classmethod
    def _config_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not CONFIG_KEY.match(key):
                raise ValueError(f"config key {key!r} must match ^[a-z_]+[a-z0-9_]*$")
        return value


class CertificateSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9-]+$")
    cluster: str
    common_name: str
    sans: list[str] = Field(default_factory=list)
    starts_days_ago: int = 60
    expires_in_days: int = 90
    domains: list[str] = Field(default_factory=list)
    owner: str | None = None  # defaults to the panel's Deis user


class MaintenanceEventSpec(_Strict):
    event_id: str | None = None
    code: Literal["instance-reboot", "system-reboot", "system-maintenance", "instance-retirement", "instance-stop"]
    description: str = "scheduled maintenance"
    not_before_in_days: float = 3
    duration_hours: float = 2
    completed: bool = False


class InstanceSpec(_Strict):
    name: str
    aws_region: str
    role: Literal["deis", "postgres", "chef", "monitoring", "other"] = "deis"
    cluster: str | None = None
    db_role: Literal["primary", "replica"] | None = None
    state: Literal["running", "stopped"] = "running"
    instance_type: str = "t3.medium"
    private_ip: str | None = None
    events: list[MaintenanceEventSpec] = Field(default_factory=list)

    @field_validator("private_ip")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.IPv4Address(value)
            except ValueError as error:
                raise ValueError(f"private_ip {value!r} is not an IPv4 address") from error
        return value


class LoadBalancerSpec(_Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9-]+$", max_length=32)
    aws_region: str
    kind: Literal["classic", "v2"] = "classic"
    v2_type: Literal["application", "network"] = "application"  # only read when kind is v2
    cluster: str | None = None
    instances: list[str] = Field(default_factory=list)  # instance names


class RecordSpec(_Strict):
    """A DNS record; content is literal, or taken from an instance's IP or a load balancer's DNS name."""

    name: str
    type: Literal["A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA"] = "A"
    content: str | None = None
    instance: str | None = None
    ip: Literal["public", "private"] = "public"
    load_balancer: str | None = None
    ttl: int = 300
    proxied: bool = False
    comment: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> RecordSpec:
        sources = [s for s in (self.content, self.instance, self.load_balancer) if s is not None]
        if len(sources) != 1:
            raise ValueError(f"record {self.name}: give exactly one of content, instance, load_balancer")
        # Sandbox instances have IPv4 addresses only, and a load balancer is reached by its DNS name.
        if self.instance is not None and self.type != "A":
            raise ValueError(f"record {self.name}: a record pointing at an instance must be type A, not {self.type}")
        if self.load_balancer is not None and self.type != "CNAME":
            raise ValueError(
                f"record {self.name}: a record pointing at a load balancer must be type CNAME, not {self.type}"
            )
        return self


class ZoneSpec(_Strict):
    name: str
    # The Cloudflare plan changes API limits: minimum TTL (30 s on enterprise, else 60 s), records per batch call
    # (200 on free, 3,500 on paid plans) and record tags (none on free).
    plan: Literal["free", "pro", "business", "enterprise"] = "free"
    records: list[RecordSpec] = Field(default_factory=list)


class CloudflareTokenSpec(_Strict):
    """Another API token (another tool of a user): it spends that user's rate limit."""

    token: str = Field(min_length=1)
    user: str = Field(min_length=1)


class CloudflareSpec(_Strict):
    token: str = "sandbox-cloudflare-token"  # the panel's token
    # Cloudflare's rate limit is per user across all of that user's tokens: the user the panel's token belongs to.
    user: str = "sandbox-user"
    other_tokens: list[CloudflareTokenSpec] = Field(default_factory=list)
    rate_limit_requests: int = 1200
    rate_limit_window_seconds: int = 300

    @model_validator(mode="after")
    def _unique_tokens(self) -> CloudflareSpec:
        tokens = [self.token, *(other.token for other in self.other_tokens)]
        if len(set(tokens)) != len(tokens):
            raise ValueError("cloudflare: a token is listed twice")
        return self

    def users_by_token(self) -> dict[str, str]:
        """Every token the simulator accepts, with the user whose rate limit it spends."""
        return {self.token: self.user, **{other.token: other.user for other in self.other_tokens}}


class Scenario(_Strict):
    name: str
    panel_user: DeisUser  # the Deis user the panel uses: admin everywhere, owner of every certificate
    regions: list[RegionSpec]
    users: list[DeisUser] = Field(default_factory=list)
    apps: list[AppSpec] = Field(default_factory=list)
    certificates: list[CertificateSpec] = Field(default_factory=list)
    instances: list[InstanceSpec] = Field(default_factory=list)
    load_balancers: list[LoadBalancerSpec] = Field(default_factory=list)
    cloudflare: CloudflareSpec = Field(default_factory=CloudflareSpec)
    zones: list[ZoneSpec] = Field(default_factory=list)

    @property
    def clusters(self) -> list[ClusterSpec]:
        return [cluster for region in self.regions for cluster in region.clusters]

    def region_of(self, cluster_name: str) -> RegionSpec:
        for region in self.regions:
            if any(c.name == cluster_name for c in region.clusters):
                return region
        raise KeyError(cluster_name)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        clusters = {c.name for c in self.clusters}
        users = {u.username for u in self.users} | {self.panel_user.username}
        instances = {i.name for i in self.instances}
        balancers = {lb.name for lb in self.load_balancers}
        problems: list[str] = []
        for cluster in self.clusters:
            if cluster.monitored_from and cluster.monitored_from not in clusters:
                problems.append(f"cluster {cluster.name}: monitored_from {cluster.monitored_from!r} is no cluster")
        seen_apps: set[tuple[str, str]] = set()
        for app in self.apps:
            if app.cluster not in clusters:
                problems.append(f"app {app.name}: unknown cluster {app.cluster!r}")
            if app.owner not in users:
                problems.append(f"app {app.name}: unknown owner {app.owner!r}")
            if (app.cluster, app.name) in seen_apps:
                problems.append(f"app {app.name}: defined twice on {app.cluster}")
            seen_apps.add((app.cluster, app.name))
        for cert in self.certificates:
            if cert.cluster not in clusters:
                problems.append(f"certificate {cert.name}: unknown cluster {cert.cluster!r}")
        instance_regions: dict[str, str] = {}
        for instance in self.instances:
            if instance.name in instance_regions:
                problems.append(f"instance {instance.name}: defined twice")
            instance_regions[instance.name] = instance.aws_region
            if instance.cluster and instance.cluster not in clusters:
                problems.append(f"instance {instance.name}: unknown cluster {instance.cluster!r}")
        seen_balancers: set[str] = set()
        for balancer in self.load_balancers:
            if balancer.name in seen_balancers:
                problems.append(f"load balancer {balancer.name}: defined twice")
            seen_balancers.add(balancer.name)
            if balancer.cluster and balancer.cluster not in clusters:
                problems.append(f"load balancer {balancer.name}: unknown cluster {balancer.cluster!r}")
            for member in balancer.instances:
                if member not in instances:
                    problems.append(f"load balancer {balancer.name}: unknown instance {member!r}")
                elif instance_regions[member] != balancer.aws_region:
                    problems.append(
                        f"load balancer {balancer.name}: instance {member!r} is in {instance_regions[member]}, "
                        f"not {balancer.aws_region}"
                    )
        for cluster in self.clusters:
            if cluster.load_balancer and cluster.load_balancer not in balancers:
                problems.append(f"cluster {cluster.name}: unknown load balancer {cluster.load_balancer!r}")
        for zone in self.zones:
            for record in zone.records:
                if record.instance and record.instance not in instances:
                    problems.append(f"record {record.name}: unknown instance {record.instance!r}")
                if record.load_balancer and record.load_balancer not in balancers:
                    problems.append(f"record {record.name}: unknown load balancer {record.load_balancer!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load(name_or_path: str | Path) -> Scenario:
    """Load a scenario by name (`demo`, `test`) or by path; raises ScenarioError with a readable reason."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ScenarioError(f"scenario {name_or_path!r}: no file {path}") from error
    except yaml.YAMLError as error:
        raise ScenarioError(f"scenario {path}: not valid YAML: {error}") from error
    return parse(document, source=str(path))


def parse(document: object, source: str = "<scenario>") -> Scenario:
    """Validate a scenario document already read into Python objects."""
    if not isinstance(document, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping at the top level")
    try:
        return Scenario.model_validate(document)
    except ValidationError as error:
        # One readable line per problem ("apps.3.cluster: ..."), without pydantic's URLs and input dumps.
        problems = [
            f"{'.'.join(str(part) for part in detail['loc']) or 'scenario'}: {detail['msg'].removeprefix('Value error, ')}"
            for detail in error.errors(include_url=False)
        ]
        raise ScenarioError(f"{source}: {'; '.join(problems)}") from error
