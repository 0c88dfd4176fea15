"""Deis Workflow controller client (API v2.3): apps, config and limits, domains, settings, certificates, users.

Follows every page (`next` is an absolute URL), retries reads, and raises `DeisError` with the cluster, the call and
the controller's own words. The dialect of the controller stays behind `DeisClient`, so a Drycc adapter can be
added without touching callers.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import requests

from app.services.http_session import retrying_session

DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
APP_TYPE_LABEL = "app-type"  # where the platform keeps an app's type: settings label {"app-type": "web"}


class DeisError(Exception):
    """A call to a Deis controller failed; the message says which cluster, which call, and why."""

    def __init__(self, cluster: str, call: str, reason: str, status: int | None = None) -> None:
        self.cluster, self.call, self.reason, self.status = cluster, call, reason, status
        super().__init__(f"Deis {cluster}: {call} failed: {reason}")


def parse_date(value: str | None) -> datetime | None:
    """A controller timestamp (`%Y-%m-%dT%H:%M:%SZ`, sometimes with fractions) as an aware datetime."""
    if not value:
        return None
    try:
        return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class DeisApp:
    id: str
    uuid: str
    owner: str
    structure: dict[str, int]
    created: datetime | None
    updated: datetime | None


@dataclass(frozen=True)
class DeisConfig:
    values: dict[str, Any]
    memory: dict[str, str]
    cpu: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeisSettings:
    maintenance: bool
    routable: bool
    label: dict[str, str]

    @property
    def app_type(self) -> str | None:
        return self.label.get(APP_TYPE_LABEL)


@dataclass(frozen=True)
class DeisCertificate:
    name: str
    owner: str
    common_name: str | None
    sans: list[str]
    domains: list[str]
    fingerprint: str | None
    starts: datetime | None
    expires: datetime | None
    issuer: str | None


@dataclass(frozen=True)
class DeisUser:
    username: str
    email: str | None
    is_superuser: bool


class DeisClient:
    """A controller of one cluster, called with one user's token."""

    def __init__(
        self,
        cluster: str,
        base_url: str,
        token: str,
        *,
        timeout: float = 20.0,
        retries: int = 3,
        page_size: int = 100,
        session: requests.Session | None = None,
    ) -> None:
        self.cluster = cluster
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.page_size = page_size
        self._session = session or retrying_session(retries=retries)
        self._headers = {"Authorization": f"token {token}", "Accept": "application/json"}
        self._lock = threading.Lock()
        self.calls = 0

    # -- plumbing -------------------------------------------------------------------------------------------------
    def _request(self, method: str, path_or_url: str, call: str, **kwargs: Any) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else f"{self.base_url}{path_or_url}"
        with self._lock:
            self.calls += 1
        try:
            response = self._session.request(method, url, headers=self._headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            raise DeisError(self.cluster, call, f"controller unreachable ({type(error).__name__}: {error})") from error
        return response

    def _json(self, response: requests.Response, call: str, ok: tuple[int, ...] = (200,)) -> Any:
        if response.status_code not in ok:
            raise DeisError(self.cluster, call, _reason(response), response.status_code)
        try:
            return response.json()
        except ValueError as error:
            raise DeisError(self.cluster, call, "controller answered something that is not JSON",
                            response.status_code) from error

    def _paginate(self, path: str, call: str) -> Iterator[dict[str, Any]]:
        url: str | None = f"{self.base_url}{path}?limit={self.page_size}"
        while url:
            page = self._json(self._request("GET", url, call), call)
            if not isinstance(page, dict) or "results" not in page:
                raise DeisError(self.cluster, call, "page without results")
            yield from page["results"]
            url = page.get("next")

    # -- reads ----------------------------------------------------------------------------------------------------
    def whoami(self) -> DeisUser:
        """The user the token belongs to."""
        body = self._json(self._request("GET", "/v2/auth/whoami", "whoami"), "whoami")
        return DeisUser(username=body["username"], email=body.get("email"), is_superuser=bool(body.get("is_superuser")))

    def list_apps(self) -> list[DeisApp]:
        """Every app this token can see (all pages)."""
        return [
            DeisApp(
                id=item["id"], uuid=item.get("uuid", ""), owner=item.get("owner", ""),
                structure=dict(item.get("structure") or {}), created=parse_date(item.get("created")),
                updated=parse_date(item.get("updated")),
            )
            for item in self._paginate("/v2/apps", "list apps")
        ]

    def get_app(self, app_id: str) -> DeisApp | None:
        """One app, or None when the token cannot see it (404/403)."""
        call = f"get app {app_id}"
        response = self._request("GET", f"/v2/apps/{app_id}", call)
        if response.status_code in (403, 404):
            return None
        item = self._json(response, call)
        return DeisApp(id=item["id"], uuid=item.get("uuid", ""), owner=item.get("owner", ""),
                       structure=dict(item.get("structure") or {}), created=parse_date(item.get("created")),
                       updated=parse_date(item.get("updated")))

    def get_config(self, app_id: str) -> DeisConfig:
        """The app's config: values and limits."""
        body = self._json(self._request("GET", f"/v2/apps/{app_id}/config", f"config of {app_id}"),
                          f"config of {app_id}")
        return _config(body)

    def get_settings(self, app_id: str) -> DeisSettings:
        call = f"settings of {app_id}"
        body = self._json(self._request("GET", f"/v2/apps/{app_id}/settings", call), call)
        label = body.get("label") or {}
        return DeisSettings(maintenance=bool(body.get("maintenance")), routable=body.get("routable", True) is not False,
                            label={str(k): str(v) for k, v in label.items()} if isinstance(label, dict) else {})

    def list_domains(self, app_id: str) -> list[str]:
        return [item["domain"] for item in self._paginate(f"/v2/apps/{app_id}/domains", f"domains of {app_id}")]

    def list_certificates(self) -> list[DeisCertificate]:
        """Certificates owned by this token's user (Deis scopes them to their owner, even for admins)."""
        return [
            DeisCertificate(
                name=item["name"], owner=item.get("owner", ""), common_name=item.get("common_name"),
                sans=list(item.get("san") or []), domains=list(item.get("domains") or []),
                fingerprint=item.get("fingerprint"), starts=parse_date(item.get("starts")),
                expires=parse_date(item.get("expires")), issuer=item.get("issuer"),
            )
            for item in self._paginate("/v2/certs", "list certificates")
        ]

    # -- writes ---------------------------------------------------------------------------------------------------
    def set_config(
        self,
        app_id: str,
        *,
        values: dict[str, Any] | None = None,
        memory: dict[str, str | None] | None = None,
        cpu: dict[str, str | None] | None = None,
    ) -> DeisConfig | None:
        """Merge keys into the app's config (None unsets); returns the new config, or None when nothing changed."""
        payload = {key: part for key, part in (("values", values), ("memory", memory), ("cpu", cpu)) if part}
        if not payload:
            return None
        call = f"set config of {app_id}"
        response = self._request("POST", f"/v2/apps/{app_id}/config", call, json=payload)
        if response.status_code == 409:  # "<user> changed nothing - release stopped"
            return None
        return _config(self._json(response, call, ok=(200, 201)))


def _config(body: dict[str, Any]) -> DeisConfig:
    return DeisConfig(values=dict(body.get("values") or {}), memory=dict(body.get("memory") or {}),
                      cpu=dict(body.get("cpu") or {}), tags=dict(body.get("tags") or {}))


def _reason(response: requests.Response) -> str:
    """The controller's own words from an error answer (DRF detail, field errors, or a bare string)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        return f"HTTP {response.status_code}" + (f": {text}" if text else "")
    if isinstance(body, str):
        message = body
    elif isinstance(body, dict) and "detail" in body:
        message = str(body["detail"])
    elif isinstance(body, dict):
        message = "; ".join(f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}"
                            for key, value in body.items())
    else:
        message = str(body)[:200]
    return f"HTTP {response.status_code}: {message}"
