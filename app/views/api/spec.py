"""The OpenAPI document of `/api/v1` (`/api/v1/openapi.json`) and a docs page made from it (`/api/v1/docs`).

The panel is a plain Flask app, so the document comes from a spec-only `APIFlask` on which the same blueprint is
registered once: apiflask reads the routes, bodies and answers from it as it would in its own app. The docs page is
rendered on the server from that document (no script: the panel's Content-Security-Policy stays as it is).
"""
from __future__ import annotations

import copy
from typing import Any

from apiflask import APIFlask
from apiflask import settings as apiflask_settings
from flask import Flask, current_app, jsonify, render_template

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "detail"], "additionalProperties": False,
        "properties": {"code": {"type": "string", "description": "stable snake_case code"},
                       "message": {"type": "string", "description": "a sentence for a person"},
                       "detail": {"anyOf": [{"type": "object"}, {"type": "null"}]}},
    }},
}
SECURITY_SCHEMES = {"DeisToken": {"type": "apiKey", "in": "header", "name": "Authorization",
                                  "description": "`token <your Deis token>`, as in ~/.deis/client.json"}}
CONTROLLER_PARAMETER = {"name": "X-Deis-Controller", "in": "header", "required": True,
                        "schema": {"type": "string", "minLength": 1},
                        "description": "the controller URL of ~/.deis/client.json; one of the panel's clusters"}
ALWAYS = {400: "Malformed header or body, or a controller this panel does not manage (unknown_controller)",
          401: "No token, or one the controller does not accept (not_signed_in)",
          429: "Too many refused tokens from this address (too_many_requests)",
          502: "The controller or the Databases API could not be asked (upstream_unavailable)"}
SOMETIMES = {404: "No such app, backup or operation, or one the token may not see (not_found)",
             409: "Conflicting state: no_database, database_exists, operation_running, refused"}
DESCRIPTION = ("The panel's API for developers of hosted apps, signed in with their own Deis token. Every error "
               'is `{"error": {"code", "message", "detail"}}`. See docs/api.md.')


def documented(*statuses: int, optional_body: bool = False):
    """The answers every endpoint may give (plus `statuses`), and the Deis token it needs, in the document."""
    from app.views.api import bp

    responses = {**ALWAYS, **{status: SOMETIMES[status] for status in statuses}}
    return bp.doc(responses=dict(sorted(responses.items())), security=[{"DeisToken": []}])


def install_settings(app: Flask) -> None:
    """apiflask's own settings (validation status, error schemas...) where its decorators look for them."""
    for name in dir(apiflask_settings):
        if name.isupper():
            app.config.setdefault(name, getattr(apiflask_settings, name))
    app.config["VALIDATION_ERROR_SCHEMA"] = ERROR_SCHEMA
    app.config["HTTP_ERROR_SCHEMA"] = ERROR_SCHEMA


def openapi_document() -> dict[str, Any]:
    """The document, built once per panel process."""
    app = current_app._get_current_object()
    document = app.extensions.get("api_v1_openapi")
    if document is None:
        document = _build()
        app.extensions["api_v1_openapi"] = document
    return document


def _build() -> dict[str, Any]:
    from app.views.api import bp

    spec_app = APIFlask("admin_panel_api", title="Admin Panel developer API", version="1.0", spec_path=None,
                        docs_path=None)
    spec_app.config.update(AUTO_SERVERS=False, AUTO_AUTH_ERROR_RESPONSE=False, HTTP_ERROR_SCHEMA=ERROR_SCHEMA,
                           VALIDATION_ERROR_SCHEMA=ERROR_SCHEMA, SECURITY_SCHEMES=SECURITY_SCHEMES,
                           DESCRIPTION=DESCRIPTION)
    spec_app.register_blueprint(bp)
    with spec_app.app_context():
        document = copy.deepcopy(spec_app._get_spec("json", force_update=True))
    schemas = document.get("components", {}).get("schemas", {})
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            operation.setdefault("parameters", []).append(dict(CONTROLLER_PARAMETER))
            body = operation.get("requestBody")
            if body is not None:
                reference = body.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
                # A body with a required field must be sent; one whose every field has a default may be left out.
                body["required"] = bool(schemas.get(reference.rsplit("/", 1)[-1], {}).get("required"))
    return document


def register(bp) -> None:
    @bp.get("/openapi.json")
    @bp.doc(hide=True)
    def openapi_json():
        """The OpenAPI document of this API."""
        return jsonify(openapi_document())

    @bp.get("/docs")
    @bp.doc(hide=True)
    def docs_page():
        """The endpoints, their bodies and answers, for people."""
        return render_template("api/docs.html", document=openapi_document())
