"""Soaks: long runs that only `make soak` starts (marked `soak`, left out of `make test`).

They look for what short runs cannot show: memory that keeps growing, receipts that stop
flowing, reconciliation that drifts after many binds were dropped and re-made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOAK_SECONDS = os.environ.get("CARRIER_SIM_SOAK", "300s")

pytestmark = [pytest.mark.soak, pytest.mark.timeout(3600)]


@pytest.mark.parametrize("scenario", ["flaky-network", "sla-breach", "baseline"])
def test_a_long_run_keeps_its_gates_and_reconciles(scenario, tmp_path):
    report = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "run", str(ROOT / "scenarios" / f"{scenario}.yaml"),
         "--duration", SOAK_SECONDS, "--report-dir", str(report)],
        capture_output=True, text=True, timeout=3000, cwd=tmp_path,
    )
    assert result.returncode == (1 if scenario == "sla-breach" else 0), result.stdout[-4000:]
    gates = {g["name"]: g for g in json.loads((report / "gates.json").read_text())["gates"]}
    assert gates["reconcile"]["passed"], gates["reconcile"]
    assert gates["expect_success_rate"]["passed"], gates["expect_success_rate"]


SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_each_ready_scenario_with_its_own_load_makes_thousands_of_sends_and_keeps_its_promise(scenario, tmp_path):
    """As the README runs them: the scenario's own users and duration, no override."""
    report = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "simulator.cli", "run", str(scenario), "--report-dir", str(report)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == (1 if scenario.stem == "sla-breach" else 0), result.stdout[-4000:]
    document = json.loads((report / "gates.json").read_text())
    gates = {g["name"]: g for g in document["gates"]}
    assert document["facts"]["submitted"] >= 5000, document["facts"]["submitted"]
    assert gates["min_sends"]["passed"] and gates["sample_size"]["passed"] and gates["load_errors"]["passed"]
    assert gates["expect_success_rate"]["passed"], gates["expect_success_rate"]
    print(document["verdict"])
