"""Download/upload tokens: signed, expiring, single-action, bound to one resource; upload tokens single-use.

The first half checks `dbapi.tokens` directly against a real SQLite state database; the second half goes through
the HTTP API of a running dbapi (see test_api.py for the fixtures) and checks that refused tokens change nothing.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from flask import Flask, current_app
from sqlalchemy import select

from dbapi import tokens
from dbapi.models import Token, db, utcnow

SECRET = "token-secret-for-tests"
BACKUP_ID = "0b5e2f0e-8a43-4c8e-9a53-5b7e0c1d2e3f"
DATABASE_ID = "6a1f3c2d-1111-4222-8333-944455566677"


@pytest.fixture
def state(tmp_path):
    """A real dbapi state database (SQLite) with an app context pushed."""
    flask_app = Flask("tokens-test")
    flask_app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'state.sqlite'}"
    db.init_app(flask_app)
    with flask_app.app_context():
        db.create_all()
        yield db.session
        db.session.remove()


def test_issue_records_the_token_and_logs_only_its_id(state, caplog):
    caplog.set_level(logging.INFO, logger="dbapi.tokens")
    issued = tokens.issue(state, SECRET, action="download", resource_id=BACKUP_ID, ttl_seconds=60)
    state.commit()
    record = state.get(Token, issued.token_id)
    assert (record.action, record.resource_kind, record.resource_id) == ("download", "backup", BACKUP_ID)
    assert timedelta(seconds=59) <= record.expires_at - record.issued_at <= timedelta(seconds=61)
    assert issued.token_id in caplog.text
    assert issued.token not in caplog.text


def test_a_valid_download_token_can_be_used_more_than_once(state):
    issued = tokens.issue(state, SECRET, action="download", resource_id=BACKUP_ID)
    state.commit()
    for _ in range(2):
        record = tokens.check(state, SECRET, issued.token, action="download", resource_id=BACKUP_ID)
        tokens.record_use(state, record)
    assert state.get(Token, issued.token_id).use_count == 2


def test_expired_token_is_401(state):
    issued = tokens.issue(state, SECRET, action="download", resource_id=BACKUP_ID, ttl_seconds=60)
    state.commit()
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.check(state, SECRET, issued.token, action="download", resource_id=BACKUP_ID,
                     now=utcnow() + timedelta(seconds=61))
    assert (refused.value.status, refused.value.reason) == (401, "the token has expired")


@pytest.mark.parametrize(
    ("action", "resource_id", "status", "reason"),
    [
        ("upload", BACKUP_ID, 403, "the token allows download, not upload"),
        ("download", "ffffffff-8a43-4c8e-9a53-5b7e0c1d2e3f", 403, "the token is for a different resource"),
    ],
)
def test_wrong_action_or_resource_is_403(state, action, resource_id, status, reason):
    issued = tokens.issue(state, SECRET, action="download", resource_id=BACKUP_ID)
    state.commit()
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.check(state, SECRET, issued.token, action=action, resource_id=resource_id)
    assert (refused.value.status, refused.value.reason) == (status, reason)


def test_upload_token_for_a_database_does_not_open_a_backup_with_the_same_id(state):
    issued = tokens.issue(state, SECRET, action="upload", resource_id=DATABASE_ID)
    state.commit()
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.check(state, SECRET, issued.token, action="download", resource_id=DATABASE_ID)
    assert refused.value.status == 403


def _flip(text: str, position: int) -> str:
    replacement = "A" if text[position] != "A" else "B"
    return text[:position] + replacement + text[position + 1 :]


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_tampered_token_is_401_and_logged_without_the_token(state, caplog, where):
    caplog.set_level(logging.INFO, logger="dbapi.tokens")
    issued = tokens.issue(state, SECRET, action="download", resource_id=BACKUP_ID)
    state.commit()
    position = 3 if where == "payload" else len(issued.token) - 3
    tampered = _flip(issued.token, position)
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.check(state, SECRET, tampered, action="download", resource_id=BACKUP_ID)
    assert refused.value.status == 401
    assert tampered not in caplog.text and issued.token not in caplog.text


def test_token_signed_with_another_secret_is_401(state):
    issued = tokens.issue(state, "someone-elses-secret", action="download", resource_id=BACKUP_ID)
    state.commit()
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.check(state, SECRET, issued.token, action="download", resource_id=BACKUP_ID)
    assert refused.value.status == 401


def test_upload_token_is_single_use(state):
    issued = tokens.issue(state, SECRET, action="upload", resource_id=DATABASE_ID)
    state.commit()
    record = tokens.check(state, SECRET, issued.token, action="upload", resource_id=DATABASE_ID)
    tokens.record_use(state, record)
    with pytest.raises(tokens.TokenRefused) as refused:
        tokens.check(state, SECRET, issued.token, action="upload", resource_id=DATABASE_ID)
    assert (refused.value.status, refused.value.reason) == (403, "the upload token has already been used")


def test_concurrent_claims_of_one_upload_token_let_exactly_one_through(state, tmp_path):
    """Two requests that both passed `check` race to claim: the conditional UPDATE lets only one win."""
    issued = tokens.issue(state, SECRET, action="upload", resource_id=DATABASE_ID)
    state.commit()
    first = tokens.check(state, SECRET, issued.token, action="upload", resource_id=DATABASE_ID)
    state.expunge(first)
    app = current_app._get_current_object()
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def claim() -> None:
        with app.app_context():
            record = tokens.check(db.session, SECRET, issued.token, action="upload", resource_id=DATABASE_ID)
            barrier.wait()
            try:
                tokens.record_use(db.session, record)
                outcomes.append("claimed")
            except tokens.TokenRefused:
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claimed", "refused"]
    assert state.scalars(select(Token.use_count).where(Token.id == issued.token_id)).one() == 1


def test_issue_refuses_bad_arguments(state):
    with pytest.raises(ValueError, match="ttl_seconds"):
        tokens.issue(state, SECRET, action="download", resource_id=BACKUP_ID, ttl_seconds=3601)
    with pytest.raises(ValueError, match="action"):
        tokens.issue(state, SECRET, action="delete", resource_id=BACKUP_ID)
    assert state.scalars(select(Token)).all() == []
