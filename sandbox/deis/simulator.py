"""The simulator object: one controller per cluster, its public interface for tests, and request dispatch."""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError
from werkzeug.wrappers import Request, Response

from sandbox.deis.apps import AppHandlers
from sandbox.deis.auth import authenticate
from sandbox.deis.certificates import CertificateHandlers
from sandbox.deis.churn import churn_once
from sandbox.deis.config import ConfigHandlers
from sandbox.deis.errors import NOT_AUTHENTICATED, PERMISSION_DENIED, ApiError, detail, fault_error_body
from sandbox.deis.http import Call, django_404, json_response, options_body
from sandbox.deis.routes import ROUTES
from sandbox.deis.seeding import seed
from sandbox.deis.state import API_VERSION, PLATFORM_VERSION
from sandbox.deis.switches import SWITCHES_PATH, DeisSwitches
from sandbox.deis.users import UserHandlers
from sandbox.faults import FaultInjector
from sandbox.scenario import Scenario, ScenarioError

logger = logging.getLogger("sandbox.deis")


class DeisSimulator(UserHandlers, AppHandlers, ConfigHandlers, CertificateHandlers):
    """One Deis Workflow controller for one scenario cluster, as a WSGI app (`.wsgi_app`, FaultInjector-wrapped)."""

    def __init__(self, scenario: Scenario, cluster: str) -> None:
        if cluster not in {c.name for c in scenario.clusters}:
            raise ScenarioError(f"scenario {scenario.name}: no cluster named {cluster!r}")
        self.cluster = cluster
        self.scenario = scenario
        self._lock = threading.RLock()
        self._names = random.Random()
        self._state = seed(scenario, cluster)
        self.switches = DeisSwitches()
        self.churn_log: deque[str] = deque(maxlen=1000)  # "created x" / "deleted y", oldest first
        self.faults = FaultInjector(self._serve, name=f"deis:{cluster}", error_body=fault_error_body,
                                    churn=self._churn)
        self.wsgi_app = self._outer

    # -- public interface for the sandbox runner and tests ------------------------------------------------------
    def reset(self, scenario: Scenario | None = None) -> None:
        """Reseed every app, user, token and certificate from the scenario (the same one if None); clear faults."""
        new_scenario = scenario or self.scenario
        if self.cluster not in {c.name for c in new_scenario.clusters}:
            raise ScenarioError(f"scenario {new_scenario.name}: no cluster named {self.cluster!r}")
        state = seed(new_scenario, self.cluster)  # built outside the lock: requests keep being served meanwhile
        with self._lock:
            self.scenario = new_scenario
            self._state = state
            self.switches = DeisSwitches()
            self.churn_log.clear()
        self.faults.clear()

    def set_switches(self, **fields: Any) -> DeisSwitches:
        """Set the given switches (others keep their value); ValidationError on bad ones, changing nothing."""
        with self._lock:
            self.switches = DeisSwitches.model_validate({**self.switches.model_dump(), **fields})
            return self.switches

    def clear_switches(self) -> None:
        """Every switch off."""
        with self._lock:
            self.switches = DeisSwitches()

    def delete_app(self, app_id: str) -> None:
        """Delete an app behind every client's back (as another operator would); KeyError if there is none."""
        with self._lock:
            self._state.remove_app(self._state.apps[app_id])

    def token_for(self, username: str) -> str:
        """The user's current token on this cluster (it changes when someone regenerates it through the API)."""
        with self._lock:
            user = self._state.users.get(username)
            if user is None:
                raise KeyError(f"no Deis user {username!r} on cluster {self.cluster}")
            return user.token

    def users(self) -> list[dict[str, Any]]:
        """Every user of this controller with their current token and admin flag (what SANDBOX_DEIS_USERS lists)."""
        with self._lock:
            return [
                {"username": user.username, "cluster": self.cluster, "token": user.token, "admin": user.is_superuser}
                for user in self._state.users.values()
            ]

    @property
    def panel_username(self) -> str:
        """The Deis user the panel uses: superuser, owner of every seeded certificate."""
        return self.scenario.panel_user.username

    def app_ids(self) -> list[str]:
        """Every app id on this cluster, sorted (what an admin's `GET /v2/apps` walks through)."""
        with self._lock:
            return list(self._state.app_index.ids)

    def app(self, app_id: str) -> dict[str, Any] | None:
        """What a test wants to see of one app: the app object plus config, settings, domains and perms."""
        with self._lock:
            app = self._state.apps.get(app_id)
            if app is None:
                return None
            return {
                **app.as_json(),
                "config": app.config.as_json(app.id),
                "settings": app.settings.as_json(app.id),
                "domains": list(app.domains),
                "perms": sorted(app.shared_with),
                "release_version": app.release_version,
            }

    def certificates(self) -> list[dict[str, Any]]:
        """Every certificate on the cluster whoever owns it (the API itself only shows a user their own)."""
        with self._lock:
            return [self._state.certificates[name].as_json() for name in sorted(self._state.certificates)]

    # -- WSGI ----------------------------------------------------------------------------------------------------
    def _outer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if path.rstrip("/") == SWITCHES_PATH:
            return self._switches_admin(Request(environ))(environ, start_response)
        return self.faults(environ, start_response)

    def _switches_admin(self, request: Request) -> Response:
        if request.method == "GET":
            return _plain_json(200, self.switches.model_dump())
        if request.method == "DELETE":
            self.clear_switches()
            return _plain_json(200, self.switches.model_dump())
        if request.method != "POST":
            return _plain_json(405, {"error": f"method {request.method} not allowed"})
        fields = request.get_json(silent=True)
        if not isinstance(fields, dict):
            return _plain_json(422, {"error": "send a JSON object of switches"})
        try:
            return _plain_json(200, self.set_switches(**fields).model_dump())
        except ValidationError as error:
            problems = [{"field": ".".join(str(part) for part in issue["loc"]), "message": issue["msg"]}
                        for issue in error.errors(include_url=False)]
            return _plain_json(422, {"error": "invalid switches", "problems": problems})

    def _churn(self, rng: random.Random) -> None:
        with self._lock:
            change = churn_once(self._state, rng)
            self.churn_log.append(change)
        logger.debug("deis simulator %s churn: %s", self.cluster, change)

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            response, deploy_seconds = self._dispatch(request), self.switches.deploy_seconds
        if getattr(response, "deploys", False) and deploy_seconds:
            time.sleep(deploy_seconds)  # outside the lock: other requests see the saved config meanwhile
        response.headers["DEIS_API_VERSION"] = API_VERSION
        response.headers["DEIS_PLATFORM_VERSION"] = PLATFORM_VERSION
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        for route in ROUTES:
            match = route.pattern.match(path)
            if match is not None:
                break
        else:
            return django_404(path)
        method = request.method.upper()
        if method == "HEAD":
            method = "GET"
        allowed = ", ".join([*route.methods, "OPTIONS"])
        try:
            if route.auth == "none":
                if method not in route.methods:
                    if route.methods.keys() == {"GET"}:  # plain Django view (health checks): empty 405
                        return Response(b"", status=405, headers={"Allow": "GET, HEAD"}, content_type="text/html")
                    raise detail(405, f'Method "{request.method}" not allowed.')
                call = Call(request, self._state, None, self.switches)
            else:
                call = Call(request, self._state, authenticate(self._state, request), self.switches)
                if not call.authenticated:
                    raise ApiError(401, {"detail": NOT_AUTHENTICATED}, {"WWW-Authenticate": "Token"})
                if route.auth == "admin" and not call.user.is_superuser:
                    raise detail(403, PERMISSION_DENIED)
                if method == "OPTIONS":
                    return json_response(200, options_body(), allowed)
                if method not in route.methods:
                    raise detail(405, f'Method "{request.method}" not allowed.')
            handler = getattr(self, "_" + route.methods[method])
            result = handler(call, **match.groupdict())
        except ApiError as error:
            response = json_response(error.status, error.payload, allowed)
            response.headers.update(error.headers)
            return response
        except Exception:  # a simulator bug: answer like the controller's handler would, and say where it broke
            logger.exception("deis simulator %s: %s %s failed", self.cluster, request.method, path)
            return json_response(500, {"detail": "Server Error"}, allowed)
        response = result if isinstance(result, Response) else json_response(result[0], result[1], allowed)
        response.deploys = call.deploys  # type: ignore[attr-defined]  # read by _serve, outside the lock
        return response


def _plain_json(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload), status=status, content_type="application/json")
