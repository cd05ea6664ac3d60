"""Load stages: the plan (loadtests/plan.py, pure: tested here in-process), the Locust shape that
walks it (loadtests/shape.py imports Locust: tested in a subprocess) and one short `carrier-sim run`
of a scenario with `load.stages` that must show it ran them: Locust's own per-second history of the
user count goes 2 then 4 and holds 4 through the drain, the simulator's audit has exactly four binds,
and the min_sends gate's limit is the stages' user-seconds, not users x duration.

The user-seconds are checked against an independent oracle: the user count integrated step by step
as Locust ramps it (towards each stage's count at its spawn rate, a stage starting where the last
one left off), not against the formula in plan.py.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.plan import (
    UNPACED_FLOOR_PER_USER,
    VOLUME_TOLERANCE,
    default_min_sends,
    seconds,
    stage_plan,
    user_seconds,
)
from simulator.ledger.reader import LedgerReader
from simulator.scenario import Load, LoadStage

ROOT = Path(__file__).resolve().parent.parent


def load(stages: list[tuple[str, int, float | None]] = (), **fields) -> Load:
    return Load(stages=[LoadStage(duration=d, users=u, spawn_rate=r) for d, u, r in stages], **fields)


def integrated_user_seconds(load: Load, users: int, duration: float, dt: float = 0.0005) -> float:
    """The oracle: the user count moved towards each stage's count at its spawn rate, dt by dt, and
    summed (trapezoids) over the first `duration` seconds. Without stages: `users` the whole time."""
    stages = [(seconds(s.duration), s.users, s.spawn_rate or load.spawn_rate) for s in load.stages]
    stages = stages or [(duration, users, load.spawn_rate)]
    total, count, t, end = 0.0, 0.0, 0.0, 0.0
    for length, target, rate in stages:
        end = min(end + length, duration)
        while t < end - 1e-12:
            step = min(dt, end - t)
            after = min(target, count + rate * step) if count < target else max(target, count - rate * step)
            total += (count + after) / 2 * step
            count, t = after, t + step
    return total


# ------------------------------------------------------------------------------------ durations
@pytest.mark.parametrize("text, expected", [
    ("500ms", 0.5), ("30s", 30.0), ("2.5s", 2.5), ("5m", 300.0), ("1h", 3600.0), (" 4s ", 4.0), ("0s", 0.0),
])
def test_seconds_reads_every_unit(text, expected):
    assert seconds(text) == expected


@pytest.mark.parametrize("text", ["", "5", "s", "5 s", "-1s", "1d", "1.s", "five seconds", "1e3s"])
def test_seconds_refuses_what_is_not_a_duration(text):
    with pytest.raises(ValueError, match=r"not a duration: .* \(use e\.g\. 500ms, 30s, 5m, 1h\)"):
        seconds(text)


# ------------------------------------------------------------------------------------ the plan
def test_the_stage_plan_ends_each_stage_at_its_cumulative_time_then_holds_the_last_count_through_the_drain():
    plan = stage_plan(load([("2s", 2, None), ("1.5s", 4, 8.0), ("500ms", 1, None)], users=10, spawn_rate=3,
                           drain="3s"))
    assert plan == [(2.0, 2, 3.0), (3.5, 4, 8.0), (4.0, 1, 3.0), (7.0, 1, 3.0)]


def test_without_stages_the_plan_is_the_drain_at_the_load_s_users():
    assert stage_plan(load(users=7, spawn_rate=5, drain="2s")) == [(2.0, 7, 5.0)]


# ------------------------------------------------------------------------------------ user-seconds
CASES = {
    "no stages, a ramp": (load(users=8, spawn_rate=4), 8, 20.0),
    "no stages, still ramping when the time is up": (load(users=10, spawn_rate=1), 10, 5.0),
    "two stages up": (load([("2s", 2, None), ("2s", 4, None)], spawn_rate=100), 0, 4.0),
    "up then down, each stage its own rate": (load([("5s", 10, 10.0), ("5s", 2, 4.0)], spawn_rate=1), 0, 10.0),
    "down while the time runs out": (load([("5s", 10, 10.0), ("5s", 0, 1.0)], spawn_rate=1), 0, 7.0),
    "time up in the first stage": (load([("10s", 6, 2.0), ("10s", 12, None)], spawn_rate=1), 0, 4.0),
    "time past the stages": (load([("3s", 3, 30.0)], spawn_rate=1), 0, 10.0),
    "a stage of zero users": (load([("2s", 4, 8.0), ("2s", 0, 8.0), ("2s", 4, 8.0)], spawn_rate=1), 0, 6.0),
}


@pytest.mark.parametrize("case", CASES)
def test_user_seconds_are_the_integral_of_the_user_count(case):
    spec, users, duration = CASES[case]
    assert user_seconds(spec, users, duration) == pytest.approx(integrated_user_seconds(spec, users, duration),
                                                                rel=1e-4, abs=1e-3)


def test_user_seconds_of_a_stage_that_ends_before_its_ramp():
    """(Was a bug: the next stage started from the previous stage's target, not the count reached.)"""
    spec = load([("1s", 10, 1.0), ("10s", 10, 1.0)], spawn_rate=1)  # 1 user after 1 s, 10 only at 10 s
    assert user_seconds(spec, 0, 11.0) == pytest.approx(integrated_user_seconds(spec, 0, 11.0), rel=1e-3)


def test_the_default_volume_is_80_percent_of_the_paced_rate_over_the_stages():
    spec = load([("2s", 2, None), ("2s", 4, None)], spawn_rate=100, rate_per_user=40)
    # by hand: 2 users for 2 s less half their 0.02 s ramp, then 4 for 2 s less half the ramp from 2
    us = 2 * 2 - 2 * 0.02 / 2 + 4 * 2 - 2 * 0.02 / 2
    assert us == pytest.approx(11.96)
    limit, why = default_min_sends(spec, 10, 4.0)  # `users` plays no part when there are stages
    assert limit == int(VOLUME_TOLERANCE * 40 * us) == 382
    assert why == "80% of rate_per_user 40/s x 12 user-seconds"


def test_the_default_volume_of_an_unpaced_load_is_its_floor_per_user_second():
    limit, why = default_min_sends(load(users=3, spawn_rate=30), 3, 10.0)
    assert limit == int(UNPACED_FLOOR_PER_USER * (3 * 10 - 3 * 0.1 / 2)) == 597
    assert why == "unpaced: at least 20/s per user x 30 user-seconds"


def test_the_default_volume_is_never_below_one_submit():
    assert default_min_sends(load([("1s", 0, None)], rate_per_user=1), 5, 1.0) == (
        1, "80% of rate_per_user 1/s x 0 user-seconds")


# ------------------------------------------------------------------------------------ the shape (Locust)
SHAPE_SCRIPT = r'''
import json, os, sys, time

from loadtests.shape import shape_for_environment

out = {}
for name, path in json.loads(sys.argv[1]).items():
    if path is None:
        os.environ.pop("CARRIER_SIM_SCENARIO", None)
    else:
        os.environ["CARRIER_SIM_SCENARIO"] = path
    shape = shape_for_environment()
    if shape is None:
        out[name] = None
        continue
    instance = shape()
    ticks = {}
    for at in json.loads(sys.argv[2]):
        instance.start_time = time.perf_counter() - at  # Locust's clock, `at` seconds into the run
        tick = instance.tick()
        ticks[str(at)] = list(tick) if tick is not None else None
    out[name] = ticks
print(json.dumps(out))
'''

STAGED = """\
name: staged
seed: 3
carrier:
  receipt_delay_ms: 20
  accounts:
    - {system_id: qa, password: qa-pass, max_binds: 4}
numbers:
  groups:
    active: {prefix: "8613800", state: active}
load:
  users: 10            # not what runs: the stages say how many users, and when
  spawn_rate: 100
  duration: 4s         # the stages' total
  drain: 2s
  rate_per_user: 40
  window: 10
  traffic: {active: 100}
  templates: ["【Acme】Your code is {code}"]
  stages:
    - {duration: 2s, users: 2}
    - {duration: 2s, users: 4}
gates:
  min_success_rate: 0.95
  reconcile: exact
"""


def test_the_shape_walks_the_stages_then_holds_the_last_count_through_the_drain_then_stops(tmp_path):
    staged = tmp_path / "staged.yaml"
    staged.write_text(STAGED)
    plain = tmp_path / "plain.yaml"
    plain.write_text(STAGED.split("  stages:")[0] + "gates: {}\n")
    times = [0, 1.95, 2.05, 3.95, 4.05, 5.95, 6.05, 60]
    result = subprocess.run([sys.executable, "-c", SHAPE_SCRIPT,
                             json.dumps({"staged": str(staged), "plain": str(plain), "unset": None}),
                             json.dumps(times)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["plain"] is None and out["unset"] is None  # Locust's own -u/-r/-t apply
    assert out["staged"] == {"0": [2, 100.0], "1.95": [2, 100.0], "2.05": [4, 100.0], "3.95": [4, 100.0],
                             "4.05": [4, 100.0], "5.95": [4, 100.0],  # the drain holds 4 users
                             "6.05": None, "60": None}


# ------------------------------------------------------------------------------------ a staged run
def test_a_staged_run_runs_its_stages_and_passes_its_gates(tmp_path):
    scenario = tmp_path / "staged.yaml"
    scenario.write_text(STAGED)
    report = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "simulator.cli", "run", str(scenario), "--report-dir",
                             str(report)], capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1].startswith("carrier-sim: PASSED ")

    # Locust's history of the user count (one row a second): 2, then 4, held through the drain
    with (report / "locust_stats_history.csv").open(newline="") as f:
        counts = [int(row["User Count"]) for row in csv.DictReader(f) if row["Name"] == "Aggregated"]
    assert max(counts) == 4 and 2 in counts, counts
    first_four = counts.index(4)
    assert set(counts[:first_four]) <= {0, 1, 2} and set(counts[first_four:]) == {4}, counts
    assert counts[first_four:].count(4) >= 3, counts  # the second stage and the drain

    # the simulator saw four users bind, never the load's `users: 10`
    with LedgerReader(report / "ledger.sqlite") as ledger:
        binds = [a for a in ledger.audit() if a["action"] == "bind"]
        refused = [a for a in ledger.audit() if a["action"] == "bind.refused"]
    assert len(binds) == 4 and refused == []

    gates = json.loads((report / "gates.json").read_text())
    by_name = {g["name"]: g for g in gates["gates"]}
    tally = json.loads((report / "tally.json").read_text())
    assert by_name["min_sends"]["limit"] == 382  # 80 % x 40/s x 11.96 user-seconds of the stages
    assert by_name["min_sends"]["measured"] == tally["submitted"] >= 382
    assert all(g["passed"] for g in gates["gates"]), gates["gates"]
    assert set(by_name) == {"min_sends", "sample_size", "load_errors", "min_success_rate", "reconcile"}
    assert gates["facts"]["bind_failures"] == {} and gates["facts"]["rebinds"] == 0


def test_stages_set_how_long_users_submit_and_a_disagreeing_duration_is_refused():
    from simulator.scenario import Scenario, ScenarioError, parse_scenario

    stages = [{"duration": "2s", "users": 2}, {"duration": "3s", "users": 4}]
    assert Scenario.model_validate({"load": {"stages": stages}}).load.duration == "5s"
    assert Scenario.model_validate({"load": {"stages": stages, "duration": "5s"}}).load.duration == "5s"
    text = "load:\n  duration: 9s\n  stages:\n    - {duration: 2s, users: 2}\n    - {duration: 3s, users: 4}\n"
    with pytest.raises(ScenarioError, match=r"duration 9s disagrees with the stages, which last 5s"):
        parse_scenario(text, "staged.yaml")


def test_run_refuses_a_duration_override_of_a_staged_scenario(tmp_path):
    scenario = tmp_path / "staged.yaml"
    scenario.write_text("name: staged\nload:\n  stages:\n    - {duration: 2s, users: 2}\n")
    result = subprocess.run([sys.executable, "-m", "simulator.cli", "run", str(scenario), "--duration", "9s",
                             "--report-dir", str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "load.stages set how long users submit" in result.stderr
