"""The Deis CLI's settings file (`~/.deis/<profile>.json`) and the panel URL, read as the Deis CLI reads them.

Profile: `-c/--config`, else `$DEIS_PROFILE`, else `client`; a value ending in `.json` is a path to the file, any
other value names `~/.deis/<value>.json`. Fields: username, ssl_verify, controller, token (response_limit ignored).
The panel URL: `$ADMIN_PANEL_URL`, else `admin_panel_url` in that file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_PROFILE = "client"
PROFILE_ENV = "DEIS_PROFILE"
PANEL_URL_ENV = "ADMIN_PANEL_URL"
PANEL_URL_KEY = "admin_panel_url"


class SettingsError(Exception):
    """The settings cannot be used; `exit_code` says why (3: not signed in, 2: the set-up is incomplete)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ClientSettings:
    path: Path
    username: str
    controller: str
    token: str
    ssl_verify: bool
    panel_url: str

    def __repr__(self) -> str:  # the token stays out of tracebacks and debug output
        return (f"ClientSettings(path={str(self.path)!r}, username={self.username!r}, "
                f"controller={self.controller!r}, ssl_verify={self.ssl_verify!r}, panel_url={self.panel_url!r})")


def home() -> Path:
    """Where `~/.deis` lives: $HOME, as the Deis CLI's FindHome does on Unix."""
    return Path(os.environ.get("HOME") or Path.home())


def settings_path(config: str | None, environ: dict[str, str] | None = None) -> Path:
    """The settings file the Deis CLI would use for `-c config` (None: not given) and this environment."""
    environ = os.environ if environ is None else environ
    profile = config or environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if profile.endswith(".json"):
        return Path(profile).expanduser()
    return home() / ".deis" / f"{profile}.json"


def load(config: str | None = None, environ: dict[str, str] | None = None) -> ClientSettings:
    environ = os.environ if environ is None else environ
    path = settings_path(config, environ)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"Not signed in: {path} does not exist. Run `deis login <controller URL>` first"
                            f"{_profile_hint(config, environ)}.", 3) from None
    except OSError as error:
        raise SettingsError(f"Cannot read {path}: {error.strerror or error}.", 3) from None
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise SettingsError(f"{path} is not valid JSON ({error}); run `deis login` again to rewrite it.", 3) from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} does not hold a JSON object; run `deis login` again to rewrite it.", 3)
    controller = _text(data.get("controller"))
    token = _text(data.get("token"))
    if not controller or not token:
        missing = " and ".join(name for name, value in (("controller", controller), ("token", token)) if not value)
        raise SettingsError(f"Not signed in: {path} has no {missing}. Run `deis login <controller URL>` first.", 3)
    if not _is_http_url(controller):
        raise SettingsError(f"{path}: controller {controller!r} is not an http(s) URL; run `deis login` again.", 3)
    panel_url = (environ.get(PANEL_URL_ENV) or _text(data.get(PANEL_URL_KEY))).rstrip("/")
    if not panel_url:
        raise SettingsError(f"The Admin Panel's URL is not set: export {PANEL_URL_ENV}=https://panel.example.com"
                            f" or add \"{PANEL_URL_KEY}\" to {path}.", 2)
    if not _is_http_url(panel_url):
        raise SettingsError(f"The Admin Panel's URL {panel_url!r} is not an http(s) URL.", 2)
    ssl_verify = data.get("ssl_verify", True)
    return ClientSettings(path=path, username=_text(data.get("username")), controller=controller.rstrip("/"),
                          token=token, ssl_verify=ssl_verify is not False, panel_url=panel_url)


def _profile_hint(config: str | None, environ: dict[str, str]) -> str:
    if config:
        return f" (profile chosen with -c {config})"
    if environ.get(PROFILE_ENV):
        return f" (profile chosen with {PROFILE_ENV}={environ[PROFILE_ENV]})"
    return ""


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
