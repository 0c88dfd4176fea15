"""Memory and CPU limit values as Deis takes them: validation (the controller's own rules) and comparison.

Deis checks a limit with the patterns of its serializer (deis/controller `api/serializers.py`): memory is
`<n><B|K|M|G>` (optionally `KB`/`MB`/`GB`, any case) or `0`, CPU a number or millicores (`500m`), either one
possibly as `request/limit`; process type keys are lowercase alphanumeric words joined by single dashes. A value
that passes those patterns can still never be deployed: Kubernetes refuses memory under 4 MiB, negative CPU and a
request above its limit. The panel refuses all of these itself, so no value Deis or its scheduler would refuse is
ever sent. Comparison works on quantities (`1024M` is `1G`, `1000m` is `1`), pair by pair: a single value sets only
the limit, so `1G` is not `1G/1G`. Knows no Flask and no database.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

KINDS = ("memory", "cpu")
MIN_MEMORY_BYTES = 4 * 1024**2
# The controller's own patterns, verbatim.
PROCTYPE_MATCH = re.compile(r"^(?P<type>[a-z0-9]+(\-[a-z0-9]+)*)$")
MEMLIMIT_MATCH = re.compile(r"^(?P<mem>(([0-9]+(MB|KB|GB|[BKMG])|0)(/([0-9]+(MB|KB|GB|[BKMG])))?))$", re.IGNORECASE)
CPUSHARE_MATCH = re.compile(r"^(?P<cpu>(([-+]?[0-9]*\.?[0-9]+[m]?)(/([-+]?[0-9]*\.?[0-9]+[m]?))?))$")
# Reading is more lenient than writing: a value already on a cluster is compared as a quantity where it can be.
MEMORY_QUANTITY = re.compile(r"^(?P<number>[0-9]*\.?[0-9]+)\s*(?P<unit>KB|MB|GB|[BKMG])?$", re.IGNORECASE)
CPU_QUANTITY = re.compile(r"^(?P<number>[-+]?[0-9]*\.?[0-9]+)(?P<milli>m?)$")
MEMORY_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3}


class LimitValueError(ValueError):
    """A process type or limit value Deis (or Kubernetes under it) would refuse; the message says why and how."""


@dataclass(frozen=True)
class LimitDifference:
    """One key an app's config would have to change to match its limit set (`wanted` None: unset it)."""

    process_type: str
    kind: str  # memory | cpu
    wanted: str | None
    actual: str | None


def check_process_type(name: str) -> str:
    """The process type name, or LimitValueError when Deis would refuse it as a config key."""
    if not PROCTYPE_MATCH.match(name):
        raise LimitValueError(f"Process type {name[:40]!r} is not one Deis allows: lowercase letters and digits, "
                              "words joined by single dashes (web, worker, cron-daily).")
    return name


def check_memory(value: str) -> str:
    """A memory value Deis takes (returned stripped), or LimitValueError saying what is wrong with it."""
    value = value.strip()
    if not MEMLIMIT_MATCH.match(value):
        hint = ""
        if re.fullmatch(r"[0-9]+", value):
            hint = f" A bare number has no unit: write {value}M or {value}B."
        elif re.fullmatch(r"[0-9]*\.[0-9]+\s*[BKMG]B?", value, re.IGNORECASE):
            hint = " Deis takes whole numbers only: write 0.5G as 512M."
        elif value.startswith("-"):
            hint = " A memory limit cannot be negative."
        raise LimitValueError(f"Memory {value[:40]!r} is not a value Deis takes: <number><unit> or "
                              f"<number><unit>/<number><unit>, where unit = B, K, M or G (64M, 1G, 256M/512M).{hint}")
    request, limit = _pair(value, _memory_bytes)
    for size in (request, limit):
        if size is not None and 0 < size < MIN_MEMORY_BYTES:
            raise LimitValueError(f"Memory {value!r} is below the minimum of 4M that Kubernetes accepts.")
    if request is not None and limit is not None and request > limit:
        raise LimitValueError(f"Memory {value!r} asks for a request above its limit; Kubernetes refuses that.")
    return value


def check_cpu(value: str) -> str:
    """A CPU value Deis takes (returned stripped), or LimitValueError saying what is wrong with it."""
    value = value.strip()
    if not CPUSHARE_MATCH.match(value):
        raise LimitValueError(f"CPU {value[:40]!r} is not a value Deis takes: a number of cores or millicores, "
                              "or request/limit (1, 0.5, 500m, 250m/1).")
    request, limit = _pair(value, _cpu_millicores)
    if any(part is not None and part < 0 for part in (request, limit)):
        raise LimitValueError(f"CPU {value!r} is negative; Kubernetes refuses a negative CPU quantity.")
    if request is not None and limit is not None and request > limit:
        raise LimitValueError(f"CPU {value!r} asks for a request above its limit; Kubernetes refuses that.")
    return value


def check_limits(kind: str, limits: Mapping[str, str]) -> dict[str, str]:
    """Every process type and value of one kind (memory or cpu) checked; LimitValueError on the first bad one."""
    check = check_memory if kind == "memory" else check_cpu
    return {check_process_type(process_type.strip()): check(str(value)) for process_type, value in limits.items()}


def parse_assignments(kind: str, assignments: Iterable[str]) -> dict[str, str]:
    """`["web=64M", "worker=32M/64M"]` as a checked mapping; LimitValueError on a malformed or repeated one."""
    limits: dict[str, str] = {}
    for assignment in assignments:
        process_type, equals, value = assignment.partition("=")
        if not equals or not process_type.strip() or not value.strip():
            raise LimitValueError(f"{kind} {assignment[:40]!r} is not PROC=VALUE (web=64M).")
        if process_type.strip() in limits:
            raise LimitValueError(f"{kind} for process type {process_type.strip()!r} is given twice.")
        limits[process_type.strip()] = value
    return check_limits(kind, limits)


def _memory_bytes(part: str) -> Decimal | None:
    match = MEMORY_QUANTITY.match(part.strip())
    if match is None:
        return None
    return Decimal(match["number"]) * MEMORY_UNITS[(match["unit"] or "").upper()]


def _cpu_millicores(part: str) -> Decimal | None:
    match = CPU_QUANTITY.match(part.strip())
    if match is None:
        return None
    try:
        number = Decimal(match["number"])
    except InvalidOperation:
        return None
    return number if match["milli"] else number * 1000


def _pair(value: str, parse) -> tuple[Decimal | None, Decimal | None]:
    """(request, limit) of a value; a single value is the limit alone (Deis sets no request for it)."""
    request, slash, limit = value.partition("/")
    if not slash:
        return None, parse(value)
    return parse(request), parse(limit)


def quantity(kind: str, value: str) -> tuple[Decimal | None, Decimal | None] | None:
    """(request, limit) in bytes (memory) or millicores (cpu), or None when the value is no quantity at all."""
    parse = _memory_bytes if kind == "memory" else _cpu_millicores
    if str(value).count("/") > 1:
        return None
    request, limit = _pair(str(value), parse)
    if limit is None or ("/" in str(value) and request is None):
        return None
    return request, limit


def same_limit(kind: str, actual: str | None, wanted: str | None) -> bool:
    """Whether two values of one kind mean the same limits (None: no limit); text that is no quantity compares as
    text."""
    if actual is None or wanted is None:
        return actual is None and wanted is None
    actual_quantity, wanted_quantity = quantity(kind, str(actual)), quantity(kind, str(wanted))
    if actual_quantity is None or wanted_quantity is None:
        return str(actual).strip() == str(wanted).strip()
    return actual_quantity == wanted_quantity


def app_process_types(structure: Mapping[str, object], memory: Mapping[str, str], cpu: Mapping[str, str]) -> set[str]:
    """The process types an app has: those it runs (its structure) and those it already has limits for."""
    return set(structure) | set(memory) | set(cpu)


def limit_differences(structure: Mapping[str, object], memory: Mapping[str, str], cpu: Mapping[str, str],
                      wanted_memory: Mapping[str, str], wanted_cpu: Mapping[str, str],
                      unset_extra: bool = False) -> list[LimitDifference]:
    """What differs between an app's limits and its limit set, sorted by process type then kind.

    A process type of the set that the app does not have is not forced on it; a limit the app has that the set
    lacks is a difference only when the set says `unset_extra`.
    """
    process_types = app_process_types(structure, memory, cpu)
    differences = []
    for kind, actual, wanted in (("memory", memory, wanted_memory), ("cpu", cpu, wanted_cpu)):
        for process_type in sorted(process_types):
            if process_type in wanted:
                if not same_limit(kind, actual.get(process_type), wanted[process_type]):
                    differences.append(LimitDifference(process_type, kind, wanted[process_type],
                                                       actual.get(process_type)))
            elif unset_extra and process_type in actual:
                differences.append(LimitDifference(process_type, kind, None, actual[process_type]))
    return sorted(differences, key=lambda difference: (difference.process_type, KINDS.index(difference.kind)))
