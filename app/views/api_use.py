"""The API use page (admins): what developers did through /api/v1 with their Deis tokens, from the audit log."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from app.extensions import db
from app.queries import api_use
from app.views.access import admin_required
from app.views.query_reader import QueryReader

bp = Blueprint("api_use", __name__, url_prefix="/api-use")


@bp.get("/")
@admin_required
def index():
    """Who did what through the developer API, and when; filter by developer and action; paginated."""
    reader = QueryReader(request.args)
    username = reader.text("user", 150) or None
    action = reader.optional_choice("action", api_use.actions(db.session))
    page = api_use.api_use_page(db.session, reader.page(), username=username, action=action)
    params = {key: value for key, value in (("user", username), ("action", action)) if value}
    status = 400 if reader.errors else 404 if page.past_end else 200
    return render_template("api_use/index.html", page=page, params=params, username=username, action=action,
                           developers=api_use.developers(db.session), actions=api_use.actions(db.session),
                           errors=reader.errors), status
