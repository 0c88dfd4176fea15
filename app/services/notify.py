"""Delivering alert notifications: Slack-compatible webhooks and email over SMTP.

No Flask, no database: a channel takes a `Notification` and either delivers it or raises `NotifyError` with words
an operator can act on. Secrets stay inside: a webhook URL's path (Slack's is the credential) and the SMTP password
never appear in an error, a label or a log line; channels are named by `label` (masked) and `key` (stable, hashed).
"""
from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

import requests

MASK = "••••••"
WEBHOOK_ATTEMPTS = 3
WEBHOOK_TIMEOUT = 10.0
EMAIL_ATTEMPTS = 2
BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0
SMTP_TIMEOUT = 20.0
# Slack cuts a header at 150 characters and a section at 3,000; longer ones make it refuse the whole message.
SLACK_HEADER_LIMIT = 150
SLACK_SECTION_LIMIT = 3000


class NotifyError(RuntimeError):
    """A notification could not be delivered; the message says where and why, with no secret in it."""

    def __init__(self, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True)
class Notification:
    """What an alert says: a one-line title, plain-text lines, and whether it is news or an all-clear."""

    title: str
    lines: tuple[str, ...] = ()
    resolved: bool = False
    severity: str = "warning"

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.lines))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(text: str) -> str:
    """`text` without line breaks or control characters: names from AWS tags or Deis must not add mail headers."""
    return _CONTROL.sub(" ", text).strip()


def slack_escape(text: str) -> str:
    """Slack's escaping: `<!channel>` or `<https://evil|click>` from a synced name is shown, never acted on."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(notification: Notification) -> dict:
    """The webhook body: `text` for clients without blocks, `blocks` for Slack's layout."""
    icon = ":white_check_mark:" if notification.resolved else (
        ":rotating_light:" if notification.severity == "critical" else ":warning:")
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                        "text": one_line(notification.title)[:SLACK_HEADER_LIMIT]}}]
    if notification.lines:
        lines = "\n".join(slack_escape(one_line(line)) for line in notification.lines)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": lines[:SLACK_SECTION_LIMIT]}})
    text = "\n".join(slack_escape(one_line(line)) for line in (notification.title, *notification.lines))
    return {"text": f"{icon} {text}"[:SLACK_SECTION_LIMIT], "blocks": blocks}


def mask_webhook_url(url: str) -> str:
    """The webhook URL as it may be shown: scheme and host only (Slack's path is the secret)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/{MASK}"


def mask_smtp_url(url: str) -> str:
    """The SMTP URL as it may be shown: the user name stays (it says which account), the password goes."""
    parts = urlsplit(url)
    user = f"{unquote(parts.username)}:{MASK}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{parts.hostname}{port}"


def _short_hash(text: str) -> str:
    # Tells two webhooks on one host apart without showing either path; 8 hex digits of a hash reveal nothing.
    return hashlib.sha256(text.encode()).hexdigest()[:8]


class Channel(Protocol):
    key: str
    label: str

    def send(self, notification: Notification) -> int:
        """Deliver `notification`; returns the attempts it took, or raises NotifyError."""


Sleep = Callable[[float], None]


@dataclass
class WebhookChannel:
    """A Slack-compatible incoming webhook: one POST of `{"text", "blocks"}`, retried with backoff when it is safe."""

    url: str = field(repr=False)
    attempts: int = WEBHOOK_ATTEMPTS
    backoff: float = BACKOFF_SECONDS
    timeout: float = WEBHOOK_TIMEOUT
    sleep: Sleep = time.sleep

    @property
    def label(self) -> str:
        return f"webhook {mask_webhook_url(self.url)}"

    @property
    def key(self) -> str:
        return f"webhook:{urlsplit(self.url).hostname}:{_short_hash(self.url)}"

    def send(self, notification: Notification) -> int:
        """POST the notification; 429, 5xx and connection failures are retried, other refusals are final."""
        body = slack_body(notification)
        reason = "not tried"
        for attempt in range(1, self.attempts + 1):
            try:
                response = requests.post(self.url, json=body, timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as error:
                # requests' messages carry the full URL: name the failure by its type only.
                reason = f"could not connect ({type(error).__name__})"
            else:
                if 200 <= response.status_code < 300:
                    return attempt
                reason = f"answered HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    # The receiver refused this message (a revoked webhook, a bad body): sending it again
                    # changes nothing.
                    raise NotifyError(f"{self.label} {reason}; not retried", attempt)
            if attempt < self.attempts:
                self.sleep(min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))
        raise NotifyError(f"{self.label} {reason} after {self.attempts} attempts", self.attempts)


@dataclass(frozen=True)
class SmtpServer:
    """Where mail goes, from `SMTP_URL` (`smtp://user:pass@host:587`, or `smtps://` for TLS from the start)."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """Parse an SMTP URL; NotifyError (without the password) when it is not one."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise NotifyError("SMTP_URL must look like smtp://user:password@host:587 or smtps://host:465")
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 587)
        except ValueError as error:
            raise NotifyError("SMTP_URL has a port that is not a number") from error
        return cls(host=parts.hostname, port=port, implicit_tls=parts.scheme == "smtps",
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None)


@dataclass
class EmailChannel:
    """Email to `recipients`: STARTTLS whenever the server offers it; a password is never sent over plain text."""

    smtp_url: str = field(repr=False)
    recipients: Sequence[str] = ()
    sender: str = "admin-panel@localhost"
    attempts: int = EMAIL_ATTEMPTS
    backoff: float = BACKOFF_SECONDS
    timeout: float = SMTP_TIMEOUT
    ssl_context: ssl.SSLContext | None = None
    sleep: Sleep = time.sleep

    key: str = "email"

    @property
    def label(self) -> str:
        return f"email to {', '.join(self.recipients)} via {mask_smtp_url(self.smtp_url)}"

    def message(self, notification: Notification) -> EmailMessage:
        """The email as it will be sent."""
        # RFC 5322 allows 998 characters a line: long subjects stay whole instead of folding oddly.
        message = EmailMessage(policy=SMTP_POLICY.clone(max_line_length=998))
        message["Subject"] = ("[resolved] " if notification.resolved else "") + one_line(notification.title)
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content("\n".join(one_line(line) for line in (notification.title, *notification.lines)) + "\n")
        return message

    def send(self, notification: Notification) -> int:
        """Send the mail; a dropped connection or a 4xx answer is retried, a 5xx refusal is final."""
        server = SmtpServer.from_url(self.smtp_url)
        if not self.recipients:
            raise NotifyError("ALERT_EMAIL_TO names no recipient", 0)
        message = self.message(notification)
        reason = "not tried"
        for attempt in range(1, self.attempts + 1):
            try:
                self._deliver(server, message)
                return attempt
            except smtplib.SMTPResponseException as error:
                reason = f"answered {error.smtp_code}"
                if error.smtp_code >= 500:
                    raise NotifyError(f"{self.label}: the server {reason}; not retried", attempt) from None
            except smtplib.SMTPNotSupportedError:
                raise NotifyError(f"{self.label}: the server offers no password login (AUTH); check SMTP_URL",
                                  attempt) from None
            except smtplib.SMTPRecipientsRefused:
                raise NotifyError(f"{self.label}: the server refused every recipient", attempt) from None
            except NotifyError as error:
                error.attempts = attempt
                raise
            except (OSError, smtplib.SMTPException) as error:
                reason = f"could not talk to the server ({type(error).__name__})"
            if attempt < self.attempts:
                self.sleep(min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))
        raise NotifyError(f"{self.label}: {reason} after {self.attempts} attempts", self.attempts)

    def _deliver(self, server: SmtpServer, message: EmailMessage) -> None:
        context = self.ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if server.implicit_tls:
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            encrypted = server.implicit_tls
            if not encrypted and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
                encrypted = True
            if server.username:
                if not encrypted:
                    raise NotifyError(f"{self.label}: the server offers no STARTTLS; the password is not sent"
                                      " in clear (use smtps:// or a server with STARTTLS)")
                smtp.login(server.username, server.password or "")
            smtp.send_message(message)


def channels(webhook_urls: Sequence[str], smtp_url: str | None, email_to: Sequence[str], email_from: str,
             backoff: float = BACKOFF_SECONDS) -> list[Channel]:
    """Every configured channel: one per webhook URL, and email when an SMTP URL and recipients are set."""
    configured: list[Channel] = [WebhookChannel(url, backoff=backoff) for url in webhook_urls]
    if smtp_url and email_to:
        configured.append(EmailChannel(smtp_url, tuple(email_to), email_from, backoff=backoff))
    return configured
