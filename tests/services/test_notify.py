"""Notifications reach a real loopback webhook receiver and a real SMTP server (aiosmtpd); secrets never leak."""
from __future__ import annotations

import pytest

from app.services.notify import EmailChannel, Notification, NotifyError, WebhookChannel, channels
from tests.notify_receivers import free_port, smtp_server, tls_smtp_server, webhook  # noqa: F401  (fixtures)

NOTICE = Notification(title="AWS system-reboot on eu-prod-pg-1", lines=("Window (UTC): 2026-12-05 10:00 – 12:00 UTC",
                                                                     "PostgreSQL: PRIMARY"))


def test_webhook_gets_a_slack_compatible_body(webhook):
    attempts = WebhookChannel(webhook.url).send(NOTICE)
    assert attempts == 1
    [body] = webhook.bodies
    assert body["text"].endswith("AWS system-reboot on eu-prod-pg-1\nWindow (UTC): 2026-12-05 10:00 – 12:00 UTC\n"
                                 "PostgreSQL: PRIMARY")
    assert body["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                             "text": "AWS system-reboot on eu-prod-pg-1"}}
    assert "PostgreSQL: PRIMARY" in body["blocks"][1]["text"]["text"]
    assert webhook.paths == ["/services/T0SECRET/B0SECRET/xoxsecretpath1234"]


def test_a_failing_webhook_is_retried_with_backoff_then_fails_without_showing_its_path(webhook):
    webhook.statuses = [500]
    pauses: list[float] = []
    channel = WebhookChannel(webhook.url, backoff=0.5, sleep=pauses.append)
    with pytest.raises(NotifyError) as failure:
        channel.send(NOTICE)
    assert len(webhook.bodies) == 3 and failure.value.attempts == 3
    assert pauses == [0.5, 1.0]
    assert "answered HTTP 500 after 3 attempts" in str(failure.value)
    assert "xoxsecretpath" not in str(failure.value) + channel.label and "T0SECRET" not in channel.label


def test_a_webhook_that_recovers_is_delivered_on_a_later_attempt(webhook):
    webhook.statuses = [503, 200]
    assert WebhookChannel(webhook.url, sleep=lambda _: None).send(NOTICE) == 2
    assert len(webhook.bodies) == 2


def test_a_refusing_webhook_is_not_retried(webhook):
    webhook.statuses = [404]
    with pytest.raises(NotifyError, match="answered HTTP 404; not retried"):
        WebhookChannel(webhook.url, sleep=lambda _: None).send(NOTICE)
    assert len(webhook.bodies) == 1


def test_an_unreachable_webhook_names_no_secret():
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/secretpart"
    with pytest.raises(NotifyError) as failure:
        WebhookChannel(url, sleep=lambda _: None).send(NOTICE)
    assert "could not connect" in str(failure.value) and "secretpart" not in str(failure.value)


def test_email_goes_through_a_real_smtp_server(smtp_server):
    channel = EmailChannel(smtp_server.url, ("ops@example.com", "oncall@example.com"), "panel@example.com")
    assert channel.send(NOTICE) == 1
    [message] = smtp_server.messages
    assert message["Subject"] == "AWS system-reboot on eu-prod-pg-1"
    assert message["From"] == "panel@example.com" and message["To"] == "ops@example.com, oncall@example.com"
    assert smtp_server.recipients == [["ops@example.com", "oncall@example.com"]]
    assert "PostgreSQL: PRIMARY" in message.get_payload(decode=True).decode()


def test_resolved_email_says_so(smtp_server):
    EmailChannel(smtp_server.url, ("ops@example.com",)).send(Notification(title="Resolved: x", resolved=True))
    assert smtp_server.messages[0]["Subject"] == "[resolved] Resolved: x"


def test_a_password_is_never_sent_to_a_server_without_tls(smtp_server):
    url = smtp_server.url.replace("smtp://", "smtp://alerts:hunter2-smtp-password@")
    channel = EmailChannel(url, ("ops@example.com",))
    with pytest.raises(NotifyError) as failure:
        channel.send(NOTICE)
    assert "offers no STARTTLS" in str(failure.value)
    assert "hunter2" not in str(failure.value) and "hunter2" not in channel.label and "alerts:" in channel.label
    assert smtp_server.messages == []


def test_an_unreachable_smtp_server_is_retried_then_reported():
    pauses: list[float] = []
    channel = EmailChannel(f"smtp://u:p4ss-word@127.0.0.1:{free_port()}", ("ops@example.com",), backoff=0.25,
                           sleep=pauses.append)
    with pytest.raises(NotifyError) as failure:
        channel.send(NOTICE)
    assert failure.value.attempts == 2 and pauses == [0.25]
    assert "could not talk to the server" in str(failure.value) and "p4ss-word" not in str(failure.value)


def test_channels_from_settings_values(webhook):
    configured = channels([webhook.url], "smtp://mail.example.com:587", ["ops@example.com"], "panel@example.com")
    assert [channel.key.split(":")[0] for channel in configured] == ["webhook", "email"]
    assert channels([], "smtp://mail.example.com:587", [], "panel@example.com") == []


def test_email_uses_tls_and_the_password_from_smtp_url(tls_smtp_server):
    channel = EmailChannel(tls_smtp_server.url, ("ops@example.com",), ssl_context=tls_smtp_server.client_context)
    assert channel.send(NOTICE) == 1
    assert tls_smtp_server.logins == [("alerts", "s3cret-smtp-pass")]
    assert tls_smtp_server.encrypted == [True] and len(tls_smtp_server.messages) == 1



def test_names_from_synced_data_cannot_add_mail_headers_or_ping_slack(webhook, smtp_server):
    # A certificate's common name or an instance's Name tag is whatever someone typed upstream.
    hostile = Notification(title="Certificate x.example.com\r\nBcc: thief@evil.test <!channel>",
                           lines=("Apps: <https://evil.test|click here> & more",))
    EmailChannel(smtp_server.url, ("ops@example.com",)).send(hostile)
    WebhookChannel(webhook.url).send(hostile)
    [message] = smtp_server.messages
    assert message["Bcc"] is None and smtp_server.recipients == [["ops@example.com"]]
    assert message["Subject"] == "Certificate x.example.com Bcc: thief@evil.test <!channel>"
    body = webhook.bodies[0]
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt;" in body["text"]
    assert "&lt;https://evil.test|click here&gt; &amp; more" in body["blocks"][1]["text"]["text"]
