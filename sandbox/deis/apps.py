"""Apps, their domains and their sharing (perms): `/v2/apps/...` except config and settings."""
from __future__ import annotations

import random
from typing import Any

from werkzeug.wrappers import Response

from sandbox.deis.auth import app_for, user_named
from sandbox.deis.errors import PERMISSION_DENIED, REQUIRED, ApiError, detail, invalid_data, not_found
from sandbox.deis.http import Call, empty_response, paginate
from sandbox.deis.state import ControllerState, now_utc
from sandbox.deis.validation import APP_ID, APP_ID_MAX_LENGTH, SLUG, validate_domain


# Words for generated app names, in the spirit of the controller's `generate_app_name()`.
_ADJECTIVES = (
    "ablest absurd actual allied artful atomic august bamboo benign blonde blurry bolder breezy bubbly burley "
    "calmer candid casual cheery classy clever convex cubist dainty dapper decent deluxe docile double dreamy "
    "eldest elfish elvish exotic famous fluffy frozen gaslit gilded glossy golden gothic grassy groovy hearty "
    "heroic honest humble iambic icebox jagged jovial kindly lively loudly lovely lumpen mellow merry modern"
).split()
_NOUNS = (
    "aerial amulet apache arcade armada ashtray badger beacon bedpan bikini bitmap blazer bonbon bovine "
    "breeze buzzer cabana caboose caddie candle cannon cement cheddar chimney cobalt coffee condor cowboy "
    "crayon custard dagger dakota debris decoy diesel dingbat doctor dolphin donkey dugout eagle eggnog "
    "elixir emblem engine ermine falcon fender ferris finch fondue forger gazebo gelato gopher gravel hamlet"
).split()


class AppHandlers:
    """`/v2/apps`, `/v2/apps/{id}`, its domains and perms."""

    _names: random.Random  # draws generated app names

    def _apps_list(self, call: Call) -> tuple[int, Any]:
        state = call.state
        return 200, paginate(call, state.visible_ids(call.user), lambda app_id: state.apps[app_id].as_json())

    def _app_create(self, call: Call) -> tuple[int, Any]:
        data = call.data
        if not isinstance(data, dict):
            raise invalid_data(data)
        state = call.state
        app_id = data.get("id")
        if app_id in (None, ""):
            app_id = self._generate_name(state)
        else:
            app_id = str(app_id)
            problems = []
            if len(app_id) > APP_ID_MAX_LENGTH:
                problems.append(f"Ensure this field has no more than {APP_ID_MAX_LENGTH} characters.")
            if not SLUG.match(app_id):
                problems.append('Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.')
            if not APP_ID.match(app_id):
                problems.append("App name can only contain a-z (lowercase), 0-9 and hypens")
            if app_id in state.apps:
                problems.append("app with this id already exists.")
            if problems:
                raise ApiError(400, {"id": problems})
        app = state.create_app(app_id, call.user.username, now_utc())
        return 201, app.as_json()

    def _generate_name(self, state: ControllerState) -> str:
        while True:
            name = f"{self._names.choice(_ADJECTIVES)}-{self._names.choice(_NOUNS)}"
            if name not in state.apps:
                return name

    def _app_get(self, call: Call, id: str) -> tuple[int, Any]:
        return 200, app_for(call, id).as_json()

    def _app_update(self, call: Call, id: str) -> Response:
        app = app_for(call, id)
        data = call.data if isinstance(call.data, dict) else {}
        if data.get("owner"):
            if call.user.username != app.owner and not call.user.is_superuser:
                raise detail(403, PERMISSION_DENIED)
            new_owner = user_named(call, data["owner"])
            previous_owner = app.owner
            app.owner = new_owner.username
            call.state.refresh_visibility(previous_owner, app)
            call.state.refresh_visibility(new_owner.username, app)
        app.updated = now_utc()
        return empty_response(200)

    def _app_delete(self, call: Call, id: str) -> Response:
        app = app_for(call, id)
        call.state.remove_app(app)
        return empty_response(204)

    # -- config --------------------------------------------------------------------------------------------------
    def _domains_list(self, call: Call, id: str) -> tuple[int, Any]:
        app = app_for(call, id)
        domains = call.state.domains
        return 200, paginate(call, list(app.domains), lambda name: domains[name].as_json())

    def _domain_create(self, call: Call, id: str) -> tuple[int, Any]:
        app = app_for(call, id)
        data = call.data
        if not isinstance(data, dict):
            raise invalid_data(data)
        raw = data.get("domain")
        if raw is None:
            raise ApiError(400, {"domain": [REQUIRED]})
        if not str(raw):
            raise ApiError(400, {"domain": ["This field may not be blank."]})
        raw = str(raw)
        try:
            domain_name = validate_domain(raw)
        except ValueError as error:
            raise ApiError(400, {"domain": [str(error)]}) from error
        if domain_name in call.state.domains:
            # Same words whether the other app is this one or not: the controller only checks existence.
            shown = raw[:-1] if raw.endswith(".") else raw
            raise ApiError(400, {"domain": [f"The domain {shown} is already in use by another app"]})
        domain = call.state.add_domain(app, domain_name, call.user.username, now_utc())
        return 201, domain.as_json()

    def _domain_delete(self, call: Call, id: str, domain: str) -> Response:
        app = app_for(call, id)
        if domain not in app.domains:
            raise not_found("Domain")
        call.state.remove_domain(app, domain)
        return empty_response(204)

    # -- perms ---------------------------------------------------------------------------------------------------
    def _perms_list(self, call: Call, id: str) -> tuple[int, Any]:
        app = app_for(call, id)
        return 200, {"users": sorted(app.shared_with)}

    def _perm_create(self, call: Call, id: str) -> Response:
        app = app_for(call, id)
        if not (call.user.is_superuser or app.owner == call.user.username):
            raise detail(403, PERMISSION_DENIED)
        user = user_named(call, call.field("username"))
        app.shared_with.add(user.username)
        call.state.refresh_visibility(user.username, app)
        return empty_response(201)

    def _perm_delete(self, call: Call, id: str, username: str) -> Response:
        app = call.state.apps.get(id)
        if app is None:
            raise not_found("App")
        user = user_named(call, username)
        # guardian's has_perm is True for superusers on every object; anyone else needs an explicit share.
        if not (user.is_superuser or user.username in app.shared_with):
            raise detail(403, PERMISSION_DENIED)
        requester = call.user
        if user.username != requester.username and not (
            requester.is_superuser or app.owner == requester.username
        ):
            raise detail(403, PERMISSION_DENIED)
        app.shared_with.discard(user.username)
        call.state.refresh_visibility(user.username, app)
        return empty_response(204)

    # -- admin ---------------------------------------------------------------------------------------------------
