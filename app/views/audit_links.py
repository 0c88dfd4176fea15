"""Where an audit event's target and the jobs it started live in the panel: links, built only to pages that exist."""
from __future__ import annotations

import re

from flask import current_app, url_for
from werkzeug.routing import BuildError

from app.models import AuditEvent

# A target's table → the page of one such row (endpoint, its id argument). Pages other parts of the panel add
# (a cluster page, a load balancer page) are linked as soon as their endpoint exists.
ROW_PAGES: dict[str, tuple[str, str]] = {
    "apps": ("apps.show", "app_id"),
    "instances": ("instances.show", "instance_id"),
    "instance": ("instances.show", "instance_id"),
    "change_sets": ("change_sets.show", "change_set_id"),
    "dns_zones": ("dns.zone", "zone_id"),
    "clusters": ("clusters.show", "cluster_id"),
    "load_balancers": ("load_balancers.show", "load_balancer_id"),
}
# Kinds of target listed on a page of their own (no page per row).
LIST_PAGES: dict[str, str] = {
    "users": "users.index",
    "certificates": "certificates.index",
    "certificate": "certificates.index",
    "limit_sets": "limits.index",
    "api_clients": "settings.api_clients",
    "internal_tools": "settings.internal_tools",
    "alerts": "alerts.index",
    "sync": "sync.index",
}
CHANGE_SET_LABEL = re.compile(r"^change set #(\d+)$")
SYNC_ACTIONS = ("sync.",)


def _url(endpoint: str, **values) -> str | None:
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:  # a page whose arguments are not the ones assumed here: no link rather than a wrong one
        return None


def target_url(event: AuditEvent, database_apps: dict[str, int]) -> str | None:
    """The page of the event's target, or None when the panel has none."""
    kind, identity = event.target_type, event.target_id
    if kind in ROW_PAGES and identity and identity.isdigit():
        endpoint, argument = ROW_PAGES[kind]
        return _url(endpoint, **{argument: int(identity)})
    if kind == "databases" and identity in database_apps:
        return _url("databases.section", app_id=database_apps[identity])
    if kind == "users" and identity:
        url = _url("users.index")
        return f"{url}#user-{identity}" if url else None
    if kind in LIST_PAGES:
        return _url(LIST_PAGES[kind])
    label = CHANGE_SET_LABEL.match(event.target or "")
    if label:
        return _url("change_sets.show", change_set_id=int(label[1]))
    return None


def job_url(event: AuditEvent) -> str | None:
    """The progress page of the job the event queued, where the panel has one (sync runs)."""
    job_id = (event.after or {}).get("job_id") if isinstance(event.after, dict) else None
    if not job_id or not isinstance(job_id, str) or not event.action.startswith(SYNC_ACTIONS):
        return None
    return _url("sync.job", job_id=job_id)
