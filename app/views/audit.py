"""The audit log page: every change, filterable by actor, action and target."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent

bp = Blueprint("audit", __name__, url_prefix="/audit")
PER_PAGE = 50


@bp.get("/")
@login_required
def index():
    filters = {key: request.args.get(key, "").strip()[:128] for key in ("actor", "action", "target")}
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if filters["actor"]:
        query = query.where(AuditEvent.actor == filters["actor"])
    if filters["action"]:
        query = query.where(AuditEvent.action.startswith(filters["action"], autoescape=True))
    if filters["target"]:
        query = query.where(AuditEvent.target.contains(filters["target"], autoescape=True))
    page = db.paginate(query, per_page=PER_PAGE, max_per_page=PER_PAGE, error_out=False)
    return render_template("audit/index.html", page=page, filters=filters)
