"""`/api/v1`: the developer API, signed in with the developer's own Deis token (docs/api.md).

An apiflask APIBlueprint inside the panel's Flask app: apiflask validates bodies and serialises answers; the OpenAPI
document is built from this same blueprint by a spec-only APIFlask (app/views/api/spec.py).
"""
from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app

from app.extensions import limiter
from app.views.api import errors
from app.views.api.auth import end_of_request

bp = APIBlueprint("api", __name__, url_prefix=errors.API_PREFIX, tag="Developer API")
errors.register(bp)
bp.teardown_request(end_of_request)


def _failure_limit() -> str:
    return current_app.config["SETTINGS"].dev_token_failure_limit


# Guessing tokens costs: refused tokens count per client address (the real one behind TRUSTED_PROXY_HOPS), never
# per user or app, so nobody can lock a developer out by failing in their name.
limiter.limit(_failure_limit, deduct_when=lambda response: response.status_code == 401,
              scope="api-token-failures")(bp)

from app.views.api import apps, backups, operations, spec, transfers  # noqa: E402,F401  (routes on bp)

spec.register(bp)
ROUTES = (apps, backups, operations, transfers)
