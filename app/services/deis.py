"""Deis Workflow controller client (API v2.3): apps, config and limits, domains, settings, certificates, users.

Every request goes to the configured base URL: a listing follows `next` by its path and query only, so a `next`
that a TLS-terminating proxy turned into `http://` or another host never receives the token. A listing must be
whole (as many results as its `count`, and a `count` that holds still) or it is read once more, then refused.
Reads are retried; a config write is sent again only after reading the config back shows it did not apply.
Errors are `DeisError` with the cluster, the call and the controller's own words. The dialect of the controller stays
behind `DeisClient`, so a Drycc adapter can be added without touching callers.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from app.services.http_session import retrying_session

DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
APP_TYPE_LABEL = "app-type"  # where the platform keeps an app's type: settings label {"app-type": "web"}
# The words of the controller's 409 for a config POST that changes nothing ("<user> changed nothing - release
# stopped"); any other 409 is a real conflict.
CHANGED_NOTHING = "changed nothing - release stopped"
PANEL_USER_RULE = "the cluster's Deis user must be a superuser owning the certificates"
CONFIG_SECTIONS = ("values", "memory", "cpu")


class DeisError(Exception):
    """A call to a Deis controller failed; the message says which cluster, which call, and why."""

    def __init__(self, cluster: str, call: str, reason: str, status: int | None = None) -> None:
        self.cluster, self.call, self.reason, self.status = cluster, call, reason, status
        super().__init__(f"Deis {cluster}: {call} failed: {reason}")


class DeisAppGone(DeisError):
    """The controller answered 404 or 403 (its own JSON) about an app: deleted, or no longer shared, since listed."""


class _NotWhole(Exception):
    """One pass over a listing that cannot be trusted to be complete; the message says why."""


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
        username: str | None = None,
        verify: bool | str = True,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        write_timeout: float = 300.0,
        write_attempts: int = 3,
        retries: int = 3,
        page_size: int = 100,
        session: requests.Session | None = None,
    ) -> None:
        self.cluster = cluster
        self.base_url = base_url.rstrip("/")
        self.username = username  # the user the panel's token must belong to (the certificates' owner)
        self.verify = verify  # True, False, or the path of a CA bundle
        self.read_timeout = (connect_timeout, read_timeout)
        # A config POST answers only once the controller has deployed the new release: minutes, not seconds.
        self.write_timeout = (connect_timeout, write_timeout)
        self.write_attempts = max(1, write_attempts)
        self.page_size = page_size
        self.session = session or retrying_session(retries=retries)
        self._headers = {"Authorization": f"token {token}", "Accept": "application/json"}
        self._base_path = urlsplit(self.base_url).path
        self._lock = threading.Lock()
        self.calls = 0

    # -- plumbing -------------------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, call: str, *, timeout: tuple[float, float] | None = None,
                 **kwargs: Any) -> requests.Response:
        """One request to the configured controller; `path` is always joined on the base URL, never followed."""
        if not path.startswith("/"):
            raise ValueError(f"a controller path starts with '/': {path!r}")
        with self._lock:
            self.calls += 1
        try:
            response = self.session.request(method, f"{self.base_url}{path}", headers=self._headers,
                                            timeout=timeout or self.read_timeout, verify=self.verify,
                                            allow_redirects=False, **kwargs)
        except requests.RequestException as error:
            raise DeisError(self.cluster, call, f"controller unreachable ({type(error).__name__}: {error})") from error
        if response.is_redirect:
            # Following it would carry the token wherever the redirect points.
            raise DeisError(self.cluster, call, f"controller redirected to {response.headers.get('Location')!r}; "
                            "set the cluster's url to the controller's own address", response.status_code)
        return response

    def _json(self, response: requests.Response, call: str, ok: tuple[int, ...] = (200,),
              app_id: str | None = None) -> Any:
        if response.status_code not in ok:
            if app_id is not None and response.status_code in (403, 404) and _is_json(response):
                raise DeisAppGone(self.cluster, call, _reason(response), response.status_code)
            raise DeisError(self.cluster, call, _reason(response), response.status_code)
        try:
            return response.json()
        except ValueError as error:
            raise DeisError(self.cluster, call, "controller answered something that is not JSON",
                            response.status_code) from error

    def _list(self, path: str, call: str, key: str, app_id: str | None = None) -> list[dict[str, Any]]:
        """Every item of a paginated listing, whole: read once more if the first pass was not, then refused."""
        try:
            return self._list_once(path, call, key, app_id)
        except _NotWhole as first:
            try:
                return self._list_once(path, call, key, app_id)
            except _NotWhole as second:
                raise DeisError(self.cluster, call, f"the listing is not whole, twice running ({first}; then "
                                f"{second}): the controller changed while it was read, or something dropped "
                                "results") from second

    def _list_once(self, path: str, call: str, key: str, app_id: str | None) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        seen: set[Any] = set()
        count: int | None = None
        target: str | None = f"{path}?limit={self.page_size}"
        while target is not None:
            page = self._json(self._request("GET", target, call), call, app_id=app_id)
            if not isinstance(page, dict) or not isinstance(page.get("results"), list) \
                    or not isinstance(page.get("count"), int):
                raise DeisError(self.cluster, call, "a page without count and results")
            if count is None:
                count = page["count"]
            elif page["count"] != count:
                raise _NotWhole(f"count changed from {count} to {page['count']} during the listing")
            for item in page["results"]:
                identity = item.get(key) if isinstance(item, dict) else None
                if identity is None:
                    raise DeisError(self.cluster, call, f"a result without {key!r}")
                if identity in seen:
                    raise _NotWhole(f"{identity} listed twice")
                seen.add(identity)
                results.append(item)
            if len(results) > count:
                raise _NotWhole(f"{len(results)} results for a count of {count}")
            following = self._next_target(page.get("next"), path, call)
            if following is not None and not page["results"]:
                raise _NotWhole(f"an empty page before the end, at {len(results)} of {count}")
            target = following
        if len(results) != count:
            raise _NotWhole(f"{len(results)} results for a count of {count}")
        return results

    def _next_target(self, next_url: Any, path: str, call: str) -> str | None:
        """The path and query of `next`, to join on the base URL: its scheme and host are never trusted."""
        if next_url is None:
            return None
        if not isinstance(next_url, str):
            raise DeisError(self.cluster, call, f"a page whose next is not a URL: {next_url!r}")
        parts = urlsplit(next_url)
        next_path = parts.path
        if self._base_path and next_path.startswith(f"{self._base_path}/"):
            next_path = next_path[len(self._base_path):]  # a proxy that kept its prefix in the link
        if next_path.rstrip("/") != path.rstrip("/"):
            raise DeisError(self.cluster, call, f"next page link {next_url!r} leaves the listing {path}")
        return f"{next_path}?{parts.query}" if parts.query else next_path

    # -- reads ----------------------------------------------------------------------------------------------------
    def whoami(self) -> DeisUser:
        """The user the token belongs to."""
        body = self._json(self._request("GET", "/v2/auth/whoami", "whoami"), "whoami")
        if not isinstance(body, dict) or not isinstance(body.get("username"), str):
            raise DeisError(self.cluster, "whoami", "the controller answered without a username")
        return DeisUser(username=body["username"], email=body.get("email"),
                        is_superuser=body.get("is_superuser") is True)

    def ensure_panel_user(self) -> DeisUser:
        """The token's user, checked: a superuser (only they see every app) and the configured `username` (Deis shows
        a certificate only to its owner, admins included). Raises DeisError saying which rule the token breaks."""
        user = self.whoami()
        problems = []
        if not user.is_superuser:
            problems.append("not superuser")
        if self.username is not None and user.username != self.username:
            problems.append(f"the configured username is {self.username!r}")
        if problems:
            raise DeisError(self.cluster, "check of the panel's Deis user",
                            f"{PANEL_USER_RULE}: token belongs to {user.username!r} ({'; '.join(problems)})")
        return user

    def list_apps(self) -> list[DeisApp]:
        """Every app this token can see (all pages, whole)."""
        return [_app(item) for item in self._list("/v2/apps", "list apps", key="id")]

    def get_app(self, app_id: str) -> DeisApp | None:
        """One app, or None when the token cannot see it (404/403)."""
        call = f"get app {app_id}"
        response = self._request("GET", f"/v2/apps/{app_id}", call)
        if response.status_code in (403, 404):
            return None
        return _app(self._json(response, call))

    def get_config(self, app_id: str) -> DeisConfig:
        """The app's config: values and limits. DeisAppGone when the app is gone or no longer visible."""
        call = f"config of {app_id}"
        return _config(self._json(self._request("GET", f"/v2/apps/{app_id}/config", call), call, app_id=app_id))

    def get_settings(self, app_id: str) -> DeisSettings:
        """The app's settings (maintenance, routable, labels). DeisAppGone when the app is gone."""
        call = f"settings of {app_id}"
        body = self._json(self._request("GET", f"/v2/apps/{app_id}/settings", call), call, app_id=app_id)
        label = body.get("label") or {}
        return DeisSettings(maintenance=bool(body.get("maintenance")), routable=body.get("routable", True) is not False,
                            label={str(k): str(v) for k, v in label.items()} if isinstance(label, dict) else {})

    def list_domains(self, app_id: str) -> list[str]:
        """The app's domains (all pages, whole). DeisAppGone when the app is gone."""
        items = self._list(f"/v2/apps/{app_id}/domains", f"domains of {app_id}", key="domain", app_id=app_id)
        return [item["domain"] for item in items]

    def list_certificates(self) -> list[DeisCertificate]:
        """Certificates owned by this token's user (Deis scopes them to their owner, even for admins)."""
        return [
            DeisCertificate(
                name=item["name"], owner=item.get("owner", ""), common_name=item.get("common_name"),
                sans=list(item.get("san") or []), domains=list(item.get("domains") or []),
                fingerprint=item.get("fingerprint"), starts=parse_date(item.get("starts")),
                expires=parse_date(item.get("expires")), issuer=item.get("issuer"),
            )
            for item in self._list("/v2/certs", "list certificates", key="name")
        ]

    # -- writes ---------------------------------------------------------------------------------------------------
    def set_config(self, app_id: str, values: dict[str, str | None]) -> DeisConfig | None:
        """Set config values (None unsets a key); the controller deploys a release before it answers.

        Returns the config after the write, or None when it already had those values (the controller's 409 "changed
        nothing"). After a lost answer (timeout, reset, 5xx) the config is read back, and the write is sent again
        only if it did not apply, at most `write_attempts` times in all.
        """
        return self._write_config(app_id, {"values": values}, f"set config of {app_id}")

    def set_limits(self, app_id: str, *, memory: dict[str, str | None] | None = None,
                   cpu: dict[str, str | None] | None = None) -> DeisConfig | None:
        """Set memory and cpu limits per process type (None unsets), like `set_config` (a deploy, read back)."""
        payload = {name: part for name, part in (("memory", memory), ("cpu", cpu)) if part}
        return self._write_config(app_id, payload, f"set limits of {app_id}")

    def _write_config(self, app_id: str, payload: dict[str, dict[str, str | None]], call: str) -> DeisConfig | None:
        payload = {section: part for section, part in payload.items() if part}
        if not payload:
            return None
        path = f"/v2/apps/{app_id}/config"
        lost = ""
        for _attempt in range(self.write_attempts):
            try:
                response = self._request("POST", path, call, json=payload, timeout=self.write_timeout)
            except DeisError as error:  # timed out or reset: the controller may have applied it all the same
                lost = error.reason
            else:
                if response.status_code in (200, 201):
                    return _config(self._json(response, call, ok=(200, 201)))
                if response.status_code == 409 and _changed_nothing(response):
                    return None
                if response.status_code == 404 and _is_json(response):  # the controller's own "No App matches"
                    raise DeisAppGone(self.cluster, call, _reason(response), response.status_code)
                if response.status_code < 500:
                    raise DeisError(self.cluster, call, _reason(response), response.status_code)
                lost = _reason(response)
            try:
                current = self.get_config(app_id)
            except DeisAppGone as error:  # deleted meanwhile: whatever the write did, there is no app to hold it
                raise DeisAppGone(self.cluster, call, f"the answer was lost ({lost}) and the app is gone "
                                  f"({error.reason})", error.status) from error
            except DeisError as error:
                raise DeisError(self.cluster, call, f"the answer was lost ({lost}) and reading the config back "
                                f"failed ({error.reason}): whether the write applied is unknown") from error
            if _applied(current, payload):
                return current
        raise DeisError(self.cluster, call, f"no answer after {self.write_attempts} attempts (last: {lost}), and "
                        "reading the config back shows the write did not apply")

    # -- certificates (all under the panel's own user: Deis shows a certificate only to its owner) --------------
    def get_certificate(self, name: str) -> DeisCertificate | None:
        """One of the token user's certificates, or None when it has none by that name (404)."""
        call = f"get certificate {name}"
        response = self._request("GET", f"/v2/certs/{name}", call)
        if response.status_code == 404:
            return None
        return _certificate(self._json(response, call))

    def create_certificate(self, name: str, certificate: str, key: str) -> DeisCertificate:
        """Create certificate `name` (PEM chain, leaf first, and its unencrypted PEM key) under the token's user.

        The key is sent and forgotten: it is in no error, log or return value. After a lost answer the certificate
        is read back by name; it counts as created when its fingerprint is the leaf's, else the POST is sent again.
        """
        call = f"create certificate {name}"
        wanted = leaf_fingerprint(certificate)

        def applied() -> bool:
            found = self.get_certificate(name)
            if found is None:
                return False
            if _plain_fingerprint(found.fingerprint) != wanted:
                raise DeisError(self.cluster, call, f"a certificate named {name} exists with another fingerprint")
            return True

        self._write_read_back("POST", "/v2/certs", call, {"name": name, "certificate": certificate, "key": key},
                              applied)
        created = self.get_certificate(name)
        if created is None:
            raise DeisError(self.cluster, call, "the controller accepted it but does not show it when asked")
        return created

    def attach_domain(self, name: str, domain: str) -> None:
        """Serve `domain` with certificate `name`. A domain that has a certificate already is a 409 DeisError."""
        def applied() -> bool:
            found = self.get_certificate(name)
            return found is not None and domain in found.domains

        self._write_read_back("POST", f"/v2/certs/{name}/domain/", f"attach {domain} to certificate {name}",
                              {"domain": domain}, applied)

    def detach_domain(self, name: str, domain: str) -> None:
        """Stop serving `domain` with certificate `name`."""
        def applied() -> bool:
            found = self.get_certificate(name)
            return found is None or domain not in found.domains

        # No trailing slash: the controller's route for detach has none (with one, Django answers its own 404).
        self._write_read_back("DELETE", f"/v2/certs/{name}/domain/{domain}", f"detach {domain} from certificate "
                              f"{name}", None, applied)

    def delete_certificate(self, name: str) -> None:
        """Delete certificate `name` (the controller detaches its domains first)."""
        self._write_read_back("DELETE", f"/v2/certs/{name}", f"delete certificate {name}", None,
                              lambda: self.get_certificate(name) is None)

    def _write_read_back(self, method: str, path: str, call: str, payload: dict[str, str] | None,
                         applied: Callable[[], bool]) -> None:
        """Send a write; after a lost answer (timeout, reset, 5xx) ask `applied()` and send again only if not."""
        lost = ""
        for _attempt in range(self.write_attempts):
            try:
                response = self._request(method, path, call, json=payload, timeout=self.write_timeout)
            except DeisError as error:  # timed out or reset: the controller may have applied it all the same
                lost = error.reason
            else:
                if response.status_code in (200, 201, 204):
                    return
                if response.status_code < 500:
                    raise DeisError(self.cluster, call, _reason(response), response.status_code)
                lost = _reason(response)
            try:
                done = applied()
            except DeisError as error:
                if error.call == call:
                    raise
                raise DeisError(self.cluster, call, f"the answer was lost ({lost}) and reading back failed "
                                f"({error.reason}): whether the write applied is unknown") from error
            if done:
                return
        raise DeisError(self.cluster, call, f"no answer after {self.write_attempts} attempts (last: {lost}), and "
                        "reading back shows the write did not apply")


def leaf_fingerprint(certificate_pem: str) -> str:
    """SHA-256 fingerprint (hex, no colons, upper case) of the first certificate of a PEM chain."""
    try:
        leaf = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError as error:
        raise ValueError("not a PEM certificate") from error
    return leaf.fingerprint(hashes.SHA256()).hex().upper()


def _plain_fingerprint(fingerprint: str | None) -> str:
    return (fingerprint or "").replace(":", "").upper()


def _certificate(item: dict[str, Any]) -> DeisCertificate:
    return DeisCertificate(
        name=item["name"], owner=item.get("owner", ""), common_name=item.get("common_name"),
        sans=list(item.get("san") or []), domains=list(item.get("domains") or []),
        fingerprint=item.get("fingerprint"), starts=parse_date(item.get("starts")),
        expires=parse_date(item.get("expires")), issuer=item.get("issuer"),
    )


def _app(item: dict[str, Any]) -> DeisApp:
    return DeisApp(id=item["id"], uuid=item.get("uuid", ""), owner=item.get("owner", ""),
                   structure=dict(item.get("structure") or {}), created=parse_date(item.get("created")),
                   updated=parse_date(item.get("updated")))


def _applied(config: DeisConfig, payload: dict[str, dict[str, str | None]]) -> bool:
    """Whether every key of a config write has the wanted value (absent, for None) in `config`."""
    for section, wanted in payload.items():
        current = getattr(config, section)
        for key, value in wanted.items():
            if value is None:
                if key in current:
                    return False
            elif key not in current or str(current[key]) != str(value):  # the controller stores strings
                return False
    return True


def _is_json(response: requests.Response) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


def _changed_nothing(response: requests.Response) -> bool:
    """A 409 whose body is the controller's "<user> changed nothing - release stopped"."""
    try:
        body = response.json()
    except ValueError:
        return False
    detail = body.get("detail") if isinstance(body, dict) else body
    return isinstance(detail, str) and detail.rstrip(". ").endswith(CHANGED_NOTHING)


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
