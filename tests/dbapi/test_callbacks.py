"""Callbacks: the documented signature scheme, and delivery with retries to a real receiver over HTTP."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from pathlib import Path

import pytest

from dbapi import callbacks
from dbapi.crypto import MasterKeys

SECRET = "callback-secret-for-tests"
BODY = b'{"operation_id":"abc","state":"succeeded"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    header = callbacks.sign(SECRET, BODY, 1_700_000_000)
    # Computed independently of dbapi's code, the way an integrator in another language would.
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_verify_accepts_a_fresh_signature():
    now = time.time()
    header = callbacks.sign(SECRET, BODY, int(now))
    assert callbacks.verify_signature(SECRET, header, BODY, now=now)


@pytest.mark.parametrize(
    "mutation",
    [
        pytest.param(lambda h, b, s: (h, b + b" ", s), id="body changed"),
        pytest.param(lambda h, b, s: (h, b, s + "x"), id="other secret"),
        pytest.param(lambda h, b, s: (h.replace("v1=", "v1=0"), b, s), id="signature altered"),
        pytest.param(lambda h, b, s: (h.split(",")[1], b, s), id="timestamp missing"),
        pytest.param(lambda h, b, s: (h.split(",")[0], b, s), id="signature missing"),
        pytest.param(lambda h, b, s: ("", b, s), id="empty header"),
        pytest.param(lambda h, b, s: ("garbage", b, s), id="garbage header"),
    ],
)
def test_verify_rejects_tampering(mutation):
    now = time.time()
    header, body, secret = mutation(callbacks.sign(SECRET, BODY, int(now)), BODY, SECRET)
    assert not callbacks.verify_signature(secret, header, body, now=now)


def test_verify_rejects_stale_and_future_timestamps():
    now = time.time()
    stale = callbacks.sign(SECRET, BODY, int(now) - 301)
    future = callbacks.sign(SECRET, BODY, int(now) + 301)
    assert not callbacks.verify_signature(SECRET, stale, BODY, now=now)
    assert not callbacks.verify_signature(SECRET, future, BODY, now=now)
    assert callbacks.verify_signature(SECRET, stale, BODY, tolerance=400, now=now)


def test_verify_accepts_any_of_several_v1_values_for_secret_rotation():
    now = int(time.time())
    new = callbacks.sign(SECRET, BODY, now)
    old = callbacks.sign("old-secret", BODY, now)
    header = f"{new},v1={old.partition(',v1=')[2]}"
    assert callbacks.verify_signature(SECRET, header, BODY, now=now)
    assert callbacks.verify_signature("old-secret", header, BODY, now=now)
    assert not callbacks.verify_signature("third-secret", header, BODY, now=now)


def test_documented_reference_code_matches_the_implementation():
    """docs/dbapi.md carries verify_signature for integrators: run that exact code against real signatures."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "dbapi.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", docs, flags=re.S)
    reference = next(block for block in blocks if "def verify_signature" in block)
    namespace: dict = {}
    exec(compile(reference, "docs/dbapi.md", "exec"), namespace)  # noqa: S102 - our own documentation
    documented = namespace["verify_signature"]
    now = int(time.time())
    good = callbacks.sign(SECRET, BODY, now)
    assert documented(SECRET, good, BODY)
    assert not documented(SECRET, good, BODY + b"x")
    assert not documented(SECRET, callbacks.sign(SECRET, BODY, now - 3600), BODY)
    assert not documented("wrong", good, BODY)


def test_sealed_body_opens_with_current_and_retired_keys_only():
    old = MasterKeys.parse(MasterKeys.generate_spec("k1"))
    body = json.dumps({"database": {"password": "s3cret-password"}}).encode()
    sealed = callbacks.seal(old, body)
    assert b"s3cret-password" not in sealed
    rotated = MasterKeys([("k2", os.urandom(32)), ("k1", old.get("k1"))])
    assert callbacks.unseal(rotated, sealed) == body
    stranger = MasterKeys.parse(MasterKeys.generate_spec("k1"))
    with pytest.raises(ValueError, match="cannot be opened"):
        callbacks.unseal(stranger, sealed)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(ValueError):
        callbacks.unseal(old, tampered)


def test_receiver_failing_twice_gets_the_result_once(
    dbapi_app, dbapi_client, callback_receiver, dbapi_names, dbapi_worker_process
):
    """The real worker process (`python -m dbapi.worker`, with its scheduler) retries with backoff until a 2xx."""
    callback_receiver.fail_first = 2
    worker = dbapi_worker_process()
    response = dbapi_client.call(
        "POST", "/databases",
        json={"name": dbapi_names("retried"), "server": "main", "callback_url": callback_receiver.url},
    )
    assert response.status_code == 202
    operation = dbapi_client.wait(response.json()["operation"]["id"], timeout=90)
    assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""

    assert operation["state"] == "succeeded"
    assert operation["callback"]["state"] == "delivered"
    assert operation["callback"]["attempts"] == 3
    assert operation["callback"]["delivered_at"] is not None and operation["callback"]["last_error"] is None
    assert [entry["status"] for entry in callback_receiver.requests] == [500, 500, 200]
    assert len(callback_receiver.delivered(operation["id"])) == 1
    secret = dbapi_app.extensions["dbapi"].settings.callback_secret
    bodies = {entry["body"] for entry in callback_receiver.requests}
    assert len(bodies) == 1  # the same result each time; each attempt signed afresh
    for entry in callback_receiver.requests:
        assert entry["headers"]["X-Operation-Id"] == operation["id"]
        assert callbacks.verify_signature(secret, entry["headers"]["X-Signature"], entry["body"])
    delivered = json.loads(bodies.pop())
    assert delivered["database"]["password"]  # the credentials survived being sealed between attempts


def test_callback_is_abandoned_after_the_configured_time(dbapi_environ, callback_receiver, dbapi_redis):
    """A receiver that never acknowledges: once DBAPI_CALLBACK_MAX_SECONDS would pass, delivery stops, recorded."""
    from dbapi import create_app, runtime
    from dbapi.config import Settings
    from dbapi.models import CallbackState, Operation, OperationKind, OperationState, db, utcnow

    callback_receiver.fail_first = 10**6
    app = create_app(Settings.from_env({
        **dbapi_environ, "DBAPI_CALLBACK_MAX_SECONDS": "3", "DBAPI_CALLBACK_RETRY_SECONDS": "2",
        "DBAPI_QUEUE": dbapi_environ["DBAPI_QUEUE"] + "-abandon",
    }))
    with app.app_context():
        context = runtime()
        operation = Operation(kind=OperationKind.BACKUP, state=OperationState.SUCCEEDED, finished_at=utcnow(),
                              callback_url=callback_receiver.url, params={})
        callbacks.attach(operation, {"operation_id": "x", "state": "succeeded"}, context.settings.master_keys)
        db.session.add(operation)
        db.session.commit()
        callbacks.deliver(operation.id)  # attempt 1 fails; next in 2 s (still within 3 s): scheduled
        assert (operation.callback_state, operation.callback_attempts) == (CallbackState.PENDING, 1)
        scheduled = context.queue.scheduled_job_registry.get_job_ids()
        assert scheduled == [f"callback-{operation.id}-1"]
        callbacks.deliver(operation.id)  # attempt 2 fails; 2 + 4 s would pass 3 s: abandoned
        assert operation.callback_state == CallbackState.ABANDONED
        assert operation.callback_attempts == 2 and operation.callback_last_error == "HTTP 500"
        assert operation.callback_body_sealed is None  # nothing sealed is kept once delivery stops
        assert context.queue.scheduled_job_registry.get_job_ids() == scheduled  # no third attempt queued
        for job_id in scheduled:
            context.queue.scheduled_job_registry.remove(job_id, delete_job=True)
    assert [entry["status"] for entry in callback_receiver.requests] == [500, 500]
