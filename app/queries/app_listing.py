"""The applications list: search, filters and sorting over every app, one page at a time, in fixed queries."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.orm import Session, aliased, contains_eager, defer

from app.models import App, Cluster, Database, Domain, LimitSet
from app.queries.paging import Page, seek_paginate
from app.queries.text_search import contains_text

PER_PAGE = 100
DIRECTIONS = ("asc", "desc")
# Secondary keys keep the order stable between pages when the main key has ties.
SORTS = {
    "name": (App.name, Cluster.name),
    "cluster": (Cluster.name, App.name),
    "owner": (App.owner, App.name),
    "type": (App.app_type, App.name),
    "synced_at": (App.synced_at, App.name),
}


UNLISTED = (App.structure, App.config_values, App.memory, App.cpu, App.settings)


@dataclass(frozen=True)
class AppFilters:
    """What the list is narrowed to; None means 'any'."""

    q: str = ""
    cluster: str | None = None
    app_type: str | None = None
    monitoring: bool | None = None
    has_database: bool | None = None
    limit_drift: bool | None = None

    @property
    def active(self) -> bool:
        return bool(self.q) or any(
            value is not None for value in (self.cluster, self.app_type, self.monitoring, self.has_database,
                                            self.limit_drift)
        )


@dataclass
class AppRow:
    """One line of the list: the app (with its cluster and region loaded) and what is counted around it."""

    app: App
    domain_count: int
    first_domain: str | None
    database_state: str | None
    has_limit_set: bool = False


@dataclass
class AppFilterOptions:
    clusters: list[str]
    app_types: list[str]


def _text_match(q: str) -> ColumnElement[bool]:
    matching_domains = select(Domain.app_id).where(contains_text(Domain.name, q))
    return or_(contains_text(App.name, q), contains_text(App.owner, q), App.id.in_(matching_domains))


def _filtered(query: Select, filters: AppFilters, matched_ids: list[int] | None = None) -> Select:
    if filters.q:
        # The ids the search matched, when already looked up: an indexed IN instead of scanning again.
        query = query.where(App.id.in_(matched_ids) if matched_ids is not None else _text_match(filters.q))
    if filters.cluster is not None:
        query = query.where(Cluster.name == filters.cluster)
    if filters.app_type is not None:
        query = query.where(App.app_type == filters.app_type)
    if filters.monitoring is not None:
        query = query.where(App.monitoring_enabled.is_(filters.monitoring))
    if filters.limit_drift is not None:
        query = query.where(App.limit_drift.is_(filters.limit_drift))
    if filters.has_database is not None:
        # An alias: the row query already outer-joins Database, which would swallow a plain correlated subquery.
        database = aliased(Database)
        has_database = select(database.id).where(database.app_id == App.id).exists()
        query = query.where(has_database if filters.has_database else ~has_database)
    return query


def list_apps(
    session: Session, filters: AppFilters, sort: str = "name", direction: str = "asc", page: int = 1,
    per_page: int = PER_PAGE, *, after: str | None = None, before: str | None = None,
) -> Page[AppRow]:
    """One page of apps matching `filters`, ordered by `sort` (a key of SORTS) in `direction` (asc|desc).

    Keyset-paged: page `page`, or the page after / before a cursor from a Next / Previous link (`BadCursor` when
    it does not decode), so page 200 costs what page 1 does.
    """
    if sort not in SORTS or direction not in DIRECTIONS:
        raise ValueError(f"unknown sort {sort!r} {direction!r}")
    domain_count = select(func.count(Domain.id)).where(Domain.app_id == App.id).correlate(App).scalar_subquery()
    # Prefer a real host name to the domain Deis creates from the app id itself.
    first_domain = (
        select(func.coalesce(func.min(case((Domain.name.contains("."), Domain.name))), func.min(Domain.name)))
        .where(Domain.app_id == App.id).correlate(App).scalar_subquery()
    )
    has_limit_set = (
        select(LimitSet.id).where(LimitSet.cluster_id == App.cluster_id, LimitSet.app_type == App.app_type)
        .correlate(App).exists()
    )
    rows = (
        select(App, domain_count, first_domain, Database.state, has_limit_set)
        .join(App.cluster)
        .outerjoin(Database, Database.app_id == App.id)
        .options(contains_eager(App.cluster).joinedload(Cluster.region),
                 # The list shows none of the JSON columns: decoding five documents per row is most of a row's cost.
                 *(defer(column, raiseload=True) for column in UNLISTED))
    )
    primary, *tiebreaks = SORTS[sort]
    # Only the chosen column flips; ties stay in ascending name order, which is what people scan for.
    keys = [(primary, direction == "desc"), *((column, False) for column in tiebreaks), (App.id, False)]
    matched_ids = _matched_ids(session, filters.q) if filters.q else None
    rows = _filtered(rows, filters, matched_ids)
    # A count needs the cluster only to filter or lead the sort by it (every app has one); the key of a numbered
    # page needs it for the cluster-name tiebreak.
    keyed = _filtered(select(App.id).join(App.cluster), filters, matched_ids)
    count = keyed if filters.cluster is not None or sort == "cluster" else _filtered(select(App.id), filters,
                                                                                    matched_ids)
    result = seek_paginate(session, rows, keys, count_query=count, key_query=keyed, per_page=per_page, page=page,
                           after=after, before=before, scalars=False)
    result.items = [AppRow(app, domains or 0, first, state, bool(limited))
                    for app, domains, first, state, limited in result.items]
    return result


# A text search matching more apps than this is left to the database as a subquery (no huge IN list).
MATCHED_IDS_LIMIT = 1000


def _matched_ids(session: Session, q: str) -> list[int] | None:
    """The ids of the apps a text search matches, found in one pass (the count and the page then look them up by
    id instead of each scanning every name, owner and domain with ILIKE); None when there are too many."""
    ids = list(session.scalars(select(App.id).where(_text_match(q)).limit(MATCHED_IDS_LIMIT + 1)))
    return ids if len(ids) <= MATCHED_IDS_LIMIT else None


def app_types(session: Session) -> list[str]:
    """The distinct app types in order, by a loose index scan: one index probe per type (a recursive query that
    asks for the next type after the last), not a DISTINCT over every app."""
    types = select(func.min(App.app_type).label("app_type")).cte("app_types", recursive=True)
    following = select(
        select(func.min(App.app_type)).where(App.app_type > types.c.app_type).scalar_subquery()
    ).where(types.c.app_type.is_not(None))
    types = types.union_all(following)
    return list(session.scalars(select(types.c.app_type).where(types.c.app_type.is_not(None))
                                .order_by(types.c.app_type)))


def app_filter_options(session: Session) -> AppFilterOptions:
    """The cluster names and app types the filters offer."""
    return AppFilterOptions(
        clusters=list(session.scalars(select(Cluster.name).order_by(Cluster.name))),
        app_types=app_types(session),
    )




def matching_app_ids(filters: AppFilters) -> Select:
    """A query of the ids of every app matching `filters` (all pages): what a bulk action on the filtered list acts
    on, kept as a subquery so ten thousand apps never become ten thousand bound parameters."""
    return _filtered(select(App.id).join(App.cluster), filters)


def filtered_apps(session: Session, filters: AppFilters) -> list[App]:
    """Every app `filters` match (not one page: what a bulk change of the filtered apps acts on)."""
    query = _filtered(select(App).join(App.cluster), filters).order_by(App.id)
    return list(session.scalars(query))
