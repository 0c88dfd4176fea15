"""Cloudflare DNS through the official `cloudflare` SDK: zones and records, read and written.

Every call first takes a slot from a `RequestBudget` (Cloudflare allows 1,200 requests per 5 minutes per
token; the budget is shared through Redis when several workers sync). A 429 is honoured: we wait `retry-after`
when it is short enough and try that page again, else fail with a clear `CloudflareError`.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import cloudflare
import httpx
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

T = TypeVar("T")
RECORDS_PER_PAGE = 5000
ZONES_PER_PAGE = 50


class CloudflareError(Exception):
    """A Cloudflare call failed; the message says which call and why, in Cloudflare's words."""

    def __init__(self, call: str, reason: str, status: int | None = None) -> None:
        self.call, self.reason, self.status = call, reason, status
        super().__init__(f"Cloudflare: {call} failed: {reason}")


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


class RequestBudget:
    """At most `requests` calls per `per_seconds`, shared by every client using the same storage and key."""

    def __init__(self, requests: int = 1200, per_seconds: int = 300, storage_uri: str = "memory://",
                 key: str = "cloudflare-api", max_wait: float = 60.0) -> None:
        self._item = RateLimitItemPerSecond(requests, per_seconds)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._key = key
        self.max_wait = max_wait

    def take(self) -> None:
        """Block until a request may be sent; raise when that would take longer than `max_wait`."""
        waited = 0.0
        while not self._limiter.hit(self._item, self._key):
            reset_at, _ = self._limiter.get_window_stats(self._item, self._key)
            pause = max(0.05, reset_at - time.time())
            if waited + pause > self.max_wait:
                raise CloudflareError("request budget", f"our own budget of {self._item.amount} requests per "
                                      f"{self._item.multiples} s is spent for the next {pause:.0f} s")
            time.sleep(pause)
            waited += pause


class CloudflareDns:
    """Zones and DNS records of one Cloudflare account (one API token)."""

    def __init__(self, api_token: str, *, base_url: str | None = None, budget: RequestBudget | None = None,
                 timeout: float = 20.0, max_retries: int = 2, rate_limit_retries: int = 3) -> None:
        self.budget = budget or RequestBudget()
        self.calls = 0
        self.rate_limit_retries = rate_limit_retries
        http_client = cloudflare.DefaultHttpxClient(event_hooks={"request": [self._before_request]})
        self._cf = cloudflare.Cloudflare(api_token=api_token, base_url=base_url, timeout=timeout,
                                         max_retries=max_retries, http_client=http_client)

    def _before_request(self, request: httpx.Request) -> None:
        self.calls += 1  # every HTTP request, the SDK's own retries included

    def _call(self, call: str, action: Callable[[], T]) -> T:
        """Run one SDK call (one request) within the budget, waiting out short 429s; errors become CloudflareError."""
        for attempt in range(self.rate_limit_retries + 1):
            # Taken here, not in the HTTP hook: the SDK would mistake an exception from its hook for a network error.
            self.budget.take()
            try:
                return action()
            except cloudflare.RateLimitError as error:
                retry_after = _retry_after(error.response)
                if attempt == self.rate_limit_retries or retry_after > self.budget.max_wait:
                    raise CloudflareError(call, f"rate limited by Cloudflare; retry after {retry_after:.0f} s",
                                          429) from error
                time.sleep(retry_after)
            except cloudflare.APIStatusError as error:
                raise CloudflareError(call, _reason(error), error.status_code) from error
            except cloudflare.APIConnectionError as error:
                raise CloudflareError(call, f"Cloudflare unreachable ({error})") from error
        raise AssertionError("unreachable")

    def _pages(self, call: str, first: Callable[[], Any]) -> Iterator[Any]:
        page = self._call(call, first)
        while True:
            yield from page.result
            if not page.result or not page.has_next_page():
                return
            current = page
            page = self._call(call, current.get_next_page)

    def zones(self) -> list[CloudflareZone]:
        """Every zone the token can see."""
        return [CloudflareZone(cf_id=zone.id, name=zone.name)
                for zone in self._pages("list zones", lambda: self._cf.zones.list(per_page=ZONES_PER_PAGE))]

    def records(self, zone: CloudflareZone) -> list[CloudflareRecord]:
        """Every DNS record of a zone (all pages)."""
        listing = lambda: self._cf.dns.records.list(zone_id=zone.cf_id, per_page=RECORDS_PER_PAGE)  # noqa: E731
        return [_record(zone.cf_id, record) for record in self._pages(f"list records of {zone.name}", listing)]

    def find_records(self, zone: CloudflareZone, name: str, type: str | None = None) -> list[CloudflareRecord]:
        """Records with exactly this name (and type)."""
        def listing():
            params: dict[str, Any] = {"zone_id": zone.cf_id, "name": {"exact": name}, "per_page": 100}
            if type:
                params["type"] = type
            return self._cf.dns.records.list(**params)

        return [_record(zone.cf_id, record) for record in self._pages(f"find {name}", listing)]

    def create_record(self, zone: CloudflareZone, *, name: str, type: str, content: str, ttl: int = 1,
                      proxied: bool = False, comment: str | None = None) -> CloudflareRecord:
        extra = {"comment": comment} if comment else {}
        created = self._call(f"create {type} {name}", lambda: self._cf.dns.records.create(
            zone_id=zone.cf_id, name=name, type=type, content=content, ttl=ttl, proxied=proxied, **extra))
        return _record(zone.cf_id, created)

    def update_record(self, zone: CloudflareZone, record_id: str, *, name: str, type: str, content: str,
                      ttl: int = 1, proxied: bool = False, comment: str | None = None) -> CloudflareRecord:
        """Replace a record entirely (PUT)."""
        extra = {"comment": comment} if comment else {}
        updated = self._call(f"update {type} {name}", lambda: self._cf.dns.records.update(
            record_id, zone_id=zone.cf_id, name=name, type=type, content=content, ttl=ttl, proxied=proxied,
            **extra))
        return _record(zone.cf_id, updated)

    def delete_record(self, zone: CloudflareZone, record_id: str) -> None:
        self._call(f"delete record {record_id}", lambda: self._cf.dns.records.delete(record_id, zone_id=zone.cf_id))


def _record(zone_cf_id: str, record: Any) -> CloudflareRecord:
    # `ttl` arrives as a float and the SDK may pick the wrong model class: trust `record.type`, never the class.
    return CloudflareRecord(
        cf_id=record.id, zone_cf_id=zone_cf_id, name=record.name, type=record.type, content=str(record.content),
        ttl=int(record.ttl), proxied=bool(record.proxied), comment=record.comment or None,
        modified_on=record.modified_on,
    )


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


def _reason(error: cloudflare.APIStatusError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    errors = body.get("errors") or []
    messages = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
    return f"HTTP {error.status_code}: " + ("; ".join(messages) if messages else str(error))
