"""Switches that make the controller as harsh as production, beyond what `sandbox.faults` breaks on the wire.

Served by each simulator at `GET/POST/DELETE /__sandbox/deis` (and through the sandbox control app at
`/switches/deis:<cluster>`), and cleared by a reset like the faults are:

- `behind_proxy`: the origin the controller believes it is at, as behind a TLS-terminating proxy that does not
  pass the original scheme and host (`http://deis-controller.deis:8000`): `next` and `previous` links use it;
- `drop_per_page`: results silently left out of every page of every listing while `count` stays right (a broken
  proxy or a replica that lags: the listing is short of its count);
- `deploy_seconds`: how long a config POST takes to answer once the config is saved (the deploy of the release).

Churn (apps created and deleted while a client reads) is a fault: `churn_per_second` in `/__sandbox/faults`.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

SWITCHES_PATH = "/__sandbox/deis"


class DeisSwitches(BaseModel):
    """Every switch off by default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    behind_proxy: str | None = None
    drop_per_page: int = Field(default=0, ge=0, le=1000)
    deploy_seconds: float = Field(default=0.0, ge=0.0, le=600.0)

    @field_validator("behind_proxy")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
            raise ValueError(f"{value!r} is not an origin like http://deis-controller.deis:8000")
        return value.rstrip("/")
