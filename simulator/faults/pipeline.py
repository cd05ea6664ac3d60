"""The fault pipeline: the scenario's sections and faults, in stage order, deciding each Outcome.

The carrier asks it three questions (a submit, a bind, a periodic look at a link) and gets pure
answers. Faults can be switched, re-tuned, added and removed live; every change is reported to
the `on_change` listeners (the audit trail). It never does I/O itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from .base import Fault, FaultSpec
from .outcome import Outcome, Submission
from .registry import FAULT_KINDS, load_kinds

if TYPE_CHECKING:
    from simulator.scenario import Scenario


@dataclass
class FaultEnv:
    """What faults may know about the run besides the message: the seed and the scenario."""

    seed: int
    receipt_delay: float  # the carrier's default, seconds
    scenario: "Scenario"
    started_wall: float = field(default_factory=time.time)  # Unix time at scenario time 0 (set by start())
    started_at: float = 0.0  # the pipeline clock at scenario time 0 (LinkStats.opened_at is on that clock)


class FaultChangeError(ValueError):
    """A live change that cannot be made: unknown fault, bad parameters, or a kind change."""


# Sections of a scenario that act as faults: (module builder) -> Fault | None. Each entry is a
# function taking (scenario, env) and returning the section's runtime or None when it is empty.
SECTION_BUILDERS: list[Callable[["Scenario", FaultEnv], Fault | None]] = []


def section(builder: Callable[["Scenario", FaultEnv], Fault | None]) -> Callable[["Scenario", FaultEnv], Fault | None]:
    """Decorator for a section's builder (number plan, blacklists, sending rules, throttling)."""
    SECTION_BUILDERS.append(builder)
    return builder


def _overrides(fault: Fault, hook: str) -> bool:
    return getattr(type(fault), hook) is not getattr(Fault, hook)


class FaultPipeline:
    """Decides outcomes for one carrier from one scenario."""

    def __init__(self, scenario: "Scenario", clock: Callable[[], float] = time.monotonic) -> None:
        load_kinds()
        from . import sections  # noqa: F401 - imports every section module, which registers its builder

        self.scenario = scenario
        self.clock = clock
        self.env = FaultEnv(scenario.seed, scenario.carrier.receipt_delay_ms / 1000, scenario)
        self.started_at = clock()
        self.env.started_at = self.started_at
        self.faults: list[Fault] = []
        for builder in SECTION_BUILDERS:
            fault = builder(scenario, self.env)
            if fault is not None:
                self.faults.append(fault)
        for spec in scenario.faults:
            self.faults.append(spec.build(self.env, spec.name or spec.kind))
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._reindex()

    def _reindex(self) -> None:
        self.faults.sort(key=lambda f: f.spec.stage if isinstance(f.spec, FaultSpec) else f.stage)
        self.by_name = {f.name: f for f in self.faults}
        self._submit = [f for f in self.faults if _overrides(f, "on_submit")]
        self._submit_for: dict[str, list[Fault]] = {}  # account -> enabled submit faults, in order
        self._bind = [f for f in self.faults if _overrides(f, "on_bind")]
        self._link = [f for f in self.faults if _overrides(f, "on_link")]

    def start(self, now: float | None = None) -> None:
        """Scenario time starts now (maintenance windows "relative to start" count from here)."""
        self.started_at = self.clock() if now is None else now
        self.env.started_at = self.started_at
        self.env.started_wall = time.time() - (self.clock() - self.started_at)

    # ---------------------------------------------------------------- decisions
    def decide(self, submission: Submission, now: float) -> Outcome:
        outcome = Outcome(receipt_delay=self.env.receipt_delay)
        t = now - self.started_at
        faults = self._submit_for.get(submission.account)
        if faults is None:
            faults = self._submit_for[submission.account] = [
                f for f in self._submit if f.enabled and f.applies_to(submission.account)
            ]
        for fault in faults:
            fault.on_submit(submission, outcome, t)
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
                if action:
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
        fault = self.by_name.get(name)
        if fault is not None and not isinstance(fault.spec, FaultSpec):
            if set(changes) - {"enabled"}:
                raise FaultChangeError(f"{name} is a scenario section: only `enabled` can change live")
            fault.set_enabled(bool(changes["enabled"]))  # type: ignore[attr-defined]
            self._submit_for.clear()
            self._announce(actor, "change", name, changes)
            return fault.describe()
        if fault is None:
            if "kind" not in changes:
                raise FaultChangeError(f"no fault named {name!r}; to add one, give its kind "
                                       f"({', '.join(sorted(FAULT_KINDS))})")
            spec = self._validate({**changes, "name": name})
            fault = spec.build(self.env, name)
            self.faults.append(fault)
            self._reindex()
            self._announce(actor, "add", name, changes)
            return fault.describe()
        if "kind" in changes and changes["kind"] != fault.spec.kind:
            raise FaultChangeError(f"{name} is a {fault.spec.kind} fault; remove it and add a new one to change kind")
        merged = {**fault.spec.model_dump(exclude_defaults=True), "kind": fault.spec.kind, **changes, "name": name}
        spec = self._validate(merged)
        fault.retune(spec)
        self._submit_for.clear()
        self._announce(actor, "change", name, changes)
        return fault.describe()

    def remove(self, name: str, actor: str = "api") -> None:
        fault = self.by_name.get(name)
        if fault is None:
            raise FaultChangeError(f"no fault named {name!r}")
        if not isinstance(fault.spec, FaultSpec):
            raise FaultChangeError(f"{name} is a scenario section; switch it off with enabled: false")
        self.faults.remove(fault)
        self._reindex()
        self._announce(actor, "remove", name, {})

    def _validate(self, data: dict[str, Any]) -> FaultSpec:
        from simulator.scenario import FaultEntry

        try:
            return TypeAdapter(FaultEntry).validate_python(data)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'][1:] or e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise FaultChangeError(details) from exc

    def _announce(self, actor: str, action: str, name: str, changes: dict[str, Any]) -> None:
        event = {"actor": actor, "action": action, "fault": name, "changes": changes, "at": time.time()}
        for listener in self.listeners:
            listener(event)
