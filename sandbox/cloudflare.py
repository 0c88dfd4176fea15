"""A faithful local simulator of the Cloudflare API v4 (zones and DNS records), seeded from a scenario.

The official `cloudflare` SDK works against it unchanged: `Cloudflare(api_token=..., base_url=".../client/v4")`.
It reproduces the wire behaviour the panel depends on, quirks included:

- the v4 envelope and error envelope, with the error codes and messages the real API sends (see `_Errors`);
- page-number pagination that answers `"result": []` past the last page (the SDK pages until it sees one);
- record validation (type, TTL, IPv4/IPv6, CNAME host, proxiable types), relative record names completed with the
  zone name, the CNAME-exclusivity rule and "identical record already exists";
- the batch endpoint: deletes, patches, puts, posts applied in that order in one all-or-nothing transaction;
- a bearer-token check and a rate limit per *user* across all of that user's tokens (the scenario maps tokens to
  users), that blocks every call with 429 for the rest of the window;
- churn (records created and deleted while a client reads, a FaultInjector switch) and a log of the write requests
  it received (method, path, JSON body), so tests can check what a client really sent.

Where a detail of the real API could not be confirmed, the choice is marked UNCONFIRMED next to it.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import ipaddress
import json
import math
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from sandbox.faults import FaultInjector
from sandbox.scenario import RecordSpec, Scenario, ScenarioError

API_PREFIX = "/client/v4"
RECORD_TYPES = frozenset(
    {
        "A", "AAAA", "CAA", "CERT", "CNAME", "DNSKEY", "DS", "HTTPS", "LOC", "MX", "NAPTR", "NS", "OPENPGPKEY",
        "PTR", "SMIMEA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI",
    }
)
PROXIABLE_TYPES = frozenset({"A", "AAAA", "CNAME"})
HOSTNAME_TYPES = frozenset({"CNAME", "MX", "NS", "PTR"})
PRIORITY_TYPES = frozenset({"MX", "SRV", "URI"})
MAX_TTL = 86_400
WRITE_LOG_SIZE = 1_000
CHURN_PREFIX = "churn-"
# TTL 1 means "automatic". Minimum 60 s, 30 s on enterprise zones: the SDK 5.9 docstring for `ttl` (generated from
# Cloudflare's OpenAPI spec) and the 9021 error text seen in 2024 (timothymiller/cloudflare-ddns#179).
MIN_TTL = {"free": 60, "pro": 60, "business": 60, "enterprise": 30}
# Records per batch call: 200 on Free, 3,500 on paid plans (reference/cloudflare-and-aws.md).
BATCH_LIMIT = {"free": 200, "pro": 3_500, "business": 3_500, "enterprise": 3_500}
# Free zones have no record tags ("DNS record has 1 tags, exceeding the quota of 0.", terraform-provider#3217).
# UNCONFIRMED: the paid-plan quotas; they are not enforced here.
TAG_QUOTA = {"free": 0}
PLAN_NAMES = {
    "free": "Free Website", "pro": "Pro Website", "business": "Business Website", "enterprise": "Enterprise Website"
}
# (default, maximum) page sizes. Zones: 20 / 50 (UNCONFIRMED maximum). Records: 100 / 5,000 (external-dns asks
# for 5,000). A per_page above the maximum is clamped and result_info says so (UNCONFIRMED: the real API may 400).
ZONE_PAGE = (20, 50)
RECORD_PAGE = (100, 5_000)
SAME_NAME_DOC = "https://developers.cloudflare.com/dns/manage-dns-records/troubleshooting/records-with-same-name/"
ACCOUNT_ID = hashlib.md5(b"sandbox-account").hexdigest()
_HEX32 = re.compile(r"[0-9a-f]{32}")
_LABEL_RE = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
# A record name: an optional leading "*" label, then host labels (underscores allowed: _dmarc, _acme-challenge).
_RECORD_NAME = re.compile(rf"(?:\*\.)?(?:{_LABEL_RE}\.)*{_LABEL_RE}|\*")
# Dotted quad without leading zeros, as `ipaddress.IPv4Address` accepts it; a regex keeps seeding 30,000 records fast.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
_HOST_LABEL = re.compile(_LABEL_RE)
_TAG = re.compile(r"^[A-Za-z0-9_-]+:")

ResolveContent = Callable[[RecordSpec], str]


def zone_id(zone_name: str) -> str:
    """The deterministic 32-hex id the simulator gives a zone: md5 of its lower-cased name."""
    return hashlib.md5(zone_name.lower().rstrip(".").encode()).hexdigest()


class ApiError(Exception):
    """One failed API call: HTTP status plus Cloudflare's `errors` list."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        chain: list[tuple[int, str]] | None = None,
        extra: list[tuple[int, str]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.errors: list[dict[str, Any]] = [{"code": code, "message": message}]
        if chain:
            self.errors[0]["error_chain"] = [{"code": c, "message": m} for c, m in chain]
        for extra_code, extra_message in extra or []:
            self.errors.append({"code": extra_code, "message": extra_message})

    def at(self, pointer: str) -> ApiError:
        """Mark which part of a batch body failed (the v4 error `source.pointer`)."""
        self.errors[0]["source"] = {"pointer": pointer}
        return self

    def envelope(self) -> dict[str, Any]:
        """The v4 error envelope for this failure."""
        return {"result": None, "success": False, "errors": self.errors, "messages": []}


class _Errors:
    """The errors the real API answers with. Sources: recorded responses quoted in public issue trackers."""

    @staticmethod
    def missing_auth() -> ApiError:
        # HTTP 400 with 9106 when no credentials are sent at all (Cloudflare Radar/API responses recorded in 2026).
        return ApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")

    @staticmethod
    def bad_auth_format() -> ApiError:
        # A malformed `Authorization` header (ddns-go#916, ultimate-multisite#73).
        return ApiError(400, 6003, "Invalid request headers", chain=[(6111, "Invalid format for Authorization header")])

    @staticmethod
    def unknown_key() -> ApiError:
        # The sandbox knows no global API keys. UNCONFIRMED status; the message is Cloudflare's.
        return ApiError(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")

    @staticmethod
    def invalid_token() -> ApiError:
        # A well-formed token Cloudflare does not know: 401 "Invalid API Token" (code 1000).
        return ApiError(401, 1000, "Invalid API Token")

    @staticmethod
    def rate_limited(limit: int, window: float) -> ApiError:
        # Message from the docs and issue reports; code 10100 as recorded in RiotGames/cloud-inquisitor#153.
        return ApiError(
            429,
            10100,
            f"More than {limit} requests per {_number(window)} seconds reached. "
            "Please wait and consider throttling your request speed",
        )

    @staticmethod
    def no_route(path: str, status: int = 400) -> ApiError:
        # A malformed identifier is a routing failure (cloudflare-go#118: HTTP 400, 7003 + 7000).
        return ApiError(
            status,
            7003,
            f"Could not route to {path}, perhaps your object identifier is invalid?",
            extra=[(7000, "No route for that URI")] if status == 400 else None,
        )

    @staticmethod
    def unknown_zone(path: str) -> ApiError:
        # A well-formed zone id that is not ours: 404 with 7003 (the task's contract; the SDK raises NotFoundError).
        return ApiError(404, 7003, f"Could not route to {path}, perhaps your object identifier is invalid?")

    @staticmethod
    def method_not_allowed() -> ApiError:
        return ApiError(405, 7001, "Method not allowed for this endpoint")  # UNCONFIRMED code and text

    @staticmethod
    def record_not_found() -> ApiError:
        return ApiError(404, 81044, "Record does not exist.")

    @staticmethod
    def invalid_body() -> ApiError:
        # Broken JSON in a request body (recorded: {"code":9207,"message":"Request body is invalid."}).
        return ApiError(400, 9207, "Request body is invalid.")

    @staticmethod
    def invalid_parameter(name: str, value: str) -> ApiError:
        return ApiError(400, 1001, f"Invalid value for parameter {name}: {value!r}")  # UNCONFIRMED code

    @staticmethod
    def invalid_type() -> ApiError:
        return _dns_validation(9020, "Invalid DNS record type")  # UNCONFIRMED chain code

    @staticmethod
    def invalid_name() -> ApiError:
        return _dns_validation(9000, "DNS name is invalid.")  # UNCONFIRMED chain code

    @staticmethod
    def invalid_ttl(minimum: int) -> ApiError:
        return _dns_validation(9021, f"TTL must be between {minimum} and {MAX_TTL} seconds, or 1 for Automatic.")

    @staticmethod
    def invalid_ipv4() -> ApiError:
        # Flat 9005, no 1004 wrapper (cloudflare-ddns#230, 2026).
        return ApiError(400, 9005, "Content for A record must be a valid IPv4 address.")

    @staticmethod
    def invalid_ipv6() -> ApiError:
        return ApiError(400, 9006, "Content for AAAA record must be a valid IPv6 address.")  # by analogy with 9005

    @staticmethod
    def invalid_host_content(record_type: str) -> ApiError:
        # "DNS Validation Error (Code: 1004) Content for CNAME record is invalid." (fruitionsite#79)
        return _dns_validation(9007, f"Content for {record_type} record is invalid.")

    @staticmethod
    def invalid_content(record_type: str) -> ApiError:
        return _dns_validation(9007, f"Content for {record_type} record is invalid.")  # UNCONFIRMED for other types

    @staticmethod
    def invalid_proxied_value() -> ApiError:
        return _dns_validation(9003, "Invalid 'proxied' value, must be a boolean")  # UNCONFIRMED

    @staticmethod
    def not_proxiable() -> ApiError:
        return _dns_validation(9041, "Invalid proxied mode. Record cannot be proxied")  # cloudflare-cli#8

    @staticmethod
    def invalid_priority() -> ApiError:
        return _dns_validation(9100, "Priority must be an integer between 0 and 65535.")  # UNCONFIRMED

    @staticmethod
    def invalid_tags() -> ApiError:
        return _dns_validation(9301, "Tags must be name:value strings.")  # UNCONFIRMED

    @staticmethod
    def tag_quota(count: int, quota: int) -> ApiError:
        return _dns_validation(9300, f"DNS record has {count} tags, exceeding the quota of {quota}.")

    @staticmethod
    def cname_conflict() -> ApiError:
        # Adding a CNAME where records of that name exist (bearblog#105, terraform-provider-cloudflare#1247).
        return ApiError(
            400,
            81053,
            f"An A, AAAA, or CNAME record with that host already exists. For more details, refer to <{SAME_NAME_DOC}>.",
        )

    @staticmethod
    def name_has_cname() -> ApiError:
        # Adding another record where a CNAME of that name exists (favonia/cloudflare-ddns#990, 2024).
        return ApiError(
            400, 81054, f"A CNAME record with that host already exists. For more details, refer to <{SAME_NAME_DOC}>."
        )

    @staticmethod
    def identical_record() -> ApiError:
        return ApiError(400, 81058, "An identical record already exists.")  # ddns-go#1378

    @staticmethod
    def batch_too_large(limit: int, count: int) -> ApiError:
        # UNCONFIRMED code and text; the limit itself is documented.
        return ApiError(400, 81067, f"Batch exceeds the limit of {limit} operations per request (got {count}).")

    @staticmethod
    def server_error(status: int) -> ApiError:
        # Injected faults only. UNCONFIRMED: the real API's 5xx bodies; the envelope keeps clients' parsers honest.
        texts = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
        return ApiError(status, status, texts.get(status, "Server Error"))


def _dns_validation(code: int, message: str) -> ApiError:
    return ApiError(400, 1004, "DNS Validation Error", chain=[(code, message)])


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class _Clock:
    """Microsecond Z timestamps that strictly increase, so every write changes `modified_on`."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def now(self) -> str:
        with self._lock:
            micros = max(time.time_ns() // 1000, self._last + 1)
            self._last = micros
        moment = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Zone:
    """One zone's records: a dict in creation order (the listing order) plus an index by name."""

    def __init__(self, spec_name: str, plan: str, created_on: str) -> None:
        self.name = spec_name.lower().rstrip(".")
        self.id = zone_id(self.name)
        self.plan = plan
        self.created_on = created_on
        self.records: dict[str, dict[str, Any]] = {}
        self.by_name: dict[str, list[str]] = {}
        self._ordered: list[dict[str, Any]] | None = None

    def ordered(self) -> list[dict[str, Any]]:
        if self._ordered is None:
            self._ordered = list(self.records.values())
        return self._ordered

    def named(self, name: str) -> list[dict[str, Any]]:
        return [self.records[record_id] for record_id in self.by_name.get(name, ())]

    def put(self, record: dict[str, Any]) -> None:
        """Insert or replace a record (replacing keeps its place in the listing order)."""
        previous = self.records.get(record["id"])
        if previous is not None and previous["name"] != record["name"]:
            self._unindex(previous)
        if previous is None or previous["name"] != record["name"]:
            self.by_name.setdefault(record["name"], []).append(record["id"])
        self.records[record["id"]] = record
        self._ordered = None

    def remove(self, record_id: str) -> dict[str, Any]:
        record = self.records.pop(record_id)
        self._unindex(record)
        self._ordered = None
        return record

    def _unindex(self, record: dict[str, Any]) -> None:
        ids = self.by_name[record["name"]]
        ids.remove(record["id"])
        if not ids:
            del self.by_name[record["name"]]

    def clone(self) -> _Zone:
        """A copy a batch can change freely; records are never mutated in place, so a shallow copy is enough."""
        twin = _Zone.__new__(_Zone)
        twin.name, twin.id, twin.plan, twin.created_on = self.name, self.id, self.plan, self.created_on
        twin.records = dict(self.records)
        twin.by_name = {name: list(ids) for name, ids in self.by_name.items()}
        twin._ordered = None
        return twin

    def as_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": "active",
            "paused": False,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": None,
            "original_registrar": None,
            "original_dnshost": None,
            "modified_on": self.created_on,
            "created_on": self.created_on,
            "activated_on": self.created_on,
            "meta": {"step": 2, "custom_certificate_quota": 0, "page_rule_quota": 3, "phishing_detected": False},
            "owner": {"id": None, "type": "user", "email": None},
            "account": {"id": ACCOUNT_ID, "name": "Sandbox account"},
            "tenant": {"id": None, "name": None},
            "tenant_unit": {"id": None},
            "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
            "plan": {
                "id": hashlib.md5(self.plan.encode()).hexdigest(),
                "name": PLAN_NAMES[self.plan],
                "price": 0,
                "currency": "USD",
                "frequency": "",
                "is_subscribed": True,
                "can_subscribe": False,
                "legacy_id": self.plan,
                "legacy_discount": False,
                "externally_managed": False,
            },
        }


class _RateLimiter:
    """Fixed window per user (all of a user's tokens together): once over budget, every call is refused until the
    window ends."""

    def __init__(self, requests: int, window_seconds: float) -> None:
        self._lock = threading.Lock()
        self.configure(requests, window_seconds)

    def configure(self, requests: int, window_seconds: float) -> None:
        if requests < 1 or window_seconds <= 0:
            raise ValueError("rate limit needs requests >= 1 and window_seconds > 0")
        with self._lock:
            self.requests = requests
            self.window = float(window_seconds)
            self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, user: str) -> tuple[bool, dict[str, str]]:
        """Count one call of `user`; answer whether it is allowed and the rate-limit headers to send."""
        with self._lock:
            now = time.monotonic()
            started, count = self._windows.get(user, (now, 0))
            if now >= started + self.window:
                started, count = now, 0
            count += 1
            self._windows[user] = (started, count)
            reset = max(started + self.window - now, 0.0)
            headers = {
                "Ratelimit": f'"default";r={max(self.requests - count, 0)};t={math.ceil(reset)}',
                "Ratelimit-Policy": f'"default";q={self.requests};w={_number(self.window)}',
            }
            if count > self.requests:
                headers["Retry-After"] = str(max(1, math.ceil(reset)))
                return False, headers
            return True, headers


class CloudflareSimulator:
    """The Cloudflare API v4 simulator: `.wsgi_app` serves `/client/v4`, wrapped in a `FaultInjector`."""

    def __init__(self, scenario: Scenario, resolve_content: ResolveContent) -> None:
        self._lock = threading.RLock()
        self._clock = _Clock()
        self._scenario = scenario
        self._resolve_content = resolve_content
        self._zones: dict[str, _Zone] = {}
        self._zones_by_name: dict[str, _Zone] = {}
        self._tokens = scenario.cloudflare.users_by_token()
        budget = scenario.cloudflare
        self._limiter = _RateLimiter(budget.rate_limit_requests, budget.rate_limit_window_seconds)
        # Write requests as received (method, path, JSON body), newest last; and what churn changed.
        self.write_log: deque[dict[str, Any]] = deque(maxlen=WRITE_LOG_SIZE)
        self.churn_log: list[tuple[str, str, str]] = []  # (created | deleted, zone name, record id)
        self.faults = FaultInjector(self._serve, "cloudflare", error_body=self._fault_body, churn=self._churn)
        self.wsgi_app = self.faults
        self._seed(scenario, resolve_content)

    # -- public interface ----------------------------------------------------------------------------------------
    def reset(self, scenario: Scenario | None = None, resolve_content: ResolveContent | None = None) -> None:
        """Reseed every zone from the scenario (the current one by default), restore the rate limit, clear faults."""
        scenario = scenario or self._scenario
        resolve_content = resolve_content or self._resolve_content
        self._seed(scenario, resolve_content)  # builds outside the lock: requests keep being served meanwhile
        with self._lock:
            self._scenario, self._resolve_content = scenario, resolve_content
            self._tokens = scenario.cloudflare.users_by_token()
            budget = scenario.cloudflare
            self._limiter.configure(budget.rate_limit_requests, budget.rate_limit_window_seconds)
            self.write_log.clear()
            self.churn_log = []
        self.faults.clear()

    def rate_limit(self, requests: int, window_seconds: float) -> None:
        """Change the per-user budget at run time; every user starts a fresh window."""
        self._limiter.configure(requests, window_seconds)

    def add_record(self, zone_name: str, **fields: Any) -> dict[str, Any]:
        """Create a record as another tool would (validated like the API does); returns it."""
        with self._lock:
            return copy.deepcopy(_apply_post(self._zone_named(zone_name), fields, self._clock))

    def remove_record(self, zone_name: str, record_id: str) -> None:
        """Delete a record as another tool would; KeyError when the zone has no such record."""
        with self._lock:
            zone = self._zone_named(zone_name)
            if record_id not in zone.records:
                raise KeyError(f"no record {record_id} in zone {zone_name}")
            zone.remove(record_id)

    def _zone_named(self, zone_name: str) -> _Zone:
        zone = self._zones_by_name.get(zone_name.lower().rstrip("."))
        if zone is None:
            raise KeyError(f"no zone {zone_name!r} in the Cloudflare simulator")
        return zone

    def _churn(self, rng: random.Random) -> None:
        """One change by someone else while clients read: delete any record, or create an A record, at random."""
        with self._lock:
            zones = list(self._zones.values())
            if not zones:
                return
            zone = rng.choice(zones)
            if zone.records and rng.random() < 0.5:
                record_id = rng.choice(list(zone.records))
                zone.remove(record_id)
                self.churn_log.append(("deleted", zone.name, record_id))
                return
            name = f"{CHURN_PREFIX}{rng.getrandbits(32):08x}.{zone.name}"
            content = f"198.18.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            core = _validated(zone, {"type": "A", "name": name, "content": content, "ttl": 300})
            stamp = self._clock.now()
            record_id = f"{rng.getrandbits(128):032x}"
            zone.put(_record(record_id, core, created_on=stamp, modified_on=stamp))
            self.churn_log.append(("created", zone.name, record_id))

    def records(self, zone_name: str) -> list[dict[str, Any]]:
        """The zone's records as the API would list them (copies, in listing order); KeyError for an unknown zone."""
        with self._lock:
            zone = self._zones_by_name.get(zone_name.lower().rstrip("."))
            if zone is None:
                raise KeyError(f"no zone {zone_name!r} in the Cloudflare simulator")
            return copy.deepcopy(zone.ordered())

    def zone_id(self, zone_name: str) -> str:
        """The id of a zone the simulator holds; KeyError otherwise."""
        with self._lock:
            zone = self._zones_by_name.get(zone_name.lower().rstrip("."))
            if zone is None:
                raise KeyError(f"no zone {zone_name!r} in the Cloudflare simulator")
            return zone.id

    # -- seeding -------------------------------------------------------------------------------------------------
    def _seed(self, scenario: Scenario, resolve_content: ResolveContent) -> None:
        """Build all zones first and swap them in at once, so a bad scenario leaves the old state untouched."""
        zones: dict[str, _Zone] = {}
        stamp = self._clock.now()
        for zone_spec in scenario.zones:
            zone = _Zone(zone_spec.name, zone_spec.plan, stamp)
            if zone.id in zones:
                raise ScenarioError(f"zone {zone_spec.name!r} is defined twice")
            for index, record_spec in enumerate(zone_spec.records):
                where = f"zone {zone_spec.name}, record #{index} {record_spec.name} {record_spec.type}"
                try:
                    fields = self._fields_from_spec(record_spec, resolve_content)
                except Exception as error:  # whatever the resolver raises, say which record asked
                    raise ScenarioError(f"{where}: cannot resolve its content: {error!r}") from error
                try:
                    core = _validated(zone, fields)
                    _check_conflicts(zone, core, ignore_id=None)
                except ApiError as error:
                    raise ScenarioError(f"{where}: Cloudflare would refuse it: {error.errors}") from error
                # Seeded ids are deterministic so tests can be reproduced record for record.
                record_id = hashlib.md5(f"{zone.name}/{index}/{core['name']}/{core['type']}".encode()).hexdigest()
                zone.put(_record(record_id, core, created_on=stamp, modified_on=stamp))
            zones[zone.id] = zone
        with self._lock:
            self._zones = dict(sorted(zones.items(), key=lambda item: item[1].name))
            self._zones_by_name = {zone.name: zone for zone in self._zones.values()}

    @staticmethod
    def _fields_from_spec(spec: RecordSpec, resolve_content: ResolveContent) -> dict[str, Any]:
        content = spec.content if spec.content is not None else resolve_content(spec)
        fields: dict[str, Any] = {
            "type": spec.type, "name": spec.name, "content": content, "ttl": spec.ttl, "proxied": spec.proxied,
            "comment": spec.comment,
        }
        if spec.type == "MX":
            # Scenario files may write MX content zone-file style: "10 mail.example.com".
            priority, _, host = content.partition(" ")
            if host and priority.isdigit():
                fields["priority"], fields["content"] = int(priority), host
        return fields

    # -- WSGI ----------------------------------------------------------------------------------------------------
    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        headers: dict[str, str] = {}
        try:
            token, user = self._authenticate(request)
            allowed, headers = self._limiter.hit(user)
            if not allowed:
                raise _Errors.rate_limited(self._limiter.requests, self._limiter.window)
            if request.method != "GET":
                self._log_write(request)
            status, payload = self._route(request, token)
        except ApiError as error:
            status, payload = error.status, error.envelope()
        response = Response(json.dumps(payload), status=status, content_type="application/json", headers=headers)
        return response(environ, start_response)

    def _log_write(self, request: Request) -> None:
        raw = request.get_data(cache=True)
        try:
            body = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            body = raw.decode("latin-1")
        self.write_log.append({"method": request.method, "path": request.path, "body": body})

    def _authenticate(self, request: Request) -> tuple[str, str]:
        authorization = request.headers.get("Authorization")
        if authorization is None:
            if request.headers.get("X-Auth-Key") or request.headers.get("X-Auth-Email"):
                raise _Errors.unknown_key()
            raise _Errors.missing_auth()
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or not re.fullmatch(r"[A-Za-z0-9_.~+/=-]+", token):
            raise _Errors.bad_auth_format()
        # Compare digests so the check takes the same time whatever the token; tokens never reach a log.
        digest = hashlib.sha256(token.encode()).digest()
        user = None
        for known, owner in self._tokens.items():
            if hmac.compare_digest(digest, hashlib.sha256(known.encode()).digest()):
                user = owner
        if user is None:
            raise _Errors.invalid_token()
        return token, user

    def _route(self, request: Request, token: str) -> tuple[int, dict[str, Any]]:
        path = request.path
        if not path.startswith(API_PREFIX + "/"):
            raise _Errors.no_route(path)
        parts = path[len(API_PREFIX) + 1 :].rstrip("/").split("/")
        method = request.method
        if parts == ["user", "tokens", "verify"]:
            self._only(method, "GET")
            return self._verify_token(token)
        if parts[0] != "zones":
            raise _Errors.no_route(path)
        if len(parts) == 1:
            self._only(method, "GET")
            return 200, self._list_zones(request.args)
        zone = self._zone(parts[1], path)
        if len(parts) == 2:
            self._only(method, "GET")
            return 200, _envelope(zone.as_api())
        if parts[2] != "dns_records" or len(parts) > 4:
            raise _Errors.no_route(path)
        if len(parts) == 3:
            if method == "GET":
                return 200, self._list_records(zone, request.args)
            self._only(method, "POST")
            return 200, _envelope(self._create(zone, _json_object(request)))
        if parts[3] == "batch":
            self._only(method, "POST")
            return 200, _envelope(self._batch(zone, _json_object(request)))
        record_id = parts[3]
        if not _HEX32.fullmatch(record_id):
            raise _Errors.no_route(path)
        if method == "GET":
            return 200, _envelope(self._get(zone, record_id))
        if method == "DELETE":
            return 200, _envelope(self._delete(zone, record_id))
        if method == "PUT":
            return 200, _envelope(self._update(zone, record_id, _json_object(request), replace=True))
        if method == "PATCH":
            return 200, _envelope(self._update(zone, record_id, _json_object(request), replace=False))
        raise _Errors.method_not_allowed()

    @staticmethod
    def _only(method: str, allowed: str) -> None:
        if method != allowed:
            raise _Errors.method_not_allowed()

    def _zone(self, raw_id: str, path: str) -> _Zone:
        if not _HEX32.fullmatch(raw_id):
            raise _Errors.no_route(path)
        with self._lock:
            zone = self._zones.get(raw_id)
        if zone is None:
            raise _Errors.unknown_zone(path)
        return zone

    def _verify_token(self, token: str) -> tuple[int, dict[str, Any]]:
        payload = _envelope({"id": hashlib.md5(token.encode()).hexdigest(), "status": "active"})
        payload["messages"] = [{"code": 10000, "message": "This API Token is valid and active", "type": None}]
        return 200, payload

    def _fault_body(self, status: int) -> tuple[bytes, str]:
        if status == 429:
            error = _Errors.rate_limited(self._limiter.requests, self._limiter.window)
        elif status >= 500:
            error = _Errors.server_error(status)
        else:
            error = ApiError(status, status, "Request failed")
        return json.dumps(error.envelope()).encode(), "application/json"

    # -- zones ---------------------------------------------------------------------------------------------------
    def _list_zones(self, args: MultiDict[str, str]) -> dict[str, Any]:
        page, per_page = _paging(args, ZONE_PAGE)
        name = _lower(args.get("name"))
        status = args.get("status")
        account_id = args.get("account.id")
        account_name = args.get("account.name")
        with self._lock:
            zones = list(self._zones.values())
        selected = [
            zone for zone in zones
            if (name is None or zone.name == name.rstrip("."))
            and (status is None or status == "active")
            and (account_id is None or account_id == ACCOUNT_ID)
            and (account_name is None or account_name.lower() == "sandbox account")
        ]
        if args.get("direction") == "desc":
            selected.reverse()
        return _page_envelope([zone.as_api() for zone in selected], page, per_page)

    # -- records -------------------------------------------------------------------------------------------------
    def _list_records(self, zone: _Zone, args: MultiDict[str, str]) -> dict[str, Any]:
        page, per_page = _paging(args, RECORD_PAGE)
        conditions = _record_conditions(args)
        match_any = args.get("match", "all") == "any"
        if args.get("match", "all") not in ("all", "any"):
            raise _Errors.invalid_parameter("match", args.get("match", ""))
        exact_name = _lower(args.get("name.exact") or args.get("name"))
        with self._lock:
            if exact_name is not None and not match_any:
                candidates = zone.named(exact_name.rstrip("."))  # index lookup: the common "find this host" call
            else:
                candidates = zone.ordered()
            if conditions:
                check = any if match_any else all
                selected = [record for record in candidates if check(condition(record) for condition in conditions)]
            else:
                selected = list(candidates)
        order = args.get("order")
        if order is not None:
            if order not in ("type", "name", "content", "ttl", "proxied"):
                raise _Errors.invalid_parameter("order", order)
            selected.sort(key=lambda record: record[order], reverse=args.get("direction") == "desc")
        elif args.get("direction") == "desc":
            selected.reverse()
        return _page_envelope(selected, page, per_page)

    def _get(self, zone: _Zone, record_id: str) -> dict[str, Any]:
        with self._lock:
            record = zone.records.get(record_id)
            if record is None:
                raise _Errors.record_not_found()
            return record

    def _create(self, zone: _Zone, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return _apply_post(zone, body, self._clock)

    def _update(self, zone: _Zone, record_id: str, body: dict[str, Any], replace: bool) -> dict[str, Any]:
        with self._lock:
            return _apply_update(zone, record_id, body, self._clock, replace=replace)

    def _delete(self, zone: _Zone, record_id: str) -> dict[str, Any]:
        with self._lock:
            if record_id not in zone.records:
                raise _Errors.record_not_found()
            zone.remove(record_id)
            return {"id": record_id}

    def _batch(self, zone: _Zone, body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """Deletes, patches, puts, posts, in that order, on a copy of the zone; swapped in only if all succeed."""
        operations: dict[str, list[Any]] = {}
        for key in ("deletes", "patches", "puts", "posts"):
            value = body.get(key, [])
            if value is None:
                value = []
            if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                raise _Errors.invalid_body()
            operations[key] = value
        total = sum(len(items) for items in operations.values())
        limit = BATCH_LIMIT[zone.plan]
        if total > limit:
            raise _Errors.batch_too_large(limit, total)
        result: dict[str, list[dict[str, Any]]] = {"deletes": [], "patches": [], "puts": [], "posts": []}
        with self._lock:
            work = zone.clone()
            for index, item in enumerate(operations["deletes"]):
                record_id = item.get("id")
                if not isinstance(record_id, str) or record_id not in work.records:
                    raise _Errors.record_not_found().at(f"/deletes/{index}")
                result["deletes"].append(work.remove(record_id))
            for key, replace in (("patches", False), ("puts", True)):
                for index, item in enumerate(operations[key]):
                    record_id = item.get("id")
                    if not isinstance(record_id, str):
                        raise _Errors.record_not_found().at(f"/{key}/{index}")
                    fields = {name: value for name, value in item.items() if name != "id"}
                    try:
                        result[key].append(_apply_update(work, record_id, fields, self._clock, replace=replace))
                    except ApiError as error:
                        raise error.at(f"/{key}/{index}") from None
            for index, item in enumerate(operations["posts"]):
                try:
                    result["posts"].append(_apply_post(work, item, self._clock))
                except ApiError as error:
                    raise error.at(f"/posts/{index}") from None
            zone.records, zone.by_name = work.records, work.by_name
            zone._ordered = None
        return result


# -- record rules ----------------------------------------------------------------------------------------------------
_CORE_FIELDS = ("type", "name", "content", "ttl", "proxied", "comment", "tags", "settings", "priority", "data")


def _apply_post(zone: _Zone, body: Mapping[str, Any], clock: _Clock) -> dict[str, Any]:
    core = _validated(zone, body)
    _check_conflicts(zone, core, ignore_id=None)
    stamp = clock.now()
    record = _record(uuid.uuid4().hex, core, created_on=stamp, modified_on=stamp)
    zone.put(record)
    return record


def _apply_update(
    zone: _Zone, record_id: str, body: Mapping[str, Any], clock: _Clock, replace: bool
) -> dict[str, Any]:
    existing = zone.records.get(record_id)
    if existing is None:
        raise _Errors.record_not_found()
    if replace:
        fields = dict(body)
    else:
        fields = {key: existing[key] for key in _CORE_FIELDS if key in existing}
        fields.update(body)
    core = _validated(zone, fields)
    _check_conflicts(zone, core, ignore_id=record_id)
    record = _record(record_id, core, created_on=existing["created_on"], modified_on=clock.now())
    zone.put(record)
    return record


def _record(record_id: str, core: dict[str, Any], created_on: str, modified_on: str) -> dict[str, Any]:
    """The record object as the API returns it (the shape strict SDK validation accepts)."""
    record: dict[str, Any] = {
        "id": record_id,
        "name": core["name"],
        "type": core["type"],
        "content": core["content"],
        "proxiable": core["type"] in PROXIABLE_TYPES,
        "proxied": core["proxied"],
        "ttl": core["ttl"],
        "settings": core["settings"],
        "meta": {},
        "comment": core["comment"],
        "tags": core["tags"],
        "created_on": created_on,
        "modified_on": modified_on,
    }
    if "priority" in core:
        record["priority"] = core["priority"]
    if "data" in core:
        record["data"] = core["data"]
    return record


def _validated(zone: _Zone, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check a record body the way Cloudflare does and return its normalised core fields."""
    record_type = fields.get("type")
    if not isinstance(record_type, str) or record_type.upper() not in RECORD_TYPES:
        raise _Errors.invalid_type()
    record_type = record_type.upper()
    name = _full_name(fields.get("name"), zone.name)
    ttl = _ttl(fields.get("ttl", 1), MIN_TTL[zone.plan])
    proxied = fields.get("proxied", False)
    if proxied is None:
        proxied = False
    if not isinstance(proxied, bool):
        raise _Errors.invalid_proxied_value()
    if proxied and record_type not in PROXIABLE_TYPES:
        raise _Errors.not_proxiable()
    core: dict[str, Any] = {"type": record_type, "name": name}
    data = fields.get("data")
    if data is not None and not isinstance(data, dict):
        raise _Errors.invalid_content(record_type)
    content = fields.get("content")
    if content is None and data:
        content = _content_from_data(record_type, data)
        core["data"] = dict(data)
    core["content"] = _content(record_type, content, name)
    if record_type in PRIORITY_TYPES:
        priority = fields.get("priority")
        if priority is None and data and "priority" in data:
            priority = data["priority"]
        if priority is None:
            priority = 10  # UNCONFIRMED: the real API may demand it for MX/URI
        if isinstance(priority, bool) or not isinstance(priority, (int, float)) or not float(priority).is_integer():
            raise _Errors.invalid_priority()
        if not 0 <= int(priority) <= 65535:
            raise _Errors.invalid_priority()
        core["priority"] = int(priority)
    # Proxied records always have automatic TTL.
    core["ttl"] = 1 if proxied else ttl
    core["proxied"] = proxied
    comment = fields.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise _Errors.invalid_body()
    core["comment"] = comment
    tags = fields.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) and _TAG.match(tag) for tag in tags):
        raise _Errors.invalid_tags()
    quota = TAG_QUOTA.get(zone.plan)
    if quota is not None and len(tags) > quota:
        raise _Errors.tag_quota(len(tags), quota)
    core["tags"] = list(tags)
    settings = fields.get("settings") or {}
    if not isinstance(settings, dict):
        raise _Errors.invalid_body()
    core["settings"] = dict(settings)
    return core


def _full_name(raw: Any, zone_name: str) -> str:
    """Lower-case FQDN. Like the real API, a name outside the zone is taken as relative: the zone is appended."""
    if not isinstance(raw, str) or not raw.strip():
        raise _Errors.invalid_name()
    name = raw.strip().rstrip(".").lower()
    if name in ("@", ""):
        name = zone_name
    elif name != zone_name and not name.endswith("." + zone_name):
        name = f"{name}.{zone_name}"
    if not name.isascii():
        # Unicode names are stored in Punycode, as the API documents for `name`.
        try:
            labels = name.split(".")
            name = ".".join(label if label == "*" else label.encode("idna").decode("ascii") for label in labels)
        except UnicodeError as error:
            raise _Errors.invalid_name() from error
    if len(name) > 253 or not _RECORD_NAME.fullmatch(name):
        raise _Errors.invalid_name()
    return name


def _ttl(raw: Any, minimum: int) -> int:
    # The SDK sends floats (300.0): accept any integral number, refuse booleans and strings.
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not float(raw).is_integer():
        raise _Errors.invalid_ttl(minimum)
    ttl = int(raw)
    if ttl != 1 and not minimum <= ttl <= MAX_TTL:
        raise _Errors.invalid_ttl(minimum)
    return ttl


def _content(record_type: str, raw: Any, name: str) -> str:
    if record_type == "A":
        if not isinstance(raw, str) or not _IPV4.fullmatch(raw):
            raise _Errors.invalid_ipv4()
        return raw
    if record_type == "AAAA":
        if not isinstance(raw, str):
            raise _Errors.invalid_ipv6()
        try:
            ipaddress.IPv6Address(raw)
        except ValueError as error:
            raise _Errors.invalid_ipv6() from error
        return raw
    if not isinstance(raw, str) or not raw.strip():
        raise _Errors.invalid_content(record_type)
    if record_type in HOSTNAME_TYPES:
        host = raw.strip().rstrip(".").lower()
        if not _is_hostname(host) or (record_type == "CNAME" and host == name):
            raise _Errors.invalid_host_content(record_type)
        return host
    return raw


def _is_hostname(host: str) -> bool:
    if not host or len(host) > 253:
        return False
    try:
        ipaddress.ip_address(host)
        return False  # an IP address is not a host name (a CNAME to 1.1.1.1 is refused)
    except ValueError:
        pass
    return all(_HOST_LABEL.fullmatch(label) for label in host.split("."))


def _content_from_data(record_type: str, data: Mapping[str, Any]) -> str:
    """Cloudflare computes `content` from `data` for structured types; the common two are rendered here."""
    if record_type == "SRV":
        return f"{data.get('weight', 0)} {data.get('port', 0)} {data.get('target', '')}".strip()
    if record_type == "CAA":
        return f"{data.get('flags', 0)} {data.get('tag', '')} \"{data.get('value', '')}\""
    return " ".join(str(value) for value in data.values())


def _check_conflicts(zone: _Zone, core: dict[str, Any], ignore_id: str | None) -> None:
    """CNAME exclusivity (81053 / 81054) and identical records (81058)."""
    same_name = [record for record in zone.named(core["name"]) if record["id"] != ignore_id]
    if not same_name:
        return
    if core["type"] == "CNAME":
        raise _Errors.cname_conflict()
    if any(record["type"] == "CNAME" for record in same_name):
        raise _Errors.name_has_cname()
    key = _identity(core)
    if any(_identity(record) == key for record in same_name):
        raise _Errors.identical_record()


def _identity(record: Mapping[str, Any]) -> tuple[Any, ...]:
    content = record["content"]
    if record["type"] == "AAAA":
        content = str(ipaddress.IPv6Address(content))  # 2001:DB8::1 and 2001:db8:0::1 are the same record
    return record["type"], record["name"], content, record.get("priority")


# -- query parsing ---------------------------------------------------------------------------------------------------
def _record_conditions(args: MultiDict[str, str]) -> list[Callable[[dict[str, Any]], bool]]:
    """One predicate per filter in the query (name/content/comment operators, type, proxied, search)."""
    conditions: list[Callable[[dict[str, Any]], bool]] = []
    record_type = args.get("type")
    if record_type is not None:
        if record_type.upper() not in RECORD_TYPES:
            raise _Errors.invalid_type()
        wanted_type = record_type.upper()
        conditions.append(lambda record: record["type"] == wanted_type)
    for field in ("name", "content", "comment"):
        for operator in ("exact", "contains", "startswith", "endswith"):
            value = args.get(f"{field}.{operator}")
            if value is None and operator == "exact":
                value = args.get(field)  # the bare parameter is an exact match
            if value is not None:
                conditions.append(_text_condition(field, operator, value))
    if "comment.present" in args:
        conditions.append(lambda record: bool(record["comment"]))
    if "comment.absent" in args:
        conditions.append(lambda record: not record["comment"])
    proxied = args.get("proxied")
    if proxied is not None:
        if proxied.lower() not in ("true", "false"):
            raise _Errors.invalid_parameter("proxied", proxied)
        wanted_proxied = proxied.lower() == "true"
        conditions.append(lambda record: record["proxied"] is wanted_proxied)
    search = _lower(args.get("search"))
    if search:
        conditions.append(
            lambda record: any(search in (record[key] or "").lower() for key in ("name", "content", "comment"))
        )
    return conditions


def _text_condition(field: str, operator: str, value: str) -> Callable[[dict[str, Any]], bool]:
    wanted = value.lower()
    if field == "name":
        wanted = wanted.rstrip(".")

    def condition(record: dict[str, Any]) -> bool:
        actual = (record[field] or "").lower()
        if operator == "exact":
            return actual == wanted
        if operator == "contains":
            return wanted in actual
        if operator == "startswith":
            return actual.startswith(wanted)
        return actual.endswith(wanted)

    return condition


def _paging(args: MultiDict[str, str], sizes: tuple[int, int]) -> tuple[int, int]:
    default, maximum = sizes
    page = _positive_int(args, "page", 1)
    per_page = min(_positive_int(args, "per_page", default), maximum)
    return page, per_page


def _positive_int(args: MultiDict[str, str], name: str, default: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise _Errors.invalid_parameter(name, raw) from error
    if not value.is_integer() or value < 1:
        raise _Errors.invalid_parameter(name, raw)
    return int(value)


def _page_envelope(items: list[dict[str, Any]], page: int, per_page: int) -> dict[str, Any]:
    """The v4 list envelope; past the last page `result` is empty (the SDK stops only on an empty page)."""
    start = (page - 1) * per_page
    chunk = items[start : start + per_page]
    total = len(items)
    payload = _envelope(chunk)
    payload["result_info"] = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": total,
        "total_pages": max(1, math.ceil(total / per_page)),
    }
    return payload


def _envelope(result: Any) -> dict[str, Any]:
    return {"result": result, "success": True, "errors": [], "messages": []}


def _json_object(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as error:
        raise _Errors.invalid_body() from error
    if not isinstance(body, dict):
        raise _Errors.invalid_body()
    return body


def _lower(value: str | None) -> str | None:
    return value.lower() if value is not None else None
