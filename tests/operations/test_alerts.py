"""The alert checks over synced data, delivered to a real loopback webhook receiver and a real SMTP server.

Maintenance events come from the sandbox (moto) through the real AWS sync; certificates and sync runs are rows
from the factories where the sync is not the point.
"""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Alert, AlertDelivery, AuditEvent, Certificate, MaintenanceEvent, utcnow
from app.operations import alert_checks
from app.services import notify
from sandbox.scenario import MaintenanceEventSpec
from tests import factories as make
from tests.notify_receivers import smtp_server, webhook  # noqa: F401  (fixtures)
from tests.sync.conftest import clients, locks, sync  # noqa: F401  (fixtures)

DAYS = (30, 14, 7, 1)


@pytest.fixture
def channels(webhook, smtp_server):
    return notify.channels([webhook.url], smtp_server.url, ["ops@example.com"], "panel@example.com", backoff=0)


@pytest.fixture
def check(app, channels):
    def run(now=None):
        return alert_checks.run_all(db.session, channels, now or utcnow(), DAYS)

    return run


def forget(webhook, smtp_server) -> None:
    webhook.bodies.clear()
    smtp_server.messages.clear()


def subjects(smtp_server) -> list[str]:
    return [message["Subject"] for message in smtp_server.messages]


def body_of(message) -> str:
    return message.get_payload(decode=True).decode()


def test_a_new_maintenance_event_notifies_once_per_channel_with_local_time_and_impact(
        sandbox, sync, check, webhook, smtp_server):
    sync()
    first = check()
    # The test scenario already has an event on the eu-prod PostgreSQL primary, and two certificates near or past
    # their expiry: each notified once on each channel.
    assert len(webhook.bodies) == len(smtp_server.messages) == 3 and not first.failures
    pg_mail = next(m for m in smtp_server.messages if "eu-prod-pg-1" in m["Subject"])
    assert "PostgreSQL: PRIMARY" in body_of(pg_mail) and "Cluster: eu-prod" in body_of(pg_mail)
    forget(webhook, smtp_server)

    event_id = sandbox.aws.add_maintenance_event("us-prod-deis-1", MaintenanceEventSpec(
        code="system-reboot", description="scheduled reboot", not_before_in_days=2, duration_hours=2))
    sync()
    report = check()

    assert len(webhook.bodies) == 1 and len(smtp_server.messages) == 1
    assert [(o.delivered, o.notice) for o in report.outcomes] == [(True, "raised"), (True, "raised")]
    event = db.session.scalar(select(MaintenanceEvent).where(MaintenanceEvent.event_id == event_id))
    local = event.not_before.astimezone(ZoneInfo("America/New_York"))
    text = webhook.bodies[0]["text"]
    mail = body_of(smtp_server.messages[0])
    for shown in (text, mail):
        assert f"Window (UTC): {event.not_before:%Y-%m-%d %H:%M} – {event.not_after:%H:%M} UTC" in shown
        assert f"Window (local): {local:%Y-%m-%d %H:%M} – " in shown and "America/New_York (EST)" in shown
        assert f"system-reboot {event_id}" in shown and "us-prod-deis-1" in shown
        assert "Cluster: us-prod" in shown and "Load balancers: us-prod-alb" in shown
        assert "api.example.com" in shown and "us-prod-deis-1.example.net" in shown
        assert "Apps (2): api (us-prod), landing (us-prod)" in shown
        assert "PostgreSQL" not in shown  # a Deis node
    assert smtp_server.messages[0]["Subject"].startswith("AWS system-reboot on us-prod-deis-1")

    # A second sync and check with nothing changed: nothing more is sent.
    sync()
    assert check().outcomes == []
    assert len(webhook.bodies) == 1 and len(smtp_server.messages) == 1


def test_a_changed_window_notifies_again_and_a_gone_event_resolves(sandbox, sync, check, webhook, smtp_server):
    sandbox.aws.clear_maintenance_events("eu-prod-pg-1")
    sync()
    check()
    event_id = sandbox.aws.add_maintenance_event("us-prod-deis-1", MaintenanceEventSpec(
        code="instance-stop", not_before_in_days=2))
    sync()
    check()
    forget(webhook, smtp_server)

    sandbox.aws.clear_maintenance_events("us-prod-deis-1")
    sandbox.aws.add_maintenance_event("us-prod-deis-1", MaintenanceEventSpec(
        event_id=event_id, code="instance-stop", not_before_in_days=5))
    sync()
    check()
    event = db.session.scalar(select(MaintenanceEvent).where(MaintenanceEvent.event_id == event_id))
    assert len(webhook.bodies) == 1 and len(smtp_server.messages) == 1
    assert subjects(smtp_server)[0].startswith("Changed: AWS instance-stop on us-prod-deis-1")
    assert f"{event.not_before:%Y-%m-%d %H:%M}" in webhook.bodies[0]["text"]
    changed_subject = subjects(smtp_server)[0].removeprefix("Changed: ")
    check()
    assert len(webhook.bodies) == 1  # the new window is told once
    forget(webhook, smtp_server)

    sandbox.aws.clear_maintenance_events("us-prod-deis-1")
    sync()
    check()
    assert len(webhook.bodies) == 1 and subjects(smtp_server) == [f"[resolved] Resolved: {changed_subject}"]
    alert = db.session.scalar(select(Alert).where(Alert.target == "us-prod-deis-1"))
    assert alert.state == "resolved"
    check()
    assert len(webhook.bodies) == 1


def test_a_completed_event_resolves(sandbox, sync, check, webhook, smtp_server):
    sync()
    check()
    forget(webhook, smtp_server)
    [event_id] = [e.event_id for e in db.session.scalars(select(MaintenanceEvent).where(
        MaintenanceEvent.completed.is_(False)))]
    sandbox.aws.complete_maintenance_event("eu-prod-pg-1", event_id)
    sync()
    check()
    assert [s.split(" (")[0] for s in subjects(smtp_server)] == ["[resolved] Resolved: AWS system-reboot on eu-prod-pg-1"]


def test_certificates_alert_once_per_threshold(app, check, webhook, smtp_server):
    cluster = make.cluster(db.session, "eu-prod")
    shop = make.app(db.session, "shop", cluster)
    for name, days in (("soon.example.com", 29), ("sooner.example.com", 13), ("week.example.com", 6),
                       ("gone.example.com", -1), ("fine.example.com", 60)):
        certificate = make.certificate(db.session, cluster, name, expires_in=timedelta(days=days, hours=1))
        make.domain(db.session, shop, name, certificate)
    db.session.commit()

    now = utcnow()
    check(now)
    alerts = {alert.target: alert for alert in db.session.scalars(select(Alert))}
    assert {target: alert.dedup_key.rsplit(":", 1)[1] for target, alert in alerts.items()} == {
        "soon.example.com": "30d", "sooner.example.com": "14d", "week.example.com": "7d", "gone.example.com": "expired"}
    expiry = {c.common_name: f"{c.expires_at:%Y-%m-%d %H:%M} UTC" for c in db.session.scalars(select(Certificate))}
    assert sorted(subjects(smtp_server)) == [
        f"Certificate gone.example.com on eu-prod expired on {expiry['gone.example.com']}",
        f"Certificate soon.example.com on eu-prod expires in 29 days, on {expiry['soon.example.com']}",
        f"Certificate sooner.example.com on eu-prod expires in 13 days, on {expiry['sooner.example.com']}",
        f"Certificate week.example.com on eu-prod expires in 6 days, on {expiry['week.example.com']}",
    ]
    assert len(webhook.bodies) == len(smtp_server.messages) == 4
    assert any("Apps (1): shop" in body_of(m) for m in smtp_server.messages)

    check(now + timedelta(hours=1))
    assert len(smtp_server.messages) == 4  # nothing changed: nothing sent

    # A week on: the 13-day one crosses 7 days, the 6-day one expires; the passed thresholds resolve quietly.
    forget(webhook, smtp_server)
    check(now + timedelta(days=7))
    assert sorted(s.split(" on ")[0] for s in subjects(smtp_server)) == [
        "Certificate sooner.example.com", "Certificate week.example.com"]
    assert not any("Resolved" in s for s in subjects(smtp_server))

    # Renewed: its alert resolves, and that is told.
    forget(webhook, smtp_server)
    soon = db.session.scalar(select(Certificate).where(Certificate.common_name == "soon.example.com"))
    soon.expires_at = now + timedelta(days=365)
    db.session.commit()
    check(now + timedelta(days=7, hours=1))
    assert [s.split(" on ")[0] for s in subjects(smtp_server)] == ["[resolved] Resolved: Certificate soon.example.com"]


def test_a_sync_source_failing_three_runs_in_a_row_alerts_once_and_resolves(app, check, webhook, smtp_server):
    start = utcnow() - timedelta(hours=1)
    for minutes in (0, 10):
        make.sync_run(db.session, "cloudflare", "example.com", "failed", started_at=start + timedelta(minutes=minutes),
                      error="HTTP 502 from https://api.cloudflare.com token=cf-secret-token-1234567890")
    make.sync_run(db.session, "deis", "eu-prod", "failed", started_at=start)
    db.session.commit()
    check()
    assert smtp_server.messages == []  # two failures are not three

    make.sync_run(db.session, "cloudflare", "example.com", "failed", started_at=start + timedelta(minutes=20),
                  error="HTTP 502 from https://api.cloudflare.com token=cf-secret-token-1234567890")
    db.session.commit()
    check()
    check()
    assert subjects(smtp_server) == ["Sync of cloudflare/example.com failed 3 runs in a row"]
    assert "HTTP 502" in body_of(smtp_server.messages[0]) and "cf-secret-token" not in body_of(smtp_server.messages[0])
    assert "cf-secret-token" not in webhook.bodies[0]["text"]

    make.sync_run(db.session, "cloudflare", "example.com", "succeeded", started_at=start + timedelta(minutes=30))
    db.session.commit()
    check()
    assert subjects(smtp_server)[1] == "[resolved] Resolved: Sync of cloudflare/example.com failed 3 runs in a row"


def test_a_failing_receiver_is_retried_each_run_until_it_takes_the_notice(app, check, webhook, smtp_server):
    cluster = make.cluster(db.session, "eu-prod")
    make.certificate(db.session, cluster, "week.example.com", expires_in=timedelta(days=6))
    db.session.commit()
    webhook.statuses = [500]

    report = check()
    assert len(webhook.bodies) == 3  # retried with backoff within the run, bounded
    [failed] = report.failures
    assert failed.attempts == 3 and "HTTP 500" in failed.error and "xoxsecretpath" not in failed.error
    delivery = db.session.scalar(select(AlertDelivery).where(AlertDelivery.channel.like("webhook:%")))
    assert (delivery.state, delivery.attempts) == ("failed", 3)
    assert "xoxsecretpath" not in delivery.channel_label + delivery.channel + (delivery.last_error or "")
    assert len(smtp_server.messages) == 1

    check()  # the next run tries the webhook again, and only the webhook
    assert len(webhook.bodies) == 6 and len(smtp_server.messages) == 1
    webhook.statuses = [200]
    report = check()
    assert [(o.channel.split()[0], o.delivered) for o in report.outcomes] == [("webhook", True)]
    db.session.expire_all()
    delivery = db.session.get(AlertDelivery, delivery.id)
    assert (delivery.state, delivery.attempts) == ("delivered", 7)
    assert db.session.scalar(select(Alert)).pending_notice is None
    assert check().outcomes == []
    events = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert events == ["alert.raise"]


def test_a_postgres_primary_event_names_the_apps_whose_database_it_serves(app, check, smtp_server):
    india = make.region(db.session, "india", aws_region="ap-south-1", timezone="Asia/Kolkata")
    cluster = make.cluster(db.session, "in-prod", india)
    shop = make.app(db.session, "shop", cluster)
    primary = make.instance(db.session, "in-prod-pg-1", aws_region="ap-south-1", role="postgres", db_role="primary",
                            cluster=cluster)
    bastion = make.instance(db.session, "bastion-in", aws_region="ap-south-1", role="other")  # no cluster
    zone = make.zone(db.session, "example.net")
    make.record(db.session, zone, "primary.db.in-prod.example.net", content=primary.private_ip,
                instance_id=primary.id)
    make.database(db.session, shop, "shop", host="primary.db.in-prod.example.net")
    event = make.maintenance_event(db.session, primary, code="system-maintenance")
    make.maintenance_event(db.session, bastion, code="instance-reboot")
    db.session.commit()

    check()
    mail = next(m for m in smtp_server.messages if "in-prod-pg-1" in m["Subject"])
    text = body_of(mail)
    local = event.not_before.astimezone(ZoneInfo("Asia/Kolkata"))
    assert f"Window (local): {local:%Y-%m-%d %H:%M}" in text and "Asia/Kolkata (IST)" in text
    assert "Apps (1): shop (in-prod)" in text and "DNS records (1): primary.db.in-prod.example.net" in text
    assert "PostgreSQL: PRIMARY: plan a failover or expect downtime" in text
    alert = db.session.scalar(select(Alert).where(Alert.target == "in-prod-pg-1"))
    assert alert.severity == "critical" and alert.details["postgres_role"] == "primary"
    # An instance outside any cluster still gets its region's local time, found by its AWS region.
    bastion_mail = body_of(next(m for m in smtp_server.messages if "bastion-in" in m["Subject"]))
    assert "Asia/Kolkata (IST)" in bastion_mail and "Cluster: none" in bastion_mail
