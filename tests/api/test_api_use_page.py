"""The API use page: admins see who changed what through /api/v1 and when (from the audit log), paginated and
filterable; viewers may not see it; the navigation links it for admins."""
from __future__ import annotations

from datetime import timedelta

from app import audit
from app.extensions import db
from app.models import AuditEvent
from app.models.base import utcnow


def test_admins_see_api_use_from_the_audit_log(app, client, login_as):
    # Events as /api/v1 writes them (tests/api/test_databases.py makes real ones), and an admin's among them.
    with_channel = audit.channel_var.set("api/v1")
    try:
        audit.record(db.session, actor="deis:alice", action="backup.capture", target="eu-prod/shop", after={"b": 1})
        audit.record(db.session, actor="deis:bob", action="backup.restore", target="eu-prod/billing")
    finally:
        audit.channel_var.reset(with_channel)
    audit.record(db.session, actor="admin-user", action="user.create", target="someone")
    db.session.commit()

    login_as("admin")
    page = client.get("/api-use/").get_data(as_text=True)
    assert 'href="/api-use/"' in page  # in the navigation
    assert "backup.capture" in page and "eu-prod/shop" in page and "alice" in page and "bob" in page
    assert "user.create" not in page and "someone" not in page
    assert "&#34;via&#34;: &#34;api/v1&#34;" in page or '"via": "api/v1"' in page
    only_bob = client.get("/api-use/?user=bob").get_data(as_text=True)
    assert "eu-prod/billing" in only_bob and "eu-prod/shop" not in only_bob
    only_capture = client.get("/api-use/?action=backup.capture").get_data(as_text=True)
    assert "eu-prod/shop" in only_capture and "eu-prod/billing" not in only_capture
    assert client.get("/api-use/?action=nonsense").status_code == 400


def test_api_use_is_paginated(app, client, login_as):
    now = utcnow()
    for number in range(55):
        db.session.add(AuditEvent(actor="deis:alice", action="backup.capture", target=f"eu-prod/app-{number:02d}",
                                  at=now - timedelta(minutes=number)))
    db.session.commit()
    login_as("admin")
    first = client.get("/api-use/").get_data(as_text=True)
    assert "eu-prod/app-00" in first and "eu-prod/app-49" in first and "eu-prod/app-50" not in first
    assert "1–50 of 55 changes" in first
    second = client.get("/api-use/?page=2").get_data(as_text=True)
    assert "eu-prod/app-54" in second and "eu-prod/app-00" not in second
    assert client.get("/api-use/?page=9").status_code == 404


def test_viewers_may_not_see_api_use(app, client, login_as):
    login_as("viewer")
    assert client.get("/api-use/").status_code == 403
    assert 'href="/api-use/"' not in client.get("/").get_data(as_text=True)
