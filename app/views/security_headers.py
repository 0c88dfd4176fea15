"""The browser's side of the trust boundary: which scripts and styles a page may use, and the headers saying so.

Pages load exactly two third-party files, pinned by version and by SRI hash: htmx and Pico CSS, from the CDN or
(`ASSETS=local`, for installs with no internet egress) the same files served from /static. The Content-Security-
Policy names those files by exact URL and otherwise allows only the panel's own static files: no inline script,
no inline style, no eval (htmx runs with `allowEval: false`, see base.html).
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, Response, url_for

from app.config import Settings

HSTS = "max-age=31536000; includeSubDomains"


@dataclass(frozen=True)
class PinnedAsset:
    """One third-party file: where the CDN serves it, where /static keeps the same bytes, and its SRI hash."""

    cdn_url: str
    static_path: str
    integrity: str


HTMX = PinnedAsset(
    cdn_url="https://cdn.jsdelivr.net/npm/htmx.org@2.0.11/dist/htmx.min.js",
    static_path="vendor/htmx-2.0.11.min.js",
    integrity="sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg",
)
PICO = PinnedAsset(
    cdn_url="https://cdn.jsdelivr.net/npm/@picocss/pico@2.1.1/css/pico.min.css",
    static_path="vendor/pico-2.1.1.min.css",
    integrity="sha384-L1dWfspMTHU/ApYnFiMz2QID/PlP1xCW9visvBdbEkOLkSSWsP6ZJWhPw6apiXxU",
)
PINNED_ASSETS = {"htmx": HTMX, "pico": PICO}


def content_security_policy(settings: Settings) -> str:
    """The CSP of every panel response."""
    cdn = settings.assets == "cdn"
    script_src = "'self'" + (f" {HTMX.cdn_url}" if cdn else "")
    style_src = "'self'" + (f" {PICO.cdn_url}" if cdn else "")
    directives = {
        "default-src": "'none'",
        "script-src": script_src,
        "style-src": style_src,
        "img-src": "'self' data:",  # Pico draws its icons (select arrows, checkboxes) as data: SVGs
        "font-src": "'self'",
        "connect-src": "'self'",  # htmx requests
        "form-action": "'self'",
        "base-uri": "'none'",
        "object-src": "'none'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def asset_urls(settings: Settings) -> dict[str, dict[str, str]]:
    """What base.html links to: each pinned file's URL (CDN or /static) and its integrity hash."""
    return {
        name: {"url": asset.cdn_url if settings.assets == "cdn" else url_for("static", filename=asset.static_path),
               "integrity": asset.integrity}
        for name, asset in PINNED_ASSETS.items()
    }


def register(app: Flask, settings: Settings) -> None:
    """Add the security headers to every response, and the asset URLs to every template."""
    policy = content_security_policy(settings)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors, for browsers that predate it
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if settings.production:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    @app.context_processor
    def pinned_assets() -> dict:
        return {"assets": asset_urls(settings)}
