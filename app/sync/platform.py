"""Regions and clusters come from configuration (DEIS_CLUSTERS): make their rows match it."""
from __future__ import annotations

from sqlalchemy.orm import Session

from app.models import Cluster, Region
from app.sync.upsert import Counts, upsert


class ClusterConfigError(ValueError):
    """DEIS_CLUSTERS describes a cluster the panel cannot use; the message says which field."""


REQUIRED = ("name", "url", "token", "region", "aws_region")


def ensure_clusters(session: Session, cluster_configs: list[dict]) -> Counts:
    """Create or update Region and Cluster rows from configuration (never deletes: history hangs on them)."""
    for index, config in enumerate(cluster_configs):
        missing = [key for key in REQUIRED if not config.get(key)]
        if missing:
            raise ClusterConfigError(f"DEIS_CLUSTERS[{index}] lacks {', '.join(missing)}")
    regions = {}
    for config in cluster_configs:
        regions[config["region"]] = {
            "name": config["region"], "aws_region": config["aws_region"],
            "timezone": config.get("timezone") or "UTC", "backup_hour": int(config.get("backup_hour", 3)),
            "backup_minute": int(config.get("backup_minute", 0)),
        }
    counts = Counts()
    region_result = upsert(session, Region, lambda row: row["name"], regions.values(), [])
    counts += region_result.counts
    clusters = [
        {
            "name": config["name"], "region_id": region_result.ids[config["region"]],
            "kind": config.get("kind") or "production", "controller_url": config["url"],
            "load_balancer_name": config.get("load_balancer"),
        }
        for config in cluster_configs
    ]
    cluster_result = upsert(session, Cluster, lambda row: row["name"], clusters, [])
    counts += cluster_result.counts
    monitored = [
        {"name": config["name"], "monitored_from_id": cluster_result.ids.get(config.get("monitored_from"))}
        for config in cluster_configs
    ]
    upsert(session, Cluster, lambda row: row["name"], monitored, [])  # a detail of the rows counted above
    return counts

