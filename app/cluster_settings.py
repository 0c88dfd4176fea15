"""`DEIS_CLUSTERS`, validated at start-up: one model per cluster, every problem named with its index and name.

A cluster object holds how to reach its controller (url, TLS, timeouts), the panel's Deis user there (username and
token: a superuser that owns every certificate), and where the cluster sits (region, AWS region, kind, ...).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DATABASE_SERVER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")  # dbapi's rule for a server name


class ClusterSettingsError(ValueError):
    """DEIS_CLUSTERS describes clusters the panel cannot use; the message lists every problem."""


class DeisClusterSettings(BaseModel):
    """One cluster of `DEIS_CLUSTERS`."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=63)
    url: str
    username: str = Field(min_length=1)  # the panel's Deis user on this cluster: superuser, owner of the certificates
    token: str = Field(min_length=1, repr=False)
    region: str = Field(min_length=1)
    aws_region: str = Field(min_length=1)
    timezone: str = "UTC"
    backup_hour: int = Field(default=3, ge=0, le=23)
    backup_minute: int = Field(default=0, ge=0, le=59)  # nightly backups start at backup_hour:backup_minute, local
    kind: Literal["production", "staging", "monitoring"] = "production"
    monitored_from: str | None = None
    load_balancer: str | None = None
    verify_tls: bool = True
    ca_bundle: str | None = None  # a PEM file of the CA(s) that sign the controller's certificate
    connect_timeout: float = Field(default=5.0, gt=0, le=300)
    read_timeout: float = Field(default=20.0, gt=0, le=3600)
    # The Databases API server (this cluster's PostgreSQL replica set) its apps' databases live on.
    database_server: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("a cluster name is lowercase letters, digits and '-'")
        return value

    @field_validator("database_server")
    @classmethod
    def _database_server(cls, value: str | None) -> str | None:
        if value is not None and not DATABASE_SERVER.match(value):
            raise ValueError("a database server name is lowercase letters, digits and '_', '.', '-' (up to 63)")
        return value

    @property
    def dbapi_server(self) -> str:
        """The dbapi server name of this cluster's databases: `database_server`, else the cluster's name."""
        return self.database_server or self.name

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be the controller's http(s) address, like https://deis.example.com")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials: the token goes in 'token'")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or a fragment")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{value!r} is not an IANA time zone (like Europe/Dublin)") from error
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no file {value}")
        return value

    @model_validator(mode="after")
    def _tls(self) -> DeisClusterSettings:
        if self.ca_bundle is not None and not self.verify_tls:
            raise ValueError("ca_bundle is set but verify_tls is false: say which one you mean")
        return self

    @property
    def verify(self) -> bool | str:
        """What `requests` takes as `verify`: the CA bundle's path, or whether to check against the system's CAs."""
        return self.ca_bundle if self.ca_bundle is not None else self.verify_tls

    def as_config(self) -> dict[str, Any]:
        """The plain mapping the sync layer reads (regions and clusters rows), token included."""
        return self.model_dump()


_CLUSTERS = TypeAdapter(list[dict[str, Any]])


def parse_clusters(raw: str | None) -> list[DeisClusterSettings]:
    """Read `DEIS_CLUSTERS` (a JSON list); raises ClusterSettingsError naming every problem, never echoing a token."""
    try:
        document = json.loads(raw or "[]")
    except json.JSONDecodeError as error:
        raise ClusterSettingsError(f"DEIS_CLUSTERS is not valid JSON: {error}") from error
    try:
        items = _CLUSTERS.validate_python(document)
    except ValidationError as error:
        raise ClusterSettingsError("DEIS_CLUSTERS must be a JSON list of cluster objects") from error
    clusters: list[DeisClusterSettings] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        label = f"DEIS_CLUSTERS[{index}]" + (f" ({item['name']})" if isinstance(item.get("name"), str) else "")
        try:
            clusters.append(DeisClusterSettings.model_validate(item))
        except ValidationError as error:
            problems.extend(f"{label}: {_problem(detail)}" for detail in error.errors(include_url=False))
    names = [cluster.name for cluster in clusters]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"DEIS_CLUSTERS: cluster {name!r} is defined {names.count(name)} times")
    for cluster in clusters:
        if cluster.monitored_from is not None and cluster.monitored_from not in names:
            problems.append(f"DEIS_CLUSTERS ({cluster.name}): monitored_from {cluster.monitored_from!r} is no cluster")
        if cluster.monitored_from == cluster.name:
            problems.append(f"DEIS_CLUSTERS ({cluster.name}): a cluster cannot be monitored from itself")
    if problems:
        raise ClusterSettingsError("; ".join(problems))
    return clusters


def _problem(detail: Any) -> str:
    """One readable problem: the field and pydantic's words, without the input (it may be a token)."""
    field = ".".join(str(part) for part in detail["loc"])
    message = str(detail["msg"]).removeprefix("Value error, ")
    if detail["type"] == "missing":
        message = "missing (required)"
    elif detail["type"] == "extra_forbidden":
        message = "unknown key (check its spelling)"
    return f"{field}: {message}" if field else message
