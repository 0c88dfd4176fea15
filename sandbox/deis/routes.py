"""The controller's URL table: Django regexes on the full path, with the methods and the access each route has."""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """A Django-style regex on the full path, the methods it maps, and who may call it."""

    pattern: re.Pattern[str]
    methods: dict[str, str]  # HTTP method -> handler method name on DeisSimulator
    auth: str = "token"  # "token": DRF token auth + IsAuthenticated; "admin": + IsAdmin; "none": public


def make_route(regex: str, methods: dict[str, str], auth: str = "token") -> Route:
    return Route(re.compile(regex), methods, auth)


APP = r"(?P<id>[a-z0-9-]+)"
DOMAIN = r"(?P<domain>\**\.?[-\._\w]+)"
ROUTES: tuple[Route, ...] = (
    make_route(r"^/healthz/?$", {"GET": "health"}, auth="none"),
    make_route(r"^/readiness/?$", {"GET": "health"}, auth="none"),
    make_route(r"^/v2/$", {"GET": "api_root"}),
    make_route(rf"^/v2/apps/{APP}/config/?$", {"GET": "config_get", "POST": "config_post"}),
    make_route(rf"^/v2/apps/{APP}/domains/{DOMAIN}/?$", {"DELETE": "domain_delete"}),
    make_route(rf"^/v2/apps/{APP}/domains/?$", {"GET": "domains_list", "POST": "domain_create"}),
    make_route(rf"^/v2/apps/{APP}/settings/?$", {"GET": "settings_get", "POST": "settings_post"}),
    make_route(rf"^/v2/apps/{APP}/releases/?$", {"GET": "releases_list"}),
    make_route(rf"^/v2/apps/{APP}/perms/(?P<username>[-_\w]+)/?$", {"DELETE": "perm_delete"}),
    make_route(rf"^/v2/apps/{APP}/perms/?$", {"GET": "perms_list", "POST": "perm_create"}),
    make_route(rf"^/v2/apps/{APP}/?$", {"GET": "app_get", "POST": "app_update", "DELETE": "app_delete"}),
    make_route(r"^/v2/apps/?$", {"GET": "apps_list", "POST": "app_create"}),
    make_route(r"^/v2/auth/whoami/?$", {"GET": "whoami"}),
    make_route(r"^/v2/auth/login/$", {"POST": "login"}, auth="none"),
    make_route(r"^/v2/auth/tokens/$", {"POST": "tokens_regenerate"}),
    make_route(r"^/v2/admin/perms/(?P<username>[-_\w]+)/?$", {"DELETE": "admin_perm_delete"}, auth="admin"),
    make_route(r"^/v2/admin/perms/?$", {"GET": "admin_perms_list", "POST": "admin_perm_create"}, auth="admin"),
    # No trailing slash allowed after the domain (and attach needs the slash with no domain): Django's regex.
    make_route(
        r"^/v2/certs/(?P<name>[-_*.\w]+)/domain/(?P<domain>\**\.?[-\._\w]+)?$",
        {"POST": "cert_attach", "DELETE": "cert_detach"},
    ),
    make_route(r"^/v2/certs/(?P<name>[-_*.\w]+)/?$", {"GET": "cert_get", "DELETE": "cert_delete"}),
    make_route(r"^/v2/certs/?$", {"GET": "certs_list", "POST": "cert_create"}),
    make_route(r"^/v2/users/?$", {"GET": "users_list"}, auth="admin"),
)
