"""Real loopback receivers for notifications: an HTTP webhook endpoint and an aiosmtpd SMTP server.

Import the fixtures into a test module (`from tests.notify_receivers import smtp_server, webhook  # noqa: F401`).
"""
from __future__ import annotations

import email
import email.policy
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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


@dataclass
class TlsSmtpReceiver(SmtpReceiver):
    """An aiosmtpd server that demands TLS (STARTTLS, or TLS from the start) and a password."""

    client_context: ssl.SSLContext | None = None
    logins: list[tuple[str, str]] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)


class _CollectEncrypted(_Collect):
    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802  (aiosmtpd's name)
        self.receiver.encrypted.append(server.transport.get_extra_info("ssl_object") is not None)
        return await super().handle_DATA(server, session, envelope)


def _self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.fixture(params=["starttls", "implicit"])
def tls_smtp_server(request, tmp_path) -> Iterator[TlsSmtpReceiver]:
    certificate_pem, key_pem = _self_signed()
    (tmp_path / "cert.pem").write_bytes(certificate_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    receiver = TlsSmtpReceiver(client_context=ssl.create_default_context(cadata=certificate_pem.decode()))

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        receiver.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"alerts", b"s3cret-smtp-pass"))

    # aiosmtpd counts only STARTTLS as TLS for AUTH; with TLS from the start the whole connection is encrypted.
    options = {"ssl_context": server_context, "auth_require_tls": False} if request.param == "implicit" else {
        "tls_context": server_context, "require_starttls": True}
    controller = Controller(_CollectEncrypted(receiver), hostname="127.0.0.1", port=free_port(),
                            auth_required=True, authenticator=authenticate, server_hostname="127.0.0.1", **options)
    controller.start()
    scheme = "smtps" if request.param == "implicit" else "smtp"
    receiver.url = f"{scheme}://alerts:s3cret-smtp-pass@127.0.0.1:{controller.port}"
    yield receiver
    controller.stop()
