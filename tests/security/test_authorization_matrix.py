"""Every route of the panel × every kind of caller, with the status each must get: generated from the URL map.

`RULES` holds one rule per endpoint and method; a route added without a rule fails `test_every_route_has_a_rule`
(listing what is missing), and the matrix test then checks each rule against a seeded platform, every POST with a
valid CSRF token so it reaches the authorization check. Callers: anonymous, a viewer, an admin, the Chef client's
bearer token, and Deis tokens of developers (who get the session routes' anonymous answer: a Deis token is not a
panel session). A refused caller must change nothing: no audit event, no row.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Base
from app.operations import accounts
from tests.api.conftest import *  # noqa: F401,F403  (api: the synced sandbox and its Deis tokens)
from tests.api.test_schemathesis import closed_port_url
from tests.conftest import csrf_token_from
from tests.security.seeded_platform import PASSWORD, SeededPlatform, seed

ROLES = ("anonymous", "chef", "developer_of_another_app", "developer_of_the_app", "viewer", "admin")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Rule:
    anonymous: int
    viewer: int
    admin: int
    chef: int
    developer_of_another_app: int | None = None  # None: as anonymous
    developer_of_the_app: int | None = None

    def expected(self, role: str) -> int:
        status = getattr(self, role)
        return self.anonymous if status is None else status


PUBLIC = Rule(anonymous=200, viewer=200, admin=200, chef=200)
PAGE = Rule(anonymous=302, viewer=200, admin=200, chef=302)  # any signed-in user reads it
ADMIN_PAGE = Rule(anonymous=302, viewer=403, admin=200, chef=302)
CHEF = Rule(anonymous=401, viewer=401, admin=401, chef=200)  # the bearer token of a monit:read API client only


def admin_action(admin: int) -> Rule:
    """A change only admins make; `admin` is what the seeded request (an empty form, mostly) gets once allowed."""
    return Rule(anonymous=302, viewer=403, admin=admin, chef=302)


def developer_api(own: int, other: int = 404) -> Rule:
    """An /api/v1 route: 401 to anyone without a Deis token; `own` for shop's owner, `other` for bob."""
    return Rule(anonymous=401, viewer=401, admin=401, chef=401, developer_of_the_app=own,
                developer_of_another_app=other)


RULES: dict[str, dict[str, Rule]] = {
    "static": {"GET": PUBLIC},
    "auth.login": {"GET": Rule(anonymous=200, viewer=302, admin=302, chef=200),
                   "POST": Rule(anonymous=400, viewer=302, admin=302, chef=400)},  # empty form: 400
    "auth.logout": {"POST": Rule(anonymous=302, viewer=302, admin=302, chef=302)},
    # A wrong (here: no) password for one's own session: 401, counted like a failed sign-in.
    "auth.reauth": {"GET": PAGE, "POST": Rule(anonymous=302, viewer=401, admin=401, chef=302)},
    "home.index": {"GET": PAGE},
    "search.index": {"GET": PAGE},
    "audit.index": {"GET": PAGE},
    "alerts.index": {"GET": PAGE},
    "alerts.settings": {"GET": PAGE},
    "alerts.acknowledge": {"POST": admin_action(302)},
    "apps.index": {"GET": PAGE},
    "apps.show": {"GET": PAGE},
    "apps.reveal_config": {"POST": admin_action(404)},  # no such config key
    "certificates.index": {"GET": PAGE},
    "certificates.upload_form": {"GET": ADMIN_PAGE},
    "certificates.upload": {"POST": admin_action(400)},
    "change_sets.index": {"GET": PAGE},
    "change_sets.show": {"GET": PAGE},
    "change_sets.apply": {"POST": admin_action(302)},
    "change_sets.drop": {"POST": admin_action(409)},  # nothing ticked
    "change_sets.rollback": {"POST": admin_action(409)},  # a planned change set has nothing to roll back
    # An empty plan form is refused in words (without CLOUDFLARE_API_TOKEN: 503, test_change_sets.py).
    "change_sets.plan_dangling": {"POST": admin_action(400)},
    "change_sets.plan_follow": {"POST": admin_action(400)},
    "change_sets.plan_repoint": {"POST": admin_action(400)},
    "change_sets.plan_switch": {"POST": admin_action(400)},
    "chef.monitors": {"GET": CHEF},
    "chef.monit_conf": {"GET": CHEF},
    "chef.monit_json": {"GET": CHEF},
    "databases.section": {"GET": PAGE},
    "databases.rotation": {"GET": PAGE},
    # Back to the app page with the outcome (here: the cluster has no Databases API configured).
    "databases.create": {"POST": admin_action(303)},
    "databases.capture": {"POST": admin_action(303)},
    "databases.restore": {"POST": admin_action(303)},
    "databases.clone": {"POST": admin_action(303)},
    "databases.verify": {"POST": admin_action(303)},
    # dbapi signs each callback over its body; a session or a token counts for nothing.
    "dbapi_callbacks.receive_callback": {"POST": Rule(anonymous=401, viewer=401, admin=401, chef=401)},
    "dns.index": {"GET": PAGE},
    "dns.zone": {"GET": PAGE},
    "dns.dangling": {"GET": PAGE},
    "instances.index": {"GET": PAGE},
    "instances.show": {"GET": PAGE},
    "limits.index": {"GET": PAGE},
    "limits.drift": {"GET": PAGE},
    "limits.edit": {"GET": ADMIN_PAGE},
    "limits.app_type_form": {"GET": ADMIN_PAGE},
    "limits.create": {"POST": admin_action(400)},
    "limits.update": {"POST": admin_action(400)},
    "limits.delete": {"POST": admin_action(302)},
    "limits.enforce": {"POST": admin_action(302)},
    "limits.set_app_type": {"POST": admin_action(302)},
    "limits.set_app_types": {"POST": admin_action(302)},
    "monitoring.bulk": {"POST": admin_action(400)},
    "monitoring.health_path": {"POST": admin_action(400)},
    "monitoring.toggle": {"POST": admin_action(400)},
    "settings.index": {"GET": PAGE},
    "settings.monitors": {"GET": PAGE},
    "settings.set_watches": {"POST": admin_action(302)},
    "settings.internal_tools": {"GET": PAGE},
    "settings.add_internal_tool": {"POST": admin_action(400)},
    "settings.remove_internal_tool": {"POST": admin_action(302)},
    "settings.api_client_list": {"GET": PAGE},
    "settings.create_api_client": {"POST": admin_action(400)},
    "settings.revoke_api_client": {"POST": admin_action(302)},
    "sync.index": {"GET": PAGE},
    "sync.job": {"GET": Rule(anonymous=302, viewer=404, admin=404, chef=302)},  # an unknown job, once signed in
    "sync.run": {"POST": admin_action(302)},
    "sync.confirm_deletion": {"POST": admin_action(302)},
    "users.index": {"GET": PAGE},
    "users.create": {"POST": admin_action(400)},
    "users.change_role": {"POST": admin_action(400)},  # no role chosen
    "users.reset_password": {"POST": admin_action(200)},  # the page with the new password
    "users.disable": {"POST": admin_action(302)},
    "users.enable": {"POST": admin_action(302)},
    "users.delete": {"POST": admin_action(302)},
    "audit.export": {"GET": PAGE},
    "clusters.index": {"GET": PAGE},
    "clusters.show": {"GET": PAGE},
    "load_balancers.show": {"GET": PAGE},
    "sync.request_page": {"GET": PAGE},
    "liveness.healthz": {"GET": PUBLIC},  # liveness for load balancers and the benchmarks: says only "ok"
    "api_use.index": {"GET": ADMIN_PAGE},
    # The developer API: a Deis token of the cluster, nothing else (a session or a Chef token is no sign-in).
    "api.openapi_json": {"GET": PUBLIC},
    "api.docs_page": {"GET": PUBLIC},
    "api.whoami": {"GET": developer_api(own=200, other=200)},
    "api.list_apps": {"GET": developer_api(own=200, other=200)},  # each sees only their own apps in it
    # Another developer's app answers exactly like a missing one: 404, never 403.
    "api.show_app": {"GET": developer_api(own=200)},
    "api.show_database": {"GET": developer_api(own=200)},
    "api.list_backups": {"GET": developer_api(own=200)},
    "api.show_backup": {"GET": developer_api(own=200)},
    "api.show_operation": {"GET": developer_api(own=200)},
    "api.create_app_database": {"POST": developer_api(own=409)},  # database_exists
    "api.capture_backup": {"POST": developer_api(own=202)},  # queued (the job meets the closed Databases API)
    "api.restore_backup": {"POST": developer_api(own=202)},
    "api.clone_backup": {"POST": developer_api(own=409)},  # to blog, which has no database (no_database)
    "api.download_token": {"POST": developer_api(own=502)},  # asked of the Databases API now: unreachable
    "api.upload_token": {"POST": developer_api(own=502)},
}
# JSON bodies for the API's POSTs that need one to get past validation to the authorization.
BODIES = {"api.clone_backup": {"to": "blog"}}
# Routes that take no session cookie, so no CSRF token either (a token or a signature authenticates them).
CSRF_EXEMPT = {"chef.", "dbapi_callbacks.", "api.", "static"}


def route_methods(app) -> list[tuple[object, str]]:
    return [(rule, method) for rule in app.url_map.iter_rules()
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def fill(rule, values: dict[str, str]) -> str:
    """The rule's URL with a seeded object behind each variable (a route-specific one where it destroys it)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(f"{rule.endpoint}:{m.group(1)}", values[m.group(1)]),
                  rule.rule)


def test_every_route_has_a_rule(app):
    missing = sorted(f"{method} {rule.rule} ({rule.endpoint})" for rule, method in route_methods(app)
                     if method not in RULES.get(rule.endpoint, {}))
    assert not missing, "Routes without an authorization rule in RULES:\n" + "\n".join(missing)
    stale = sorted(f"{endpoint} {method}" for endpoint, methods in RULES.items() for method in methods
                   if (endpoint, method) not in {(rule.endpoint, m) for rule, m in route_methods(app)})
    assert not stale, "Rules for routes that no longer exist:\n" + "\n".join(stale)


class Caller:
    """One role's client: its cookies, its CSRF token, its credentials header."""

    def __init__(self, app, role: str, platform: SeededPlatform) -> None:
        self.role, self.client = role, app.test_client()
        self.csrf_token = csrf_token_from(self.client)
        self.headers: dict[str, str] = {}
        if role in ("viewer", "admin"):
            signed_in = self.client.post("/login", data={"username": f"{role}-user", "password": PASSWORD,
                                                         "csrf_token": self.csrf_token})
            assert signed_in.status_code == 302
            page = self.client.get("/").get_data(as_text=True)
            self.csrf_token = page.split('name="csrf-token" content="')[1].split('"')[0]
        elif role == "chef":
            self.headers["Authorization"] = f"Bearer {platform.chef_token}"
        elif role.startswith("developer"):
            self.headers["Authorization"] = f"token {platform.developer_tokens[role]}"
            self.headers["X-Deis-Controller"] = platform.controller_url

    def call(self, path: str, method: str, *, csrf: bool = True, body: dict | None = None):
        headers = dict(self.headers)
        if csrf:
            headers["X-CSRFToken"] = self.csrf_token
        if path.startswith("/api/v1/") and method in MUTATING:
            return self.client.open(path, method=method, headers=headers, json=body or {})
        return self.client.open(path, method=method, headers=headers, data={})


# What a refused caller may leave behind: the audit of their own failed password check and of signing out.
AUDITED_REFUSALS = {"auth.reauth_failed", "auth.sign_out"}


def row_counts() -> dict[str, int]:
    counts = {table.name: db.session.scalar(select(func.count()).select_from(table))
              for table in Base.metadata.sorted_tables}
    counts["audit_events"] = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                               .where(AuditEvent.action.not_in(AUDITED_REFUSALS)))
    return counts


def test_every_route_answers_every_role_as_its_rule_says(app, api, monkeypatch):
    # The Databases API is a closed port: what a developer's allowed POST starts fails upstream, never runs.
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"],
                                                                    dbapi_url=closed_port_url()))
    platform = seed(db.session, api.sandbox)
    for role in ("viewer", "admin"):
        accounts.create_user(db.session, f"{role}-user", role, PASSWORD, actor="test")
    db.session.commit()
    callers = {role: Caller(app, role, platform) for role in ROLES}
    # Reads first, then refused changes (which must change nothing), then the admin's changes, signing out last.
    routes = sorted(route_methods(app), key=lambda pair: (pair[1] in MUTATING, pair[0].endpoint == "auth.logout",
                                                          pair[0].endpoint))
    wrong: list[str] = []
    checked = 0
    for phase in ("refused", "allowed"):
        before = row_counts()
        for rule, method in routes:
            expected_rule = RULES[rule.endpoint][method]
            for role in ROLES:
                allowed = role == "admin" or (role == "developer_of_the_app" and rule.endpoint.startswith("api."))
                if method in MUTATING and (phase == "refused") == allowed:
                    continue
                if method not in MUTATING and phase == "allowed":
                    continue
                expected = expected_rule.expected(role)
                answer = callers[role].call(fill(rule, platform.url_values), method, body=BODIES.get(rule.endpoint))
                checked += 1
                if answer.status_code != expected:
                    wrong.append(f"{role:>24} {method} {rule.rule}: {answer.status_code}, expected {expected}")
        if phase == "refused":
            db.session.expire_all()
            changed = {table: (before[table], count) for table, count in row_counts().items()
                       if count != before[table]}
            assert not changed, f"refused requests changed rows: {changed} " + str(
                db.session.execute(select(AuditEvent.action, AuditEvent.actor).order_by(AuditEvent.id.desc())
                                   .limit(5)).all())
    print(f"authorization matrix: {checked} (route, method, role) checks over {len(routes)} routes"
          f" x {len(ROLES)} roles")
    assert not wrong, "\n".join(wrong)
    assert checked == len(routes) * len(ROLES)


def test_every_session_post_without_a_csrf_token_is_refused(app):
    """An admin's own session cannot be ridden by a cross-site form: every POST needs the token first."""
    platform = seed(db.session)
    accounts.create_user(db.session, "admin-user", "admin", PASSWORD, actor="test")
    db.session.commit()
    admin = Caller(app, "admin", platform)
    before = row_counts()
    refused = []
    for rule, method in route_methods(app):
        if method not in MUTATING or rule.endpoint.startswith(tuple(CSRF_EXEMPT)):
            continue
        answer = admin.call(fill(rule, platform.url_values), method, csrf=False)
        if answer.status_code != 400 or "Form expired or forged" not in answer.get_data(as_text=True):
            refused.append(f"{method} {rule.rule}: {answer.status_code}")
    assert not refused, "POSTs accepted without a CSRF token:\n" + "\n".join(refused)
    db.session.expire_all()
    assert row_counts() == before
