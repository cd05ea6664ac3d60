"""Scenario files: a bad file is refused before anything starts, naming file, line, field and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.scenario import ScenarioError, load_scenario, parse_scenario

SCENARIOS = sorted(Path(__file__).resolve().parent.parent.joinpath("scenarios").glob("*.yaml"))


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "scenarios/x.yaml")
    return str(err.value)


def test_a_probability_above_one_names_the_file_line_and_field():
    text = "name: x\nfaults:\n  - {kind: latency, receipt: {dist: fixed, ms: 1}}\n  - {kind: provider_failure, probability: 1.5}\n"
    assert error_of(text) == "scenarios/x.yaml:4 faults[1].probability: must be <= 1.0, got 1.5"


def test_unknown_keys_are_errors_not_ignored():
    assert error_of("carrier:\n  listen: 127.0.0.1:2775\n  acounts: []\n") == (
        "scenarios/x.yaml:3 carrier.acounts: unknown key (not part of this section)"
    )


def test_an_unknown_fault_kind_lists_the_known_ones():
    message = error_of("faults:\n  - {kind: gremlins}\n")
    assert message.startswith("scenarios/x.yaml:2 faults[0]: unknown kind 'gremlins'")
    assert "provider_failure" in message and "latency" in message


def test_a_password_longer_than_smpp_allows_is_refused_at_load():
    message = error_of("carrier:\n  accounts:\n    - {system_id: qa, password: qa-secret}\n")
    assert message == "scenarios/x.yaml:3 carrier.accounts[0].password: must be at most 8 characters, got 'qa-secret'"


def test_a_distribution_error_points_at_the_distribution():
    message = error_of("faults:\n  - kind: latency\n    receipt: {dist: lognormal, median_ms: 50, p99_ms: 5}\n")
    assert message == "scenarios/x.yaml:3 faults[0].receipt: p99_ms must be >= median_ms"


def test_traffic_must_name_number_groups_that_exist():
    text = "numbers:\n  groups:\n    active: {prefix: '86138'}\nload:\n  traffic: {active: 90, ghosts: 10}\n"
    assert error_of(text) == (
        "scenarios/x.yaml:5 load.traffic.ghosts: no number group 'ghosts' in numbers.groups (known: active)"
    )


def test_two_faults_with_the_same_name_are_refused():
    text = "faults:\n  - {kind: latency, receipt: {dist: fixed, ms: 1}}\n  - {kind: latency, receipt: {dist: fixed, ms: 2}}\n"
    assert "faults[1]: fault name 'latency' is used twice" in error_of(text)


def test_broken_yaml_gives_the_line():
    assert error_of("name: x\nfaults: [\n  {kind: latency\n").startswith("scenarios/x.yaml:")


def test_every_error_is_reported_not_just_the_first():
    message = error_of("seed: nope\ncarrier:\n  deliver_window: 0\n")
    assert "scenarios/x.yaml:1 seed:" in message and "scenarios/x.yaml:3 carrier.deliver_window: must be >= 1" in message


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")


def test_an_empty_file_is_the_default_scenario(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    scenario = load_scenario(path)
    assert scenario.carrier.accounts[0].system_id == "qa"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_shipped_scenario_is_valid_and_documented(path):
    scenario = load_scenario(path)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("#") and len(first) > 10, "each scenario starts with a comment saying what it shows"
    assert scenario.name == path.stem


def test_group_names_like_off_and_no_stay_names_not_booleans():
    scenario = parse_scenario("numbers:\n  groups:\n    off: {prefix: '86137', state: powered_off}\n    no: {prefix: '1'}\n")
    assert list(scenario.numbers.groups) == ["off", "no"]
    assert parse_scenario("faults:\n  - {kind: latency, enabled: false, receipt: {dist: fixed, ms: 1}}\n").faults[0].enabled is False
