"""Clusters: the list and one page per cluster (apps, instances, load balancer, limit sets, databases, monitors)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import login_required

from app.clients import NotConfigured, for_config
from app.extensions import db
from app.queries import cluster_overview
from app.views.query_reader import QueryReader

bp = Blueprint("clusters", __name__, url_prefix="/clusters")


@bp.get("/")
@login_required
def index():
    """Every cluster with its region, kind and number of apps."""
    return render_template("clusters/index.html", clusters=cluster_overview.list_clusters(db.session))


@bp.get("/<int:cluster_id>")
@login_required
def show(cluster_id: int):
    """Everything about one cluster; its apps a page at a time (`?page=`)."""
    cluster = cluster_overview.find_cluster(db.session, cluster_id)
    if cluster is None:
        abort(404)
    reader = QueryReader(request.args)
    overview = cluster_overview.cluster_overview(db.session, cluster, reader.page())
    try:
        database_server = for_config(current_app.config).database_server(cluster.name)
    except NotConfigured:
        database_server = None  # a cluster no longer in DEIS_CLUSTERS: its rows stay until a sync sweeps them
    status = 400 if reader.errors else 404 if overview.apps.past_end else 200
    return render_template("clusters/show.html", overview=overview, cluster=cluster, database_server=database_server,
                           errors=reader.errors), status


@bp.app_template_global("monitors_watching")
def monitors_watching(cluster) -> list:
    """The monitoring clusters that watch `cluster` (for the app page's monitoring sentence)."""
    return cluster_overview.monitors_of(db.session, cluster)[0]
