"""A Deis Workflow controller (API v2.3) simulator: one WSGI app per cluster, state in memory, seeded from a scenario.

It reproduces what the real controller (Django REST Framework, deis/controller 2018) does on the wire, quirks
included, because a kinder simulator hides bugs in the panel:

- routes are Django regexes: trailing slash optional except `auth/login/` and `auth/tokens/` (required) and the
  cert detach `DELETE /v2/certs/{name}/domain/{domain}` (forbidden); an unmatched URL is Django's HTML 404 page;
- DRF token auth (`Authorization: token <key>`, keyword case-insensitive), DRF error shapes, and a 404 that is a
  bare JSON string (`"No App matches the given query."`);
- `limit`/`offset` pagination with absolute `next`/`previous` URLs; a bad `limit` silently means the default 100;
- config POST merges, `null` unsets, 422 on unsetting a missing key, 409 "<user> changed nothing - release
  stopped", values converted to strings, memory/cpu/proc-type validation;
- certificates filtered by `owner == request user` for every verb, superusers included; names unique across owners;
- cert detach clears whatever certificate the domain has, as the real `Certificate.detach` does.

Every response carries `DEIS_API_VERSION: 2.3` and `DEIS_PLATFORM_VERSION: 2.3.0`. The app is wrapped in
`sandbox.faults.FaultInjector` so tests can inject latency, errors and resets at run time.

One file per concern: `simulator` (the object and dispatch), `routes`, `auth` (tokens and object permissions),
`state`, `seeding`, `validation` (serializer rules), `http` (bodies, pagination, answers), `errors`, and the handlers
by resource: `users`, `apps`, `config` (config POST makes a release), `certificates`; `switches` and `churn` make it
as harsh as production (a proxy's `next` links, short pages, slow deploys, apps coming and going mid-read).
"""
from __future__ import annotations

from sandbox.deis.certificates import parse_certificate
from sandbox.deis.routes import ROUTES
from sandbox.deis.simulator import DeisSimulator
from sandbox.deis.state import API_VERSION, PLATFORM_VERSION
from sandbox.deis.switches import SWITCHES_PATH, DeisSwitches

__all__ = ["API_VERSION", "PLATFORM_VERSION", "ROUTES", "SWITCHES_PATH", "DeisSimulator", "DeisSwitches",
           "parse_certificate"]
