"""Scenario files as someone editing one by hand might leave them: the loader either reads a scenario the panel can
run against, or refuses with a ScenarioError naming the field, never another exception."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from app.cluster_settings import ClusterSettingsError, parse_clusters
from sandbox import scenario as scenarios
from tests.fuzz.examples import count

TEST_SCENARIO = yaml.safe_load((scenarios.SCENARIO_DIR / "test.yaml").read_text())
LEAF_VALUES = st.sampled_from(["Mars/Olympus", "Europe/", "-eu", "UTC", "", "eu-prod", "Etc/../UTC", "a" * 70,
                               24, -1, 23]) | st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                        st.text(max_size=30), st.sampled_from(["Mars/Olympus", "Europe/", "-eu", "UTC", "", "eu-prod",
                                                               "24", "Etc/../UTC", "Europe/Dublin"]),
                        st.lists(st.text(max_size=5), max_size=2), st.dictionaries(st.text(max_size=5),
                                                                                    st.text(max_size=5), max_size=2))


def _paths(document, prefix=()):
    """Every (path to a value) inside the document."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*prefix, index))


PATHS = [path for path in _paths(TEST_SCENARIO) if path]
# What the panel reads from a scenario (through DEIS_CLUSTERS) gets half of the edits.
PANEL_PATHS = [path for path in PATHS if path[0] in ("regions", "panel_user")]


def _edited(data) -> dict:
    document = copy.deepcopy(TEST_SCENARIO)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(PANEL_PATHS) | st.sampled_from(PATHS))
        parent = document
        try:
            for part in path[:-1]:
                parent = parent[part]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = data.draw(LEAF_VALUES)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    return document


def _panel_clusters(scenario: scenarios.Scenario) -> list[dict]:
    """DEIS_CLUSTERS as `sandbox.platform` hands it to the panel, with placeholder addresses and tokens."""
    return [{"name": cluster.name, "url": f"http://127.0.0.1:1/{cluster.name}", "username": scenario.panel_user.username,
             "token": "token", "region": region.name, "aws_region": region.aws_region, "timezone": region.timezone,
             "backup_hour": region.backup_hour, "kind": cluster.kind, "monitored_from": cluster.monitored_from,
             "load_balancer": cluster.load_balancer}
            for region in scenario.regions for cluster in region.clusters]


@given(st.data())
def test_an_edited_scenario_loads_into_one_the_panel_accepts_or_is_refused_by_field(data):
    count("sandbox.scenario.parse(edited)")
    try:
        scenario = scenarios.parse(_edited(data), source="edited.yaml")
    except scenarios.ScenarioError as error:
        assert str(error).startswith("edited.yaml: ")
        return
    import json

    try:
        parse_clusters(json.dumps(_panel_clusters(scenario)))
    except ClusterSettingsError as error:
        raise AssertionError(f"the sandbox loads a scenario whose clusters the panel refuses: {error}") from None


@given(st.text(max_size=200) | st.from_regex(r"\A(name: [a-z]+\n)?(regions: *\[?[^\n]{0,20}\]?\n)?[ -~\n]{0,60}\Z"))
def test_any_file_loads_or_is_refused_with_a_scenario_error(tmp_path_factory, text):
    count("sandbox.scenario.load(text)")
    path = Path(tmp_path_factory.mktemp("scenario", numbered=True)) / "fuzzed.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        scenarios.load(path)
    except scenarios.ScenarioError as error:
        assert str(path) in str(error)
