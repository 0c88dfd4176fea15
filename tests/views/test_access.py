"""Viewers read everything and change nothing: every mutating route answers 403 to them."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Routes a viewer may legitimately call: signing in and out of, or confirming the password of, their own session.
OPEN_TO_VIEWERS = {"auth.login", "auth.logout", "auth.reauth"}


def fill(rule) -> str:
    """A concrete URL for a rule, with plausible values for its variables."""
    return re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x", rule.rule)


def mutating_rules(app):
    return [r for r in app.url_map.iter_rules() if r.methods & MUTATING and r.endpoint not in OPEN_TO_VIEWERS]


def test_there_are_routes_to_check(app):
    # Guards the test below against passing vacuously if routes moved; grows as the panel grows.
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert {"auth.login", "auth.logout", "home.index", "audit.index"} <= endpoints


def test_viewer_gets_403_on_every_mutating_route(app, client, login_as):
    login_as("viewer")
    token = client.get("/").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    checked = 0
    for rule in mutating_rules(app):
        for method in sorted(rule.methods & MUTATING):
            response = client.open(fill(rule), method=method, headers={"X-CSRFToken": token}, data={})
            expected = (401, 403) if rule.rule.startswith(("/api/", "/chef/", "/dbapi/")) else (403,)
            assert response.status_code in expected, f"{method} {rule.rule} answered {response.status_code}"
            checked += 1
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before
    assert checked >= 2  # at least user creation and role change; grows as pages are added


def test_viewer_can_read_pages(client, login_as):
    login_as("viewer")
    for path in ("/", "/audit/"):
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_audit_log_lists_and_filters_events(client, login_as, make_user, role):
    login_as(role, username="reader")
    make_user("bob", "viewer")
    page = client.get("/audit/?action=user.create").get_data(as_text=True)
    assert "bob" in page and "user.create" in page
    filtered = client.get("/audit/?actor=nobody").get_data(as_text=True)
    assert "No audit events match these filters." in filtered
