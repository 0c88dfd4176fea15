"""GET /operations/{id}: the state, progress, error and callback delivery of one operation."""
from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from dbapi.models import Operation, db
from dbapi.operations.errors import Refused
from dbapi.operations.views import operation_view
from dbapi.views.auth import service_auth
from dbapi.views.schemas import OperationEnvelope

bp = APIBlueprint("operations", __name__, tag="Operations")


@bp.get("/operations/<string:operation_id>")
@bp.auth_required(service_auth)
@bp.output(OperationEnvelope)
def show_operation(operation_id: str) -> dict[str, Any]:
    """Show an operation."""
    operation = db.session.get(Operation, operation_id)
    if operation is None:
        raise Refused(404, f"no operation with id {operation_id!r}")
    return {"operation": operation_view(operation)}
