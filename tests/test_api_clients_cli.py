"""`flask api-clients ...` as an operator runs it: the token is printed once and only its hash is kept."""
from __future__ import annotations

import hashlib

from sqlalchemy import select

from app.extensions import db
from app.models import ApiClient, AuditEvent


def test_create_prints_the_token_once_and_stores_only_its_hash(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-clients", "create", "Chef", "--scope", "monit:read"])
    assert result.exit_code == 0, result.output
    assert "Created API client chef with scopes monit:read." in result.output
    token = result.output.split("Token (shown once):")[1].strip()
    assert len(token) > 40 and result.output.count(token) == 1
    stored = db.session.scalar(select(ApiClient).where(ApiClient.name == "chef"))
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(stored.__dict__)
    assert stored.scopes == ["monit:read"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "api_client.create"))
    assert event.actor == "cli" and event.after == {"name": "chef", "scopes": ["monit:read"]}
    assert token not in str(event.after) and stored.token_hash not in str(event.after)
    # The printed token works: Chef can pull with it.
    assert client.get("/chef/monitors.json", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    listing = runner.invoke(args=["api-clients", "list"])
    assert listing.output.startswith("chef\tmonit:read\tlast used: ") and "active" in listing.output
    assert token not in listing.output and stored.token_hash not in listing.output


def test_revoke_stops_the_token_and_bad_input_changes_nothing(app, client):
    runner = app.test_cli_runner()
    token = runner.invoke(args=["api-clients", "create", "chef", "--scope", "monit:read"]).output.split(
        "(shown once):")[1].strip()
    again = runner.invoke(args=["api-clients", "create", "chef", "--scope", "monit:read"])
    assert again.exit_code == 1 and "An API client called 'chef' already exists (active)" in again.output
    bad_scope = runner.invoke(args=["api-clients", "create", "tool", "--scope", "root"])
    assert bad_scope.exit_code == 2
    no_scope = runner.invoke(args=["api-clients", "create", "tool"])
    assert no_scope.exit_code == 2
    bad_name = runner.invoke(args=["api-clients", "create", "bad name!", "--scope", "monit:read"])
    assert bad_name.exit_code == 1 and "A client name is 1 to 64 characters" in bad_name.output
    assert db.session.scalars(select(ApiClient.name)).all() == ["chef"]

    revoked = runner.invoke(args=["api-clients", "revoke", "chef"])
    assert revoked.exit_code == 0 and "Revoked API client chef." in revoked.output
    assert client.get("/chef/monitors.json", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "revoked" in runner.invoke(args=["api-clients", "list"]).output
    twice = runner.invoke(args=["api-clients", "revoke", "chef"])
    assert twice.exit_code == 1 and "already revoked" in twice.output
    missing = runner.invoke(args=["api-clients", "revoke", "nobody"])
    assert missing.exit_code == 1 and "No API client called 'nobody'." in missing.output
