"""The global search: suggestions as you type (htmx) and a full results page when Enter is pressed."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required
from jinja2_fragments.flask import render_block

from app.extensions import db
from app.queries import platform_search
from app.views.htmx import is_htmx_partial

bp = Blueprint("search", __name__)


@bp.get("/search")
@login_required
def index():
    """Search results: grouped suggestions for htmx (as you type), the full page otherwise."""
    query = request.args.get("q", "")
    if is_htmx_partial():
        results = platform_search.search_platform(db.session, query, platform_search.SUGGESTED)
        return render_block("search/index.html", "suggestions", results=results)
    results = platform_search.search_platform(db.session, query, platform_search.FULL_PAGE)
    return render_template("search/index.html", results=results)
