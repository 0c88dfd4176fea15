"""Every certificate the Deis syncs found, with the domains and apps it serves, how urgent its expiry is, and the
expiry timeline of the next 90 days (drawn as SVG by the page)."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, case, func, literal, select
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models import App, Certificate, Cluster, Domain
from app.models.platform import KNOWN_EXPIRY_BEFORE
from app.queries.paging import Page, seek_paginate

PER_PAGE = 50
CRITICAL = timedelta(days=14)
WARNING = timedelta(days=30)
TIMELINE_DAYS = 90
URGENCIES = ("expired", "critical", "warning", "ok")
URGENCY_LABELS = {"expired": "expired", "critical": f"under {CRITICAL.days} days",
                  "warning": f"under {WARNING.days} days",
                  "ok": "fine", "unknown": "no expiry known"}
# The drawing's own units (the SVG scales to the page's width): one column per day, bars up to BAR_SPACE tall.
DAY_WIDTH = 10
CHART_LEFT, BAR_SPACE, AXIS_SPACE = 4, 80, 22


@dataclass(frozen=True)
class CertificateFilters:
    cluster: str | None = None
    urgency: str | None = None


@dataclass
class CertificateRow:
    certificate: Certificate
    days_left: int | None
    urgency: str
    domains: list[Domain]
    apps: list[App]


@dataclass
class TimelineBar:
    day: int
    count: int
    urgency: str
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass
class Timeline:
    days: int = TIMELINE_DAYS
    width: int = CHART_LEFT * 2 + TIMELINE_DAYS * DAY_WIDTH
    height: int = BAR_SPACE + AXIS_SPACE
    baseline: int = BAR_SPACE
    bars: list[TimelineBar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)
    bands: list[tuple[str, float, float]] = field(default_factory=list)  # (urgency, x, width) behind the bars
    expired: int = 0
    upcoming: int = 0


def urgency_of(expires_at: datetime | None, now: datetime) -> str:
    """'expired', 'critical' (within 14 days), 'warning' (within 30), 'ok', or 'unknown' without an expiry."""
    if expires_at is None:
        return "unknown"
    if expires_at <= now:
        return "expired"
    if expires_at <= now + CRITICAL:
        return "critical"
    return "warning" if expires_at <= now + WARNING else "ok"


def days_left(expires_at: datetime | None, now: datetime) -> int | None:
    """Whole days until expiry (negative once expired: -3 is three days ago)."""
    if expires_at is None:
        return None
    return math.floor((expires_at - now).total_seconds() / 86400)


def _urgency_clause(urgency: str, now: datetime):
    # On the list's sort key (the expiry, the far future when unknown) alone, so the list's indexes bound each range
    # and a numbered page's key walk stays index-only.
    expires = Certificate.list_expiry
    return {
        "expired": expires <= now,
        "critical": and_(expires > now, expires <= now + CRITICAL),
        "warning": and_(expires > now + CRITICAL, expires <= now + WARNING),
        "ok": and_(expires > now + WARNING, expires < KNOWN_EXPIRY_BEFORE),  # not the unknown ones
    }[urgency]


def _filtered(query: Select, filters: CertificateFilters, now: datetime) -> Select:
    if filters.cluster is not None:
        # One id (cluster names are unique), so the cluster's index in list order serves the page.
        query = query.where(
            Certificate.cluster_id == select(Cluster.id).where(Cluster.name == filters.cluster).scalar_subquery())
    if filters.urgency is not None:
        query = query.where(_urgency_clause(filters.urgency, now))
    return query


def list_certificates(session: Session, filters: CertificateFilters, now: datetime, page: int = 1,
                      per_page: int = PER_PAGE, *, after: str | None = None,
                      before: str | None = None) -> Page[CertificateRow]:
    """One page of certificates, soonest expiry first (none known last), each with its cluster, domains and their
    apps loaded in a fixed number of statements (counts, the page, one for every domain of the page).

    Keyset-paged like the other lists: page `page`, or the page after / before a cursor of a Next / Previous link
    (`BadCursor` when it does not decode).
    """
    rows = _filtered(
        select(Certificate).options(
            joinedload(Certificate.cluster),
            selectinload(Certificate.domains).joinedload(Domain.app).joinedload(App.cluster),
        ), filters, now,
    )
    keys = [(Certificate.list_expiry, False), (Certificate.name, False), (Certificate.id, False)]
    result = seek_paginate(session, rows, keys, count_query=_filtered(select(Certificate.id), filters, now),
                           per_page=per_page, page=page, after=after, before=before)
    result.items = [_row(certificate, now) for certificate in result.items]
    return result


def _row(certificate: Certificate, now: datetime) -> CertificateRow:
    domains = sorted(certificate.domains, key=lambda domain: domain.name)
    apps = sorted({domain.app.id: domain.app for domain in domains}.values(),
                  key=lambda app: (app.cluster.name, app.name))
    return CertificateRow(certificate, days_left(certificate.expires_at, now), urgency_of(certificate.expires_at, now),
                          domains, apps)


def cluster_names(session: Session) -> list[str]:
    """The clusters the cluster filter offers."""
    return list(session.scalars(select(Cluster.name).order_by(Cluster.name)))


def expiry_timeline(session: Session, filters: CertificateFilters, now: datetime) -> Timeline:
    """How many certificates (of those the filters keep) expire on each of the next 90 days, as bars to draw.

    Counted in the database (a day bucket per certificate, grouped), with the first five names of each day: the
    page must not load one row per certificate (20,000 of them took 90 ms a page)."""
    horizon = now + timedelta(days=TIMELINE_DAYS)
    window = _filtered(select(Certificate.name, Certificate.expires_at).where(Certificate.expires_at.is_not(None),
                                                                               Certificate.expires_at <= horizon),
                       filters, now)
    timeline = Timeline()
    timeline.expired = session.scalar(
        select(func.count()).select_from(window.where(Certificate.expires_at <= now).subquery())) or 0
    # Day d holds what expires in [now + d days, now + d + 1 days) (days_left's floor); the last day also takes the
    # horizon itself. The bounds are computed here, so the bucket is plain comparisons on both databases, nested as
    # a binary search (7 comparisons a row, not up to 89).
    def bucket(first: int, last: int):
        if first == last:
            return literal(first)
        middle = (first + last) // 2
        return case((Certificate.expires_at < now + timedelta(days=middle + 1), bucket(first, middle)),
                    else_=bucket(middle + 1, last))

    upcoming = window.where(Certificate.expires_at > now).add_columns(bucket(0, TIMELINE_DAYS - 1).label("day"))
    upcoming = upcoming.subquery()
    by_day = {"partition_by": upcoming.c.day}
    # One pass: each day's count and earliest expiry beside its first five names.
    ranked = select(upcoming.c.day, upcoming.c.name, func.count().over(**by_day).label("count"),
                    func.min(upcoming.c.expires_at).over(**by_day).label("earliest"),
                    func.row_number().over(**by_day, order_by=upcoming.c.name).label("rank")).subquery()
    days: dict[int, tuple[int, datetime]] = {}
    first_names: dict[int, list[str]] = defaultdict(list)
    for number, name, count, earliest in session.execute(
            select(ranked.c.day, ranked.c.name, ranked.c.count, ranked.c.earliest).where(ranked.c.rank <= 5)):
        days[number] = (count, earliest)
        first_names[number].append(name)
    days = [(number, count, earliest) for number, (count, earliest) in sorted(days.items())]
    timeline.upcoming = sum(count for _, count, _ in days)
    tallest = max((count for _, count, _ in days), default=1)
    for number, count, when in days:
        height = max(4.0, BAR_SPACE * count / tallest)
        names = ", ".join(sorted(first_names[number])) + (" …" if count > 5 else "")
        timeline.bars.append(TimelineBar(
            day=number, count=count, urgency=urgency_of(when, now), x=CHART_LEFT + number * DAY_WIDTH + 1,
            y=BAR_SPACE - height, width=DAY_WIDTH - 2, height=height,
            label=f"{when:%Y-%m-%d}: {count} expiring ({names})",
        ))
    timeline.ticks = [(CHART_LEFT + day * DAY_WIDTH, "today" if day == 0 else f"{day} d")
                      for day in (0, 7, 14, 30, 60, 90)]
    timeline.bands = [("critical", CHART_LEFT, CRITICAL.days * DAY_WIDTH),
                      ("warning", CHART_LEFT + CRITICAL.days * DAY_WIDTH, (WARNING.days - CRITICAL.days) * DAY_WIDTH)]
    return timeline
