"""Gates: what a run must show to pass CI, checked against the ledger, the tally and Locust's stats.

Evidence first: three gates are always checked, so that no run passes on no data: `min_sends`
(the volume its load section asks for), `sample_size` (enough valid sends for the rate gates to
decide) and `load_errors` (no Locust user raised). Then the scenario's own gates. Each gate has a
number measured, a numeric limit and a verdict. Reads only; loadtests/verdict.py writes them out.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.ledger.reader import LedgerReader
from simulator.metering.intervals import (
    GATE_CONFIDENCE,
    binomial_interval,
    sends_for_resolution,
    sends_to_tell_from,
)
from simulator.metering.meter import SlaFigures, sla_figures

from .plan import default_min_sends
from .reconcile import TallyReconciliation, reconcile_tally
from .tally import Tally

if TYPE_CHECKING:
    from simulator.scenario import Scenario

    from .settings import RunArtifacts, RunSettings

SAMPLE_CONFIDENCE = 0.99
MIN_RESOLUTION = 0.005  # an expectation must be checked to within +-0.5 points at least
_UNITS: dict[str, Callable[[float], str]] = {
    "ratio": lambda v: f"{v * 100:.2f} %",
    "ms": lambda v: f"{v:g} ms",
    "per_second": lambda v: f"{v:,.0f}/s",
    "count": lambda v: f"{v:,.0f}",
}


@dataclass
class Gate:
    """One check of a run. `measured` and `limit` are numbers (a ratio in [0, 1], milliseconds,
    submits per second or a count, as `unit` says); `limit` is [low, high] when `op` is "within"."""

    name: str
    passed: bool
    measured: float | None
    limit: float | list[float] | None
    unit: str
    op: str  # ">=", "<=" or "within"
    detail: str = ""
    evidence: bool = False  # an evidence gate: did the run do the work it describes?

    def text(self, value: float | None) -> str:
        return "n/a" if value is None else _UNITS[self.unit](value)

    @property
    def measured_text(self) -> str:
        return self.text(self.measured)

    @property
    def limit_text(self) -> str:
        if isinstance(self.limit, list):
            return f"[{self.text(self.limit[0])}, {self.text(self.limit[1])}]"
        return f"{self.op} {self.text(self.limit)}"

    def why_failed(self) -> str:
        """`min_success_rate 88.04 % < 95.00 %`: the comparison that failed, for the verdict line."""
        if self.measured is None:
            return f"{self.name}: {self.detail or 'no data'}"
        if self.op == "within":
            return f"{self.name} {self.measured_text} outside {self.limit_text}"
        if self.limit is None:
            return f"{self.name} {self.measured_text}: {self.detail}"
        wrong = {">=": "<", "<=": ">"}[self.op]
        return f"{self.name} {self.measured_text} {wrong} {self.text(self.limit)}"  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "passed": self.passed, "measured": self.measured, "limit": self.limit,
            "unit": self.unit, "op": self.op, "evidence": self.evidence, "detail": self.detail,
            "measured_text": self.measured_text, "limit_text": self.limit_text,
        }  # fmt: skip


def at_least(name: str, measured: float | None, limit: float, unit: str, detail: str = "", **kw: Any) -> Gate:
    return Gate(name, measured is not None and measured >= limit, measured, limit, unit, ">=", detail, **kw)


def at_most(name: str, measured: float | None, limit: float, unit: str, detail: str = "", **kw: Any) -> Gate:
    return Gate(name, measured is not None and measured <= limit, measured, limit, unit, "<=", detail, **kw)


# ---------------------------------------------------------------------------- the evidence gates
def min_sends_gate(tally: Tally, scenario: Scenario, users: int, duration: float) -> Gate:
    stated = scenario.gates.min_sends
    if stated is not None:
        limit, why = stated, "stated in the scenario's gates"
    else:
        limit, why = default_min_sends(scenario.load, users, duration)
    return at_least("min_sends", tally.submitted, limit, "count",
                    f"submits written by the clients; the limit is {why}", evidence=True)


def load_errors_gate(tally: Tally) -> Gate:
    errors = sum(tally.user_errors.values())
    detail = ", ".join(f"{kind} x{n}" for kind, n in tally.user_errors.most_common()) or "no Locust user raised"
    return at_most("load_errors", errors, 0, "count", detail, evidence=True)


def sample_gate(figures: SlaFigures, min_rate: float | None, expected: float | None, target: float) -> Gate | None:
    """Are there enough valid sends for the rate gates to decide? The measured rate must be told
    apart from `min_rate` (its 99 % Wilson interval leaves the limit out), and the interval of an
    expectation must be narrower than its distance to the SLA `target` (at least +-0.5 points).
    None when the scenario has no rate gate."""
    if min_rate is None and expected is None:
        return None
    n, rate = figures.valid_sends, figures.rate
    needs: list[int] = []
    reasons: list[str] = []
    if min_rate is not None and rate is not None:
        need = sends_to_tell_from(rate, min_rate, SAMPLE_CONFIDENCE)
        if need is None:
            reasons.append(f"the measured rate equals min_success_rate {min_rate:.2%}: no sample decides it")
        else:
            needs.append(need)
            reasons.append(f"{need:,} to tell {rate:.2%} from min_success_rate {min_rate:.2%}")
    if expected is not None:
        resolution = max(abs(expected - target), MIN_RESOLUTION)
        need = sends_for_resolution(expected, resolution, SAMPLE_CONFIDENCE)
        needs.append(need)
        reasons.append(f"{need:,} to check the expected {expected:.2%} to +-{resolution * 100:.2f} points "
                       f"(its distance to the target {target:.2%})")
    if n == 0:
        return Gate("sample_size", False, 0, max(needs) if needs else None, "count", ">=",
                    "no valid sends: no rate to decide", evidence=True)
    if len(needs) < len(reasons):  # an undecidable comparison
        return Gate("sample_size", False, n, None, "count", ">=", "; ".join(reasons), evidence=True)
    return at_least("sample_size", n, max(needs), "count", "valid sends needed: " + "; ".join(reasons),
                    evidence=True)


# ---------------------------------------------------------------------------- the scenario's gates
def p99_submit_ms(csv_prefix: Path) -> float | None:
    """The 99th percentile of submit_sm response times from Locust's stats CSV."""
    path = Path(f"{csv_prefix}_stats.csv")
    if not path.exists():
        return None
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("Name") == "submit_sm" and row.get("99%") not in (None, "", "N/A"):
                return float(row["99%"])
    return None


def expected_rate(scenario: Scenario) -> tuple[float | None, str]:
    """The rate the expect_success_rate gate checks against: stated, or the analytic expectation."""
    cfg = scenario.gates.expect_success_rate
    if cfg is None:
        return None, ""
    if cfg.value is not None:
        return cfg.value, "stated"
    from simulator.metering.expectation import analyse_expectation

    analysis = analyse_expectation(scenario)
    rate = getattr(analysis, "rate", None)
    return rate, "analytic" if rate is not None else f"not analytic: {analysis}"


def rate_gates(scenario: Scenario, figures: SlaFigures) -> list[Gate]:
    cfg = scenario.gates
    rate = figures.rate
    gates: list[Gate] = []
    if cfg.min_success_rate is not None:
        gates.append(at_least("min_success_rate", rate, cfg.min_success_rate, "ratio",
                              f"{figures.definite_failures:,} definite failures of {figures.valid_sends:,} valid sends"))
    if cfg.expect_success_rate is not None:
        expected, source = expected_rate(scenario)
        confidence = GATE_CONFIDENCE[cfg.expect_success_rate.interval]
        n = figures.valid_sends
        if expected is None:
            gates.append(Gate("expect_success_rate", False, rate, None, "ratio", "within",
                              f"no value given and the scenario is {source}"))
        elif n == 0 or rate is None:
            gates.append(Gate("expect_success_rate", False, None, [expected, expected], "ratio", "within",
                              "no valid sends"))
        else:
            lo, hi = binomial_interval(expected, n, confidence)
            gates.append(Gate("expect_success_rate", lo <= rate <= hi, rate, [lo, hi], "ratio", "within",
                              f"expected {expected:.2%} ({source}), {confidence:.0%} binomial interval "
                              f"for n={n:,}"))
    return gates


def traffic_gates(scenario: Scenario, tally: Tally, duration: float, p99: float | None) -> list[Gate]:
    cfg = scenario.gates
    gates: list[Gate] = []
    if cfg.max_p99_submit_ms is not None:
        gates.append(at_most("max_p99_submit_ms", p99, cfg.max_p99_submit_ms, "ms",
                             "" if p99 is not None else "no submit_sm timings in Locust's stats"))
    if cfg.min_throughput is not None:
        throughput = tally.submitted / duration if duration else None
        gates.append(at_least("min_throughput", throughput, cfg.min_throughput, "per_second",
                              f"{tally.submitted:,} submits in {duration:g} s"))
    answered = sum(v for k, v in tally.submits.items() if k != "LOST")
    for status, limit in cfg.max_error_ratio.items():
        ratio = tally.submits.get(status, 0) / answered if answered else None
        gates.append(at_most(f"max_error_ratio[{status}]", ratio, limit, "ratio",
                             f"{tally.submits.get(status, 0):,} of {answered:,} answered submits"
                             if answered else "no submit was answered"))
    return gates


def reconcile_gate(rec: TallyReconciliation) -> Gate:
    summary = rec.summary()
    differences = (summary["acked_not_in_ledger"] + summary["receipts_unexpected"]
                   + (0 if rec.explained_by_link_faults else summary["accepted_not_acked"]
                      + summary["receipts_missing"] + summary["receipt_count_differences"]
                      + len(rec.status_differences)))
    detail = ", ".join(f"{k}={v}" for k, v in summary.items()
                       if k not in ("exact", "examples", "status_differences") and v)
    if rec.status_differences:
        detail += f"; status counts (ledger vs client) {summary['status_differences']}"
    return Gate("reconcile", rec.exact, differences, 0, "count", "<=", detail)


# ---------------------------------------------------------------------------- all of them
def load_tally(path: Path) -> Tally:
    return Tally.load(path) if path.exists() else Tally()


def check(settings: RunSettings, artifacts: RunArtifacts,
          submitting_s: float | None = None) -> tuple[list[Gate], dict[str, Any]]:
    """The run's gates and facts. Rates are over the planned duration, or over `submitting_s` when
    the load was cut short (a signal): the planned 20 s of a run stopped at 5 s would understate them."""
    scenario = settings.scenario
    duration = settings.duration if submitting_s is None else min(settings.duration, submitting_s)
    tally = load_tally(artifacts.tally)
    rec = None
    if artifacts.ledger.exists():
        with LedgerReader(artifacts.ledger) as ledger:
            records = list(ledger.records())
            rec = reconcile_tally(tally, ledger, {f.kind for f in scenario.faults})
        figures = sla_figures(records)
    else:  # an external SMSC: no ledger, only what the client saw (receipts decide)
        records = []
        figures = client_side_figures(tally)
    p99 = p99_submit_ms(artifacts.locust_csv_prefix)
    expected, _ = expected_rate(scenario)
    target = scenario.gates.min_success_rate if scenario.gates.min_success_rate is not None else scenario.sla.target
    gates = [min_sends_gate(tally, scenario, settings.users, settings.duration)]
    sample = sample_gate(figures, scenario.gates.min_success_rate, expected, target)
    if sample is not None:
        gates.append(sample)
    gates.append(load_errors_gate(tally))
    gates += rate_gates(scenario, figures)
    gates += traffic_gates(scenario, tally, duration, p99)
    if scenario.gates.reconcile == "exact" and rec is not None:
        gates.append(reconcile_gate(rec))
    facts = {
        "success_rate": figures.rate,
        "valid_sends": figures.valid_sends,
        "definite_failures": figures.definite_failures,
        "pending": figures.pending,
        "left_out": figures.left_out,
        "submitted": tally.submitted,
        "submits_seen_by_client": dict(tally.submits),
        "submits_per_second": tally.submitted / duration if duration else None,
        "p99_submit_ms": p99,
        "receipts_seen_by_client": dict(tally.receipts),
        "duplicate_receipts_seen": sum(v - 1 for v in tally.receipt_ids.values() if v > 1),
        "rebinds": tally.rebinds,
        "bind_failures": dict(tally.bind_failures),
        "user_errors": dict(tally.user_errors),
        "first_user_error": tally.first_error or None,
        "reconciliation": rec.summary() if rec is not None else "no ledger (external SMSC)",
        "ledger_records": len(records),
        "source": "ledger" if rec is not None else "client receipts (external SMSC: no ledger)",
    }
    return gates, facts


def client_side_figures(tally: Tally) -> SlaFigures:
    """Without a ledger, the best the client can tell: DELIVRD receipts are successes, other final
    states failures; refused submits are left out (the client cannot tell why)."""
    figures = SlaFigures()
    for stat, count in tally.receipts.items():
        figures.add("delivered" if stat == "DELIVRD" else "definite_failure", f"receipt {stat}", count)
    for status, count in tally.submits.items():
        if status != "ESME_ROK":
            figures.add("excluded", f"refused {status}", count)
    return figures

