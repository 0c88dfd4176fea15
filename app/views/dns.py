"""Cloudflare DNS: zones with their counts, and each zone's records with what they point at."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from sqlalchemy import select
from flask_login import login_required

from app.extensions import db
from app.models import Instance
from app.operations.dangling import dangling_records
from app.queries import dns_listing
from app.queries.paging import BadCursor
from app.views.htmx import render_page
from app.views.query_reader import QueryReader, cursor_param

bp = Blueprint("dns", __name__, url_prefix="/dns")

# The record types Cloudflare serves; the filter accepts only these.
RECORD_TYPES = ("A", "AAAA", "CAA", "CERT", "CNAME", "DNSKEY", "DS", "HTTPS", "LOC", "MX", "NAPTR", "NS", "PTR",
                "SMIMEA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI")


@bp.get("/")
@login_required
def index():
    """Every zone with its record and dangling-record counts."""
    reader = QueryReader(request.args)
    page = dns_listing.list_zones(db.session, reader.page())
    status = 400 if reader.errors else 404 if page.past_end else 200
    return render_page("dns/index.html", "content", page=page, errors=reader.errors, params={}), status


@bp.get("/zones/<int:zone_id>")
@login_required
def zone(zone_id: int):
    """One zone's records, filtered by type, search and dangling; htmx gets the results only."""
    dns_zone = dns_listing.zone_by_id(db.session, zone_id)
    if dns_zone is None:
        abort(404)
    reader = QueryReader(request.args)
    record_type = reader.optional_choice("type", RECORD_TYPES, label="record type")
    filters = dns_listing.RecordFilters(q=reader.text("q", max_length=255), type=record_type,
                                        dangling_only=reader.flag("dangling") is True)
    try:
        page = dns_listing.list_zone_records(db.session, zone_id, filters, reader.page(),
                                             after=cursor_param(reader, "after"),
                                             before=cursor_param(reader, "before"))
    except BadCursor as error:
        reader.errors.append(f"Bad page link ({error}): showing the first page.")
        page = dns_listing.list_zone_records(db.session, zone_id, filters)
    params = {"q": filters.q, "type": filters.type, "dangling": "yes" if filters.dangling_only else None}
    params = {key: value for key, value in params.items() if value}
    status = 400 if reader.errors else 404 if page.past_end else 200
    return render_page("dns/zone.html", "results", push_url=url_for("dns.zone", zone_id=zone_id, **params),
                       zone=dns_zone, page=page, filters=filters, errors=reader.errors, params=params,
                       types=dns_listing.zone_record_types(db.session, zone_id)), status


@bp.get("/dangling")
@login_required
def dangling():
    """Records pointing at nothing the panel knows (each a subdomain-takeover risk), with a clean-up plan form."""
    instances = db.session.scalars(select(Instance.name).where(Instance.name.is_not(None), Instance.state == "running")
                                   .order_by(Instance.name)).all()
    return render_template("dns/dangling.html", records=dangling_records(db.session), instances=instances)
