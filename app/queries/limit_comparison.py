"""Comparing an app's actual limits with its limit set, process type by process type.

Deis spells the same quantity several ways ("1G" and "1024M", "0.5" and "500m"), so values are compared as
quantities when they parse and as text otherwise. A value may be `request/limit`; both halves must match.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|K|KB|M|MB|G|GB)?$", re.IGNORECASE)
MEMORY_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3}
CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")


@dataclass(frozen=True)
class LimitRow:
    """One process type: what it runs with, what the limit set wants, and whether they differ."""

    process_type: str
    memory: str | None
    desired_memory: str | None
    cpu: str | None
    desired_cpu: str | None
    memory_differs: bool
    cpu_differs: bool

    @property
    def differs(self) -> bool:
        return self.memory_differs or self.cpu_differs


def _memory_bytes(part: str) -> float | None:
    match = MEMORY.match(part.strip())
    return float(match.group(1)) * MEMORY_UNITS[(match.group(2) or "").upper()] if match else None


def _cpu_cores(part: str) -> float | None:
    match = CPU.match(part.strip())
    if not match:
        return None
    return float(match.group(1)) / (1000 if match.group(2) else 1)


def same_limit(kind: str, actual: object, desired: object) -> bool:
    """Whether two memory (`kind` "memory") or cpu values mean the same limit."""
    if actual is None or desired is None:
        return actual is None and desired is None
    actual_parts, desired_parts = str(actual).split("/"), str(desired).split("/")
    if len(actual_parts) != len(desired_parts):
        return False
    parse = _memory_bytes if kind == "memory" else _cpu_cores
    for actual_part, desired_part in zip(actual_parts, desired_parts):
        actual_value, desired_value = parse(actual_part), parse(desired_part)
        if actual_value is None or desired_value is None:
            if actual_part.strip() != desired_part.strip():
                return False
        elif abs(actual_value - desired_value) > 1e-9 * max(actual_value, desired_value, 1):
            return False
    return True


def compare_limits(
    memory: dict, cpu: dict, desired_memory: dict | None = None, desired_cpu: dict | None = None
) -> list[LimitRow]:
    """A row per process type found on either side; a side the limit set leaves unset is never a difference."""
    desired_memory, desired_cpu = desired_memory or {}, desired_cpu or {}
    process_types = sorted(set(memory) | set(cpu) | set(desired_memory) | set(desired_cpu))
    rows = []
    for process_type in process_types:
        wanted_memory, wanted_cpu = desired_memory.get(process_type), desired_cpu.get(process_type)
        rows.append(LimitRow(
            process_type=process_type,
            memory=memory.get(process_type),
            desired_memory=wanted_memory,
            cpu=cpu.get(process_type),
            desired_cpu=wanted_cpu,
            memory_differs=wanted_memory is not None and not same_limit("memory", memory.get(process_type),
                                                                      wanted_memory),
            cpu_differs=wanted_cpu is not None and not same_limit("cpu", cpu.get(process_type), wanted_cpu),
        ))
    return rows
