"""An operation's state, for a developer following what they started (or anything on an app they may see)."""
from __future__ import annotations

from app.extensions import db
from app.models import Operation
from app.queries import developer_api
from app.views.api import bp
from app.views.api.auth import current_developer, developer_required, visible_app
from app.views.api.errors import ApiError
from app.views.api.schemas import OperationEnvelope
from app.views.api.spec import documented


@bp.get("/operations/<int:operation_id>")
@developer_required
@bp.output(OperationEnvelope)
@documented(404)
def show_operation(operation_id: int):
    """State, progress and outcome of one operation on an app the token may see."""
    missing = ApiError(404, "not_found", f"No operation #{operation_id} that you may see.",
                       {"operation": operation_id})
    operation = db.session.get(Operation, operation_id) if 0 < operation_id <= developer_api.MAX_ROW_ID else None
    app = developer_api.operation_app(db.session, operation) if operation is not None else None
    if app is None or app.cluster.name != current_developer().cluster:
        raise missing
    try:
        visible_app(app.name)
    except ApiError as error:  # the same answer as for no such operation: the app's name stays unsaid
        raise missing from error
    return {"operation": developer_api.operation_view(operation, app)}
