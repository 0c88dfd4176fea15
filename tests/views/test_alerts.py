"""The alerts page: states and filters, failed deliveries visible, acknowledging audited; the alerting settings."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, AuditEvent, utcnow
from app.operations import alert_checks, alerts
from app.services import notify
from tests import factories as make
from tests.conftest import csrf_token_from
from tests.notify_receivers import webhook  # noqa: F401  (fixture)

DAYS = (30, 14, 7, 1)


def raise_certificate_alert(days: int = 6, name: str = "week.example.com") -> Alert:
    cluster = make.cluster(db.session)
    make.certificate(db.session, cluster, name, expires_in=timedelta(days=days))
    db.session.commit()
    alert_checks.check_certificates(db.session, utcnow(), DAYS)
    db.session.commit()
    return db.session.scalar(select(Alert).where(Alert.target == name))


def page_token(client) -> str:
    return client.get("/alerts/").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]


def test_a_receiver_that_keeps_failing_is_shown_as_failed(client, login_as, webhook):
    raise_certificate_alert()
    webhook.statuses = [500]
    channel = notify.WebhookChannel(webhook.url, backoff=0)
    report = alert_checks.run_all(db.session, [channel], utcnow(), DAYS)
    assert len(webhook.bodies) == 3 and len(report.failures) == 1

    login_as("viewer")
    page = client.get("/alerts/").get_data(as_text=True)
    assert 'id="failed-deliveries"' in page
    assert "answered HTTP 500 after 3 attempts" in page and "3 attempts" in page
    assert "webhook http://127.0.0.1:" in page and "xoxsecretpath" not in page and "T0SECRET" not in page
    home = client.get("/").get_data(as_text=True)
    assert "Alert notifications not delivered" in home and "answered HTTP 500" in home and "xoxsecretpath" not in home

    webhook.statuses = [200]
    alert_checks.run_all(db.session, [channel], utcnow(), DAYS)
    page = client.get("/alerts/").get_data(as_text=True)
    assert 'id="failed-deliveries"' not in page and ">delivered</span>" in page


def test_an_admin_acknowledges_and_it_is_audited(client, login_as):
    alert = raise_certificate_alert()
    admin = login_as("admin")
    token = page_token(client)
    response = client.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": token, "state": "open"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/alerts/?state=open")

    db.session.expire_all()
    alert = db.session.get(Alert, alert.id)
    assert (alert.state, alert.acknowledged_by) == ("acknowledged", admin.username)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert.acknowledge"))
    assert (event.actor, event.target) == (admin.username, "week.example.com")
    page = client.get("/alerts/?state=acknowledged").get_data(as_text=True)
    assert f"by {admin.username}" in page and "week.example.com" in page
    assert "Acknowledge alert" not in page  # nothing left to acknowledge

    again = client.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": token}, follow_redirects=True)
    assert f"{admin.username} already acknowledged this alert." in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "alert.acknowledge")) == 1


def test_acknowledging_needs_the_csrf_token(client, login_as):
    alert = raise_certificate_alert()
    login_as("admin")
    assert client.post(f"/alerts/{alert.id}/acknowledge", data={}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).acknowledged_at is None


def test_a_viewer_cannot_acknowledge(client, login_as):
    alert = raise_certificate_alert()
    login_as("viewer")
    page = client.get("/alerts/").get_data(as_text=True)
    assert "week.example.com" in page and "Acknowledge alert" not in page
    response = client.post(f"/alerts/{alert.id}/acknowledge", data={"csrf_token": page_token(client)})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).acknowledged_at is None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "alert.acknowledge")) == 0


def test_states_and_kinds_filter_the_list(client, login_as):
    open_alert = raise_certificate_alert(6, "open.example.com")
    resolved = raise_certificate_alert(12, "renewed.example.com")
    alerts.resolve(db.session, resolved, utcnow())
    alerts.raise_alert(db.session, kind="sync_failing", dedup_key="sync_failing:aws:eu-west-1", now=utcnow(),
                       message="Sync of aws/eu-west-1 failed 3 runs in a row", target="aws/eu-west-1")
    db.session.commit()
    login_as("viewer")

    resolved_page = client.get("/alerts/?state=resolved").get_data(as_text=True)
    assert "renewed.example.com" in resolved_page and "open.example.com" not in resolved_page
    open_page = client.get("/alerts/?state=open&kind=certificate_expiry").get_data(as_text=True)
    assert "open.example.com" in open_page and "renewed" not in open_page and "aws/eu-west-1" not in open_page
    assert f'id="alert-{open_alert.id}"' in open_page
    partial = client.get("/alerts/?kind=sync_failing", headers={"HX-Request": "true"})
    assert partial.headers["HX-Push-Url"] == "/alerts/?kind=sync_failing"
    assert "<nav class=\"top\">" not in partial.get_data(as_text=True) and "aws/eu-west-1" in partial.get_data(as_text=True)

    bad = client.get("/alerts/?state=sleeping")
    assert bad.status_code == 400 and "No state called &#39;sleeping&#39;" in bad.get_data(as_text=True)


def test_the_list_is_paginated(client, login_as):
    now = utcnow()
    for number in range(55):
        alerts.raise_alert(db.session, kind="operation_stuck", dedup_key=f"operation_stuck:{number}",
                           now=now - timedelta(minutes=number), message=f"operation number {number:02d} is stuck")
    db.session.commit()
    login_as("viewer")
    first = client.get("/alerts/").get_data(as_text=True)
    assert "operation number 00 is stuck" in first and "operation number 54" not in first
    assert "1–50 of 55 alerts" in first
    second = client.get("/alerts/?page=2").get_data(as_text=True)
    assert "operation number 54 is stuck" in second and "operation number 00" not in second
    assert client.get("/alerts/?page=3").status_code == 404


def test_the_nav_links_to_alerts(client, login_as):
    login_as("viewer")
    assert '<a href="/alerts/"' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_settings_show_thresholds_and_channels_with_secrets_masked(panel_with, make_user, role):
    panel = panel_with(
        alert_webhook_urls=("https://hooks.slack.com/services/T0AAA/B0BBB/slacksecret123",
                            "https://chat.example.com/hooks/other-secret"),
        smtp_url="smtp://alerts%40example.com:smtp-pass-789@mail.example.com:587",
        alert_email_to=("ops@example.com", "oncall@example.com"), alert_email_from="panel@example.com",
        cert_alert_days=(21, 3),
    )
    make_user("reader", role)
    client = panel.test_client()
    client.post("/login", data={"username": "reader", "password": "correct horse battery staple",
                                "csrf_token": csrf_token_from(client)})
    page = client.get("/alerts/settings").get_data(as_text=True)
    assert "21 days, 3 days before expiry" in page
    assert "https://hooks.slack.com/••••••" in page and "https://chat.example.com/••••••" in page
    assert "smtp://alerts@example.com:••••••@mail.example.com:587" in page
    assert "ops@example.com, oncall@example.com" in page and "panel@example.com" in page
    for secret in ("slacksecret123", "T0AAA", "other-secret", "smtp-pass-789"):
        assert secret not in page
