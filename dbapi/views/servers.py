"""GET /servers: the PostgreSQL primaries this service manages (never their admin DSNs)."""
from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from dbapi import runtime
from dbapi.views.auth import service_auth
from dbapi.views.schemas import ServersOut

bp = APIBlueprint("servers", __name__, tag="Servers")


@bp.get("/servers")
@bp.auth_required(service_auth)
@bp.output(ServersOut)
def list_servers() -> dict[str, Any]:
    """List the managed servers."""
    return {
        "servers": [
            {"name": server.name, "host": server.host, "port": server.port}
            for server in sorted(runtime().servers.values(), key=lambda server: server.name)
        ]
    }
