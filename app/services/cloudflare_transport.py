"""The HTTP transport under the Cloudflare SDK: every request it sends, retries included, takes a slot of the
request budget first. Imported only when a Cloudflare client is built (httpx and the SDK are heavy to import)."""
from __future__ import annotations

from collections.abc import Callable

import httpx

from app.services.cloudflare_dns import BUDGET_HEADER, BudgetSpent, RequestBudget


class BudgetedTransport(httpx.BaseTransport):
    """Takes a budget slot for every request the SDK sends, retries included.

    A spent budget becomes a local 429 with `x-should-retry: false` rather than an exception: the SDK would take an
    exception from its transport for a network error and retry it.
    """

    def __init__(self, budget: RequestBudget, on_send: Callable[[], None]) -> None:
        self._budget = budget
        self._on_send = on_send
        self._inner = httpx.HTTPTransport(limits=httpx.Limits(max_connections=20, max_keepalive_connections=10))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            self._budget.take()
        except BudgetSpent as spent:
            envelope = {"success": False, "result": None, "messages": [],
                        "errors": [{"code": 0, "message": spent.reason}]}
            return httpx.Response(429, headers={"x-should-retry": "false", BUDGET_HEADER: "spent"}, json=envelope,
                                  request=request)
        self._on_send()
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
