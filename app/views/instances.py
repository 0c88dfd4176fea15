"""AWS instances: the list (what runs where, what points at it, what AWS has scheduled) and one page per instance."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import login_required

from app.extensions import db
from app.models import utcnow
from app.queries import instance_listing
from app.queries.load_balancer_overview import instance_dependents
from app.queries.paging import BadCursor
from app.views.htmx import render_page
from app.views.query_reader import QueryReader, cursor_param, flag_param

bp = Blueprint("instances", __name__, url_prefix="/instances")


@bp.get("/")
@login_required
def index():
    """The instances list: filters, search and sort from the query string; htmx gets the results only."""
    reader = QueryReader(request.args)
    options = instance_listing.instance_filter_options(db.session)
    filters = instance_listing.InstanceFilters(
        q=reader.text("q"),
        region=reader.optional_choice("region", options.regions),
        role=reader.optional_choice("role", options.roles),
        cluster=reader.optional_choice("cluster", options.clusters),
        state=reader.optional_choice("state", options.states),
        has_dns=reader.flag("dns"),
        has_maintenance=reader.flag("maintenance"),
    )
    sort = reader.choice("sort", instance_listing.SORTS, "name")
    direction = reader.choice("dir", instance_listing.DIRECTIONS, "asc")
    try:
        page = instance_listing.list_instances(db.session, filters, sort, direction, reader.page(),
                                               after=cursor_param(reader, "after"),
                                               before=cursor_param(reader, "before"))
    except BadCursor as error:
        reader.errors.append(f"Bad page link ({error}): showing the first page.")
        page = instance_listing.list_instances(db.session, filters, sort, direction)
    params = {
        "q": filters.q, "region": filters.region, "role": filters.role, "cluster": filters.cluster,
        "state": filters.state, "dns": flag_param(filters.has_dns),
        "maintenance": flag_param(filters.has_maintenance),
        "sort": sort if sort != "name" else None, "dir": direction if direction != "asc" else None,
    }
    params = {key: value for key, value in params.items() if value}
    status = 400 if reader.errors else 404 if page.past_end else 200
    return render_page("instances/index.html", "results", push_url=url_for("instances.index", **params), page=page,
                       filters=filters, options=options, sort=sort, direction=direction, errors=reader.errors,
                       now=utcnow(), params=params), status


@bp.get("/<int:instance_id>")
@login_required
def show(instance_id: int):
    """Everything about one instance."""
    detail = instance_listing.instance_detail(db.session, instance_id)
    if detail is None:
        abort(404)
    return render_template("instances/show.html", detail=detail, instance=detail.instance, now=utcnow(),
                           dependents=instance_dependents(db.session, detail.instance))
