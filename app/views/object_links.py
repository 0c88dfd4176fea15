"""Where each kind of object has its page, so every page links an object the same way (see macros/links.html)."""
from __future__ import annotations

from flask import Flask, url_for

from app.models import App, Certificate, Cluster, DnsRecord, DnsZone, Instance, LoadBalancer, User


def object_url(target: object) -> str | None:
    """The page of `target` (a model row), or None for a kind of object that has no page."""
    if isinstance(target, App):
        return url_for("apps.show", app_id=target.id)
    if isinstance(target, Cluster):
        return url_for("clusters.show", cluster_id=target.id)
    if isinstance(target, LoadBalancer):
        return url_for("load_balancers.show", load_balancer_id=target.id)
    if isinstance(target, Instance):
        return url_for("instances.show", instance_id=target.id)
    if isinstance(target, DnsZone):
        return url_for("dns.zone", zone_id=target.id)
    if isinstance(target, DnsRecord):
        return url_for("dns.zone", zone_id=target.zone_id, q=target.name) + f"#record-{target.id}"
    if isinstance(target, Certificate):
        return url_for("certificates.index", cluster=target.cluster.name) + f"#certificate-{target.id}"
    if isinstance(target, User):
        return url_for("users.index") + f"#user-{target.id}"
    return None


def object_label(target: object) -> str:
    """How `target` is named in a link."""
    if isinstance(target, Instance):
        return target.name or target.aws_id
    if isinstance(target, Certificate):
        return target.common_name or target.name
    if isinstance(target, User):
        return target.username
    return str(getattr(target, "name", target))


# Audit events and operations name their target by table and id: the ones whose rows have a page.
TARGET_PAGES = {
    "apps": ("apps.show", "app_id"), "app": ("apps.show", "app_id"),
    "clusters": ("clusters.show", "cluster_id"), "cluster": ("clusters.show", "cluster_id"),
    "instances": ("instances.show", "instance_id"), "instance": ("instances.show", "instance_id"),
    "load_balancers": ("load_balancers.show", "load_balancer_id"),
    "dns_zones": ("dns.zone", "zone_id"), "zone": ("dns.zone", "zone_id"),
    "change_sets": ("change_sets.show", "change_set_id"), "change_set": ("change_sets.show", "change_set_id"),
}
# Targets named by a string id (a job's id is not a number).
TEXT_TARGET_PAGES = {"job": ("sync.job", "job_id")}


def target_url(target_type: str | None, target_id: object) -> str | None:
    """The page of an audit or operation target named by type and id, or None when that kind has no page."""
    if not target_id:
        return None
    if target_type in TEXT_TARGET_PAGES:
        endpoint, argument = TEXT_TARGET_PAGES[target_type]
        return url_for(endpoint, **{argument: str(target_id)})
    if target_type == "users":
        return url_for("users.index")
    page = TARGET_PAGES.get(target_type or "")
    if page is None or not str(target_id).isdigit():
        return None
    endpoint, argument = page
    return url_for(endpoint, **{argument: int(str(target_id))})


def register(app: Flask) -> None:
    app.add_template_global(object_url, "object_url")
    app.add_template_global(object_label, "object_label")
    app.add_template_global(target_url, "target_url")
