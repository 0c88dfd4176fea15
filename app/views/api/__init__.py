"""`/api/v1`: the developer API, signed in with the developer's own Deis token (docs/api.md).

An apiflask APIBlueprint inside the panel's Flask app: apiflask validates bodies and serialises answers; the OpenAPI
document is built from this same blueprint by a spec-only APIFlask (app/views/api/spec.py).
"""
from __future__ import annotations

from apiflask import APIBlueprint

from app.views.api import errors
from app.views.api.auth import end_of_request

bp = APIBlueprint("api", __name__, url_prefix=errors.API_PREFIX, tag="Developer API")
errors.register(bp)
bp.teardown_request(end_of_request)

from app.views.api import apps, backups, operations, spec, transfers  # noqa: E402,F401  (routes on bp)

spec.register(bp)
ROUTES = (apps, backups, operations, transfers)
