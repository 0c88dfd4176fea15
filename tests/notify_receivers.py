"""Real loopback receivers for notifications: an HTTP webhook endpoint and an aiosmtpd SMTP server.

Import the fixtures into a test module (`from tests.notify_receivers import smtp_server, webhook  # noqa: F401`).
"""
from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers with `statuses` in turn (then the last)."""

    url: str = ""
    bodies: list[dict] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=lambda: [200])

    def answer(self) -> int:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def texts(self) -> list[str]:
        return [body["text"] for body in self.bodies]


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            with lock:
                receiver.paths.append(self.path)
                receiver.bodies.append(json.loads(self.rfile.read(length) or b"null"))
                status = receiver.answer()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # A Slack-like URL: the path is the secret.
    receiver.url = f"http://127.0.0.1:{server.server_port}/services/T0SECRET/B0SECRET/xoxsecretpath1234"
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@dataclass
class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1 (no TLS, no AUTH) keeping every message it accepted."""

    url: str = ""
    messages: list[Message] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)


class _Collect:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802  (aiosmtpd's name)
        self.receiver.messages.append(email.message_from_bytes(envelope.original_content or envelope.content,
                                                                    policy=email.policy.default))
        self.receiver.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    controller = Controller(_Collect(receiver), hostname="127.0.0.1", port=free_port())
    controller.start()
    receiver.url = f"smtp://{controller.hostname}:{controller.port}"
    yield receiver
    controller.stop()
