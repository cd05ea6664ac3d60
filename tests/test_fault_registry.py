"""The fault registry: a kind is one file, the scenario imports no fault machinery, and every kind
declares its stage, its SLA verdict and its analytic effect in that one file.

The worked example of docs/design.md ("adding a fault kind") is QUEUE_FULL below: it is loaded as
simulator/faults/kinds/queue_full.py in a fresh interpreter (so the registry of this process is
left alone) and must work through a scenario file, the pipeline and the expectation with no other
file touched. Expected figures are worked out here from the parameters.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

QUEUE_FULL = '''\
"""queue_full: the carrier answers ESME_RMSGQFUL to `probability` of submits nothing refused before.

Its own queue, not the provider, refuses them: excluded ("carrier_queue_full") unless `sla:` says
otherwise. One file: the parameters, the registration, the decision and the analytic effect.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.smpp.constants import CommandStatus

from ..analytic import Effect, Walk, settles_unsettled
from ..base import Fault, FaultSpec, FaultStage
from ..outcome import Outcome, SlaClass, Submission
from ..registry import fault_kind


class QueueFullSpec(FaultSpec):
    """Refuse `probability` of submits with `status` (default ESME_RMSGQFUL)."""

    kind: Literal["queue_full"] = "queue_full"
    status: int = Field(default=CommandStatus.ESME_RMSGQFUL, gt=0, le=0xFFFFFFFF)


@fault_kind(QueueFullSpec, stage=FaultStage.ADMISSION, sla=(SlaClass.EXCLUDED, "carrier_queue_full"))
class QueueFull(Fault):
    spec: QueueFullSpec

    def eligible(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        return not outcome.settled  # before the draw: a refused message takes nothing from the stream

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        outcome.refuse(self.spec.status)
        self.classify(outcome)  # the kind's verdict, or the scenario's `sla:`
        return True  # acted: the pipeline counts the hit

    def expected(self, walk: Walk) -> Effect | None:
        return settles_unsettled(self.verdict)  # applied with `probability` by the expectation
'''

DRIVER = '''
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("simulator.faults.kinds.queue_full", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)  # what registry.load() does for a file in simulator/faults/kinds/

from simulator.faults.outcome import Submission
from simulator.faults.pipeline import FaultPipeline
from simulator.metering.expectation import analyse_expectation
from simulator.scenario import ScenarioError, parse_scenario

scenario = parse_scenario(sys.argv[2])
pipeline = FaultPipeline(scenario)
outcomes = [pipeline.decide(Submission("qa", 1, "1000", f"86138{i:08d}", 0, 0, b"hi", 1, 1, i), 0.0)
            for i in range(int(sys.argv[3]))]
refused = [o for o in outcomes if o.submit_status]
try:
    parse_scenario("faults:\\n  - {kind: queue_full, status: 0}\\n", "bad.yaml")
    bad = ""
except ScenarioError as exc:
    bad = str(exc)
expectation = analyse_expectation(scenario)
print(json.dumps({
    "hits": pipeline.by_name["queue_full"].hits,
    "refused": len(refused),
    "statuses": sorted({o.submit_status for o in refused}),
    "verdicts": sorted({(o.sla_class.value, o.reason, o.decided_by) for o in refused}),
    "bad": bad,
    "rate": expectation.rate,
    "shares": sorted([c, r, round(s, 12)] for (c, r), s in expectation.shares.items()),
}))
'''


def run_example(tmp_path: Path, scenario: str, sends: int) -> dict:
    kind_file = tmp_path / "queue_full.py"
    kind_file.write_text(QUEUE_FULL, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, str(kind_file), scenario, str(sends)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={"PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_new_kind_in_one_file_is_validated_drawn_counted_and_expected(tmp_path):
    sends, p = 10_000, 0.1
    scenario = textwrap.dedent("""\
        faults:
          - {kind: queue_full, probability: 0.1}
          - {kind: provider_failure, probability: 0.05}
        """)
    out = run_example(tmp_path, scenario, sends)
    # about p of the sends (4 sigma of the binomial), each refusal counted once as a hit; the
    # provider failures come in the receipt, so every refusal at submit is the queue's
    assert abs(out["hits"] - sends * p) <= 4 * (sends * p * (1 - p)) ** 0.5
    assert out["refused"] == out["hits"]
    assert out["statuses"] == [0x14]  # ESME_RMSGQFUL
    assert out["verdicts"] == [["excluded", "carrier_queue_full", "queue_full"]]
    assert "bad.yaml:2 faults[0].status: must be > 0, got 0" in out["bad"]
    # excluded first (10 %), then 5 % of the rest fail on the provider's side: the rate is 95 %
    assert abs(out["rate"] - 0.95) < 1e-12
    assert out["shares"] == [["definite_failure", "provider_failure", 0.045],
                             ["delivered", "", 0.855],
                             ["excluded", "carrier_queue_full", 0.1]]


def test_a_new_kind_takes_the_scenarios_sla_override(tmp_path):
    scenario = "faults:\n  - {kind: queue_full, probability: 0.2, sla: {class: definite_failure}}\n"
    out = run_example(tmp_path, scenario, 2_000)
    assert out["verdicts"] == [["definite_failure", "carrier_queue_full", "queue_full"]]
    assert abs(out["rate"] - 0.8) < 1e-12  # 20 % of valid sends fail: 1 - 0.2


def test_the_scenario_imports_no_fault_machinery_until_a_scenario_is_validated():
    code = ("import sys, simulator.scenario, simulator.scenario.loader\n"
            "print(sorted(m for m in sys.modules if m.startswith('simulator.faults')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
