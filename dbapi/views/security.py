"""Headers every answer carries, and who may read the API's own documentation.

- Every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``, a Content-Security-Policy
  with ``frame-ancestors 'none'``, and in production ``Strict-Transport-Security``. JSON and archives get
  ``default-src 'none'`` (nothing in them is ever meant to run). The Swagger UI page at ``/docs`` gets a policy
  that allows exactly what it loads: its two scripts and its stylesheet by full URL, its inline script by hash
  (computed from the page itself, so a changed template cannot slip in unlisted code), the spec from this origin.
- ``/docs`` and ``/openapi.json`` need the service key in production unless ``DBAPI_PUBLIC_DOCS=1``: the document
  names the servers and the allowed callback hosts of the deployment.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response, request

from dbapi import runtime

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000; includeSubDomains"
DOCS_ENDPOINTS = ("openapi.spec", "openapi.docs", "openapi.swagger_ui_oauth_redirect")
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def register_security(app: APIFlask) -> None:
    """Add the security headers to every response and the documentation gate to ``app``."""

    @app.before_request
    def documentation_needs_the_service_key() -> Any:
        settings = runtime().settings
        if request.endpoint not in DOCS_ENDPOINTS or not settings.production or settings.public_docs:
            return None
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and presented and hmac.compare_digest(
            presented.encode("utf-8"), settings.service_key.encode("utf-8")
        ):
            return None
        return app.error_callback(HTTPError(
            401, "the API documentation needs the service key here (DBAPI_PUBLIC_DOCS=1 opens it)",
            headers={"WWW-Authenticate": "Bearer"},
        ))

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        is_docs_page = request.endpoint == "openapi.docs" and response.mimetype == "text/html"
        response.headers["Content-Security-Policy"] = docs_policy(app, response) if is_docs_page else API_POLICY
        if runtime().settings.production:
            response.headers["Strict-Transport-Security"] = HSTS
        return response


def docs_policy(app: APIFlask, response: Response) -> str:
    """The policy of the Swagger UI page: its own assets by full URL, its inline scripts by hash."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(response.get_data())
    )
    scripts = f"{app.config['SWAGGER_UI_BUNDLE_JS']} {app.config['SWAGGER_UI_STANDALONE_PRESET_JS']}"
    return (
        f"default-src 'none'; script-src {scripts} {hashes}; style-src {app.config['SWAGGER_UI_CSS']} 'unsafe-inline'; "
        f"img-src 'self' data: {app.config['DOCS_FAVICON']}; font-src data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
