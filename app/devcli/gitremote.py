"""Which app the current git checkout deploys to, found the way the Deis CLI finds it (pkg/git DetectAppName).

Deis reads `git remote -v`, keeps the push remotes, and picks the first whose URL contains the builder's host name:
the controller's host without its port, first label suffixed `-builder` (`deis.example.com` ->
`deis-builder.example.com`). The app is the URL's last `/` segment up to its first `.`
(`ssh://git@deis-builder.example.com:2222/shop.git` -> `shop`). When no remote is on the builder, we also take the
remote named `deis` (what `deis create` adds). Unlike Deis we do not fall back to the directory's name: a database
command must not guess its app, so the caller asks for `-a APP` instead.
"""
from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

APP_ID = re.compile(r"^[a-z0-9-]+$")  # the controller's app id rule
DEIS_REMOTE = "deis"


@dataclass(frozen=True)
class Remote:
    name: str
    url: str


def parse_remotes(output: str) -> list[Remote]:
    """Push remotes from `git remote -v` output (`name<TAB>url (push)` lines)."""
    remotes = []
    for line in output.splitlines():
        if not line.endswith("(push)"):
            continue
        name, _, rest = line.partition("\t")
        url = rest.split(" ")[0]
        if name and url:
            remotes.append(Remote(name, url))
    return remotes


def builder_host(controller_url: str) -> str:
    """`http://deis.example.com:8000` -> `deis-builder.example.com`."""
    host = urlsplit(controller_url).netloc.rsplit("@", 1)[-1].split(":")[0]
    first, dot, rest = host.partition(".")
    return f"{first}-builder{dot}{rest}"


def app_from_url(url: str) -> str | None:
    """The app a remote URL names (Deis: last `/` segment up to the first `.`), if it is a valid app id."""
    candidate = url.split("/")[-1].split(".")[0]
    return candidate if APP_ID.match(candidate) else None


def app_from_remotes(remotes: list[Remote], controller_url: str) -> str | None:
    builder = builder_host(controller_url)
    for remote in remotes:
        if builder in remote.url:
            return app_from_url(remote.url)
    for remote in remotes:
        if remote.name == DEIS_REMOTE:
            return app_from_url(remote.url)
    return None


def run_git(args: list[str]) -> str:
    """`git <args>` in the current directory; empty output when git is missing or this is no repository."""
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def detect_app(controller_url: str, git: Callable[[list[str]], str] = run_git) -> str | None:
    return app_from_remotes(parse_remotes(git(["remote", "-v"])), controller_url)
