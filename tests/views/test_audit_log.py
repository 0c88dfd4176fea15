"""The audit log page: sign-ins hidden by default, choice filters, dates, free text, readable changes with secrets
masked, links to targets and jobs, and a CSV export of exactly the filtered events."""
from __future__ import annotations

import contextvars
import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from flask.testing import FlaskClient
from sqlalchemy import select, text

from app import audit
from app.extensions import db
from app.models import AuditEvent
from app.queries import audit_log
from tests import factories as make

SECRET = "postgres://shop:hunter2-audit@pg.prod.test/shop"


def event(action: str, actor: str = "alice", target=None, at: datetime | None = None, **change) -> AuditEvent:
    recorded = audit.record(db.session, actor=actor, action=action, target=target, **change)
    if at is not None:
        recorded.at = at
    db.session.commit()
    return recorded


def shown_ids(html: str) -> set[int]:
    return {int(number) for number in re.findall(r'<tr id="event-(\d+)"', html)}


def test_sign_ins_are_hidden_until_asked_for(client, login_as):
    admin = login_as("admin")  # signing in writes an auth.sign_in event (after the fixture's user.create)
    [created] = db.session.scalars(select(AuditEvent.id).where(AuditEvent.action == "user.create"))
    change = event("user.role", target=admin, before={"role": "viewer"}, after={"role": "admin"})
    page = client.get("/audit/").get_data(as_text=True)
    sign_in = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.sign_in"))
    assert shown_ids(page) == {created, change.id}
    assert "tick “Show sign-ins” to see them" in page
    assert shown_ids(client.get("/audit/?sign_ins=yes").get_data(as_text=True)) == {created, change.id, sign_in.id}
    # Asking for an auth action by name shows it without the toggle.
    assert shown_ids(client.get("/audit/?action=auth.sign_in").get_data(as_text=True)) == {sign_in.id}


def test_actor_and_action_are_choices_of_what_the_log_holds(client, login_as):
    login_as("viewer", username="reader")
    first = event("user.create", actor="alice", after={"username": "bob"})
    second = event("user.role", actor="bob", before={"role": "viewer"}, after={"role": "admin"})
    third = event("sync.request", actor="alice", after={"source": "dns", "scope": "all", "job_id": "j1"})
    page = client.get("/audit/").get_data(as_text=True)
    actor_select = page[page.index('name="actor"'):page.index('name="action"')]
    # "test" made the signed-in user (the fixture); "reader" signed in.
    assert re.findall(r'<option value="([^"]+)"', actor_select) == ["alice", "bob", "reader", "test"]
    action_select = page[page.index('name="action"'):page.index('name="since"')]
    assert re.search(r'<option value="user\."\s*>every user\.\* action</option>', action_select)
    assert re.findall(r'<option value="([a-z_]+\.[a-z_]+)"', action_select) == [
        "auth.sign_in", "sync.request", "user.create", "user.role"]
    setup = db.session.scalar(select(AuditEvent.id).where(AuditEvent.actor == "test"))

    assert shown_ids(client.get("/audit/?actor=alice").get_data(as_text=True)) == {first.id, third.id}
    assert shown_ids(client.get("/audit/?action=user.").get_data(as_text=True)) == {setup, first.id, second.id}
    assert shown_ids(client.get("/audit/?action=user.role").get_data(as_text=True)) == {second.id}
    assert shown_ids(client.get("/audit/?actor=alice&action=user.").get_data(as_text=True)) == {first.id}
    nobody = client.get("/audit/?actor=nobody").get_data(as_text=True)
    assert "No audit events match these filters." in nobody


def test_the_choices_walk_the_index_instead_of_reading_every_row(app, client, login_as):
    for number in range(30):
        event(f"kind{number % 3}.act", actor=f"actor-{number % 4}")
    assert audit_log.distinct_values(db.session, "actor") == sorted(
        db.session.scalars(select(AuditEvent.actor).distinct()))
    assert audit_log.distinct_values(db.session, "action") == ["kind0.act", "kind1.act", "kind2.act"]
    if db.engine.dialect.name == "sqlite":
        walk = select(AuditEvent.actor).where(AuditEvent.actor > "actor-1").order_by(AuditEvent.actor).limit(1)
        compiled = str(walk.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row) for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert "ix_audit_events_actor_at" in plan


def test_a_date_range_includes_both_days_and_a_bad_date_says_why(client, login_as):
    login_as("admin")
    day = lambda d, h=12: datetime(2026, 11, d, h, tzinfo=timezone.utc)  # noqa: E731
    before_range = event("app.monitoring", at=day(9, 23))
    first_day = event("app.monitoring", at=day(10, 0))
    last_day = event("app.monitoring", at=day(12, 23))
    after_range = event("app.monitoring", at=day(13, 0))
    shown = shown_ids(client.get("/audit/?since=2026-11-10&until=2026-11-12").get_data(as_text=True))
    assert shown == {first_day.id, last_day.id}
    later = shown_ids(client.get("/audit/?since=2026-11-13").get_data(as_text=True))
    assert after_range.id in later and not later & {before_range.id, first_day.id, last_day.id}
    assert before_range.id in shown_ids(client.get("/audit/?until=2026-11-09").get_data(as_text=True))
    bad = client.get("/audit/?since=last+tuesday")
    assert bad.status_code == 400
    assert "The from date &#39;last tuesday&#39; is not a date like 2026-12-01." in bad.get_data(as_text=True)
    backwards = client.get("/audit/?since=2026-11-12&until=2026-11-10")
    assert backwards.status_code == 400 and "is after the to date" in backwards.get_data(as_text=True)


def test_free_text_finds_targets_field_values_and_request_ids(client, login_as, db_session):
    login_as("admin")
    shop = make.app(db_session, "storefront")
    db_session.commit()
    by_target = event("app.monitoring", target=shop, before={"enabled": False}, after={"enabled": True})
    by_value = event("app.health_path", after={"health_path": "/healthz-storefront-probe"})
    other = event("app.monitoring", after={"enabled": True})
    other.request_id = "req-5f2a"
    db.session.commit()
    assert shown_ids(client.get("/audit/?q=STOREFRONT").get_data(as_text=True)) == {by_target.id, by_value.id}
    assert shown_ids(client.get("/audit/?q=req-5f2a").get_data(as_text=True)) == {other.id}
    assert shown_ids(client.get("/audit/?q=100%25").get_data(as_text=True)) == set()  # % is a character, not a wildcard


def test_a_change_reads_as_field_before_and_after_with_secrets_masked(client, login_as, db_session):
    admin = login_as("admin")
    shop = make.app(db_session, "shop")
    db_session.commit()
    role = event("user.role", target=admin, before={"role": "viewer"}, after={"role": "admin"})
    config = event("config.change", target=shop, before={"config": {"DATABASE_URL": SECRET, "WORKERS": 2}},
                   after={"config": {"DATABASE_URL": "postgres://shop:new-pass-99@pg2.prod.test/shop", "WORKERS": 4,
                                     "DEBUG": False}})
    # An event written before a masking rule knew this secret shape is masked when read, too.
    legacy = event("app.set_type", target=shop)
    legacy.after = {"api_token": "tok_8sd7f6g5h4j3k2l1zxcvbnmq"}
    db.session.commit()

    page = client.get("/audit/").get_data(as_text=True)
    row = page[page.index(f'id="event-{role.id}"'):]
    row = row[:row.index("</tr>")]
    assert re.search(r'<span class="field">role</span>:\s*<del>viewer</del> → <ins>admin</ins>', row)
    assert re.search(r"<details class=\"raw-change\"><summary>JSON</summary><pre>", row)  # JSON only on request

    row = page[page.index(f'id="event-{config.id}"'):]
    row = row[:row.index("</tr>")]
    assert re.search(r'config.WORKERS</span>:\s*<del>2</del> → <ins>4</ins>', row)
    assert re.search(r'config.DEBUG</span>:\s*<ins>no</ins>', row)
    # Secrets are masked when written: the log says one was set, never what it was.
    assert re.search(r'config.DATABASE_URL</span>:\s*•••••• <small>\(a secret: set, value not kept\)', row)
    for secret in ("hunter2-audit", "new-pass-99", "tok_8sd7f6g5h4j3k2l1zxcvbnmq"):
        assert secret not in page
    assert f'<a href="/apps/{shop.id}">shop</a>' in row


def test_targets_and_jobs_are_links(client, login_as, db_session):
    admin = login_as("admin")
    shop = make.app(db_session, "shop")
    database = make.database(db_session, shop)
    instance = make.instance(db_session, "web-1")
    db_session.commit()
    events = {
        "app": event("app.monitoring", target=shop, after={"enabled": True}),
        "database": event("backup.capture", target=database, after={"kind": "manual"}),
        "user": event("user.role", target=admin, before={"role": "viewer"}, after={"role": "admin"}),
        "change_set": event("change_set.plan", target="change set #7", after={"items": 2}),
        "instance": event("alert.raise", target=instance, after={"kind": "maintenance"}),
        "sync": event("sync.request", after={"source": "dns", "scope": "all", "job_id": "abc-123"}),
    }
    page = client.get("/audit/").get_data(as_text=True)

    def row(name: str) -> str:
        start = page.index(f'id="event-{events[name].id}"')
        return page[start:page.index("</tr>", start)]

    assert f'href="/apps/{shop.id}"' in row("app")
    assert f'href="/apps/{shop.id}/database"' in row("database")
    assert f'href="/users/#user-{admin.id}"' in row("user")
    assert 'href="/change-sets/7"' in row("change_set")
    assert f'href="/instances/{instance.id}"' in row("instance")
    assert 'href="/sync/jobs/abc-123">the job it queued</a>' in row("sync")


@dataclass
class Download:
    status_code: int
    mimetype: str
    headers: dict[str, str]
    streamed: bool
    body: str

    def rows(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.body)))


def download(client, path: str) -> Download:
    """GET a streamed response and read its body in the same context as the request (as a WSGI server does)."""

    def fetch() -> Download:
        response = FlaskClient.open(client, path)
        streamed = response.is_streamed
        return Download(response.status_code, response.mimetype, dict(response.headers), streamed,
                        response.get_data(as_text=True))

    return contextvars.Context().run(fetch)


def test_the_csv_export_holds_every_filtered_event_and_no_formula_or_secret(client, login_as):
    login_as("viewer", username="reader")
    for number in range(audit_log.PER_PAGE + 5):  # more than one page
        event("app.monitoring", actor="alice", target=f"app-{number}", after={"enabled": number % 2 == 0})
    event("user.role", actor="bob", before={"role": "viewer"}, after={"role": "admin"})
    event("app.health_path", actor="alice", target="=HYPERLINK(\"http://evil.test\")",
          after={"health_path": "-1+1", "DATABASE_URL": SECRET})

    response = download(client, "/audit/export.csv?actor=alice")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-log-')
    assert response.streamed
    rows = response.rows()
    assert len(rows) == audit_log.PER_PAGE + 6
    assert {row["actor"] for row in rows} == {"alice"}
    assert list(rows[0]) == ["at", "actor", "action", "target_type", "target_id", "target", "change", "request_id"]
    newest = rows[0]
    assert newest["target"] == "'=HYPERLINK(\"http://evil.test\")"
    assert newest["change"] == "health_path: -1+1; DATABASE_URL: ••••••"
    assert "hunter2" not in response.body
    assert rows[1]["change"] == f"enabled: {'yes' if (audit_log.PER_PAGE + 4) % 2 == 0 else 'no'}"
    assert not any(row["action"] == "auth.sign_in" for row in rows)

    bob = download(client, "/audit/export.csv?action=user.role").rows()
    assert [(row["actor"], row["change"]) for row in bob] == [("bob", "role: viewer → admin")]
    # The page's export link carries its filters.
    page = client.get("/audit/?actor=bob&since=2020-01-01").get_data(as_text=True)
    assert re.search(r'href="/audit/export.csv\?actor=bob&amp;since=2020-01-01"', page)
    refused = download(client, "/audit/export.csv?until=soon")
    assert refused.status_code == 400 and "is not a date" in refused.body


def test_the_log_is_paginated(client, login_as):
    login_as("admin")
    for number in range(audit_log.PER_PAGE + 3):
        event("app.monitoring", target=f"app-{number}")
    first = client.get("/audit/?actor=alice").get_data(as_text=True)
    assert len(shown_ids(first)) == audit_log.PER_PAGE
    # Next carries a keyset cursor (and the filters); the numbered page of an old bookmark is the same page.
    next_link = re.search(r'href="(/audit/\?actor=alice&amp;after=[^"]+)"[^>]*rel="next"', first)
    assert "1–50 of 53 events" in first and next_link
    second = client.get("/audit/?actor=alice&page=2").get_data(as_text=True)
    assert len(shown_ids(second)) == 3
    assert shown_ids(client.get(next_link.group(1).replace("&amp;", "&")).get_data(as_text=True)) == shown_ids(second)
    assert client.get("/audit/?page=9").status_code == 404
