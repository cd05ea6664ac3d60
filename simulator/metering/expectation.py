"""The analytic expectation: the success rate a scenario should produce, worked out from its text.

It follows one message of the load's account through the fault pipeline in stage order as a
probability distribution over Tracks (SLA class, reason, settled, link-free): the traffic mix over
the number groups, the blacklists and the subscriber states (with the number plan's own lookup),
then each fault as its kind declares (Fault.expected: an effect applied with the fault's
probability, or what it tells the walk). It never runs the carrier and never draws a random number;
it knows no fault kind by name.

What it cannot do, it says (NotAnalytic with reasons): a fault that turns valid sends into
definite failures (or successes) depending on time or on a link's history (maintenance windows
that are not pre-notified, windowed throttles reclassified by `sla:`, a drop or reset "after_pdus"
ahead of a no_response or nack) or a fault kind that does not declare its effect. Time-dependent causes that leave
messages out of the denominator whatever their destination (token buckets, quotas, windows,
pre-notified maintenance, sending rules) change how many sends count, not the expected rate: the
Expectation keeps its rate and says so, with valid_share None.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from simulator.faults import registry
from simulator.faults.analytic import Effect, Track, after
from simulator.faults.base import Fault, FaultEnv, FaultStage
from simulator.faults.sections.blacklist import Blacklist
from simulator.faults.sections.number_plan import NumberPlan
from simulator.scenario import (DEFAULT_TRAFFIC_GROUP, NumberGroup, ScenarioError, duration_seconds,
                                normalize_number)
from simulator.scenario.base import MAX_DELAY_MS

from .intervals import Method, binomial_interval

if TYPE_CHECKING:
    from simulator.scenario import Scenario

COUNTED = ("delivered", "definite_failure")


@dataclass(frozen=True)
class Expectation:
    """The expected SLA success rate of a scenario's load, with what it rests on."""

    rate: float  # expected success rate among valid sends
    account: str  # the load's account (faults limited to other accounts do not apply)
    shares: dict[tuple[str, str], float]  # (class, reason) -> expected share of all sends
    valid_share: float | None  # share of sends that count; None when time-dependent exclusions apply
    assumptions: tuple[str, ...] = field(default=())

    def interval(self, n: int, confidence: float = 0.99, method: Method = "normal-cc") -> tuple[float, float]:
        """Where the rate observed over `n` valid sends should fall (see intervals.binomial_interval)."""
        return binomial_interval(self.rate, n, confidence, method)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "account": self.account,
            "valid_share": self.valid_share,
            "shares": [{"class": c, "reason": r, "share": s} for (c, r), s in sorted(self.shares.items())],
            "assumptions": list(self.assumptions),
        }


@dataclass(frozen=True)
class NotAnalytic:
    """Why a scenario's rate cannot be worked out from its text (simulate it instead)."""

    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return "; ".join(self.reasons)


def expected_success_rate(scenario: Scenario) -> Expectation | None:
    """The expected rate, or None when the scenario is not analytic (analyse_expectation says why)."""
    result = analyse_expectation(scenario)
    return result if isinstance(result, Expectation) else None


def analyse_expectation(scenario: Scenario) -> Expectation | NotAnalytic:
    return _Analysis(scenario).run()


class _Analysis:
    """The walk (simulator.faults.analytic.Walk) over one scenario's sections and faults."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.account = scenario.load.account or scenario.carrier.accounts[0].system_id
        self.env = FaultEnv(scenario.seed, scenario.carrier.receipt_delay_ms / 1000, scenario)
        self.assumptions: list[str] = [
            f"the load sends as account {self.account!r}",
            "messages still pending at the cut-off are a sample independent of their class",
        ]
        self.blockers: list[str] = []
        self.independent: list[str] = []  # time-dependent causes of exclusion, whatever the destination
        self.link_history: list[str] = []  # faults met so far whose action depends on a link's history

    # ------------------------------------------------------------------ what kinds tell the walk
    def assume(self, text: str) -> None:
        self.assumptions.append(text)

    def not_analytic(self, text: str) -> None:
        self.blockers.append(text)

    def time_dependent(self, name: str, what: str, sla_class: str) -> None:
        if sla_class in COUNTED:
            self.blockers.append(
                f"{name!r} is {what} that makes messages {sla_class} depending on when they are sent")
        else:
            self.independent.append(f"{name!r}: {what}, {sla_class}")

    # ------------------------------------------------------------------ the walk
    def run(self) -> Expectation | NotAnalytic:
        dist: dict[Track, float] = {Track("delivered", "", False, True): 1.0}
        self._sections()
        validity = self.scenario.carrier.default_validity
        if duration_seconds(validity) < MAX_DELAY_MS / 1000:  # shorter than a latency may make a receipt
            self.assume(f"no final state is due later than carrier.default_validity ({validity}) after its"
                        " submit (one that is ends EXPIRED, a definite failure not counted here)")
        faults = sorted(
            (self._fault(spec) for spec in self.scenario.faults if self._applies(spec)),
            key=lambda fault: fault.stage,
        )
        subscribers_done = False
        for fault in faults:
            if not subscribers_done and fault.stage >= FaultStage.SUBSCRIBER:
                dist = self._subscribers(dist)
                subscribers_done = True
            effect = fault.expected(self)
            if effect is not None:
                dist = _transform(dist, fault.spec.probability, effect)
        if not subscribers_done:
            dist = self._subscribers(dist)
        if self.blockers:
            return NotAnalytic(tuple(self.blockers))
        shares: dict[tuple[str, str], float] = defaultdict(float)
        for (cls, reason, _, _), p in dist.items():
            if p > 0:
                shares[(cls, reason)] += p
        delivered = sum(p for (c, _), p in shares.items() if c == "delivered")
        failed = sum(p for (c, _), p in shares.items() if c == "definite_failure")
        if delivered + failed <= 0:
            return NotAnalytic(("no send of this scenario is expected to reach a valid number: no rate",))
        assumptions = list(self.assumptions)
        if self.independent:
            assumptions.append(
                "left out of the denominator whatever the destination, by time or volume (changes how "
                "many sends count, not the expected rate): " + "; ".join(self.independent))
        return Expectation(
            rate=delivered / (delivered + failed),
            account=self.account,
            shares=dict(shares),
            valid_share=None if self.independent else delivered + failed,
            assumptions=tuple(assumptions),
        )

    def _fault(self, spec: Any) -> Fault:
        return registry.runtime_of(spec.kind)(spec, self.env, spec.name or spec.kind)

    def _applies(self, spec: Any) -> bool:
        name = spec.name or spec.kind
        if not spec.enabled:
            self.assumptions.append(f"fault {name!r} is disabled at the start (live changes are not modelled)")
            return False
        if spec.accounts is not None and self.account not in spec.accounts:
            return False
        return spec.probability > 0

    # ------------------------------------------------------------------ sections
    def _sections(self) -> None:
        scenario = self.scenario
        account = next((a for a in scenario.carrier.accounts if a.system_id == self.account), None)
        if account is not None:
            limits = [name for name in ("throughput", "bind_throughput", "window", "daily_quota")
                      if getattr(account, name) is not None]
            if limits:
                self.independent.append(f"throttling of account {self.account!r} ({', '.join(limits)})")
        rules = scenario.rules
        content = rules.content
        if self.account in rules.accounts or (content is not None and (content.words or content.patterns)):
            self.independent.append("sending rules (unapproved signatures/templates, content)")

    def _subscribers(self, dist: dict[Track, float]) -> dict[Track, float]:
        """Blacklists, then the number plan: they act on the messages nothing refused before, and
        the destination's validity classes every message, refused earlier or not (as the
        pipeline's last step does)."""
        mix = self._destination_mix()
        if mix is None:
            return dist
        out: dict[Track, float] = defaultdict(float)
        for track, p in dist.items():
            for (cls, reason, settles), q in mix.items():
                if track.settled:  # refused at admission: only an invalid destination changes its class
                    new = Track(cls, reason, True, track.link_free) if cls == "invalid_number" else track
                else:
                    new = Track(cls, reason, settles, track.link_free)
                out[after(track, new)] += p * q
        return out

    def _destination_mix(self) -> dict[tuple[str, str, bool], float] | None:
        """(class, reason, settled) -> share, over the load's traffic mix."""
        scenario = self.scenario
        try:
            plan = NumberPlan(scenario.numbers, self.env)
            blacklist = Blacklist.from_scenario(scenario, self.env)
        except ScenarioError as exc:
            self.blockers.append(f"the number plan or a blacklist cannot be loaded: {exc}")
            return None
        groups = scenario.numbers.groups
        weights = scenario.load.traffic or ({name: 1.0 for name in groups} if groups else {"default": 1.0})
        weights = {name: w for name, w in weights.items() if w > 0}
        total = sum(weights.values())
        out: dict[tuple[str, str, bool], float] = defaultdict(float)
        nested = False
        for name, weight in weights.items():
            group = groups.get(name, DEFAULT_TRAFFIC_GROUP)
            for digits, share in self._group_points(group, plan, blacklist):
                hit = blacklist.match(self.account, digits) if blacklist is not None else None
                if hit is not None:
                    out[("invalid_number", hit.reason, True)] += weight / total * share
                    continue
                owner, state_mix = plan.entry_for(digits)
                if name in groups and owner != name:
                    nested = True
                validity = state_mix.validity  # an invalid state classes every message to it
                for b in state_mix.behaviours:
                    verdict = validity or b.verdict
                    cls, reason = verdict.sla_class.value, verdict.reason
                    out[(cls, reason, not b.delivers)] += weight / total * share * b.share
        if nested:
            self.assumptions.append("some numbers the traffic draws from a group belong to another (nested) "
                                    "group and take its state, as in the simulator")
        return out

    def _group_points(self, group: NumberGroup, plan: Any, blacklist: Any) -> list[tuple[str, float]]:
        """Representative numbers of the group's traffic with their shares: every number of a list;
        for a prefix or range, one number per stretch that the number plan and the blacklists treat
        alike (boundaries of every group and listed number inside it), weighted by its length."""
        if group.numbers:
            share = 1 / len(group.numbers)
            return [(normalize_number(n), share) for n in group.numbers]
        if group.range is not None:
            lo_s, hi_s = (normalize_number(x) for x in group.range)
            width, lo, hi = len(lo_s), int(lo_s), int(hi_s)
        else:
            prefix = normalize_number(group.prefix or "")
            k = max(group.length - len(prefix), 0)
            if k == 0:
                return [(prefix, 1.0)]
            width = len(prefix) + k
            lo, hi = int(prefix) * 10**k, (int(prefix) + 1) * 10**k - 1
        cuts = {lo, hi + 1}

        def cut(a: int, b: int) -> None:  # the stretch [a, b] of `width`-digit numbers
            if b >= lo and a <= hi:
                cuts.add(max(a, lo))
                cuts.add(min(b, hi) + 1)

        for other in self.scenario.numbers.groups.values():
            if other.prefix is not None:
                p = normalize_number(other.prefix)
                if len(p) <= width:
                    k = width - len(p)
                    cut(int(p) * 10**k, (int(p) + 1) * 10**k - 1)
            elif other.range is not None:
                a, b = (normalize_number(x) for x in other.range)
                if len(a) == width:
                    cut(int(a), int(b))
            else:
                for n in other.numbers or []:
                    d = normalize_number(n)
                    if len(d) == width:
                        cut(int(d), int(d))
        if blacklist is not None:
            lists = [*blacklist.shared]
            own = blacklist.opt_outs.get(self.account)
            if own is not None:
                lists.append(own)
            for lst in lists:
                for key in lst.keys:
                    d = str(key)[1:]
                    if len(d) == width:
                        cut(int(d), int(d))
        bounds = sorted(cuts)
        size = hi - lo + 1
        return [(f"{a:0{width}d}", (b - a) / size) for a, b in pairwise(bounds)]


def _transform(dist: dict[Track, float], p: float, hit: Effect) -> dict[Track, float]:
    """With probability p each Track becomes hit(track) (None: the fault does not act on it)."""
    out: dict[Track, float] = defaultdict(float)
    for track, q in dist.items():
        new = hit(track)
        if new is None or p <= 0:
            out[track] += q
            continue
        new = after(track, new)  # the one precedence of SLA classes, as Fault.classify applies it
        p_hit = min(p, 1.0)
        out[new] += q * p_hit
        out[track] += q * (1 - p_hit)
    return out
