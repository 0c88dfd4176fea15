"""`flask alerts run` as an operator runs it (a real process reading its settings from the environment), the
alerting settings it reads, and the alerts job a sync enqueues, run by a real RQ worker."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from app.config import ConfigError, Settings
from app.extensions import db
from app.models import Alert, AlertDelivery
from app.queues import redis_url
from tests import factories as make
from tests.notify_receivers import smtp_server, webhook  # noqa: F401  (fixtures)


def panel_env(settings, **alerting: str) -> dict[str, str]:
    env = {**os.environ, "ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir),
           "DATABASE_URL": settings.database_url, "REDIS_URL": redis_url(), "SECRET_KEY": settings.secret_key}
    return {**env, **alerting}


def alerts_run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "alerts", "run"], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def expiring_certificate(app):
    cluster = make.cluster(db.session, "eu-prod")
    make.certificate(db.session, cluster, "week.example.com", expires_in=timedelta(days=6, hours=2))
    db.session.commit()


def test_alerts_run_prints_what_it_sent_per_channel(settings, expiring_certificate, webhook, smtp_server):
    env = panel_env(settings, ALERT_WEBHOOK_URLS=webhook.url, SMTP_URL=smtp_server.url,
                    ALERT_EMAIL_TO="ops@example.com", ALERT_EMAIL_FROM="panel@example.com")
    done = alerts_run(env)
    assert done.returncode == 0, done.stderr
    port = webhook.url.split(":")[2].split("/")[0]
    assert (f"sent raised: Certificate week.example.com on eu-prod expires in 6 days"
            in done.stdout)
    assert f"-> webhook http://127.0.0.1:{port}/•••••• (1 attempt)" in done.stdout
    assert "-> email to ops@example.com via smtp://127.0.0.1:" in done.stdout
    assert "2 sent, 0 failed; open alerts: maintenance_event 0, certificate_expiry 1" in done.stdout
    assert "xoxsecretpath" not in done.stdout + done.stderr
    assert len(webhook.bodies) == 1 and len(smtp_server.messages) == 1

    again = alerts_run(env)
    assert again.returncode == 0 and "0 sent, 0 failed" in again.stdout and "sent raised" not in again.stdout
    assert len(webhook.bodies) == 1


def test_alerts_run_exits_non_zero_when_a_delivery_fails(settings, expiring_certificate, webhook):
    webhook.statuses = [503]
    done = alerts_run(panel_env(settings, ALERT_WEBHOOK_URLS=webhook.url))
    assert done.returncode == 1
    assert "FAILED raised: Certificate week.example.com" in done.stderr
    assert "answered HTTP 503 after 3 attempts (retried on the next run)" in done.stderr
    assert "0 sent, 1 failed" in done.stdout
    assert "xoxsecretpath" not in done.stdout + done.stderr
    db.session.expire_all()
    delivery = db.session.scalar(select(AlertDelivery))
    assert (delivery.state, delivery.attempts) == ("failed", 3)


def test_alerts_run_refuses_a_malformed_setting_by_name(app, settings):
    done = alerts_run(panel_env(settings, SMTP_URL="mail.example.com:25"))
    assert done.returncode != 0 and "SMTP_URL must look like smtp://" in done.stderr


@pytest.mark.parametrize(("environ", "message"), [
    ({"ALERT_WEBHOOK_URLS": "https://hooks.slack.com/services/T/B/x, not a url"},
     r"ALERT_WEBHOOK_URLS: URL 2 is not a valid http\(s\) URL with a host"),
    ({"ALERT_WEBHOOK_URLS": "ftp://hooks.example.com/secret-path"}, "ALERT_WEBHOOK_URLS: URL 1 is not a valid"),
    ({"SMTP_URL": "http://mail.example.com"}, "SMTP_URL must look like smtp://user:password@host:587"),
    ({"SMTP_URL": "smtp://u:pw-secret@mail.example.com:99999", "ALERT_EMAIL_TO": "a@b.c"}, "SMTP_URL must look"),
    ({"SMTP_URL": "smtp://mail.example.com:587"}, "SMTP_URL is set but ALERT_EMAIL_TO names no recipient"),
    ({"ALERT_EMAIL_TO": "ops@example.com, not-an-address"}, "ALERT_EMAIL_TO: 'not-an-address' is not an email"),
    ({"CERT_ALERT_DAYS": "30,fourteen"}, "CERT_ALERT_DAYS must be whole days from 1 to 3650"),
    ({"CERT_ALERT_DAYS": "0"}, "CERT_ALERT_DAYS must be whole days"),
    ({"ALERT_EMAIL_FROM": "a@example.com,b@example.com"}, "ALERT_EMAIL_FROM takes one address"),
])
def test_malformed_alert_settings_are_named(environ, message):
    with pytest.raises(ConfigError, match=message) as refused:
        Settings.from_env(environ)
    assert "secret-path" not in str(refused.value) and "pw-secret" not in str(refused.value)


def test_alert_settings_defaults_and_parsing():
    defaults = Settings.from_env({})
    assert defaults.cert_alert_days == (30, 14, 7, 1) and defaults.alert_webhook_urls == ()
    parsed = Settings.from_env({"CERT_ALERT_DAYS": "7, 30,1", "SMTP_URL": "smtps://u:p@mail.example.com",
                                "ALERT_EMAIL_TO": "a@example.com,b@example.com",
                                "ALERT_WEBHOOK_URLS": "https://a.example.com/x, https://b.example.com/y"})
    assert parsed.cert_alert_days == (30, 7, 1)
    assert parsed.alert_email_to == ("a@example.com", "b@example.com")
    assert parsed.alert_webhook_urls == ("https://a.example.com/x", "https://b.example.com/y")
    assert "p@mail" not in repr(parsed) and "a.example.com/x" not in repr(parsed)


def test_a_sync_job_enqueues_the_alerts_job_and_a_worker_notifies(app, settings, sandbox, webhook):
    url = redis_url()
    sync_queue, default_queue = (Queue(name, connection=Redis.from_url(url)) for name in ("sync", "default"))
    sync_queue.empty()
    default_queue.empty()
    sync_queue.enqueue("jobs.sync.sync_source", "aws", "eu-west-1", "alice")
    env = {**panel_env(settings, ALERT_WEBHOOK_URLS=webhook.url), **sandbox.env(),
           "AWS_CONFIG_FILE": "/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
           "AWS_EC2_METADATA_DISABLED": "true"}
    env.pop("AWS_PROFILE", None)
    for name in ("sync", "default"):
        worker = subprocess.run(
            [sys.executable, "-m", "rq.cli", "worker", "--burst", "--worker-class", "jobs.worker.PanelWorker",
             "-u", url, name], env=env, capture_output=True, text=True, timeout=180)
        assert worker.returncode == 0, worker.stderr
        if name == "sync":
            assert [job.func_name for job in default_queue.get_jobs()] == ["jobs.alerts.run_alerts"]
    db.session.expire_all()
    alert = db.session.scalar(select(Alert).where(Alert.kind == "maintenance_event"))
    assert alert.target == "eu-prod-pg-1" and alert.pending_notice is None
    assert len(webhook.bodies) == 1 and "AWS system-reboot on eu-prod-pg-1" in webhook.bodies[0]["text"]
