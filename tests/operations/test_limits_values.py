"""Limit values: refused exactly where Deis (or Kubernetes under it) would refuse them, and compared as quantities."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.limit_values import (LimitValueError, check_cpu, check_memory, check_process_type, limit_differences,
                              parse_assignments, same_limit)
from sandbox.deis.validation import CONFIG_FIELDS


@pytest.mark.parametrize(("actual", "wanted"), [
    ("1024M", "1G"), ("512M", "0.5G"), ("1g", "1G"), ("1GB", "1G"), ("4096K", "4M"), ("256M/512M", "256MB/0.5G"),
    ("0/1G", "0/1024M"),
])
def test_memory_spelled_differently_is_the_same_limit(actual, wanted):
    assert same_limit("memory", actual, wanted)


@pytest.mark.parametrize(("actual", "wanted"), [
    ("1000m", "1"), ("500m", "0.5"), ("250m/1", "250m/1000m"), ("1.5", "1500m"), ("100m", "0.1"),
])
def test_cpu_spelled_differently_is_the_same_limit(actual, wanted):
    assert same_limit("cpu", actual, wanted)


@pytest.mark.parametrize(("kind", "actual", "wanted"), [
    ("memory", "1G", "1G/1G"),  # a single value sets only the limit: not the same as a request of 1G
    ("memory", "256M/512M", "512M/256M"), ("memory", "512M", "513M"), ("cpu", "250m/1", "250m/2"),
    ("cpu", "1", "1000m/1000m"), ("memory", None, "1G"), ("cpu", "500m", None),
])
def test_pairs_compare_as_pairs_and_different_quantities_differ(kind, actual, wanted):
    assert not same_limit(kind, actual, wanted)


@pytest.mark.parametrize(("value", "words"), [
    ("64", "A bare number has no unit: write 64M"),
    ("3M", "below the minimum of 4M"),
    ("-1G", "cannot be negative"),
    ("abc", "not a value Deis takes"),
    ("0.5G", "write 0.5G as 512M"),
    ("1G/0", "not a value Deis takes"),
    ("2G/1G", "request above its limit"),
    ("", "not a value Deis takes"),
])
def test_bad_memory_is_refused_with_a_clear_message(value, words):
    with pytest.raises(LimitValueError, match=words.replace("(", r"\(")) as refused:
        check_memory(value)
    assert "Memory" in str(refused.value)


@pytest.mark.parametrize(("value", "words"), [
    ("abc", "not a value Deis takes"), ("-1", "negative"), ("500M", "not a value Deis takes"),
    ("2/1", "request above its limit"), ("1/2/3", "not a value Deis takes"),
])
def test_bad_cpu_is_refused_with_a_clear_message(value, words):
    with pytest.raises(LimitValueError, match=words):
        check_cpu(value)


@pytest.mark.parametrize("name", ["Web", "web_1", "-web", "web-", "we--b", "", "web worker"])
def test_process_type_names_deis_refuses_are_refused(name):
    with pytest.raises(LimitValueError, match="not one Deis allows"):
        check_process_type(name)


@pytest.mark.parametrize("value", ["4M", "64m", "1GB", "1g", "0", "0/1G", "256M/512M", "4194304B", "4096K"])
def test_memory_deis_takes_is_kept(value):
    assert check_memory(f" {value} ") == value


@pytest.mark.parametrize("value", ["500m", "1", "0.5", "250m/1", ".5", "2/2"])
def test_cpu_deis_takes_is_kept(value):
    assert check_cpu(value) == value


def test_assignments_are_parsed_and_checked():
    assert parse_assignments("memory", ["web=64M", "worker=32M/64M"]) == {"web": "64M", "worker": "32M/64M"}
    with pytest.raises(LimitValueError, match="not PROC=VALUE"):
        parse_assignments("memory", ["64M"])
    with pytest.raises(LimitValueError, match="given twice"):
        parse_assignments("cpu", ["web=1", "web=2"])
    with pytest.raises(LimitValueError, match="not one Deis allows"):
        parse_assignments("cpu", ["Web=1"])


def test_differences_leave_missing_process_types_and_extras_alone_unless_unset_extra():
    structure, memory, cpu = {"web": 2}, {"web": "1024M", "cron": "64M"}, {"web": "1"}
    wanted_memory, wanted_cpu = {"web": "1G", "worker": "256M"}, {"web": "500m"}
    differences = limit_differences(structure, memory, cpu, wanted_memory, wanted_cpu)
    # web memory already matches (1024M is 1G); the app has no worker, so it is not forced; cron is left alone
    assert [(d.process_type, d.kind, d.wanted, d.actual) for d in differences] == [("web", "cpu", "500m", "1")]
    with_unset = limit_differences(structure, memory, cpu, wanted_memory, wanted_cpu, unset_extra=True)
    assert [(d.process_type, d.kind, d.wanted, d.actual) for d in with_unset] == [
        ("cron", "memory", None, "64M"), ("web", "cpu", "500m", "1")]


MEMORY_TEXT = st.from_regex(r"\A[-+]?[0-9]{0,5}(\.[0-9])?(B|K|M|G|KB|MB|GB|b|k|m|g|X)?(/[0-9]{0,5}[BKMG]?)?\Z")


@given(MEMORY_TEXT)
def test_whatever_the_panel_accepts_the_controller_accepts(value):
    """The simulator carries the controller's serializer rules: a value the panel lets through is never a 400."""
    try:
        check_memory(value)
    except LimitValueError:
        return
    assert CONFIG_FIELDS["memory"]({"web": value}) is None


@given(st.from_regex(r"\A[-+]?[0-9]{0,3}\.?[0-9]{0,3}m?(/[-+]?[0-9]{0,3}\.?[0-9]{1,3}m?)?\Z"))
def test_whatever_cpu_the_panel_accepts_the_controller_accepts(value):
    try:
        check_cpu(value)
    except LimitValueError:
        return
    assert CONFIG_FIELDS["cpu"]({"web": value}) is None


@given(st.integers(min_value=1, max_value=4096))
def test_gigabytes_equal_their_megabytes(gigabytes):
    assert same_limit("memory", f"{gigabytes * 1024}M", f"{gigabytes}G")
    assert same_limit("cpu", f"{gigabytes * 1000}m", str(gigabytes))


@given(MEMORY_TEXT)
def test_whatever_memory_the_controller_accepts_the_panel_accepts_unless_kubernetes_would_refuse(value):
    if CONFIG_FIELDS["memory"]({"web": value}) is not None:
        return
    parts = value.split("/")
    try:
        check_memory(value)
    except LimitValueError as refused:
        # the one rule on top of the controller's: Kubernetes refuses a request above its limit
        assert len(parts) == 2 and "request above its limit" in str(refused)
