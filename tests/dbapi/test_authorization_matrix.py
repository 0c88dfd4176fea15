"""Every route of dbapi × {no key, the panel's service key, a download token, an upload token}, from its URL map.

A route added without a rule in `RULES` fails `test_every_dbapi_route_has_a_rule`. The matrix runs against a real
database with a real backup (PostgreSQL, the worker, the callback receiver); refused callers must change nothing,
and the destructive service-key calls go last so they do not hide the other answers.
"""
from __future__ import annotations

import re

import requests

from tests.dbapi.test_api import counts
from tests.dbapi.test_operations import create_database

ROLES = ("no_key", "download_token", "upload_token", "service_key")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

MANAGEMENT_READ = {"no_key": 401, "download_token": 401, "upload_token": 401, "service_key": 200}


def management(service_key: int) -> dict[str, int]:
    """A route only the panel's service key opens; `service_key` is what its empty-bodied call gets."""
    return {"no_key": 401, "download_token": 401, "upload_token": 401, "service_key": service_key}


OPEN = {role: 200 for role in ROLES}
RULES: dict[str, dict[str, dict[str, int]]] = {
    "openapi.spec": {"GET": OPEN},  # the OpenAPI document and its docs page are public by design
    "openapi.docs": {"GET": OPEN},
    "openapi.swagger_ui_oauth_redirect": {"GET": OPEN},
    "static": {"GET": {role: 404 for role in ROLES}},  # Flask's static route; dbapi ships no files
    "servers.list_servers": {"GET": MANAGEMENT_READ},
    "databases.create_database": {"POST": management(422)},  # empty body
    "databases.show_database": {"GET": MANAGEMENT_READ},
    "databases.delete_database": {"DELETE": management(422)},
    "databases.create_backup": {"POST": management(422)},
    "databases.restore_database": {"POST": management(422)},
    "backups.show_backup": {"GET": MANAGEMENT_READ},
    "backups.delete_backup": {"DELETE": management(200)},
    "backups.verify_backup": {"POST": management(422)},
    "operations.show_operation": {"GET": MANAGEMENT_READ},
    "tokens.issue_token": {"POST": management(422)},
    # A resource token opens only its own action on its own resource; the service key opens neither.
    "transfers.download_backup": {"GET": {"no_key": 401, "download_token": 200, "upload_token": 403,
                                          "service_key": 401}},
    "transfers.upload_dump": {"PUT": {"no_key": 401, "download_token": 403, "upload_token": 422,
                                        "service_key": 401}},  # an empty body is not a dump
}


def route_methods(app) -> list[tuple[object, str]]:
    return [(rule, method) for rule in app.url_map.iter_rules()
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def test_every_dbapi_route_has_a_rule(dbapi_app):
    missing = sorted(f"{method} {rule.rule} ({rule.endpoint})" for rule, method in route_methods(dbapi_app)
                     if method not in RULES.get(rule.endpoint, {}))
    assert not missing, "dbapi routes without an authorization rule in RULES:\n" + "\n".join(missing)


def test_every_dbapi_route_answers_every_caller_as_its_rule_says(dbapi_app, dbapi_client, callback_receiver,
                                                                 dbapi_names):
    database = create_database(dbapi_client, callback_receiver, dbapi_names("authz"))["database"]
    operation = dbapi_client.run("POST", f"/databases/{database['id']}/backups",
                                 json={"callback_url": callback_receiver.url})
    backup_id = operation["backup_id"]
    grant = {action: dbapi_client.call("POST", "/tokens", json={"action": action, **resource}).json()["token"]
             for action, resource in (("download", {"backup_id": backup_id}),
                                      ("upload", {"database_id": database["id"]}))}
    values = {"database_id": database["id"], "backup_id": backup_id, "operation_id": operation["id"],
              "filename": "anything.css"}
    bearer = {"no_key": None, "service_key": dbapi_client.http.headers["Authorization"].removeprefix("Bearer "), "download_token": grant["download"],
              "upload_token": grant["upload"]}
    routes = sorted(route_methods(dbapi_app),
                    key=lambda pair: (pair[1] == "DELETE", pair[0].endpoint == "transfers.upload_dump"))
    wrong, checked = [], 0
    for phase in ("refused", "allowed"):
        before = counts(dbapi_app)
        for rule, method in routes:
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], rule.rule)
            for role in ROLES:
                expected = RULES[rule.endpoint][method][role]
                if (phase == "refused") != (expected in (401, 403) or method not in MUTATING):
                    continue
                headers = {"Authorization": f"Bearer {bearer[role]}"} if bearer[role] else {}
                answer = requests.request(method, dbapi_client.base_url + path, headers=headers,
                                          json={} if method != "PUT" else None, timeout=30)
                checked += 1
                if answer.status_code != expected:
                    wrong.append(f"{role:>15} {method} {rule.rule}: {answer.status_code}, expected {expected}")
        if phase == "refused":
            assert counts(dbapi_app) == before, "refused requests changed dbapi's records"
    print(f"dbapi authorization matrix: {checked} (route, method, caller) checks over {len(routes)} routes")
    assert not wrong, "\n".join(wrong)
    assert checked == len(routes) * len(ROLES)
