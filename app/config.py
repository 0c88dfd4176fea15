"""One configuration object, read once from the environment.

Every setting has a safe default for the embedded mode (`make demo`, `make test`); production (`ADMIN_PANEL_ENV=
production`) refuses to start with an insecure one.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from app.cluster_settings import ClusterSettingsError, DeisClusterSettings, parse_clusters

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"
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


def _names(env: dict[str, str], key: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in (env.get(key) or "").split(",") if name.strip())


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
    sync_max_delete_fraction: float = 0.2  # a run deleting more of a scope (and more than 5) waits for confirmation
    # Issue 8: sign-in, sessions, masking and assets.
    trusted_proxy_hops: int = 0
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    reauth_minutes: int = 5
    secret_config_keys: tuple[str, ...] = ()
    public_config_keys: tuple[str, ...] = ()
    assets: str = "cdn"
    # Issue 13: each limit enforcement write is a deploy; this long a pause between two.
    limits_enforce_interval: float = 2.0

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
            trusted_proxy_hops=_number(env, "TRUSTED_PROXY_HOPS", "0"),
            session_idle_minutes=_number(env, "SESSION_IDLE_MINUTES", "30"),
            session_max_hours=_number(env, "SESSION_MAX_HOURS", "12"),
            reauth_minutes=_number(env, "REAUTH_MINUTES", "5"),
            secret_config_keys=_names(env, "SECRET_CONFIG_KEYS"),
            public_config_keys=_names(env, "PUBLIC_CONFIG_KEYS"),
            assets=(env.get("ASSETS") or "cdn").strip().lower(),
            limits_enforce_interval=_number(env, "LIMITS_ENFORCE_INTERVAL_SECONDS", "2", float),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse impossible settings, and insecure ones in production."""
        self._check_issue8_settings()
        if not self.production:
            return
        problems = []
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL must point at PostgreSQL")
        if not self.redis_url:
            problems.append("REDIS_URL must be set (the embedded Redis is for development only)")
        if problems:
            raise ConfigError("refusing to start in production: " + "; ".join(problems))

    def _check_issue8_settings(self) -> None:
        if self.assets not in ASSET_MODES:
            raise ConfigError(f"ASSETS must be one of {', '.join(ASSET_MODES)}, not {self.assets!r}")
        if not 0 <= self.trusted_proxy_hops <= 10:
            raise ConfigError("TRUSTED_PROXY_HOPS must be between 0 and 10 (the number of proxies in front of the panel)")
        if not 0 <= self.limits_enforce_interval <= 3600:  # also refuses NaN
            raise ConfigError("LIMITS_ENFORCE_INTERVAL_SECONDS must be between 0 and 3600 (seconds between two limit "
                              f"writes), not {self.limits_enforce_interval:g}")
        for name, value in (("SESSION_IDLE_MINUTES", self.session_idle_minutes),
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
