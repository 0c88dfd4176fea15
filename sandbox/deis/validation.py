"""The controller's serializer rules, shared by seeding and the API: config values, limits, tags, domains, settings."""
from __future__ import annotations

import copy
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import idna

from sandbox.deis.errors import detail, server_error


APP_ID_MAX_LENGTH = 24
MIN_MEMORY_BYTES = 4 * 1024 * 1024

# The controller's own validation patterns (deis/controller api/serializers.py, final release).
APP_ID = re.compile(r"^[a-z0-9-]+$")
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
PROCTYPE_MATCH = re.compile(r"^(?P<type>[a-z0-9]+(\-[a-z0-9]+)*)$")
MEMLIMIT_MATCH = re.compile(r"^(?P<mem>(([0-9]+(MB|KB|GB|[BKMG])|0)(/([0-9]+(MB|KB|GB|[BKMG])))?))$", re.IGNORECASE)
CPUSHARE_MATCH = re.compile(r"^(?P<cpu>(([-+]?[0-9]*\.?[0-9]+[m]?)(/([-+]?[0-9]*\.?[0-9]+[m]?))?))$")
TAGVAL_MATCH = re.compile(r"^(?:[a-zA-Z\d][-\.\w]{0,61})?[a-zA-Z\d]$")
CONFIGKEY_MATCH = re.compile(r"^[a-z_]+[a-z0-9_]*$", re.IGNORECASE)
MEMORY_PART = re.compile(r"^(?P<number>[0-9]+)(?P<unit>MB|KB|GB|[BKMG])?$", re.IGNORECASE)
MEMORY_UNITS = {"B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3}

PROCTYPE_MISMATCH = "Process types can only contain lowercase alphanumeric characters"
CONFIGKEY_MISMATCH = "Config keys must start with a letter or underscore and only contain [A-z0-9_]"
MEMLIMIT_MISMATCH = (
    "Memory limit format: <number><unit> or <number><unit>/<number><unit>, where unit = B, K, M or G"
)
CPUSHARE_MISMATCH = "CPU limit format: <value> or <value>/<value>, where value must be a numeric"

def _memory_bytes(part: str) -> int:
    match = MEMORY_PART.match(part)
    if match is None:  # MEMLIMIT_MATCH already vouched for the shape; keep the type checker honest
        raise ValueError(part)
    unit = (match["unit"] or "B").upper()
    return int(match["number"]) * MEMORY_UNITS[unit]


def _validate_values(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if value is None:  # null unsets a key
            continue
        if not CONFIGKEY_MATCH.match(key):
            return CONFIGKEY_MISMATCH
        if key == "PORT":
            if not str(value).isnumeric():
                return "PORT can only be a numeric value"
            if int(value) not in range(1, 65536):
                return "PORT needs to be between 1 and 65535"
        if key == "HEALTHCHECK_URL":
            parts = urlsplit(str(value))
            if not parts.path:
                return f"{key} is missing a URI path (such as /healthz). Without it no health check can be done"
            if parts.query or parts.fragment or parts.netloc:
                return (
                    f"{key} can only be a URI path (such as /healthz) that does not contain other things "
                    "such as query params"
                )
        elif key.startswith("HEALTHCHECK_") and not str(value).isnumeric():
            return f"{key} can only be a numeric value"
    return None


def _validate_memory(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if value is None:
            continue
        if not PROCTYPE_MATCH.match(key):
            return PROCTYPE_MISMATCH
        if not MEMLIMIT_MATCH.match(str(value)):
            return MEMLIMIT_MISMATCH
        for part in str(value).split("/"):
            size = _memory_bytes(part)
            # Kubernetes (and Docker under it) refuse a memory limit under 4 MiB; "0" means "no request".
            if 0 < size < MIN_MEMORY_BYTES:
                return f"Memory limit {value} is below the minimum of 4M"
    return None


def _validate_cpu(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if value is None:
            continue
        if not PROCTYPE_MATCH.match(key):
            return PROCTYPE_MISMATCH
        if not CPUSHARE_MATCH.match(str(value)):
            return CPUSHARE_MISMATCH
    return None


def _validate_tags(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if value is None:
            continue
        prefix, name = key.split("/", 1) if "/" in key else (None, key)
        if prefix:
            if len(prefix) > 253:
                return "Tag key prefixes must 253 characters or less."
            if not TAGVAL_MATCH.match(prefix):
                return "Tag key prefixes must be DNS subdomains."
        if not TAGVAL_MATCH.match(name):
            return 'Tag keys must be alphanumeric or "-_.", and 1-63 characters.'
        if value and not TAGVAL_MATCH.match(str(value)):
            return 'Tag values must be alphanumeric or "-_.", and 1-63 characters.'
    return None


def _validate_registry(data: dict[str, Any]) -> str | None:
    for key, value in data.items():
        if value is not None and not CONFIGKEY_MATCH.match(key):
            return CONFIGKEY_MISMATCH
    return None


def _validate_healthcheck(data: dict[str, Any]) -> str | None:
    for healthcheck in data.values():
        if healthcheck is None:
            continue
        if not isinstance(healthcheck, dict):
            raise server_error()  # the controller calls .items() on it
        for key, probe in healthcheck.items():
            if probe is None:
                continue
            if key not in ("livenessProbe", "readinessProbe"):
                return "Healthcheck keys must be either livenessProbe or readinessProbe"
            if not isinstance(probe, dict):
                return f"could not validate {probe}: {probe!r} is not of type 'object'"
        liveness = healthcheck.get("livenessProbe")
        if isinstance(liveness, dict) and liveness.get("successThreshold") not in (None, 1):
            return "livenessProbe successThreshold can only be 1"
    return None


CONFIG_FIELDS: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "values": _validate_values,
    "memory": _validate_memory,
    "cpu": _validate_cpu,
    "tags": _validate_tags,
    "registry": _validate_registry,
    "healthcheck": _validate_healthcheck,
}


def json_field(raw: Any) -> dict[str, Any]:
    """The controller's JSONFieldSerializer: a JSON string is decoded (form posts send them), a dict kept."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as error:
            raise server_error() from error  # json.loads' ValueError escapes DRF's validation in the real service
    if not isinstance(raw, dict):
        raise server_error()  # validate_<field> calls .items() and crashes with an AttributeError
    return raw


_PLAIN_LABEL = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")


def _ace_label(label: str) -> str:
    """idna.alabel, with a fast path for plain ASCII labels (idna is slow enough to dominate seeding)."""
    if _PLAIN_LABEL.match(label) and label[2:4] != "--":
        return label  # what idna.alabel returns for such a label, byte for byte
    return str(idna.alabel(label).decode("utf-8", "strict"))


def validate_domain(value: str) -> str:
    """The controller's DomainSerializer.validate_domain (without the uniqueness check); returns the ACE form."""
    if value[-1:] == ".":
        value = value[:-1]
    if value == "*":
        raise ValueError("Hostname can't only be a wildcard")
    labels = value.split(".")
    wildcard = labels[0] == "*"
    if wildcard:
        labels.pop(0)
    try:
        labels = [_ace_label(label) for label in labels]
    except idna.IDNAError as error:
        raise ValueError(f"Hostname does not look valid, could not convert to ACE {value}: {error}") from error
    if labels[-1].isdigit():
        raise ValueError("Hostname does not look valid.")
    if wildcard:
        labels.insert(0, "*")
    ace_value = ".".join(labels)
    if len(ace_value) > 253:
        raise ValueError("Hostname must be 253 characters or less.")
    return ace_value


_TRUE_VALUES = {"t", "T", "y", "Y", "yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1", 1}
_FALSE_VALUES = {"f", "F", "n", "N", "no", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0", 0}


def merge_healthcheck(previous: dict[str, Any], posted: dict[str, Any]) -> dict[str, Any]:
    """Config.set_healthcheck: per proc type, per probe; null unsets, unsetting a missing one is a 422."""
    data = copy.deepcopy(previous)
    new_data = dict(posted)
    if "livenessProbe" in data or "readinessProbe" in data:
        data = {"web/cmd": data}
    if "livenessProbe" in new_data or "readinessProbe" in new_data:
        new_data = {"web/cmd": new_data}
    for key, value in new_data.items():
        if value is None:
            if key not in data:
                raise detail(422, f"{key} does not exist under healthcheck")
            data.pop(key)
            continue
        for probe_type, probe in value.items():
            if probe is None:
                if key not in data or probe_type not in data[key]:
                    raise detail(422, f"{key} does not exist under healthcheck")
                data[key].pop(probe_type)
            else:
                data.setdefault(key, {})[probe_type] = probe
    return data


def parse_boolean(data: dict[str, Any], name: str, errors: dict[str, list[str]]) -> bool | None:
    if name not in data or data[name] is None:
        return None
    value = data[name]
    try:
        if value in _TRUE_VALUES:
            return True
        if value in _FALSE_VALUES:
            return False
    except TypeError:  # unhashable (a list or an object)
        pass
    errors[name] = [f'"{value}" is not a valid boolean.']
    return None


def parse_whitelist(data: dict[str, Any], errors: dict[str, list[str]]) -> list[str]:
    value = data.get("whitelist")
    if value is None:
        return []
    if not isinstance(value, list):
        errors["whitelist"] = [f'Expected a list of items but got type "{type(value).__name__}".']
        return []
    for address in value:
        try:
            ipaddress.ip_network(str(address), strict=False)
        except ValueError:
            errors["whitelist"] = [f"The address {address} is not valid"]
            return []
    return [str(address) for address in value]


def settings_json(data: dict[str, Any], name: str, errors: dict[str, list[str]]) -> dict[str, Any]:
    if name not in data or data[name] is None:
        return {}
    value = json_field(data[name])
    if name == "autoscale":
        for rule in value.values():
            if rule is None:
                continue
            missing = [k for k in ("min", "max", "cpu_percent") if not isinstance(rule, dict) or k not in rule]
            wrong = [k for k in ("min", "max", "cpu_percent") if isinstance(rule, dict) and k in rule
                     and not isinstance(rule[k], int)]
            if missing or wrong:
                reason = f"'{(missing or wrong)[0]}' is a required property" if missing else (
                    f"{rule[wrong[0]]!r} is not of type 'integer'"
                )
                errors[name] = [f"could not validate {rule}: {reason}"]
                break
    return value


def merge_settings_dict(previous: dict[str, Any], posted: dict[str, Any], name: str) -> dict[str, Any]:
    """AppSettings.update_label / update_autoscale: an empty post keeps the old value; null unsets (422 if absent)."""
    data = copy.deepcopy(previous)
    if not posted or posted == data:
        return data
    for key, value in posted.items():
        if value is None:
            if key not in data:
                raise detail(422, f"{key} does not exist under {name}")
            del data[key]
        else:
            data[key] = value
    return data
