"""The upload callback on the panel's side, with dbapi's signature over real HTTP-shaped requests to the panel's
receiver: registered once whatever is replayed, refused for another database, an unknown upload acknowledged and
ignored, and a token that expired unused ends its operation (no stuck alert) yet a late upload still lands."""
from __future__ import annotations

import json
import time
from datetime import timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, Backup, Operation
from app.models.base import utcnow
from app.operations import stuck_operations
from app.operations.developer_transfers import EXPIRED_UNUSED, UPLOAD_KIND
from app.services.databases_api import CALLBACK_PATH
from dbapi.callbacks import sign  # the sender's own signing, as dbapi's worker does it
from tests import factories

SECRET = "dev-dbapi-callback-secret-change-me"  # the panel's development default (DBAPI_CALLBACK_SECRET unset)


def waiting_upload(expires_in: timedelta = timedelta(minutes=15)) -> Operation:
    database = factories.database(db.session, factories.app(db.session, name="shop"), state="ready",
                                  dbapi_id="db-remote-1")
    operation = Operation(kind=UPLOAD_KIND, target_type="database", target_id=str(database.id), state="pending",
                          requested_by="deis:alice", result={"expires_at": (utcnow() + expires_in).isoformat()})
    db.session.add(operation)
    db.session.commit()
    return operation


def deliver(client, operation: Operation | None, *, state: str = "succeeded", database_id: str = "db-remote-1",
            remote_operation: str = "op-remote-1", remote_backup: str = "bk-remote-1"):
    body = json.dumps({"operation_id": remote_operation, "kind": "upload", "state": state,
                       "error": None if state == "succeeded" else "the upload is not a pg_dump archive",
                       "backup": {"id": remote_backup, "size_bytes": 1234, "database_id": database_id},
                       "database": {"id": database_id}}).encode()
    query = f"?upload={operation.uuid}" if operation is not None else ""
    return client.post(CALLBACK_PATH + query, data=body, headers={
        "Content-Type": "application/json", "X-Signature": sign(SECRET, body, int(time.time()))})


def uploaded() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Backup.id)).where(Backup.kind == "uploaded"))


def test_an_upload_is_registered_once_however_often_its_callback_comes(app, client):
    operation = waiting_upload()
    assert deliver(client, operation).get_json()["message"] == "applied"
    for _ in range(2):
        assert deliver(client, operation).get_json()["message"] == "already applied"
        assert deliver(client, None).get_json()["message"] == "already applied"  # found by dbapi's operation id
    assert uploaded() == 1
    operation = db.session.get(Operation, operation.id)
    backup = db.session.scalars(select(Backup)).one()
    assert (operation.state, operation.dbapi_operation_id, operation.result["backup"]) == ("succeeded",
                                                                                          "op-remote-1", backup.id)
    assert (backup.kind, backup.state, backup.size_bytes, backup.requested_by) == ("uploaded", "succeeded", 1234,
                                                                                  "deis:alice")


def test_a_failed_upload_registers_no_backup(app, client):
    operation = waiting_upload()
    assert deliver(client, operation, state="failed").status_code == 200
    db.session.expire_all()
    operation = db.session.get(Operation, operation.id)
    assert operation.state == "failed" and "pg_dump" in operation.error
    assert uploaded() == 0


def test_a_callback_for_another_database_or_no_known_upload_changes_nothing(app, client):
    operation = waiting_upload()
    refused = deliver(client, operation, database_id="db-someone-else")
    assert refused.status_code == 422
    unknown = client.post(CALLBACK_PATH + "?upload=00000000-0000-0000-0000-000000000000", data=b"{}")
    assert unknown.status_code == 401  # unsigned
    assert deliver(client, None, remote_operation="op-nobody").status_code == 200  # acknowledged, nowhere to go
    db.session.expire_all()
    assert db.session.get(Operation, operation.id).state == "pending" and uploaded() == 0


def test_an_unused_token_ends_its_upload_without_an_alert_and_a_late_upload_still_lands(app, client):
    operation = waiting_upload(expires_in=timedelta(minutes=-5))
    later = utcnow() + timedelta(hours=2)  # past every stale threshold
    stuck_operations.check(db.session, later)
    db.session.expire_all()
    operation = db.session.get(Operation, operation.id)
    assert (operation.state, operation.error) == ("failed", EXPIRED_UNUSED)
    assert db.session.scalar(select(func.count(Alert.id))) == 0
    assert deliver(client, operation).get_json()["message"] == "applied"
    db.session.expire_all()
    assert db.session.get(Operation, operation.id).state == "succeeded" and uploaded() == 1
    assert deliver(client, operation).get_json()["message"] == "already applied"
