"""Limit values as anyone may type them: the checks accept only what Deis takes, refuse the rest in words, and
compare quantities consistently."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.limit_values import (
    CPUSHARE_MATCH, MEMLIMIT_MATCH, MEMORY_UNITS, MIN_MEMORY_BYTES, PROCTYPE_MATCH, LimitValueError, check_cpu,
    check_memory, check_process_type, parse_assignments, quantity, same_limit,
)
from tests.fuzz.examples import count

LIMIT_TEXT = st.one_of(st.text(max_size=30),
                       st.from_regex(r"\A[ +\-0-9./mMKGB]{0,14}\Z"),
                       st.from_regex(MEMLIMIT_MATCH.pattern), st.from_regex(CPUSHARE_MATCH.pattern))
UNITS = st.sampled_from(sorted(unit for unit in MEMORY_UNITS if unit))


@given(LIMIT_TEXT)
def test_a_memory_value_is_accepted_as_deis_would_or_refused_in_words(value):
    count("limit_values.check_memory")
    try:
        accepted = check_memory(value)
    except LimitValueError as error:
        assert str(error)
        return
    assert accepted == value.strip() and MEMLIMIT_MATCH.match(accepted)
    assert same_limit("memory", accepted, accepted)
    request, limit = quantity("memory", accepted)
    assert all(size == 0 or size >= MIN_MEMORY_BYTES for size in (request, limit) if size is not None)
    assert request is None or request <= limit


@given(LIMIT_TEXT)
def test_a_cpu_value_is_accepted_as_deis_would_or_refused_in_words(value):
    count("limit_values.check_cpu")
    try:
        accepted = check_cpu(value)
    except LimitValueError as error:
        assert str(error)
        return
    assert accepted == value.strip() and CPUSHARE_MATCH.match(accepted)
    assert same_limit("cpu", accepted, accepted)
    request, limit = quantity("cpu", accepted)
    assert limit >= 0 and (request is None or 0 <= request <= limit)


@given(st.integers(min_value=4, max_value=10**6), st.sampled_from(["M", "MB", "m", "mb"]))
def test_the_same_memory_in_other_units_is_the_same_limit(megabytes, unit):
    count("limit_values.same_limit(memory units)")
    assert same_limit("memory", check_memory(f"{megabytes}{unit}"), check_memory(f"{megabytes * 1024}K"))
    if megabytes % 1024 == 0:
        assert same_limit("memory", f"{megabytes}{unit}", f"{megabytes // 1024}G")
    assert not same_limit("memory", f"{megabytes}M", f"{megabytes}M/{megabytes}M")  # a request is a difference


@given(st.integers(min_value=0, max_value=64_000))
def test_millicores_and_cores_are_the_same_limit(millicores):
    count("limit_values.same_limit(cpu units)")
    cores = Decimal(millicores) / 1000
    assert same_limit("cpu", check_cpu(f"{millicores}m"), check_cpu(f"{cores:f}"))


@given(st.text(max_size=40))
def test_a_process_type_is_a_deis_config_key_or_refused(name):
    count("limit_values.check_process_type")
    try:
        check_process_type(name)
    except LimitValueError:
        assert not PROCTYPE_MATCH.match(name)
        return
    assert PROCTYPE_MATCH.match(name) and "\n" not in name and name == name.strip()


@given(st.sampled_from(["memory", "cpu"]), st.lists(st.text(max_size=20), max_size=5))
def test_assignments_parse_or_are_refused_in_words(kind, assignments):
    count("limit_values.parse_assignments")
    try:
        limits = parse_assignments(kind, assignments)
    except LimitValueError as error:
        assert str(error)
        return
    assert len(limits) == len(assignments)
    for process_type, value in limits.items():
        assert PROCTYPE_MATCH.match(process_type)
        assert (check_memory if kind == "memory" else check_cpu)(value) == value


@given(st.sampled_from(["memory", "cpu"]), st.text(max_size=20), st.text(max_size=20))
def test_comparison_is_symmetric_and_never_fails(kind, first, second):
    count("limit_values.same_limit(symmetric)")
    assert same_limit(kind, first, second) == same_limit(kind, second, first)
    assert same_limit(kind, first, first)
