"""`GET /healthz`: the web process answers (no session, no database): what a load balancer probes, and the
trivial route benchmarks measure every page against."""
from __future__ import annotations

from flask import Blueprint, Response

bp = Blueprint("liveness", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain", headers={"Cache-Control": "no-store"})
