"""The certificates page's 90-day timeline, counted in the database, equals the same bars counted row by row in
Python (the day of each certificate, the count, the earliest expiry and the first names), bucket edges included."""
from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import timedelta

from app.models import utcnow
from app.queries.certificates import TIMELINE_DAYS, CertificateFilters, expiry_timeline, urgency_of
from tests import factories as make


def reference(certificates, now):
    """The timeline's content counted one certificate at a time (what the page did before)."""
    horizon = now + timedelta(days=TIMELINE_DAYS)
    expired, by_day = 0, defaultdict(list)
    for certificate in certificates:
        expires_at = certificate.expires_at
        if expires_at is None or expires_at > horizon:
            continue
        if expires_at <= now:
            expired += 1
            continue
        day = min(math.floor((expires_at - now).total_seconds() / 86400), TIMELINE_DAYS - 1)
        by_day[day].append((certificate.name, expires_at))
    bars = []
    for day, expiring in sorted(by_day.items()):
        when = min(expires_at for _, expires_at in expiring)
        names = ", ".join(sorted(name for name, _ in expiring)[:5]) + (" …" if len(expiring) > 5 else "")
        bars.append((day, len(expiring), urgency_of(when, now), f"{when:%Y-%m-%d}: {len(expiring)} expiring ({names})"))
    return expired, bars


def test_the_timeline_counted_in_the_database_matches_one_counted_row_by_row(db_session):
    rng = random.Random(15)
    eu, us = make.cluster(db_session, "eu-prod"), make.cluster(db_session, "us-prod")
    now = utcnow()
    offsets = [timedelta(days=day) for day in (1, 2, 7, 30, 89, 90)]  # exactly on a day's edge, and the horizon
    offsets += [timedelta(days=90, seconds=1), timedelta(seconds=-1), timedelta(days=-3), timedelta(seconds=1)]
    offsets += [timedelta(seconds=rng.randrange(-10 * 86400, 100 * 86400)) for _ in range(240)]
    offsets += [timedelta(days=3, hours=rng.randrange(24)) for _ in range(9)]  # one crowded day: "…" and five names
    certificates = [make.certificate(db_session, rng.choice((eu, us)), f"c{number:03d}.example.test",
                                     name=f"cert-{rng.randrange(10**6):06d}-{number:03d}", expires_in=offset)
                    for number, offset in enumerate(offsets)]
    for certificate, offset in zip(certificates, offsets):
        certificate.expires_at = now + offset  # from this very `now`, so the day edges are exact
    undated = make.certificate(db_session, eu, "none.example.test", name="no-expiry")
    undated.expires_at = None
    certificates.append(undated)
    db_session.commit()

    for filters, kept in ((CertificateFilters(), certificates),
                          (CertificateFilters(cluster="eu-prod"), [c for c in certificates if c.cluster_id == eu.id])):
        timeline = expiry_timeline(db_session, filters, now)
        expired, bars = reference(kept, now)
        assert timeline.expired == expired
        assert [(bar.day, bar.count, bar.urgency, bar.label) for bar in timeline.bars] == bars
        assert timeline.upcoming == sum(count for _, count, _, _ in bars)
    assert any(count > 5 for _, count, _, _ in reference(certificates, now)[1])  # the crowded day is there
