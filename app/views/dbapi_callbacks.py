"""`POST /dbapi/callbacks`: results of Databases API operations, signed by dbapi (no session, no CSRF token)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from app import clients
from app.extensions import db
from app.models import Database
from app.operations import dbapi_results, sync_requests
from app.queues import queue

bp = Blueprint("dbapi_callbacks", __name__)


def _sync_app(database: Database) -> None:
    """After DATABASE_URL was set: a targeted Deis sync of the app's cluster, so the panel shows it."""
    if database.app is not None:
        sync_requests.request_sync(db.session, queue("sync"), "deis", database.app.cluster.name, "dbapi-callback")


def _rotate(database: Database) -> None:
    """After a successful backup: the database's rotation policy, on a worker (it deletes through dbapi)."""
    queue("backups").enqueue("jobs.backup_rotation.rotate_backups", database.id, job_timeout=600)


@bp.post("/dbapi/callbacks")
def receive_callback():
    settings = current_app.config["SETTINGS"]
    outcome = dbapi_results.receive(
        db.session, clients.for_config(current_app.config).deis, secret=settings.dbapi_callback_secret,
        signature=request.headers.get("X-Signature"), raw_body=request.get_data(cache=False),
        after_database_ready=_sync_app, after_backup=_rotate, upload=request.args.get("upload"),
    )
    return jsonify({"message": outcome.message}), outcome.status
