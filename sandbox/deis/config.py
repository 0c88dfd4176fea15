"""An app's config (values and limits: a POST makes a release) and its settings."""
from __future__ import annotations

import uuid
from typing import Any

from sandbox.deis.auth import app_for
from sandbox.deis.errors import ApiError, detail, invalid_data, server_error
from sandbox.deis.http import Call, paginate
from sandbox.deis.state import AppConfig, AppSettings, now_utc
from sandbox.deis.validation import (CONFIG_FIELDS, json_field, merge_healthcheck, merge_settings_dict, parse_boolean,
                                     parse_whitelist, settings_json)


class ConfigHandlers:
    """`/v2/apps/{id}/config` and `/v2/apps/{id}/settings`."""

    def _config_get(self, call: Call, id: str) -> tuple[int, Any]:
        app = app_for(call, id)
        return 200, app.config.as_json(app.id)

    def _config_post(self, call: Call, id: str) -> tuple[int, Any]:
        app = app_for(call, id)
        data = call.data
        if not isinstance(data, dict):
            raise server_error()
        # 1. serializer validation: every field checked, errors reported together as {"field": ["message"]}
        posted: dict[str, dict[str, Any]] = {}
        errors: dict[str, list[str]] = {}
        for name, validate in CONFIG_FIELDS.items():
            if name not in data:
                continue
            if data[name] is None:
                errors[name] = ["This field may not be null."]
                continue
            posted[name] = json_field(data[name])
            message = validate(posted[name])
            if message:
                errors[name] = [message]
        if errors:
            raise ApiError(400, errors)
        # 2. merge into the previous config (Config.save): null unsets, unsetting a missing key is a 422
        previous = app.config
        merged: dict[str, dict[str, Any]] = {}
        for name in ("cpu", "memory", "tags", "registry", "values"):
            current = dict(getattr(previous, name))
            for key, value in posted.get(name, {}).items():
                if value is None:
                    if key not in current:
                        raise detail(422, f"{key} does not exist under {name}")
                    del current[key]
                else:
                    current[key] = str(value)  # JSONFieldSerializer renders every value as a string
            merged[name] = current
        merged["healthcheck"] = merge_healthcheck(previous.healthcheck, posted.get("healthcheck", {}))
        if merged["registry"] and merged["values"].get("PORT") is None:
            raise detail(400, "PORT needs to be set in the config when using a private registry")
        if merged["tags"]:
            # The controller looks for Kubernetes nodes carrying these labels; the sandbox has none.
            labels = ", ".join(f"{key}={value}" for key, value in merged["tags"].items())
            raise detail(400, f"No nodes matched the provided labels: {labels}")
        # 3. the new release: nothing changed means no release, and a 409 naming the requesting user
        if all(merged[name] == getattr(previous, name) for name in merged):
            raise detail(409, f"{call.user.username} changed nothing - release stopped")
        now = now_utc()
        app.config = AppConfig(uuid=str(uuid.uuid4()), owner=call.user.username, created=now, updated=now, **merged)
        app.release(call.user.username, _summary(call.user.username, previous, app.config), now)
        app.updated = now
        # The controller deploys the new release before it answers (minutes on a real cluster); the config is
        # already saved meanwhile, so a client that gave up waiting can read it back.
        call.deploys = True
        return 201, app.config.as_json(app.id)

    def _releases_list(self, call: Call, id: str) -> tuple[int, Any]:
        app = app_for(call, id)
        return 200, paginate(call, list(reversed(app.releases)), lambda release: release.as_json(app.id))

    # -- settings ------------------------------------------------------------------------------------------------
    def _settings_get(self, call: Call, id: str) -> tuple[int, Any]:
        app = app_for(call, id)
        return 200, app.settings.as_json(app.id)

    def _settings_post(self, call: Call, id: str) -> tuple[int, Any]:
        app = app_for(call, id)
        data = call.data
        if not isinstance(data, dict):
            raise invalid_data(data)
        previous = app.settings
        errors: dict[str, list[str]] = {}
        maintenance = parse_boolean(data, "maintenance", errors)
        routable = parse_boolean(data, "routable", errors)
        whitelist = parse_whitelist(data, errors)
        autoscale = settings_json(data, "autoscale", errors)
        label = settings_json(data, "label", errors)
        if errors:
            raise ApiError(400, errors)
        new = AppSettings(
            uuid=str(uuid.uuid4()),
            owner=call.user.username,
            maintenance=previous.maintenance if maintenance is None else maintenance,
            routable=previous.routable if routable is None else routable,
            whitelist=previous.whitelist if not whitelist else whitelist,
            autoscale=merge_settings_dict(previous.autoscale, autoscale, "autoscale"),
            label=merge_settings_dict(previous.label, label, "label"),
        )
        unchanged = (
            new.maintenance == previous.maintenance
            and new.routable == previous.routable
            and set(new.whitelist) == set(previous.whitelist)
            and new.autoscale == previous.autoscale
            and new.label == previous.label
        )
        if unchanged:
            raise detail(409, f"{call.user.username} changed nothing")
        app.settings = new
        return 201, new.as_json(app.id)

    # -- domains -------------------------------------------------------------------------------------------------


def _summary(user: str, previous: AppConfig, config: AppConfig) -> str:
    """What the controller writes on a config release: "<user> added A, changed B, removed C" (limits likewise)."""
    parts = []
    for verb, keys in _changes(previous.values, config.values):
        parts.append(f"{verb} {', '.join(keys)}")
    for name in ("memory", "cpu"):
        for verb, keys in _changes(getattr(previous, name), getattr(config, name)):
            parts.append(f"{verb} {name} limits for {', '.join(keys)}")
    return f"{user} {' and '.join(parts) or 'changed the config'}"


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, list[str]]]:
    added = sorted(set(after) - set(before))
    changed = sorted(key for key in set(after) & set(before) if after[key] != before[key])
    removed = sorted(set(before) - set(after))
    return [(verb, keys) for verb, keys in (("added", added), ("changed", changed), ("removed", removed)) if keys]
