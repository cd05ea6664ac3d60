"""The fault pipeline: the scenario's sections and faults, in stage order, deciding each Outcome.

Owns: the one draw of each fault's probability and the one count of its hits (decide, decide_bind,
decide_link), the live changes (change, remove) and their report to the `listeners` (the audit
trail). The carrier asks it three questions (a submit, a bind, a periodic look at a link) and gets
pure answers; it never does I/O. Not here: what a fault does (its kind or section module), which
kinds and sections exist (faults/registry.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from . import registry
from .base import Fault, FaultEnv, FaultSpec, SectionFault
from .outcome import Outcome, Submission

if TYPE_CHECKING:
    from simulator.scenario import Scenario

__all__ = ["FaultChangeError", "FaultEnv", "FaultPipeline"]


class FaultChangeError(ValueError):
    """A live change that cannot be made: unknown fault, bad parameters, or a kind change."""


Hook = Callable[[Submission, Outcome, float], bool]  # Fault.eligible, Fault.apply
Step = tuple[Fault, Hook | None, Callable[[], bool] | None, Hook]  # (fault, eligible, draw, apply)


def _overrides(fault: Fault, hook: str) -> bool:
    return getattr(type(fault), hook) is not getattr(Fault, hook)


class FaultPipeline:
    """Decides outcomes for one carrier from one scenario."""

    def __init__(self, scenario: "Scenario", clock: Callable[[], float] = time.monotonic) -> None:
        self.scenario = scenario
        self.clock = clock
        self.env = FaultEnv(scenario.seed, scenario.carrier.receipt_delay_ms / 1000, scenario)
        self.started_at = clock()
        self.env.started_at = self.started_at
        self.faults: list[Fault] = []
        for section in registry.sections():
            fault = section.from_scenario(scenario, self.env)
            if fault is not None:
                self.faults.append(fault)
        for spec in scenario.faults:
            self.faults.append(self._build(spec, spec.name or spec.kind))
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._reindex()

    def _build(self, spec: FaultSpec, name: str) -> Fault:
        return registry.runtime_of(spec.kind)(spec, self.env, name)

    def _reindex(self) -> None:
        self.faults.sort(key=lambda f: f.stage)
        self.by_name = {f.name: f for f in self.faults}
        self._submit = [f for f in self.faults if _overrides(f, "apply")]
        self._submit_for: dict[str, list[Step]] = {}  # account -> its steps, in stage order
        self._validity_for: dict[str, list[Fault]] = {}  # account -> the sections deciding validity
        self._bind = [f for f in self.faults if _overrides(f, "on_bind")]
        self._link = [f for f in self.faults if _overrides(f, "on_link")]

    def _steps(self, account: str) -> list[Step]:
        """The enabled submit faults of `account`, each as (fault, eligible or None, draw or None,
        apply): a hook a fault leaves as it is (eligible, a draw at probability 1 or of a section)
        costs nothing per message. Forgotten on every change."""
        steps = self._submit_for[account] = [
            (f, f.eligible if _overrides(f, "eligible") else None,
             None if isinstance(f, SectionFault) or f.spec.probability >= 1.0 else f.draw, f.apply)
            for f in self._submit if f.enabled and f.applies_to(account)
        ]
        self._validity_for[account] = [f for f, _, _, _ in steps if _overrides(f, "validity")]
        return steps

    def _forget_steps(self) -> None:
        self._submit_for.clear()
        self._validity_for.clear()

    def start(self, now: float | None = None) -> None:
        """Scenario time starts now (maintenance windows "relative to start" count from here)."""
        self.started_at = self.clock() if now is None else now
        self.env.started_at = self.started_at
        self.env.started_wall = time.time() - (self.clock() - self.started_at)

    # ---------------------------------------------------------------- decisions
    def decide(self, submission: Submission, now: float) -> Outcome:
        """The Outcome of one submit: each fault in stage order, eligible, drawn, applied; a fault
        that acted counts a hit. The only place a fault's probability is drawn. The stage order
        decides what happens on the wire; the SLA class follows the one precedence
        (outcome.PRECEDENCE): the destination's validity last and above all, then excluded
        causes, then definite failures."""
        outcome = Outcome(receipt_delay=self.env.receipt_delay)
        t = now - self.started_at
        steps = self._submit_for.get(submission.account)
        if steps is None:
            steps = self._steps(submission.account)
        for fault, eligible, draw, apply in steps:
            if eligible is not None and not eligible(submission, outcome, t):
                continue
            if draw is not None and not draw():
                continue
            if apply(submission, outcome, t):
                fault.hits += 1
        # The destination's validity has the last word (outcome.PRECEDENCE): a message to a number
        # the number plan or a blacklist makes invalid is an invalid number, whatever refused,
        # failed or delivered it (a maintenance window, a throttle, a provider failure, a link fault).
        for fault in self._validity_for[submission.account]:
            verdict = fault.validity(submission)
            if verdict is not None:
                outcome.sla_class, outcome.reason = verdict
                outcome.decided_by = outcome.decided_by or fault.name
                break
        return outcome

    def decide_bind(self, account: str, bind_type: str, now: float) -> int:
        t = now - self.started_at
        for fault in self._bind:
            if fault.enabled and fault.applies_to(account):
                status = fault.on_bind(account, bind_type, t)
                if status:
                    fault.hits += 1
                    return status
        return 0

    def decide_link(self, link: Any, now: float) -> str | None:
        t = now - self.started_at
        for fault in self._link:
            if fault.enabled and fault.applies_to(link.account):
                action = fault.on_link(link, t)
                if action and (not fault.link_draws or fault.draw()):
                    fault.hits += 1
                    return action
        return None

    @property
    def wants_link_checks(self) -> bool:
        return bool(self._link)

    # ---------------------------------------------------------------- live changes
    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.faults]

    def change(self, name: str, changes: dict[str, Any], actor: str = "api") -> dict[str, Any]:
        """Switch, re-tune or create the fault `name`; returns its new description.
        A new name needs a `kind`. Raises FaultChangeError with a clear message."""
        if "enabled" in changes and not isinstance(changes["enabled"], bool):  # never coerce "false" to True
            raise FaultChangeError(f"enabled: must be true or false, not {changes['enabled']!r}")
        fault = self.by_name.get(name)
        if isinstance(fault, SectionFault):
            if set(changes) != {"enabled"}:
                raise FaultChangeError(f"{name} is a scenario section: only `enabled` can change live")
            fault.set_enabled(changes["enabled"])
            self._forget_steps()
            self._announce(actor, "change", name, changes)
            return fault.describe()
        if fault is None:
            if "kind" not in changes:
                raise FaultChangeError(f"no fault named {name!r}; to add one, give its kind "
                                       f"({', '.join(registry.kind_names())})")
            spec = self._validate({**changes, "name": name})
            fault = self._build(spec, name)
            self.faults.append(fault)
            self._reindex()
            self._announce(actor, "add", name, changes)
            return fault.describe()
        if "kind" in changes and changes["kind"] != fault.spec.kind:
            raise FaultChangeError(f"{name} is a {fault.spec.kind} fault; remove it and add a new one to change kind")
        merged = {**fault.spec.model_dump(), "kind": fault.spec.kind, **changes, "name": name}
        spec = self._validate(merged)
        fault.retune(spec)
        self._forget_steps()
        self._announce(actor, "change", name, changes)
        return fault.describe()

    def remove(self, name: str, actor: str = "api") -> None:
        fault = self.by_name.get(name)
        if fault is None:
            raise FaultChangeError(f"no fault named {name!r}")
        if isinstance(fault, SectionFault):
            raise FaultChangeError(f"{name} is a scenario section; switch it off with enabled: false")
        self.faults.remove(fault)
        self._reindex()
        self._announce(actor, "remove", name, {})

    def _validate(self, data: dict[str, Any]) -> FaultSpec:
        try:
            return registry.validate_spec(data)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:] or e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise FaultChangeError(details) from exc

    def _announce(self, actor: str, action: str, name: str, changes: dict[str, Any]) -> None:
        event = {"actor": actor, "action": action, "fault": name, "changes": changes, "at": time.time()}
        for listener in self.listeners:
            listener(event)
