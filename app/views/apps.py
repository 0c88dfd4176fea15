"""Applications: the searchable, filterable list and one page per app with everything about it."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from app.extensions import db
from app.models import App, utcnow
from app.queries import app_listing
from app.queries.app_overview import app_overview
from app.queries.databases import database_panel
from app.operations.config_reveal import UnknownConfigKey, reveal_config_value
from app.views.access import admin_required, reauth_required
from app.views.htmx import render_page
from app.queries.paging import BadCursor
from app.views.query_reader import QueryReader, cursor_param, flag_param

bp = Blueprint("apps", __name__, url_prefix="/apps")


def read_filters(reader: QueryReader, options: app_listing.AppFilterOptions) -> app_listing.AppFilters:
    """The list's filters from a query string (or a bulk form repeating it); bad values land in `reader.errors`."""
    return app_listing.AppFilters(
        q=reader.text("q"),
        cluster=reader.optional_choice("cluster", options.clusters),
        app_type=reader.text("type", max_length=32) or None,
        monitoring=reader.flag("monitoring"),
        has_database=reader.flag("database"),
        limit_drift=reader.flag("drift"),
    )


def filter_params(filters: app_listing.AppFilters) -> dict[str, str]:
    """The filters written back as query parameters (only those in use)."""
    params = {
        "q": filters.q, "cluster": filters.cluster, "type": filters.app_type,
        "monitoring": flag_param(filters.monitoring), "database": flag_param(filters.has_database),
        "drift": flag_param(filters.limit_drift),
    }
    return {key: value for key, value in params.items() if value}


@bp.get("/")
@login_required
def index():
    """The applications list: search, filters and sort from the query string; htmx gets the results only."""
    reader = QueryReader(request.args)
    options = app_listing.app_filter_options(db.session)
    filters = read_filters(reader, options)
    sort = reader.choice("sort", app_listing.SORTS, "name")
    direction = reader.choice("dir", app_listing.DIRECTIONS, "asc")
    try:
        page = app_listing.list_apps(db.session, filters, sort, direction, reader.page(),
                                     after=cursor_param(reader, "after"), before=cursor_param(reader, "before"))
    except BadCursor as error:
        reader.errors.append(f"Bad page link ({error}): showing the first page.")
        page = app_listing.list_apps(db.session, filters, sort, direction)
    status = 400 if reader.errors else 404 if page.past_end else 200
    params = filter_params(filters)
    params.update({key: value for key, value in (("sort", sort if sort != "name" else None),
                                                 ("dir", direction if direction != "asc" else None)) if value})
    return render_page("apps/index.html", "results", push_url=url_for("apps.index", **params), page=page,
                       filters=filters, options=options, sort=sort, direction=direction, errors=reader.errors,
                       params=params), status


@bp.get("/<int:app_id>")
@login_required
def show(app_id: int):
    """Everything about one app."""
    overview = app_overview(db.session, app_id, utcnow())
    if overview is None:
        abort(404)
    return render_template("apps/show.html", overview=overview, app=overview.app, now=utcnow(),
                           panel=database_panel(db.session, overview.app, for_admin=current_user.is_admin))


@bp.post("/<int:app_id>/config/reveal")
@admin_required
@reauth_required
def reveal_config(app_id: int):
    """One masked config value, for an admin who clicked "Reveal" (htmx swaps it into its table cell); audited."""
    app = db.get_or_404(App, app_id)
    key = request.form.get("key", "")
    try:
        value = reveal_config_value(db.session, app, key, current_user._get_current_object())
    except UnknownConfigKey:
        abort(404)
    response = render_block("apps/show.html", "revealed_value", key=key, value=value)
    return response, 200, {"Cache-Control": "no-store"}
