"""Building the integration clients from the panel's settings (one place, so tests can build sandbox-backed ones)."""
from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.services.aws import AwsRegion
from app.services.cloudflare_dns import CloudflareDns, RequestBudget
from app.services.databases_api import CALLBACK_PATH, DatabasesApi
from app.services.deis import DeisClient


class NotConfigured(Exception):
    """An integration has no credentials in the settings; the message says which variable to set."""


@dataclass
class PlatformClients:
    settings: Settings
    rate_limit_storage_uri: str = "memory://"

    def cluster_configs(self) -> list[dict]:
        """Every configured cluster as a plain mapping (what regions and clusters rows are made from)."""
        return [cluster.as_config() for cluster in self.settings.deis_clusters]

    def deis(self, cluster_name: str) -> DeisClient:
        """A client of that cluster's controller, with the panel's own Deis user and the cluster's TLS and timeouts."""
        for cluster in self.settings.deis_clusters:
            if cluster.name == cluster_name:
                return DeisClient(cluster.name, cluster.url, cluster.token, username=cluster.username,
                                  verify=cluster.verify, connect_timeout=cluster.connect_timeout,
                                  read_timeout=cluster.read_timeout, write_timeout=self.settings.deis_write_timeout)
        raise NotConfigured(f"cluster {cluster_name!r} is not in DEIS_CLUSTERS")

    def databases_api(self) -> DatabasesApi:
        """A client of the Databases API whose callbacks come back to this panel's `/dbapi/callbacks`."""
        return DatabasesApi(self.settings.dbapi_url, self.settings.dbapi_service_key,
                            self.settings.panel_url + CALLBACK_PATH, read_timeout=self.settings.dbapi_timeout)

    def database_server(self, cluster_name: str) -> str:
        """The dbapi server holding that cluster's databases (`database_server` in DEIS_CLUSTERS, else its name)."""
        for cluster in self.settings.deis_clusters:
            if cluster.name == cluster_name:
                return cluster.dbapi_server
        raise NotConfigured(f"cluster {cluster_name!r} is not in DEIS_CLUSTERS")

    def aws_regions(self) -> list[str]:
        regions = set(self.settings.aws_regions) | set(self.settings.aws_role_arns)
        regions.update(cluster.aws_region for cluster in self.settings.deis_clusters)
        return sorted(regions)

    def aws(self, region: str) -> AwsRegion:
        """A client of one region with boto3's own credential chain (never keys from us), through its role if any."""
        return AwsRegion(region, endpoint_url=self.settings.aws_endpoint_url,
                         role_arn=self.settings.aws_role_arns.get(region))

    def cloudflare(self) -> CloudflareDns:
        if not self.settings.cloudflare_api_token:
            raise NotConfigured("CLOUDFLARE_API_TOKEN is not set")
        budget = RequestBudget(self.settings.cloudflare_rate_limit, self.settings.cloudflare_rate_window,
                               storage_uri=self.rate_limit_storage_uri,
                               max_wait=self.settings.cloudflare_max_wait)
        return CloudflareDns(self.settings.cloudflare_api_token, base_url=self.settings.cloudflare_base_url,
                             budget=budget)


def for_config(config: dict) -> PlatformClients:
    """The clients for a panel app's config (rate limits shared through the panel's Redis)."""
    return PlatformClients(config["SETTINGS"], rate_limit_storage_uri=config["RATELIMIT_STORAGE_URI"])
