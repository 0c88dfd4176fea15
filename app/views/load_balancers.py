"""One page per load balancer: its members and their health, the records that point at it, the apps behind it."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import login_required

from app.extensions import db
from app.queries.load_balancer_overview import load_balancer_overview
from app.views.query_reader import QueryReader

bp = Blueprint("load_balancers", __name__, url_prefix="/load-balancers")


@bp.get("/<int:load_balancer_id>")
@login_required
def show(load_balancer_id: int):
    """Everything about one load balancer; the apps behind it (`?page=`) and its records (`?records=`) paged."""
    reader = QueryReader(request.args)
    overview = load_balancer_overview(db.session, load_balancer_id, reader.page(), records_page=reader.page("records"))
    if overview is None:
        abort(404)
    status = 400 if reader.errors else 404 if overview.apps.past_end or overview.records.past_end else 200
    return render_template("load_balancers/show.html", overview=overview, load_balancer=overview.load_balancer,
                           errors=reader.errors), status
