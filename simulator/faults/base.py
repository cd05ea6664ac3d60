"""The fault framework: the base of every fault kind, its registry, stages and seeded randomness.

A fault kind is a pydantic model (its scenario parameters) whose build() makes the runtime object
that takes decisions. Decisions are pure: no I/O, no sleeping, no global state; their randomness
comes from a stream seeded by (scenario seed, fault name), so the same run repeats exactly.
Every number a fault takes is finite and bounded (MAX_DELAY_MS, MAX_SCENARIO_S, [0, 1] for shares),
so a scenario file and a live change refuse what the carrier could not schedule.
"""

from __future__ import annotations

import enum
import hashlib
import random
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .outcome import Outcome, SlaClass, Submission

if TYPE_CHECKING:
    from .pipeline import FaultEnv

# the same bounds as the scenario file's own (simulator.scenario: MAX_DELAY_MS, MAX_DURATION_S, MAX_COUNT)
MAX_DELAY_MS = 86_400_000.0  # one day: the longest delay a fault may add to a response or a receipt
MAX_SCENARIO_S = 30 * 86_400.0  # 30 days: the latest scenario time, or the longest period, a fault names
MAX_COUNT = 100_000_000  # counts (PDUs on a bind, ...)
# Fault parameters: NaN and infinities are refused (pydantic's default lets them through)
FAULT_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Stage(enum.IntEnum):
    """Where in the pipeline a fault decides; lower stages decide first."""

    ADMISSION = 10  # maintenance, throttling: may refuse before anything else
    POLICY = 20  # sending rules, content, blacklists
    SUBSCRIBER = 30  # the number plan: the handset's state
    NETWORK = 40  # provider-side failures of messages that would have been delivered
    TIMING = 50  # latency, held receipts, reordering
    LINK = 60  # connection faults: no response, nacks, drops, duplicate receipts


class SlaOverride(BaseModel):
    """Say how a fault's outcomes count in the SLA, when the default of its kind does not fit."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    sla_class: Literal["delivered", "definite_failure", "invalid_number", "excluded"] = Field(alias="class")
    reason: str = ""


class FaultSpec(BaseModel):
    """Parameters every fault kind shares. Subclasses add `kind: Literal[...]` and their own."""

    model_config = FAULT_CONFIG

    kind: str
    name: str = Field(default="", description="unique name for live changes; defaults to the kind")
    enabled: bool = True
    probability: float = Field(default=1.0, ge=0, le=1, description="share of eligible messages hit")
    accounts: list[str] | None = Field(default=None, description="only these accounts (default: all)")
    sla: SlaOverride | None = None

    stage: ClassVar[Stage] = Stage.NETWORK
    runtime: ClassVar[type["Fault"]]

    def build(self, env: "FaultEnv", name: str) -> "Fault":
        return self.runtime(self, env, name)


FAULT_KINDS: dict[str, type[FaultSpec]] = {}


def fault_kind(spec: type[FaultSpec]) -> type[FaultSpec]:
    """Class decorator: register a FaultSpec subclass under its `kind` literal."""
    kind = spec.model_fields["kind"].default
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{spec.__name__} needs `kind: Literal[...] = '...'`")
    if kind in FAULT_KINDS and FAULT_KINDS[kind] is not spec:
        raise TypeError(f"fault kind {kind!r} registered twice")
    FAULT_KINDS[kind] = spec
    return spec


def seeded_random(seed: int, *names: str) -> random.Random:
    """An independent random stream for (seed, names): a fault's draws never shift another's."""
    digest = hashlib.sha256(":".join([str(seed), *names]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Fault:
    """A fault at run time: decides on submits (and binds and links, where it cares)."""

    def __init__(self, spec: FaultSpec, env: "FaultEnv", name: str) -> None:
        self.spec = spec
        self.env = env
        self.name = name
        self.random = seeded_random(env.seed, "fault", name)
        self.hits = 0
        self._accounts = frozenset(spec.accounts) if spec.accounts is not None else None

    @property
    def enabled(self) -> bool:
        return self.spec.enabled

    def applies_to(self, account: str) -> bool:
        return self._accounts is None or account in self._accounts

    def draw(self) -> bool:
        """One draw per consulted message, so the stream stays aligned whatever the outcome."""
        p = self.spec.probability
        return p >= 1.0 or self.random.random() < p

    # hooks: override what the kind needs
    def on_submit(self, submission: Submission, outcome: Outcome, now: float) -> None:
        """Adjust `outcome` for this submission. `now` is seconds since the scenario started."""

    def on_bind(self, account: str, bind_type: str, now: float) -> int:
        """A command_status refusing the bind, or 0."""
        return 0

    def on_link(self, link: Any, now: float) -> str | None:
        """A periodic check of a bound link: "drop" to drop it, else None."""
        return None

    def claim_response(self, outcome: Outcome) -> bool:
        """For link faults: draw, and take the response unless an earlier link fault already
        decided what becomes of it. Counts the hit; False means leave the outcome alone."""
        if not self.draw():
            return False
        if not outcome.respond or outcome.link_action:
            return False
        self.hits += 1
        return True

    def classify(self, outcome: Outcome, default_class: SlaClass, default_reason: str) -> None:
        """Set the SLA class of an outcome this fault decided, honouring the scenario's override."""
        override = getattr(self.spec, "sla", None)  # scenario sections have no `sla:`
        if override is not None:
            outcome.sla_class = SlaClass(override.sla_class)
            outcome.reason = override.reason or default_reason
        else:
            outcome.sla_class = default_class
            outcome.reason = default_reason
        outcome.decided_by = self.name

    def retune(self, spec: FaultSpec) -> None:
        """Take new parameters live (same kind and name); the random stream continues."""
        self.spec = spec
        self._accounts = frozenset(spec.accounts) if spec.accounts is not None else None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "hits": self.hits, **self.spec.model_dump(mode="json")}


class SectionFault(Fault):
    """A scenario section that acts as a fault (number plan, blacklists, rules, throttling).

    Its parameters are the section; live, it can only be switched on and off.
    """

    stage: ClassVar[Stage] = Stage.POLICY

    def __init__(self, section: BaseModel, env: "FaultEnv", name: str) -> None:
        self.spec = section  # type: ignore[assignment]
        self.env = env
        self.name = name
        self.random = seeded_random(env.seed, "section", name)
        self.hits = 0
        self._accounts = None
        self._enabled = True

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled

    def applies_to(self, account: str) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "section", "enabled": self._enabled, "hits": self.hits}
