"""The gates, one at a time at their boundaries in both directions, and the evidence gates that keep
a run that did no work from passing: too few sends, a sample too small to decide, a user that
raised. Pure: figures and tallies built by hand, no Locust, no sockets."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree as ET

import pytest

from loadtests.gates import (
    Gate,
    at_least,
    at_most,
    check,
    load_errors_gate,
    min_sends_gate,
    rate_gates,
    sample_gate,
    traffic_gates,
)
from loadtests.plan import default_min_sends, user_seconds
from loadtests.tally import Tally
from loadtests.verdict import EXIT_GATES_FAILED, EXIT_INTERRUPTED, EXIT_LOAD_FAILED, EXIT_OK, exit_code
from loadtests.verdict import verdict_line, write_junit
from simulator.metering.intervals import binomial_interval, sends_to_tell_from
from simulator.metering.meter import SlaFigures
from simulator.scenario import Scenario


def figures(delivered: int, failed: int = 0, invalid: int = 0) -> SlaFigures:
    f = SlaFigures()
    if delivered:
        f.add("delivered", "", delivered)
    if failed:
        f.add("definite_failure", "provider_failure", failed)
    if invalid:
        f.add("invalid_number", "nonexistent", invalid)
    return f


def scenario(**gates) -> Scenario:
    return Scenario.model_validate({"name": "t", "load": {"users": 4, "duration": "10s"}, "gates": gates})


def tally(submitted: int = 0, **submits: int) -> Tally:
    t = Tally()
    t.count_submitted(submitted)
    for status, n in submits.items():
        t.submits[status] += n
    return t


# ------------------------------------------------------------------ the comparisons themselves
@pytest.mark.parametrize("measured, passed", [(0.95, True), (0.9501, True), (0.9499, False), (None, False)])
def test_at_least_passes_at_and_above_its_limit_only(measured, passed):
    assert at_least("g", measured, 0.95, "ratio").passed is passed


@pytest.mark.parametrize("measured, passed", [(250, True), (249.9, True), (250.1, False), (None, False)])
def test_at_most_passes_at_and_below_its_limit_only(measured, passed):
    assert at_most("g", measured, 250, "ms").passed is passed


def test_min_success_rate_fails_below_and_passes_at_the_limit():
    s = scenario(min_success_rate=0.95)
    (low,) = rate_gates(s, figures(94, 6))
    (at,) = rate_gates(s, figures(95, 5))
    assert (low.passed, at.passed) == (False, True)
    assert low.measured == pytest.approx(0.94) and low.limit == 0.95
    assert low.why_failed() == "min_success_rate 94.00 % < 95.00 %"


def test_expect_success_rate_passes_inside_its_interval_and_fails_on_either_side():
    s = scenario(expect_success_rate={"value": 0.9, "interval": "binomial-99"})
    n = 10_000
    lo, hi = binomial_interval(0.9, n, 0.99)
    inside = round(lo * n) + 1
    (gate,) = rate_gates(s, figures(inside, n - inside))
    assert gate.passed and gate.limit == [lo, hi]
    below = int(lo * n) - 1
    above = int(hi * n) + 2
    assert not rate_gates(s, figures(below, n - below))[0].passed
    assert not rate_gates(s, figures(above, n - above))[0].passed


def test_expect_success_rate_without_valid_sends_fails():
    s = scenario(expect_success_rate={"value": 1.0})
    (gate,) = rate_gates(s, figures(0, 0, invalid=50))
    assert not gate.passed and gate.measured is None


def test_max_error_ratio_is_an_upper_bound_and_needs_answered_submits():
    s = scenario(max_error_ratio={"ESME_RTHROTTLED": 0.5})
    (half,) = traffic_gates(s, tally(100, ESME_ROK=50, ESME_RTHROTTLED=50), 10, None)
    (more,) = traffic_gates(s, tally(100, ESME_ROK=49, ESME_RTHROTTLED=51), 10, None)
    (none,) = traffic_gates(s, tally(100, LOST=100), 10, None)
    assert (half.passed, more.passed, none.passed) == (True, False, False)


def test_min_throughput_counts_written_submits_over_the_submitting_time():
    s = scenario(min_throughput=100)
    (exact,) = traffic_gates(s, tally(1000), 10, None)
    (short,) = traffic_gates(s, tally(999), 10, None)
    assert exact.passed and exact.measured == 100
    assert not short.passed


def test_max_p99_without_timings_fails():
    s = scenario(max_p99_submit_ms=50)
    assert traffic_gates(s, tally(10), 10, 50.0)[0].passed
    assert not traffic_gates(s, tally(10), 10, 50.1)[0].passed
    assert not traffic_gates(s, tally(10), 10, None)[0].passed


# ------------------------------------------------------------------ evidence: volume
def test_min_sends_defaults_to_eighty_percent_of_a_paced_load():
    s = Scenario.model_validate({"load": {"users": 8, "duration": "20s", "rate_per_user": 60, "spawn_rate": 8}})
    limit, why = default_min_sends(s.load, 8, 20.0)
    # 8 users ramp at 8/s for 1 s: 8 x 20 - 8 x 1 / 2 = 156 user-seconds, x 60/s x 80 %
    assert user_seconds(s.load, 8, 20.0) == pytest.approx(156)
    assert limit == int(0.8 * 60 * 156)
    assert min_sends_gate(tally(limit), s, 8, 20.0).passed
    gate = min_sends_gate(tally(limit - 1), s, 8, 20.0)
    assert not gate.passed and gate.evidence and "rate_per_user" in gate.detail


def test_eight_sends_do_not_pass_a_run_that_asked_for_thousands():
    s = Scenario.model_validate({"load": {"users": 8, "duration": "20s", "rate_per_user": 60}})
    assert not min_sends_gate(tally(8), s, 8, 20.0).passed


def test_an_unpaced_load_must_reach_a_floor_per_user():
    s = Scenario.model_validate({"load": {"users": 10, "duration": "10s", "spawn_rate": 1000}})
    limit, why = default_min_sends(s.load, 10, 10.0)
    assert limit == int(20 * (10 * 10 - 10 * 0.01 / 2)) and "unpaced" in why


def test_a_stated_min_sends_overrides_the_default():
    s = scenario(min_sends=5)
    assert min_sends_gate(tally(5), s, 4, 10).passed
    assert not min_sends_gate(tally(4), s, 4, 10).passed


def test_stages_give_the_user_seconds_of_their_users():
    s = Scenario.model_validate({"load": {"stages": [{"duration": "10s", "users": 10, "spawn_rate": 1},
                                                     {"duration": "10s", "users": 20, "spawn_rate": 100}]}})
    assert user_seconds(s.load, 0, 20) == pytest.approx(10 * 10 - 10 * 10 / 2 + 20 * 10 - 10 * 0.1 / 2)
    assert user_seconds(s.load, 0, 5) == pytest.approx(12.5)  # still ramping at 1 user/s


# ------------------------------------------------------------------ evidence: sample size
def test_eight_perfect_sends_cannot_tell_the_rate_from_a_95_percent_target():
    gate = sample_gate(figures(8), 0.95, None, 0.95)
    assert gate is not None and not gate.passed and gate.evidence
    needed = sends_to_tell_from(1.0, 0.95, 0.99)
    assert gate.limit == needed == 127  # the figure the README quotes
    assert not sample_gate(figures(needed - 1), 0.95, None, 0.95).passed
    assert sample_gate(figures(needed), 0.95, None, 0.95).passed


def test_a_breach_far_below_the_target_is_decided_by_a_small_sample():
    assert sample_gate(figures(880, 120), 0.95, 0.88, 0.95).passed


def test_an_expectation_needs_an_interval_narrower_than_its_distance_to_the_target():
    gate = sample_gate(figures(979, 21), None, 0.98, 0.95)
    assert gate.passed  # +-3 points needs 177 valid sends
    gate = sample_gate(figures(99, 1), None, 0.98, 0.95)
    assert not gate.passed and gate.limit == 177


def test_a_measured_rate_equal_to_the_limit_is_never_decided():
    gate = sample_gate(figures(95, 5), 0.95, None, 0.95)
    assert not gate.passed and "no sample decides it" in gate.detail


def test_no_rate_gate_means_no_sample_gate():
    assert sample_gate(figures(5), None, None, 0.95) is None


def test_no_valid_sends_fail_the_sample_gate():
    assert not sample_gate(figures(0, 0, invalid=100), 0.95, None, 0.95).passed


# ------------------------------------------------------------------ evidence: load errors
def test_a_user_exception_fails_the_load_errors_gate_and_the_run_exits_4():
    t = tally(100)
    t.user_error("TypeError", "Traceback ...\nTypeError: boom\n")
    gate = load_errors_gate(t)
    assert not gate.passed and gate.measured == 1 and "TypeError x1" in gate.detail
    others = [at_least("min_sends", 100, 10, "count")]
    assert exit_code([*others, gate], interrupted=False, load_failed=False) == EXIT_LOAD_FAILED
    assert load_errors_gate(tally(100)).passed


def test_exit_codes_in_order_of_precedence():
    ok, bad = at_least("a", 1, 1, "count"), at_least("b", 0, 1, "count")
    assert exit_code([ok], interrupted=False, load_failed=False) == EXIT_OK
    assert exit_code([ok, bad], interrupted=False, load_failed=False) == EXIT_GATES_FAILED
    assert exit_code([ok], interrupted=False, load_failed=True) == EXIT_LOAD_FAILED
    assert exit_code([ok], interrupted=True, load_failed=True) == EXIT_INTERRUPTED


# ------------------------------------------------------------------ the verdict and its files
def test_the_verdict_line_names_the_failed_comparisons():
    gates = [at_least("min_sends", 9600, 7664, "count"), at_least("min_success_rate", 0.8804, 0.95, "ratio"),
             at_most("max_p99_submit_ms", 12.0, 50, "ms")]
    facts = {"submitted": 9600, "success_rate": 0.8804}
    assert (verdict_line("sla-breach", gates, facts, interrupted=False, load_failure=None)
            == "carrier-sim: FAILED 1 of 3 gates: min_success_rate 88.04 % < 95.00 %")
    gates[1] = at_least("min_success_rate", 0.9796, 0.95, "ratio")
    assert (verdict_line("flaky-network", gates, {"submitted": 9600, "success_rate": 0.9796}, interrupted=False,
                         load_failure=None)
            == "carrier-sim: PASSED 3/3 gates (flaky-network, 9,600 sends, 97.96 %)")
    assert verdict_line("x", gates, facts, interrupted=True, load_failure=None, elapsed=7).startswith(
        "carrier-sim: INTERRUPTED after 7 s: 3/3 gates passed on partial data")


def test_junit_has_a_testsuites_root_with_time_and_timestamp(tmp_path):
    gates = [at_least("min_sends", 10, 5, "count"), at_least("min_success_rate", 0.5, 0.95, "ratio")]
    path = tmp_path / "junit.xml"
    write_junit(gates, path, "demo", started=1_790_000_000.0, elapsed=12.5)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "1"
    (suite,) = root
    assert suite.tag == "testsuite" and suite.get("time") == "12.500"
    assert suite.get("timestamp") == "2026-09-21T14:13:20"
    cases = {c.get("name"): c for c in suite}
    assert cases["min_success_rate"].find("failure").get("message") == "min_success_rate 50.00 % < 95.00 %"
    assert cases["min_sends"].find("failure") is None


def test_gates_json_carries_numbers_not_formatted_strings():
    gate = Gate("expect_success_rate", True, 0.98, [0.97, 0.99], "ratio", "within")
    data = json.loads(json.dumps(gate.as_dict()))
    assert data["measured"] == 0.98 and data["limit"] == [0.97, 0.99]
    assert data["measured_text"] == "98.00 %"


def test_check_of_a_run_with_no_tally_and_no_ledger_fails_on_evidence(tmp_path):
    """A run that left nothing behind (Locust died before writing its tally) must not pass."""
    s = scenario(min_success_rate=0.95, reconcile="exact")
    settings = SimpleNamespace(scenario=s, users=4, duration=10.0)
    artifacts = SimpleNamespace(tally=tmp_path / "tally.json", ledger=tmp_path / "ledger.sqlite",
                                locust_csv_prefix=tmp_path / "locust")
    gates, facts = check(settings, artifacts)  # type: ignore[arg-type]
    verdicts = {g.name: g.passed for g in gates}
    assert verdicts["min_sends"] is False and verdicts["sample_size"] is False
    assert verdicts["min_success_rate"] is False
    assert facts["submitted"] == 0


def test_every_ready_scenario_asks_for_a_volume_that_decides_its_rate_gates():
    """With their own load sections, the ready scenarios ask for thousands of sends (a floor for the
    unpaced ones, which make far more), more than any of their rate gates needs."""
    from loadtests.gates import expected_rate
    from loadtests.plan import seconds
    from simulator.scenario import load_scenario

    for path in sorted(Path(__file__).resolve().parent.parent.joinpath("scenarios").glob("*.yaml")):
        s = load_scenario(path)
        limit, _ = default_min_sends(s.load, s.load.users, seconds(s.load.duration))
        assert limit >= 3000, (path.name, limit)
        expected, _ = expected_rate(s)
        if expected is not None and s.gates.min_success_rate is not None and expected != s.gates.min_success_rate:
            need = sends_to_tell_from(expected, s.gates.min_success_rate, 0.99)
            assert need is not None and need < limit / 4, (path.name, need, limit)


def test_junit_validates_against_the_junit_schema_and_reads_in_a_junit_consumer(tmp_path):
    """The shape CI servers read: our schema file (tests/data/junit.xsd, Jenkins' junit-10 model),
    and junitparser (a JUnit XML library from PyPI) as an independent reader."""
    import junitparser
    import xmlschema

    gates = [at_least("min_sends", 10, 5, "count"), at_least("min_success_rate", 0.5, 0.95, "ratio"),
             at_most("max_p99_submit_ms", 12.0, 50, "ms")]
    path = tmp_path / "junit.xml"
    write_junit(gates, path, "demo", started=1_790_000_000.0, elapsed=3.25, interrupted=True)
    schema = xmlschema.XMLSchema(Path(__file__).with_name("data") / "junit.xsd")
    schema.validate(str(path))
    xml = junitparser.JUnitXml.fromfile(str(path))
    (suite,) = list(xml)
    assert (suite.tests, suite.failures, suite.errors, suite.time) == (3, 1, 0, 3.25)
    failed = [case.name for case in suite if not case.is_passed]
    assert failed == ["min_success_rate"]
