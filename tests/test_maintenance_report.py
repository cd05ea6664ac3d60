"""The maintenance-window scenario's report separates pre-notified windows (excluded) from surprise
windows (definite failures, to valid numbers only) - issue 12, "Done when".

The ready scenario has only pre-notified windows (its rate stays 100 %, which tests/test_scenarios.py
and tests/test_run.py pin); here a surprise window and invalid numbers are added to it. Outcomes come
from the pipeline; the figures expected are counted from the submit times, written out here."""

from __future__ import annotations

from pathlib import Path

from simulator.faults.outcome import Submission
from simulator.faults.pipeline import FaultPipeline
from simulator.ledger.reader import Record
from simulator.metering.html import render_html
from simulator.metering.report import build_report
from simulator.metering.text import render_text
from simulator.scenario import Scenario, load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
T0 = 1_795_000_000.0


def scenario_with_a_surprise_window() -> Scenario:
    data = load_scenario(SCENARIOS / "maintenance-window.yaml").model_dump(mode="json", exclude_unset=True)
    data["faults"].append({"kind": "maintenance", "name": "surprise", "start": "16s", "duration": "2s",
                           "mode": "reject_submits"})
    data["numbers"]["groups"]["gone"] = {"prefix": "8613900", "state": "nonexistent"}
    return Scenario.model_validate(data)


def test_pre_notified_and_surprise_windows_are_told_apart_in_the_report():
    scenario = scenario_with_a_surprise_window()
    pipeline = FaultPipeline(scenario, clock=lambda: 0.0)
    pipeline.start(0.0)
    records = []
    for i in range(2000):  # 20 s at 100/s; every tenth message to a nonexistent number
        t = i / 100
        destination = ("8613900" if i % 10 == 0 else "8613800") + f"{i:06d}"
        o = pipeline.decide(Submission("qa", 0, "1000", destination, 0, 0, b"hi", 1, 1, i, None), t)
        accepted = o.submit_status == 0
        records.append(Record("run", str(i) if accepted else None, "qa", destination, "notification", 1, T0 + t,
                              o.submit_status, True, "DELIVRD" if accepted else None, "000" if accepted else None,
                              T0 + t + 0.05 if accepted else None, o.sla_class.value, o.reason))
    report = build_report(records, scenario.sla, scenario=scenario, generated_at=T0 + 30)
    [cycle] = report["cycles"]
    # 5-9 s: 400 refused, pre-notified, 40 of them to nonexistent numbers (invalid_number first);
    # 16-18 s: 200 refused by surprise, 20 of them to nonexistent numbers; 200 nonexistent in all
    assert cycle["left_out"]["excluded"]["reasons"] == {"pre_notified_maintenance": 360}
    assert cycle["definite_failure_reasons"] == {"maintenance": 180}
    assert cycle["left_out"]["invalid_number"]["reasons"] == {"nonexistent": 200}
    assert cycle["valid_sends"] == 2000 - 360 - 200
    text = render_text(report)
    pre = next(line for line in text.splitlines() if "pre_notified_maintenance" in line)
    surprise = next(line for line in text.splitlines() if "surprise maintenance window" in line)
    assert "360" in pre and "no: left out" in pre and "announced in advance" in pre
    assert "180" in surprise and "yes: a failure" in surprise
    html = render_html(report)
    assert "a surprise maintenance window" in html and "a maintenance window announced in advance" in html
