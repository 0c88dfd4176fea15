"""Pytest plugin: no secret the suite uses may appear in a log record, a page or an API response it produced.

- Every log record (a root handler at INFO, the level production runs at) and every response body and header the
  panel and dbapi serve in this process (Flask's `request_finished` signal, whichever app and server) is spooled to
  a file under the session's basetemp; `record(where, text)` adds other output (a worker subprocess's log).
- Fixtures register the secrets they use with `register_secret(value, label)`: the sandbox's Deis tokens, the
  Cloudflare token, the AWS keys, dbapi's keys, the test password, masked config values; database passwords and
  download/upload tokens are registered as they pass (a dbapi callback's body, dbapi's token answers).
- At the end of the session every registered secret (as is, URL-quoted, JSON-escaped) is searched for in the spool;
  a hit fails the run, listing the label, a hash prefix of the secret (never the secret) and where it was seen.
  Works for any subset of tests: it checks the secrets that subset used against what that subset produced.
- A response that shows a secret on purpose (the reveal endpoint, dbapi's token answer) is allowed by `ALLOWED`,
  each entry with its reason.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from flask import request, request_finished, request_started

MIN_LENGTH = 8  # shorter values would match by chance


@dataclass(frozen=True)
class Allowance:
    """A place that may show a kind of secret, and why."""

    label: re.Pattern[str]
    where: re.Pattern[str]
    reason: str


ALLOWED = (
    Allowance(re.compile(r"^masked config value"), re.compile(r"^response panel POST /apps/\d+/config/reveal "),
              "the reveal endpoint shows one masked config value to an admin who asked for it (audited)"),
    Allowance(re.compile(r"^dbapi (download|upload) token"), re.compile(r"^response dbapi POST /tokens "),
              "dbapi hands a transfer token to the caller that asked for it, once"),
    Allowance(re.compile(r"^dbapi (download|upload) token"),
              re.compile(r"^response panel (GET|POST) /(api/v1/)?(apps|databases|backups)/[^ ]*(download|upload)"),
              "the panel passes a transfer token on to the developer who asked for it, once"),
)


class SecretRegistry:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self._lock = threading.Lock()

    def register(self, value: object, label: str) -> None:
        if isinstance(value, str) and len(value) >= MIN_LENGTH:
            with self._lock:
                self.secrets.setdefault(value, label)


class Spool:
    """Everything produced, one JSON line per item: {"where": ..., "text": ...}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")
        self.items = 0

    def add(self, where: str, text: str) -> None:
        if not text:
            return
        line = json.dumps({"where": where, "text": text}) + "\n"
        with self._lock:
            self._file.write(line)
            self.items += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def entries(self):
        with self._lock:
            if not self._file.closed:
                self._file.flush()
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                yield json.loads(line)


@dataclass(frozen=True)
class Leak:
    label: str
    fingerprint: str
    where: str
    times: int

    def __str__(self) -> str:
        return f"{self.label} (sha256 {self.fingerprint}…) in {self.where} ×{self.times}"


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def find_leaks(secrets: dict[str, str], entries, allowed=ALLOWED) -> list[Leak]:
    """Every (secret, place) where a registered secret shows up outside an allowance."""
    if not secrets:
        return []
    owner = {form: secret for secret in secrets for form in _forms(secret)}
    pattern = re.compile("|".join(re.escape(form) for form in sorted(owner, key=len, reverse=True)))
    found: dict[tuple[str, str], int] = {}
    for entry in entries:
        text, where = entry["text"], entry["where"]
        for secret in {owner[match.group(0)] for match in pattern.finditer(text)}:
            label = secrets[secret]
            if any(rule.label.search(label) and rule.where.search(where) for rule in allowed):
                continue
            key = (secret, re.sub(r"/\d+", "/N", where))  # one line per route, not per id
            found[key] = found.get(key, 0) + 1
    return [Leak(secrets[secret], fingerprint(secret), where, times) for (secret, where), times in found.items()]


REGISTRY = SecretRegistry()
_spool: Spool | None = None


def register_secret(value: object, label: str) -> None:
    """Add a secret the suite uses; the end of the session fails if it shows up anywhere."""
    REGISTRY.register(value, label)


def register_sandbox(sandbox) -> None:
    """The credentials a sandbox hands the panel and its users, and its apps' config values the panel masks."""
    from urllib.parse import urlsplit

    from app.redaction import is_secret

    env = sandbox.env()
    register_secret(env["CLOUDFLARE_API_TOKEN"], "Cloudflare token")
    register_secret(env["AWS_ACCESS_KEY_ID"], "AWS access key id")
    register_secret(env["AWS_SECRET_ACCESS_KEY"], "AWS secret access key")
    for cluster in json.loads(env["DEIS_CLUSTERS"]):
        register_secret(cluster.get("token"), "Deis token (panel)")
    for user in json.loads(env["SANDBOX_DEIS_USERS"]):
        register_secret(user.get("token"), "Deis token (user)")
        register_secret(user.get("password"), "Deis user password")
    for other in sandbox.scenario.cloudflare.other_tokens:
        register_secret(other.token, "Cloudflare token (another tool)")
    for app in sandbox.scenario.apps:
        for key, value in app.config.items():
            if is_secret(key, value):
                register_secret(value, f"masked config value {key}")
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            register_secret(password, "database password (in a config URL)")


def produced():
    """What this session produced so far (for the plugin's own tests)."""
    return _spool.entries() if _spool is not None else iter(())


def record(where: str, text: str) -> None:
    """Add output produced outside this process (a worker's log) to what is searched."""
    if _spool is not None:
        _spool.add(where, text)


class _SpoolHandler(logging.Handler):
    def emit(self, log_record: logging.LogRecord) -> None:
        try:
            text = self.format(log_record)
        except Exception:  # a record that cannot format must not break the test that logged it
            text = str(log_record.msg)
        record(f"log {log_record.name}", text)


def _app_name(sender) -> str | None:
    """"panel" or "dbapi"; None for any other Flask app (a simulator's answers are the simulated service's)."""
    name = getattr(sender, "import_name", "")
    return {"app": "panel", "dbapi": "dbapi"}.get(name)


def _on_request(sender, **extra) -> None:
    if _app_name(sender) != "panel":
        return
    # The body of a dbapi callback carries the new database's password: learn it (reading it here caches it for the
    # view, which then sees the same bytes).
    if request.method == "POST" and request.path.endswith("/dbapi/callbacks"):
        try:
            payload = json.loads(request.get_data(cache=True) or b"{}")
        except ValueError:
            return
        database = payload.get("database") if isinstance(payload, dict) else None
        if isinstance(database, dict):
            register_secret(database.get("password"), "database password")


def _on_response(sender, response, **extra) -> None:
    if _app_name(sender) is None:
        return
    where = f"response {_app_name(sender)} {request.method} {request.path} {response.status_code}"
    record(where + " headers", "\n".join(f"{name}: {value}" for name, value in response.headers.items()))
    if response.is_streamed or response.direct_passthrough:
        return  # a download's bytes (encrypted at rest, the tenant's own data once served)
    body = response.get_data(as_text=True)
    if _app_name(sender) == "dbapi" and request.path.rstrip("/") == "/tokens" and response.status_code == 201:
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        token = answer.get("token") if isinstance(answer, dict) else None
        register_secret(token, f"dbapi {answer.get('action', 'download')} token")
    record(where, body)


_handler = _SpoolHandler()


def pytest_configure(config) -> None:
    global _spool
    folder = Path(tempfile.mkdtemp(prefix="secret-spool-"))
    _spool = Spool(folder / "produced.jsonl")
    root = logging.getLogger()
    _handler.setLevel(logging.INFO)
    root.addHandler(_handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    request_started.connect(_on_request)
    request_finished.connect(_on_response)


def pytest_sessionfinish(session, exitstatus) -> None:
    if _spool is None:
        return
    logging.getLogger().removeHandler(_handler)
    request_started.disconnect(_on_request)
    request_finished.disconnect(_on_response)
    _spool.close()
    leaks = find_leaks(dict(REGISTRY.secrets), _spool.entries())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = (f"secret leak check: {len(REGISTRY.secrets)} secrets searched in {_spool.items} logs, pages and"
               f" responses: {len(leaks)} leak(s)")
    if reporter is not None:
        reporter.write_line(summary, red=bool(leaks), green=not leaks)
        for leak in leaks:
            reporter.write_line(f"  LEAK {leak}", red=True)
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    _spool.path.unlink(missing_ok=True)
    _spool.path.parent.rmdir()


@pytest.fixture
def secrets_registry() -> SecretRegistry:
    """The session's registry: `secrets_registry.register(value, label)` from a test or fixture."""
    return REGISTRY
