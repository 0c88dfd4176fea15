"""The callback receiver: only a fresh, correctly signed callback changes anything, and each operation's result is
applied once however often (and in whatever order) dbapi delivers it."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from app.extensions import db
from app.models import Backup, Database, Operation
from tests.databases.conftest import app_named
from tests.dbapi.conftest import DBAPI_CALLBACK_SECRET


def signed(body: bytes, *, secret: str = DBAPI_CALLBACK_SECRET, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backup_result(operation_id: str, state: str = "succeeded", size: int = 4242) -> bytes:
    payload = {"operation_id": operation_id, "kind": "backup", "state": state, "error": None if state == "succeeded"
               else "pg_dump: connection refused", "progress_bytes": size, "finished_at": "2026-12-02T01:00:00+00:00",
               "backup": {"id": "b-" + operation_id, "size_bytes": size, "state": state}}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


@pytest.fixture
def pending_backups(synced, clients):
    """billing has a ready database with two backups in progress (dbapi operations op-1 and op-2)."""
    billing = app_named("billing")
    database = Database(app_id=billing.id, cluster_id=billing.cluster_id, name="billing", username="billing",
                        host="primary.db.eu-prod.example.net", state="ready", dbapi_id="d-1")
    db.session.add(database)
    db.session.flush()
    operations = []
    for number in (1, 2):
        backup = Backup(database_id=database.id, dbapi_backup_id=f"b-op-{number}", kind="manual", state="pending")
        db.session.add(backup)
        db.session.flush()
        operations.append(Operation(kind="database.backup", target_type="backup", target_id=str(backup.id),
                                    state="running", dbapi_operation_id=f"op-{number}"))
    db.session.add_all(operations)
    db.session.commit()
    return operations


def post(client, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Signature"] = signature
    return client.post("/dbapi/callbacks", data=body, headers=headers)


def states() -> list[tuple[str, str, int | None]]:
    db.session.expire_all()
    rows = db.session.query(Operation, Backup).join(Backup, Backup.id == Operation.target_id.cast(db.Integer))
    return sorted((operation.state, backup.state, backup.size_bytes) for operation, backup in rows)


def test_a_signed_result_is_applied_once_and_a_replay_or_contradiction_changes_nothing(client, pending_backups):
    body = backup_result("op-1")
    response = post(client, body, signed(body))
    assert response.status_code == 200 and response.json["message"] == "applied"
    assert states() == [("running", "pending", None), ("succeeded", "succeeded", 4242)]

    assert post(client, body, signed(body)).json["message"] == "already applied"  # redelivered: lost ack
    late = backup_result("op-1", state="failed")  # correctly signed, but op-1 is finished
    assert post(client, late, signed(late)).status_code == 200
    assert states() == [("running", "pending", None), ("succeeded", "succeeded", 4242)]


@pytest.mark.parametrize("forgery", ["unsigned", "wrong secret", "stale", "body changed", "no v1", "garbage"])
def test_unsigned_badly_signed_or_stale_callbacks_change_nothing(client, pending_backups, forgery):
    body = backup_result("op-1")
    signature = {
        "unsigned": None,
        "wrong secret": signed(body, secret="not-the-secret"),
        "stale": signed(body, at=int(time.time()) - 301),
        "body changed": signed(backup_result("op-1", size=1)),
        "no v1": f"t={int(time.time())}",
        "garbage": "v1=zz,t=abc",
    }[forgery]
    response = post(client, body, signature)
    assert response.status_code == 401
    assert states() == [("running", "pending", None), ("running", "pending", None)]


def test_several_v1_values_are_accepted_when_one_matches(client, pending_backups):
    body = backup_result("op-2")
    timestamp = int(time.time())
    rotated = f"t={timestamp},v1={'0' * 64}," + signed(body, at=timestamp).split(",")[1]
    assert post(client, body, rotated).status_code == 200
    assert ("succeeded", "succeeded", 4242) in states()


def test_reordered_and_early_callbacks_each_land_on_their_own_operation(client, pending_backups, db_session):
    second, first = backup_result("op-2", size=2000), backup_result("op-1", state="failed")
    assert post(client, second, signed(second)).status_code == 200
    assert post(client, first, signed(first)).status_code == 200
    assert states() == [("failed", "failed", None), ("succeeded", "succeeded", 2000)]
    failed = db_session.scalars(db.select(Operation).where(Operation.dbapi_operation_id == "op-1")).one()
    assert failed.error == "pg_dump: connection refused"

    # A callback that overtakes the answer to the panel's own request: refused with 409 so dbapi retries later.
    early = backup_result("op-3")
    response = post(client, early, signed(early))
    assert response.status_code == 409
    assert states() == [("failed", "failed", None), ("succeeded", "succeeded", 2000)]
