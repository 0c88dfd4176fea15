"""The audit log page: every change, filterable by actor, action, dates and free text, exportable as CSV."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_login import login_required

from app.extensions import db
from app.models import AuditEvent, utcnow
from app.queries import audit_log
from app.queries.paging import BadCursor
from app.views.audit_links import job_url, target_url
from app.views.query_reader import QueryReader, cursor_param

bp = Blueprint("audit", __name__, url_prefix="/audit")
CSV_COLUMNS = ("at", "actor", "action", "target_type", "target_id", "target", "change", "request_id")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such cells get a quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    changes: list[audit_log.FieldChange]
    raw: str | None  # the masked JSON, shown on request
    target_url: str | None
    job_url: str | None


def _day(reader: QueryReader, name: str, label: str) -> date | None:
    value = reader.text(name, max_length=20)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        reader.errors.append(f"The {label} date {value!r} is not a date like 2026-12-01.")
        return None


def read_filters(reader: QueryReader) -> audit_log.AuditFilters:
    """The filters from the query string; bad values land in `reader.errors` and filter nothing."""
    since, until = _day(reader, "since", "from"), _day(reader, "until", "to")
    if since and until and since > until:
        reader.errors.append(f"The from date {since} is after the to date {until}.")
        since = until = None
    return audit_log.AuditFilters(
        actor=reader.text("actor", max_length=128) or None,
        action=reader.text("action", max_length=64) or None,
        since=since, until=until,
        q=reader.text("q", max_length=128),
        target=reader.text("target", max_length=128),
        sign_ins=reader.text("sign_ins", max_length=3) == "yes",
    )


@bp.get("/")
@login_required
def index():
    reader = QueryReader(request.args)
    filters = read_filters(reader)
    try:
        page = audit_log.audit_page(db.session, filters, reader.page(), after=cursor_param(reader, "after"),
                                    before=cursor_param(reader, "before"))
    except BadCursor as error:
        reader.errors.append(f"Bad page link ({error}): showing the first page.")
        page = audit_log.audit_page(db.session, filters)
    database_apps = audit_log.database_apps(db.session, page.items)
    rows = [AuditRow(event, audit_log.field_changes(event.before, event.after), audit_log.masked_json(event),
                     target_url(event, database_apps), job_url(event)) for event in page.items]
    status = 400 if reader.errors else 404 if page.past_end else 200
    return render_template("audit/index.html", page=page, rows=rows, filters=filters, params=filters.params(),
                           choices=audit_log.filter_choices(db.session), errors=reader.errors), status


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_lines(events: Iterator[AuditEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        writer.writerow([_cell(value) for value in values])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(CSV_COLUMNS)
    for event in events:
        yield line((event.at.isoformat(), event.actor, event.action, event.target_type, event.target_id,
                    event.target, audit_log.change_summary(event), event.request_id))


@bp.get("/export.csv")
@login_required
def export():
    """The events the page's filters select (every page of them), as CSV, streamed row by row."""
    reader = QueryReader(request.args)
    filters = read_filters(reader)
    if reader.errors:
        return Response(" ".join(reader.errors) + "\n", status=400, mimetype="text/plain")
    events = audit_log.events_for_export(db.session, filters)
    filename = f"audit-log-{utcnow():%Y%m%d-%H%M}.csv"
    return Response(stream_with_context(_csv_lines(events)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
