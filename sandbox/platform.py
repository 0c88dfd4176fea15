"""The whole simulated platform in one object: moto, a Deis controller per cluster, Cloudflare and a control endpoint.

`Sandbox(scenario).start()` serves every simulator on its own loopback port (werkzeug threaded servers in daemon
threads), `.env()` gives the variables the panel reads, `.reset()` puts every simulator back to the scenario between
tests, `.reseed(scenario)` switches scenario. The control app (`SANDBOX_CONTROL_URL`) offers the same over HTTP:
`GET /` (the env, secrets included: it is a local sandbox), `POST /reset`, `POST /reseed {"scenario": name|path}`
and `GET|POST|DELETE /faults/{cloudflare|deis:<cluster>}` forwarded to that simulator's FaultInjector, and
`GET|POST|DELETE /switches/deis:<cluster>` to a Deis simulator's switches (behind a proxy, short pages, deploy time).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from sandbox.aws import ACCESS_KEY_ID, SECRET_ACCESS_KEY, AwsSimulator, aws_regions
from sandbox.cloudflare import CloudflareSimulator
from sandbox.deis import DeisSimulator
from sandbox.deis.switches import SWITCHES_PATH
from sandbox.faults import ADMIN_PATH, FaultInjector
from sandbox.scenario import Scenario, ScenarioError, load

READY_TIMEOUT_SECONDS = 30.0
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SandboxError(RuntimeError):
    """The sandbox could not start, or a simulator did not answer in time."""


class _Served:
    """One WSGI app served on a free port by a threaded werkzeug server in a daemon thread."""

    def __init__(self, name: str, wsgi_app: WSGIApp, host: str) -> None:
        self.name = name
        self.server: BaseWSGIServer = make_server(host, 0, wsgi_app, threaded=True)
        # A short poll interval: shutdown() waits for the serve loop to notice (0.5 s by default, per server).
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{name}", daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        """Base URL, with the port the server really bound."""
        return f"http://{self.server.host}:{self.server.server_port}"

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Sandbox:
    """Every simulator of a scenario, served on loopback ports, with reset, reseed and a control endpoint."""

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1") -> None:
        self.scenario = scenario
        self.host = host
        self.aws = AwsSimulator(scenario, host=host)
        self.deis: dict[str, DeisSimulator] = {}
        self.cloudflare: CloudflareSimulator | None = None
        # Called with the sandbox after a reseed (the env may have changed: clusters come and go); `python -m
        # sandbox` uses it to rewrite its env file.
        self.on_reseed: Callable[[Sandbox], None] | None = None
        self._deis_served: dict[str, _Served] = {}
        self._cloudflare_served: _Served | None = None
        self._control_served: _Served | None = None
        self._lock = threading.RLock()

    # -- lifecycle -----------------------------------------------------------------------------------------------
    @property
    def moto_url(self) -> str:
        """moto's endpoint (`AWS_ENDPOINT_URL`)."""
        return self.aws.url

    @property
    def control_url(self) -> str:
        """The control endpoint (`SANDBOX_CONTROL_URL`)."""
        if self._control_served is None:
            raise SandboxError("the sandbox is not started")
        return self._control_served.url

    @property
    def cloudflare_url(self) -> str:
        """The Cloudflare API base (`CLOUDFLARE_BASE_URL`, ends in /client/v4)."""
        if self._cloudflare_served is None:
            raise SandboxError("the sandbox is not started")
        return f"{self._cloudflare_served.url}/client/v4"

    def deis_url(self, cluster: str) -> str:
        """The controller base URL of one cluster (no trailing /v2)."""
        return self._deis_served[cluster].url

    def start(self) -> Sandbox:
        """Seed every simulator, serve each on a free port, and wait until every one answers."""
        with self._lock:
            try:
                self.aws.start()
                self.cloudflare = CloudflareSimulator(self.scenario, self.aws.resolve_content)
                self._cloudflare_served = _Served("cloudflare", self._cloudflare_app, self.host)
                self._sync_deis(self.scenario)
                self._control_served = _Served("control", self._control_app, self.host)
                self.wait_until_ready()
            except Exception:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        """Stop every server (safe to call twice)."""
        with self._lock:
            for served in [*self._deis_served.values(), self._cloudflare_served, self._control_served]:
                if served is not None:
                    served.stop()
            self._deis_served = {}
            self._cloudflare_served = None
            self._control_served = None
            self.aws.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_until_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Return once every simulator answers HTTP; SandboxError naming the silent one after `timeout` seconds."""
        # Any HTTP answer will do: the Cloudflare probe carries no token, so it spends nothing of the rate limit.
        probes = {"aws": f"{self.moto_url}/", "cloudflare": f"{self.cloudflare_url}/zones"}
        probes |= {f"deis:{name}": f"{served.url}/healthz" for name, served in self._deis_served.items()}
        probes["control"] = f"{self.control_url}/health"
        deadline = time.monotonic() + timeout
        with requests.Session() as http:
            for name, url in probes.items():
                while True:
                    try:
                        http.get(url, timeout=2)
                        break
                    except requests.RequestException as error:
                        if time.monotonic() > deadline:
                            raise SandboxError(f"simulator {name} does not answer at {url}: {error}") from error
                        time.sleep(0.05)

    # -- state ---------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Put every simulator back to the current scenario and clear every fault (cheap: used between tests)."""
        with self._lock:
            cloudflare = self._require_cloudflare()
            # AWS first: records resolve against it (it skips the reseed when nothing wrote to it).
            self.aws.reset()
            cloudflare.reset(self.scenario, self.aws.resolve_content)
            for simulator in self.deis.values():
                simulator.reset(self.scenario)

    def reseed(self, scenario: Scenario) -> None:
        """Switch every simulator to another scenario; clusters it adds get new ports, clusters it drops stop."""
        with self._lock:
            cloudflare = self._require_cloudflare()
            self.aws.reset(scenario, force=True)
            cloudflare.reset(scenario, self.aws.resolve_content)
            self._sync_deis(scenario)
            self.scenario = scenario
        if self.on_reseed is not None:
            self.on_reseed(self)

    def _sync_deis(self, scenario: Scenario) -> None:
        wanted = [cluster.name for cluster in scenario.clusters]
        for name in [name for name in self.deis if name not in wanted]:
            self._deis_served.pop(name).stop()
            del self.deis[name]
        for name in wanted:
            if name in self.deis:
                self.deis[name].reset(scenario)
            else:
                self.deis[name] = DeisSimulator(scenario, name)
                self._deis_served[name] = _Served(f"deis-{name}", self._deis_app(name), self.host)

    def _require_cloudflare(self) -> CloudflareSimulator:
        if self.cloudflare is None:
            raise SandboxError("the sandbox is not started")
        return self.cloudflare

    # -- environment ---------------------------------------------------------------------------------------------
    def deis_users(self) -> list[dict[str, Any]]:
        """Every scenario user on every cluster with their current token (`SANDBOX_DEIS_USERS`)."""
        return [user for simulator in self.deis.values() for user in simulator.users()]

    def deis_clusters(self) -> list[dict[str, Any]]:
        """One object per cluster as the panel reads it (`DEIS_CLUSTERS`)."""
        panel_user = self.scenario.panel_user.username
        clusters = []
        for region in self.scenario.regions:
            for cluster in region.clusters:
                clusters.append(
                    {
                        "name": cluster.name,
                        "url": self.deis_url(cluster.name),
                        "username": panel_user,
                        "token": self.deis[cluster.name].token_for(panel_user),
                        "region": region.name,
                        "aws_region": region.aws_region,
                        "timezone": region.timezone,
                        "backup_hour": region.backup_hour,
                        "kind": cluster.kind,
                        "monitored_from": cluster.monitored_from,
                        "load_balancer": cluster.load_balancer,
                    }
                )
        return clusters

    def env(self) -> dict[str, str]:
        """The environment the panel reads to talk to this sandbox (credentials included)."""
        with self._lock:
            regions = aws_regions(self.scenario)
            return {
                "DEIS_CLUSTERS": json.dumps(self.deis_clusters(), separators=(",", ":")),
                "CLOUDFLARE_API_TOKEN": self.scenario.cloudflare.token,
                "CLOUDFLARE_BASE_URL": self.cloudflare_url,
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                "AWS_DEFAULT_REGION": regions[0] if regions else "us-east-1",
                "AWS_REGIONS": ",".join(regions),
                "SANDBOX_CONTROL_URL": self.control_url,
                "SANDBOX_DEIS_USERS": json.dumps(self.deis_users(), separators=(",", ":")),
                "SANDBOX_SCENARIO": self.scenario.name,
            }

    # -- WSGI ----------------------------------------------------------------------------------------------------
    def _deis_app(self, cluster: str) -> WSGIApp:
        # Look the simulator up per request, so a reseed that replaces nothing keeps the same server and port.
        def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            return self.deis[cluster].wsgi_app(environ, start_response)

        return serve

    def _cloudflare_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self._require_cloudflare().wsgi_app(environ, start_response)

    def _control_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path.rstrip("/") or "/"
        if path.startswith("/faults/"):
            return self._forward_faults(path.removeprefix("/faults/"), environ, start_response)
        if path.startswith("/switches/"):
            return self._forward_switches(path.removeprefix("/switches/"), environ, start_response)
        response = self._control(request, path)
        return response(environ, start_response)

    def _control(self, request: Request, path: str) -> Response:
        if path == "/" and request.method == "GET":
            return _json(200, self.env())
        if path == "/health" and request.method == "GET":
            return _json(200, {"status": "ok", "scenario": self.scenario.name})
        if path == "/reset" and request.method == "POST":
            self.reset()
            return _json(200, {"status": "reset", "scenario": self.scenario.name})
        if path == "/reseed" and request.method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not isinstance(body.get("scenario"), str):
                return _json(400, {"error": 'send JSON {"scenario": "<name or path>"}'})
            try:
                scenario = load(body["scenario"])
            except ScenarioError as error:
                return _json(422, {"error": " ".join(str(error).split())})
            try:
                self.reseed(scenario)
            except ScenarioError as error:
                # A scenario can pass validation and still be refused by a simulator while seeding; put the
                # previous one back so the sandbox stays usable.
                self.reseed(self.scenario)
                return _json(422, {"error": " ".join(str(error).split())})
            return _json(200, {"status": "reseeded", "scenario": scenario.name, "env": self.env()})
        if path in {"/", "/health", "/reset", "/reseed"}:
            return _json(405, {"error": f"{request.method} is not allowed on {path}"})
        return _json(404, {"error": f"no control endpoint {path}"})

    def _forward_faults(
        self, simulator: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        injector = self._injector(simulator)
        if injector is None:
            known = ", ".join(["aws", "cloudflare", *(f"deis:{name}" for name in self.deis)])
            return _json(404, {"error": f"no simulator {simulator!r}; known: {known}"})(environ, start_response)
        forwarded = {**environ, "PATH_INFO": ADMIN_PATH, "SCRIPT_NAME": ""}
        return injector(forwarded, start_response)

    def _forward_switches(
        self, simulator: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        name = simulator.removeprefix("deis:")
        if not simulator.startswith("deis:") or name not in self.deis:
            known = ", ".join(f"deis:{each}" for each in self.deis)
            return _json(404, {"error": f"no simulator with switches {simulator!r}; known: {known}"})(
                environ, start_response)
        forwarded = {**environ, "PATH_INFO": SWITCHES_PATH, "SCRIPT_NAME": ""}
        return self.deis[name].wsgi_app(forwarded, start_response)

    def _injector(self, simulator: str) -> FaultInjector | None:
        if simulator == "aws":
            return self.aws.faults
        if simulator == "cloudflare":
            return self._require_cloudflare().faults
        if simulator.startswith("deis:") and simulator.removeprefix("deis:") in self.deis:
            return self.deis[simulator.removeprefix("deis:")].faults
        return None


def _json(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")
