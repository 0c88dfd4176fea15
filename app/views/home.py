"""The home page: what needs attention now."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, render_template
from flask_login import login_required

from app.extensions import db
from app.models import utcnow
from app.queries.attention import needs_attention
from app.queues import QUEUE_NAMES, queue

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    interval = timedelta(minutes=current_app.config["SETTINGS"].sync_interval_minutes)
    attention = needs_attention(db.session, utcnow(), interval, [queue(name) for name in QUEUE_NAMES])
    return render_template("home.html", attention=attention, now=utcnow())
