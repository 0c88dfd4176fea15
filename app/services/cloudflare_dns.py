"""Cloudflare DNS through the official `cloudflare` SDK: zones and records, read and written.

Every HTTP request the SDK sends, its own retries included, first takes a slot from a `RequestBudget` (a transport
under the SDK's httpx client). Cloudflare allows 1,200 requests per 5 minutes per *user*, shared with that user's
other tools, and going over blocks everything for five minutes, so the panel takes a share (800 by default),
counted in Redis across every worker. A 429 is honoured: we wait `retry-after` when it is short enough.

Reads are retried by the SDK. Writes never are: they run with the SDK's retries off, and when the answer is lost (a
timeout, a reset, a 5xx) the client reads the record back to learn whether the write applied before it tries again.
Listings are checked for consistency: a listing that changed between its pages raises `InconsistentListing`.
"""
from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

if TYPE_CHECKING:  # annotations only: the SDK and httpx are imported where a client is built
    import cloudflare
    import httpx

T = TypeVar("T")
RECORDS_PER_PAGE = 5000
ZONES_PER_PAGE = 50
DEFAULT_RATE_LIMIT = 800
BUDGET_HEADER = "x-admin-panel-budget"
RECORD_GONE = 81044  # "Record does not exist."
ALREADY_EXISTS = (81058, 81053)  # identical record / CNAME on that name: an earlier attempt of ours may have applied
HOST_TYPES = frozenset({"CNAME", "MX", "NS", "PTR"})
EDITABLE = ("name", "content", "ttl", "proxied", "comment", "tags")
# Operations per batch call: 200 on Free plans, 3,500 on paid ones; the panel assumes Free unless told otherwise.
BATCH_LIMIT = 200
# A lost batch answer is read back name by name up to this many names, by listing the whole zone beyond.
READ_BACK_BY_NAME = 5


class CloudflareError(Exception):
    """A Cloudflare call failed; the message says which call and why, in Cloudflare's words."""

    def __init__(self, call: str, reason: str, status: int | None = None, codes: list[int] | None = None) -> None:
        self.call, self.reason, self.status, self.codes = call, reason, status, codes or []
        super().__init__(f"Cloudflare: {call} failed: {reason}")


class BudgetSpent(CloudflareError):
    """Our own share of the Cloudflare rate limit is used up for longer than we are willing to wait."""


class InconsistentListing(CloudflareError):
    """A listing changed while it was read (totals moved, pages overlapped or fell short): trust none of it."""


class _AnswerLost(Exception):
    """A write whose answer never came (timeout, reset, 5xx): it may or may not have applied."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


@dataclass(frozen=True)
class CloudflareZone:
    cf_id: str
    name: str


@dataclass(frozen=True)
class CloudflareRecord:
    cf_id: str
    zone_cf_id: str
    name: str
    type: str
    content: str
    ttl: int
    proxied: bool
    comment: str | None
    modified_on: datetime | None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchChange:
    """One operation of a batch: `delete` a record, `patch` the given fields of one, or `post` a new one.

    `name` and `type` are the record's (for a post, the new record's): a lost answer is read back by them.
    """

    action: str  # delete | patch | post
    name: str
    type: str
    record_id: str | None = None
    fields: dict[str, Any] | None = None  # patch: only the changed fields; post: the whole record


class RequestBudget:
    """At most `requests` HTTP requests per `per_seconds`, shared by every client using the same storage and key."""

    def __init__(self, requests: int = DEFAULT_RATE_LIMIT, per_seconds: int = 300, storage_uri: str = "memory://",
                 key: str = "cloudflare-api", max_wait: float = 60.0) -> None:
        self._item = RateLimitItemPerSecond(requests, per_seconds)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._key = key
        self.max_wait = max_wait

    def take(self) -> None:
        """Block until a request may be sent; raise BudgetSpent when that would take longer than `max_wait`."""
        waited = 0.0
        while not self._limiter.hit(self._item, self._key):
            reset_at, _ = self._limiter.get_window_stats(self._item, self._key)
            pause = max(0.05, reset_at - time.time())
            if waited + pause > self.max_wait:
                raise BudgetSpent("request budget", f"our own budget of {self._item.amount} requests per "
                                  f"{self._item.multiples} s is spent for the next {pause:.0f} s")
            time.sleep(pause)
            waited += pause

    def spent(self) -> int:
        """How many requests the current window has counted (every process sharing the storage included)."""
        _, remaining = self._limiter.get_window_stats(self._item, self._key)
        return int(self._item.amount - remaining)


class CloudflareDns:
    """Zones and DNS records of one Cloudflare account (one API token)."""

    def __init__(self, api_token: str, *, base_url: str | None = None, budget: RequestBudget | None = None,
                 timeout: float = 20.0, max_retries: int = 2, rate_limit_retries: int = 3,
                 write_attempts: int = 3) -> None:
        self.budget = budget or RequestBudget()
        self.calls = 0  # HTTP requests really sent, the SDK's retries included
        self.rate_limit_retries = rate_limit_retries
        self.write_attempts = write_attempts
        import cloudflare  # here, not at the top: the SDK (and httpx) cost every process a third of a second

        from app.services.cloudflare_transport import BudgetedTransport

        http_client = cloudflare.DefaultHttpxClient(transport=BudgetedTransport(self.budget, self._count))
        self._cf = cloudflare.Cloudflare(api_token=api_token, base_url=base_url, timeout=timeout,
                                         max_retries=max_retries, http_client=http_client)
        self._writer = self._cf.with_options(max_retries=0)  # same http client, same budget; never retried blindly

    def _count(self) -> None:
        self.calls += 1

    def _call(self, call: str, action: Callable[[], T], *, write: bool = False) -> T:
        """Run one SDK call within the budget, waiting out short 429s; errors become CloudflareError.

        For a write, an answer that may hide an applied change raises `_AnswerLost` for the caller to read back.
        """
        import cloudflare

        for attempt in range(self.rate_limit_retries + 1):
            try:
                return action()
            except cloudflare.RateLimitError as error:
                if error.response.headers.get(BUDGET_HEADER):
                    raise BudgetSpent(call, _errors(error)[0]["message"], 429) from error
                retry_after = _retry_after(error.response)
                if attempt == self.rate_limit_retries or retry_after > self.budget.max_wait:
                    raise CloudflareError(call, f"rate limited by Cloudflare; retry after {retry_after:.0f} s",
                                          429) from error
                time.sleep(retry_after)  # a 429 is refused before it is handled: trying again is safe
            except cloudflare.InternalServerError as error:
                if write:
                    raise _AnswerLost(_reason(error)) from error
                raise CloudflareError(call, _reason(error), error.status_code, _codes(error)) from error
            except cloudflare.APIStatusError as error:
                raise CloudflareError(call, _reason(error), error.status_code, _codes(error)) from error
            except cloudflare.APIConnectionError as error:
                reason = "no answer in time" if isinstance(error, cloudflare.APITimeoutError) else (
                    f"Cloudflare unreachable ({error.__cause__ or error})")
                if write:
                    raise _AnswerLost(reason) from error
                raise CloudflareError(call, reason) from error
        raise AssertionError("unreachable")

    def _listing(self, call: str, page_of: Callable[[int], Any]) -> list[Any]:
        """Every item of a page-numbered listing, checked: the total must hold and the pages must add up to it."""
        items: list[Any] = []
        ids: set[str] = set()
        total: int | None = None
        number = 1
        while True:
            page = self._call(call, lambda: page_of(number))
            result = list(page.result or [])
            info = page.result_info
            page_total = getattr(info, "total_count", None) if info is not None else None
            count = getattr(info, "count", None) if info is not None else None
            if number == 1:
                total = page_total
            elif page_total != total:
                raise InconsistentListing(call, f"the listing changed while it was read: {total} items on page 1, "
                                          f"{page_total} on page {number}")
            if count is not None and count != len(result):
                raise InconsistentListing(call, f"page {number} says {count} items but holds {len(result)}")
            for item in result:
                if item.id in ids:
                    raise InconsistentListing(call, f"item {item.id} came twice: the listing shifted while read")
                ids.add(item.id)
            items.extend(result)
            if total is None:
                if not result:  # no totals to go by: page until an empty page, as the SDK does
                    return items
            elif len(items) >= total or not result:
                break
            number += 1
        if len(items) != total:
            raise InconsistentListing(call, f"listed {len(items)} items of the {total} Cloudflare counted")
        return items

    def zones(self) -> list[CloudflareZone]:
        """Every zone the token can see."""
        zones = self._listing("list zones", lambda page: self._cf.zones.list(per_page=ZONES_PER_PAGE, page=page))
        return [CloudflareZone(cf_id=zone.id, name=zone.name) for zone in zones]

    def records(self, zone: CloudflareZone) -> list[CloudflareRecord]:
        """Every DNS record of a zone; InconsistentListing when the zone changed while its pages were read.

        A listing of several pages is read twice and must come out the same: a record deleted on an early page while
        a later page is read shifts the rest, and one that still exists would go missing.
        """
        per_page = RECORDS_PER_PAGE
        call = f"list records of {zone.name}"

        def page_of(page: int) -> Any:
            return self._cf.dns.records.list(zone_id=zone.cf_id, per_page=per_page, page=page)

        records = [_record(zone.cf_id, record) for record in self._listing(call, page_of)]
        if len(records) > per_page:
            again = {record.id for record in self._listing(call, page_of)}
            if again != {record.cf_id for record in records}:
                raise InconsistentListing(call, "the zone changed while its pages were read (two listings differ)")
        return records

    def find_records(self, zone: CloudflareZone, name: str, type: str | None = None) -> list[CloudflareRecord]:
        """Records with exactly this name (and type)."""
        def page_of(page: int) -> Any:
            params: dict[str, Any] = {"zone_id": zone.cf_id, "name": {"exact": name}, "per_page": 100, "page": page}
            if type:
                params["type"] = type
            return self._cf.dns.records.list(**params)

        return [_record(zone.cf_id, record) for record in self._listing(f"find {name}", page_of)]

    def get_record(self, zone: CloudflareZone, record_id: str) -> CloudflareRecord | None:
        """One record by id; None when Cloudflare says it does not exist."""
        try:
            found = self._call(f"read record {record_id}",
                               lambda: self._cf.dns.records.get(record_id, zone_id=zone.cf_id))
        except CloudflareError as error:
            if error.status == 404 and RECORD_GONE in error.codes:
                return None
            raise
        return _record(zone.cf_id, found) if found is not None else None

    # -- writes ------------------------------------------------------------------------------------------------------
    def create_record(self, zone: CloudflareZone, *, name: str, type: str, content: str, ttl: int = 1,
                      proxied: bool = False, comment: str | None = None,
                      tags: list[str] | None = None) -> CloudflareRecord:
        """Create a record; a lost answer is read back by name and type, so the record is made exactly once."""
        body: dict[str, Any] = {"name": name, "type": type, "content": content, "ttl": ttl, "proxied": proxied}
        if comment:
            body["comment"] = comment
        if tags:
            body["tags"] = list(tags)
        call = f"create {type} {name}"
        lost: str | None = None
        for _attempt in range(self.write_attempts):
            try:
                created = self._call(call, lambda: self._writer.dns.records.create(zone_id=zone.cf_id, **body),
                                     write=True)
                return _record(zone.cf_id, created)
            except _AnswerLost as answer:
                lost = answer.reason
            except CloudflareError as error:
                # "Already exists" right after a lost answer is most likely our own earlier attempt.
                if lost is None or not set(error.codes) & set(ALREADY_EXISTS):
                    raise
            applied = self._read_back(call, lost, lambda: [
                record for record in self.find_records(zone, _full_name(name, zone), type)
                if _same_content(record.type, record.content, content)])
            if applied:
                return applied[0]
        raise CloudflareError(call, f"{lost}; read back after each of {self.write_attempts} attempts: not applied")

    def update_record(self, zone: CloudflareZone, record_id: str, *, name: str = UNCHANGED,
                      content: str = UNCHANGED, ttl: int = UNCHANGED, proxied: bool = UNCHANGED,
                      comment: str | None = UNCHANGED, tags: list[str] = UNCHANGED) -> CloudflareRecord:
        """Change only the given fields (PATCH); the others (ttl, proxied, comment, tags...) stay as they are."""
        given = {"name": name, "content": content, "ttl": ttl, "proxied": proxied, "comment": comment, "tags": tags}
        changes = {field: value for field, value in given.items() if value is not UNCHANGED}
        if not changes:
            raise ValueError("update_record needs at least one field to change")
        # The SDK marks name, ttl and type as required; `omit` keeps them out of the body unless they change.
        from cloudflare import omit

        body = {"name": omit, "ttl": omit, "type": omit, **changes}
        call = f"update record {record_id}"
        lost: str | None = None
        for _attempt in range(self.write_attempts):
            try:
                updated = self._call(call, lambda: self._writer.dns.records.edit(
                    record_id, zone_id=zone.cf_id, **body), write=True)
                return _record(zone.cf_id, updated)
            except _AnswerLost as answer:
                lost = answer.reason
            current = self._read_back(call, lost, lambda: self.get_record(zone, record_id))
            if current is None:
                raise CloudflareError(call, f"{lost}; the record no longer exists", 404, [RECORD_GONE])
            if _has_changes(current, changes, zone):
                return current
        raise CloudflareError(call, f"{lost}; read back after each of {self.write_attempts} attempts: not applied")

    def delete_record(self, zone: CloudflareZone, record_id: str) -> None:
        """Delete a record; one that is gone already counts as deleted."""
        call = f"delete record {record_id}"
        lost: str | None = None
        for _attempt in range(self.write_attempts):
            try:
                self._call(call, lambda: self._writer.dns.records.delete(record_id, zone_id=zone.cf_id), write=True)
                return
            except _AnswerLost as answer:
                lost = answer.reason
            except CloudflareError as error:
                if error.status == 404 and RECORD_GONE in error.codes:
                    return
                raise
            if self._read_back(call, lost, lambda: self.get_record(zone, record_id)) is None:
                return
        raise CloudflareError(call, f"{lost}; read back after each of {self.write_attempts} attempts: still there")

    def batch(self, zone: CloudflareZone, changes: list[BatchChange]) -> list[CloudflareRecord | None]:
        """Apply deletes, patches and posts in one all-or-nothing call; the records after it, in `changes`' order
        (None for a delete).

        A lost answer is read back (the names and types concerned, or the whole zone for many names) and the call
        is repeated only when none of it applied; Cloudflare applies a batch whole or not at all.
        """
        if not changes:
            return []
        if len(changes) > BATCH_LIMIT:
            raise ValueError(f"a batch holds at most {BATCH_LIMIT} operations, not {len(changes)}")
        body: dict[str, list[dict[str, Any]]] = {"deletes": [], "patches": [], "posts": []}
        for change in changes:
            if change.action == "delete":
                body["deletes"].append({"id": change.record_id})
            elif change.action == "patch":
                body["patches"].append({"id": change.record_id, **(change.fields or {})})
            elif change.action == "post":
                body["posts"].append(dict(change.fields or {}))
            else:
                raise ValueError(f"unknown batch action {change.action!r}")
        call = f"batch of {len(changes)} changes in {zone.name}"
        lost: str | None = None
        for _attempt in range(self.write_attempts):
            try:
                answer = self._call(call, lambda: self._writer.dns.records.batch(zone_id=zone.cf_id, **body),
                                    write=True)
                return self._batch_results(zone, changes, answer)
            except _AnswerLost as answer_lost:
                lost = answer_lost.reason
            applied = self._read_back(call, lost, lambda: self._batch_applied(zone, changes))
            if applied is not None:
                return applied
        raise CloudflareError(call, f"{lost}; read back after each of {self.write_attempts} attempts: not applied")

    @staticmethod
    def _batch_results(zone: CloudflareZone, changes: list[BatchChange], answer: Any) -> list[CloudflareRecord | None]:
        patched = iter(getattr(answer, "patches", None) or [])
        posted = iter(getattr(answer, "posts", None) or [])
        results: list[CloudflareRecord | None] = []
        for change in changes:
            if change.action == "delete":
                results.append(None)
            else:
                results.append(_record(zone.cf_id, next(patched if change.action == "patch" else posted)))
        return results

    def _batch_applied(self, zone: CloudflareZone, changes: list[BatchChange]) -> list[CloudflareRecord | None] | None:
        """After a lost answer: the records if the whole batch applied, None if none of it did."""
        names = {(change.name, change.type) for change in changes}
        if len(names) <= READ_BACK_BY_NAME:
            found = [record for name, type in sorted(names)
                     for record in self.find_records(zone, _full_name(name, zone), type)]
        else:
            found = self.records(zone)
        by_id = {record.cf_id: record for record in found}
        results: list[CloudflareRecord | None] = []
        seen: list[bool] = []
        for change in changes:
            if change.action == "delete":
                seen.append(change.record_id not in by_id)
                results.append(None)
            elif change.action == "patch":
                current = by_id.get(change.record_id or "")
                seen.append(current is not None and _has_changes(current, change.fields or {}, zone))
                results.append(current)
            else:
                fields = change.fields or {}
                match = next((record for record in found if record.name == _full_name(change.name, zone)
                              and record.type == change.type
                              and _same_content(record.type, record.content, str(fields.get("content", "")))), None)
                seen.append(match is not None)
                results.append(match)
        if all(seen):
            return results
        if not any(seen):
            return None
        # Cloudflare applies a batch whole or not at all: a mix means someone else changed these records meanwhile.
        raise CloudflareError(f"batch of {len(changes)} changes in {zone.name}",
                              "the answer was lost and reading back found only part of the batch applied")

    @staticmethod
    def _read_back(call: str, lost: str | None, read: Callable[[], T]) -> T:
        try:
            return read()
        except CloudflareError as error:
            raise CloudflareError(call, f"{lost}; and reading back whether it applied failed: {error.reason}",
                                  error.status, error.codes) from error


def _record(zone_cf_id: str, record: Any) -> CloudflareRecord:
    # `ttl` arrives as a float and the SDK may pick the wrong model class: trust `record.type`, never the class.
    return CloudflareRecord(
        cf_id=record.id, zone_cf_id=zone_cf_id, name=record.name, type=record.type, content=str(record.content),
        ttl=int(record.ttl), proxied=bool(record.proxied), comment=record.comment or None,
        modified_on=record.modified_on, tags=tuple(getattr(record, "tags", None) or ()),
    )


def _full_name(name: str, zone: CloudflareZone) -> str:
    """The FQDN Cloudflare stores for `name` (relative names are completed with the zone)."""
    name = name.strip().rstrip(".").lower()
    if name in ("", "@"):
        return zone.name
    return name if name == zone.name or name.endswith("." + zone.name) else f"{name}.{zone.name}"


def _same_content(record_type: str, stored: str, wanted: str) -> bool:
    if record_type == "AAAA":
        try:
            return ipaddress.IPv6Address(stored) == ipaddress.IPv6Address(wanted)
        except ValueError:
            return stored == wanted
    if record_type in HOST_TYPES:
        return stored.rstrip(".").lower() == wanted.rstrip(".").lower()
    return stored == wanted


def _has_changes(record: CloudflareRecord, changes: dict[str, Any], zone: CloudflareZone) -> bool:
    """Whether a read-back record already carries every change we asked for."""
    for field, wanted in changes.items():
        if field == "name" and record.name != _full_name(wanted, zone):
            return False
        if field == "content" and not _same_content(record.type, record.content, wanted):
            return False
        if field == "ttl" and not record.proxied and record.ttl != int(wanted):  # proxied records are always auto
            return False
        if field == "proxied" and record.proxied != bool(wanted):
            return False
        if field == "comment" and (record.comment or None) != (wanted or None):
            return False
        if field == "tags" and sorted(record.tags) != sorted(wanted or []):
            return False
    return True


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


def _errors(error: cloudflare.APIStatusError) -> list[dict[str, Any]]:
    body = error.body if isinstance(error.body, dict) else {}
    return [item for item in body.get("errors") or [] if isinstance(item, dict)]


def _codes(error: cloudflare.APIStatusError) -> list[int]:
    codes = []
    for item in _errors(error):
        codes.append(item.get("code"))
        codes.extend(link.get("code") for link in item.get("error_chain") or [] if isinstance(link, dict))
    return [code for code in codes if isinstance(code, int)]


def _reason(error: cloudflare.APIStatusError) -> str:
    """Cloudflare's own words: every error with its `error_chain` (where the real cause usually is)."""
    messages = []
    for item in _errors(error):
        text = f"{item.get('code')}: {item.get('message')}"
        chain = [f"{link.get('code')}: {link.get('message')}" for link in item.get("error_chain") or []
                 if isinstance(link, dict)]
        messages.append(f"{text} ({'; '.join(chain)})" if chain else text)
    return f"HTTP {error.status_code}: " + ("; ".join(messages) if messages else str(error))
