"""One configuration object, read once from the environment.

Every setting has a safe default for the embedded mode (`make demo`, `make test`); production (`ADMIN_PANEL_ENV=
production`) refuses to start with an insecure one.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from app.cluster_settings import ClusterSettingsError, DeisClusterSettings, parse_clusters

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"
# The Databases API's public development values (dbapi/config.py has the same), so `make demo` works unconfigured.
DEV_DBAPI_SERVICE_KEY = "dev-dbapi-service-key-change-me"
DEV_DBAPI_CALLBACK_SECRET = "dev-dbapi-callback-secret-change-me"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


ASSET_MODES = ("cdn", "local")  # where htmx and Pico come from: the pinned CDN URLs, or the same files in /static


class ConfigError(RuntimeError):
    """The environment describes a configuration the panel refuses to run with."""


def _number(env: dict[str, str], key: str, default: str, kind: type = int):
    raw = env.get(key) or default
    try:
        return kind(raw)
    except ValueError as error:
        raise ConfigError(f"{key} must be a number, not {raw!r}") from error


def _fraction(env: dict[str, str], key: str, default: str) -> float:
    value = _number(env, key, default, float)
    if not 0 < value <= 1:  # also refuses NaN: no comparison holds for it
        raise ConfigError(f"{key} must be a fraction above 0 and at most 1 (0.2 is 20%), not {env.get(key)!r}")
    return value


def _role_arns(raw: str) -> dict[str, str]:
    """`AWS_ROLE_ARNS`: a JSON object mapping an AWS region to the ARN of the IAM role to read it with."""
    if not raw.strip():
        return {}
    try:
        arns = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f"AWS_ROLE_ARNS is not valid JSON: {error}") from error
    if not isinstance(arns, dict):
        raise ConfigError('AWS_ROLE_ARNS must be a JSON object like {"eu-west-1": "arn:aws:iam::123456789012:role/x"}')
    problems = [f"{region!r}: {arn!r} is not an IAM role ARN" for region, arn in arns.items()
                if not isinstance(arn, str) or not arn.startswith("arn:") or ":role/" not in arn]
    if problems:
        raise ConfigError("AWS_ROLE_ARNS: " + "; ".join(problems))
    return dict(arns)


def _stale_minutes(raw: str) -> dict[str, int]:
    """`OPERATION_STALE_MINUTES`: a JSON object of operation kind to minutes, e.g. {"backup.capture": 180,
    "default": 60}; kinds it does not name keep their defaults."""
    if not raw.strip():
        return {}
    example = 'like {"backup.capture": 180, "default": 60}'
    try:
        minutes = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f"OPERATION_STALE_MINUTES is not valid JSON ({error}): write it {example}") from error
    if not isinstance(minutes, dict):
        raise ConfigError(f"OPERATION_STALE_MINUTES must be a JSON object {example}")
    bad = [f"{kind!r}: {value!r}" for kind, value in minutes.items()
           if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10080]
    if bad:
        raise ConfigError("OPERATION_STALE_MINUTES: minutes must be whole numbers from 1 to 10080 (a week), not "
                          + ", ".join(bad))
    return dict(minutes)


def _names(env: dict[str, str], key: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in (env.get(key) or "").split(",") if name.strip())


DEFAULT_CERT_ALERT_DAYS = "30,14,7,1"


def _base_url(env: dict[str, str], key: str, default: str) -> str:
    """An http(s) base URL with a host and no credentials, without its trailing slash."""
    url = (env.get(key) or default).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ConfigError(f"{key} must be an http(s) base URL with a host and no credentials, like {default}")
    return url.rstrip("/")


def _cert_alert_days(raw: str) -> tuple[int, ...]:
    """`CERT_ALERT_DAYS`: whole days before expiry at which a certificate alerts, largest first."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts or not all(part.isascii() and part.isdigit() and 0 < int(part) <= 3650 for part in parts):
        raise ConfigError(f"CERT_ALERT_DAYS must be whole days from 1 to 3650 separated by commas (like"
                          f" {DEFAULT_CERT_ALERT_DAYS}), not {raw!r}")
    return tuple(sorted({int(part) for part in parts}, reverse=True))


def _webhook_urls(raw: str) -> tuple[str, ...]:
    """`ALERT_WEBHOOK_URLS`: http(s) URLs with a host; a problem names the URL by position, never by its secret path."""
    urls = tuple(url.strip() for url in raw.split(",") if url.strip())
    for position, url in enumerate(urls, start=1):
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError:
            parts = parts._replace(netloc="")
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
            raise ConfigError(f"ALERT_WEBHOOK_URLS: URL {position} is not a valid http(s) URL with a host"
                              " (like https://hooks.slack.com/services/T000/B000/XXXX)")
    return urls


def _smtp_url(raw: str) -> str | None:
    """`SMTP_URL`: smtp://user:password@host:587 (STARTTLS) or smtps://host:465; the error never shows the password."""
    if not raw.strip():
        return None
    url = raw.strip()
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or not port_ok or parts.path not in ("", "/"):
        raise ConfigError("SMTP_URL must look like smtp://user:password@host:587 (STARTTLS) or"
                          " smtps://user:password@host:465 (TLS)")
    return url


def _sender(env: dict[str, str]) -> str:
    senders = _addresses(env, "ALERT_EMAIL_FROM")
    if len(senders) > 1:
        raise ConfigError("ALERT_EMAIL_FROM takes one address, not a list")
    return senders[0] if senders else "admin-panel@localhost"


def _addresses(env: dict[str, str], key: str) -> tuple[str, ...]:
    addresses = _names(env, key)
    bad = [address for address in addresses
           if address.count("@") != 1 or not all(address.split("@")) or any(c.isspace() or c in "<>\"'" for c in address)]
    if bad:
        raise ConfigError(f"{key}: {', '.join(repr(address) for address in bad)} is not an email address")
    return addresses


@dataclass(frozen=True)
class Settings:
    """Everything the panel reads from its environment."""

    env: str
    secret_key: str = field(repr=False)
    instance_dir: Path
    database_url: str
    redis_url: str | None
    login_rate_limit: str
    sync_interval_minutes: int
    deis_clusters: list[DeisClusterSettings] = field(default_factory=list, repr=False)  # holds tokens
    deis_write_timeout: float = 300.0
    cloudflare_api_token: str | None = field(default=None, repr=False)
    cloudflare_base_url: str | None = None
    aws_endpoint_url: str | None = None
    aws_regions: list[str] = field(default_factory=list)
    # AWS credentials come only from boto3's own chain (environment, AWS_PROFILE, SSO, instance or container role);
    # a region listed here is read through that role, assumed with STS (multi-account).
    aws_role_arns: dict[str, str] = field(default_factory=dict)
    cloudflare_rate_limit: int = 800
    cloudflare_rate_window: int = 300
    cloudflare_max_wait: float = 60.0
    sync_lock_seconds: int = 60  # how soon a killed worker's sync lock frees itself (renewed while a run lives)
    sync_max_delete_fraction: float = 0.2  # a run deleting more of a scope (and more than 5) waits for confirmation
    # Issue 8: sign-in, sessions, masking and assets.
    trusted_proxy_hops: int = 0
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    reauth_minutes: int = 5
    secret_config_keys: tuple[str, ...] = ()
    public_config_keys: tuple[str, ...] = ()
    assets: str = "cdn"
    # Issue 10: a monit certificate check fails when the certificate is valid for fewer days than this.
    monit_cert_min_days: int = 14
    # Issue 10: alert channels and thresholds (webhook paths and the SMTP password are secrets).
    alert_webhook_urls: tuple[str, ...] = field(default=(), repr=False)
    smtp_url: str | None = field(default=None, repr=False)
    alert_email_to: tuple[str, ...] = ()
    alert_email_from: str = "admin-panel@localhost"
    cert_alert_days: tuple[int, ...] = (30, 14, 7, 1)
    # Issue 13: each limit enforcement write is a deploy; this long a pause between two.
    limits_enforce_interval: float = 2.0
    # Issue 12: watchdogs. Minutes an operation may stay in progress, per kind ("default" for the others), before it
    # is marked stale; minutes a job may wait in its queue, or run (at least its own timeout), before an alert.
    operation_stale_minutes: dict[str, int] = field(default_factory=dict)
    job_queued_alert_minutes: int = 15
    job_running_alert_minutes: int = 60
    # Issue 12: the Databases API and where its callbacks come back to (the panel's public base URL).
    dbapi_url: str = "http://127.0.0.1:5050"
    dbapi_service_key: str = field(default=DEV_DBAPI_SERVICE_KEY, repr=False)
    dbapi_callback_secret: str = field(default=DEV_DBAPI_CALLBACK_SECRET, repr=False)
    panel_url: str = "http://127.0.0.1:5000"
    dbapi_timeout: float = 30.0
    # Issue 14: how long a developer's Deis token (whoami) and the apps it may see are trusted before the controller
    # is asked again; a token revoked at the controller keeps working at most this long.
    dev_token_cache_seconds: int = 60
    # Issue 14: answers of 401 (a token the controller refuses) per client address, before /api/v1 answers 429.
    dev_token_failure_limit: str = "30 per minute"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the settings from `environ` (defaults to os.environ) and check them."""
        env = dict(os.environ if environ is None else environ)
        instance_dir = Path(env.get("ADMIN_PANEL_INSTANCE_DIR", PROJECT_ROOT / "instance")).resolve()
        database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_dir / 'admin-panel.sqlite'}"
        if database_url.startswith("postgres://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
        elif database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        try:
            clusters = parse_clusters(env.get("DEIS_CLUSTERS"))
        except ClusterSettingsError as error:
            raise ConfigError(str(error)) from error
        deis_write_timeout = _number(env, "DEIS_WRITE_TIMEOUT_SECONDS", "300", float)
        if deis_write_timeout <= 0:
            raise ConfigError(f"DEIS_WRITE_TIMEOUT_SECONDS must be more than 0, not {deis_write_timeout:g}")
        settings = cls(
            env=env.get("ADMIN_PANEL_ENV", "development"),
            secret_key=env.get("SECRET_KEY", DEFAULT_SECRET_KEY),
            instance_dir=instance_dir,
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            login_rate_limit=env.get("LOGIN_RATE_LIMIT", "5 per minute"),
            sync_interval_minutes=_number(env, "SYNC_INTERVAL_MINUTES", "10"),
            deis_clusters=clusters,
            deis_write_timeout=deis_write_timeout,
            cloudflare_api_token=env.get("CLOUDFLARE_API_TOKEN") or None,
            cloudflare_base_url=env.get("CLOUDFLARE_BASE_URL") or None,
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            aws_regions=[r for r in env.get("AWS_REGIONS", "").split(",") if r],
            aws_role_arns=_role_arns(env.get("AWS_ROLE_ARNS") or ""),
            cloudflare_rate_limit=_number(env, "CLOUDFLARE_RATE_LIMIT", "800"),
            cloudflare_rate_window=_number(env, "CLOUDFLARE_RATE_WINDOW_SECONDS", "300"),
            cloudflare_max_wait=_number(env, "CLOUDFLARE_MAX_WAIT_SECONDS", "60", float),
            sync_max_delete_fraction=_fraction(env, "SYNC_MAX_DELETE_FRACTION", "0.2"),
            sync_lock_seconds=_number(env, "SYNC_LOCK_SECONDS", "60"),
            trusted_proxy_hops=_number(env, "TRUSTED_PROXY_HOPS", "0"),
            session_idle_minutes=_number(env, "SESSION_IDLE_MINUTES", "30"),
            session_max_hours=_number(env, "SESSION_MAX_HOURS", "12"),
            reauth_minutes=_number(env, "REAUTH_MINUTES", "5"),
            secret_config_keys=_names(env, "SECRET_CONFIG_KEYS"),
            public_config_keys=_names(env, "PUBLIC_CONFIG_KEYS"),
            assets=(env.get("ASSETS") or "cdn").strip().lower(),
            monit_cert_min_days=_number(env, "MONIT_CERT_MIN_DAYS", "14"),
            alert_webhook_urls=_webhook_urls(env.get("ALERT_WEBHOOK_URLS") or ""),
            smtp_url=_smtp_url(env.get("SMTP_URL") or ""),
            alert_email_to=_addresses(env, "ALERT_EMAIL_TO"),
            alert_email_from=_sender(env),
            cert_alert_days=_cert_alert_days(env.get("CERT_ALERT_DAYS") or DEFAULT_CERT_ALERT_DAYS),
            limits_enforce_interval=_number(env, "LIMITS_ENFORCE_INTERVAL_SECONDS", "2", float),
            operation_stale_minutes=_stale_minutes(env.get("OPERATION_STALE_MINUTES") or ""),
            job_queued_alert_minutes=_number(env, "JOB_QUEUED_ALERT_MINUTES", "15"),
            job_running_alert_minutes=_number(env, "JOB_RUNNING_ALERT_MINUTES", "60"),
            dbapi_url=_base_url(env, "DBAPI_URL", "http://127.0.0.1:5050"),
            dbapi_service_key=env.get("DBAPI_SERVICE_KEY") or DEV_DBAPI_SERVICE_KEY,
            dbapi_callback_secret=env.get("DBAPI_CALLBACK_SECRET") or DEV_DBAPI_CALLBACK_SECRET,
            panel_url=_base_url(env, "PANEL_URL", "http://127.0.0.1:5000"),
            dbapi_timeout=_number(env, "DBAPI_TIMEOUT_SECONDS", "30", float),
            dev_token_cache_seconds=_number(env, "DEV_TOKEN_CACHE_SECONDS", "60"),
            dev_token_failure_limit=env.get("DEV_TOKEN_FAILURE_LIMIT") or "30 per minute",
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse impossible settings, and insecure ones in production."""
        self._check_issue8_settings()
        if not 1 <= self.monit_cert_min_days <= 365:
            raise ConfigError(
                f"MONIT_CERT_MIN_DAYS must be a number of days from 1 to 365, not {self.monit_cert_min_days}")
        if self.smtp_url and not self.alert_email_to:
            raise ConfigError("SMTP_URL is set but ALERT_EMAIL_TO names no recipient (a comma-separated list)")
        if not self.production:
            return
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL must point at PostgreSQL")
        if not self.redis_url:
            problems.append("REDIS_URL must be set (the embedded Redis is for development only)")
        for name, value, default in (("DBAPI_SERVICE_KEY", self.dbapi_service_key, DEV_DBAPI_SERVICE_KEY),
                                     ("DBAPI_CALLBACK_SECRET", self.dbapi_callback_secret, DEV_DBAPI_CALLBACK_SECRET)):
            if value == default or len(value) < 32:
                problems.append(f"{name} must be set to a random value of at least 32 characters")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))

    def _check_issue8_settings(self) -> None:
        if self.assets not in ASSET_MODES:
            raise ConfigError(f"ASSETS must be one of {', '.join(ASSET_MODES)}, not {self.assets!r}")
        if not 0 <= self.trusted_proxy_hops <= 10:
            raise ConfigError("TRUSTED_PROXY_HOPS must be between 0 and 10 (the number of proxies in front of the panel)")
        if not 0 < self.dbapi_timeout <= 3600:
            raise ConfigError(f"DBAPI_TIMEOUT_SECONDS must be more than 0 and at most 3600, not {self.dbapi_timeout:g}")
        if not 0 <= self.dev_token_cache_seconds <= 3600:
            raise ConfigError("DEV_TOKEN_CACHE_SECONDS must be from 0 (ask the controller every time) to 3600, not "
                              f"{self.dev_token_cache_seconds}")
        if not 0 <= self.limits_enforce_interval <= 3600:  # also refuses NaN
            raise ConfigError("LIMITS_ENFORCE_INTERVAL_SECONDS must be between 0 and 3600 (seconds between two limit "
                              f"writes), not {self.limits_enforce_interval:g}")
        if not 1 <= self.sync_lock_seconds <= 3600:
            raise ConfigError(f"SYNC_LOCK_SECONDS must be between 1 and 3600, not {self.sync_lock_seconds}")
        for name, value in (("JOB_QUEUED_ALERT_MINUTES", self.job_queued_alert_minutes),
                            ("JOB_RUNNING_ALERT_MINUTES", self.job_running_alert_minutes),
                            ("SESSION_IDLE_MINUTES", self.session_idle_minutes),
                            ("SESSION_MAX_HOURS", self.session_max_hours), ("REAUTH_MINUTES", self.reauth_minutes)):
            if value < 1:
                raise ConfigError(f"{name} must be at least 1, not {value}")

    def flask_config(self) -> dict:
        """The Flask config mapping derived from these settings."""
        return {
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.production,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_SECURE": self.production,
            "WTF_CSRF_TIME_LIMIT": None,
            "SETTINGS": self,
        }
