"""The base of every fault: stages, parameters, the run-time Fault and its seeded randomness.

Owns: FaultStage (the order of decisions), FaultSpec (the parameters every kind shares), Fault and
SectionFault (the run-time objects with their hooks), FaultEnv and the bounds every fault
parameter keeps. Decisions are pure: no I/O, no sleeping,
no global state; their randomness comes from a stream seeded by (scenario seed, fault name).
Not here: registering kinds (faults/registry.py), drawing probabilities and counting hits
(faults/pipeline.py), the analytic walk a kind's expected() reports to (faults/analytic.py).
"""

from __future__ import annotations

import enum
import hashlib
import random
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .analytic import Effect, Walk
from .outcome import Outcome, SlaClass, Submission, Verdict, prevails

# the same bounds as the scenario file's own (simulator.scenario: MAX_DELAY_MS, MAX_DURATION_S, MAX_COUNT)
MAX_DELAY_MS = 86_400_000.0  # one day: the longest delay a fault may add to a response or a receipt
MAX_SCENARIO_S = 30 * 86_400.0  # 30 days: the latest scenario time, or the longest period, a fault names
MAX_COUNT = 100_000_000  # counts (PDUs on a bind, ...)
# Fault parameters: NaN and infinities are refused (pydantic's default lets them through)
FAULT_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class FaultStage(enum.IntEnum):
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
    """Parameters every fault kind shares (data only). Subclasses add `kind: Literal[...]` and their own."""

    model_config = FAULT_CONFIG

    kind: str
    name: str = Field(default="", description="unique name for live changes; defaults to the kind")
    enabled: bool = True
    probability: float = Field(default=1.0, ge=0, le=1, description="share of eligible messages hit")
    accounts: list[str] | None = Field(default=None, description="only these accounts (default: all)")
    sla: SlaOverride | None = None


@dataclass
class FaultEnv:
    """What faults may know about the run besides the message: the seed and the clocks."""

    seed: int
    receipt_delay: float  # the carrier's default, seconds
    scenario: Any = None  # the Scenario played (the expectation's walk reads its carrier settings)
    started_wall: float = field(default_factory=time.time)  # Unix time at scenario time 0 (set by start())
    started_at: float = 0.0  # the pipeline clock at scenario time 0 (LinkStats.opened_at is on that clock)


def seeded_random(seed: int, *names: str) -> random.Random:
    """An independent random stream for (seed, names): a fault's draws never shift another's."""
    digest = hashlib.sha256(":".join([str(seed), *names]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Fault:
    """A fault at run time. The pipeline consults it per submit as
    `eligible(...) and draw() and apply(...)`, and counts a hit when apply() returns True; a kind
    only says when it may act, and what it does when it does. Set by @fault_kind: kind, spec_type,
    stage and default_sla."""

    kind: ClassVar[str] = ""
    spec_type: ClassVar[type[FaultSpec]]
    stage: ClassVar[FaultStage] = FaultStage.NETWORK
    default_sla: ClassVar[Verdict | None] = None  # how outcomes this kind decides count, unless `sla:` says
    link_draws: ClassVar[bool] = True  # a due on_link() action is drawn with `probability` (else: always)

    def __init__(self, spec: FaultSpec, env: FaultEnv, name: str) -> None:
        self.env = env
        self.name = name
        self.random = seeded_random(env.seed, "fault", name)
        self.hits = 0
        self._take(spec)

    def _take(self, spec: FaultSpec) -> None:
        """Parameters in: the accounts it applies to and its verdict follow them."""
        self.spec = spec
        self._accounts = frozenset(spec.accounts) if spec.accounts is not None else None
        self.verdict = self._verdict()

    def _verdict(self) -> Verdict:
        default = self.default_verdict()
        override = self.spec.sla
        if override is None:
            return default
        return Verdict(SlaClass(override.sla_class), override.reason or default.reason)

    def default_verdict(self) -> Verdict:
        """The kind's verdict for what it decides: its default_sla (none declared: a definite
        failure named after the kind). A kind whose default depends on its parameters overrides this."""
        return self.default_sla or Verdict(SlaClass.DEFINITE_FAILURE, self.kind)

    @property
    def enabled(self) -> bool:
        return self.spec.enabled

    def applies_to(self, account: str) -> bool:
        return self._accounts is None or account in self._accounts

    def draw(self) -> bool:
        """The fault's probability, drawn once per consulted message so the stream stays aligned
        whatever the outcome. Called only by the pipeline."""
        p = self.spec.probability
        return p >= 1.0 or self.random.random() < p

    # hooks: override what the kind needs
    def eligible(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        """Whether the fault may act on this submission at all; checked before the draw, so a
        message it is not eligible for takes nothing from its random stream."""
        return True

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        """Adjust `outcome` for a submission the draw picked; True when the fault acted (a hit).
        `now` is seconds since the scenario started."""
        return False

    def on_bind(self, account: str, bind_type: str, now: float) -> int:
        """A command_status refusing the bind, or 0."""
        return 0

    def on_link(self, link: Any, now: float) -> str | None:
        """A periodic check of a bound link: "drop" when it is due to be dropped, else None."""
        return None

    def expected(self, walk: Walk) -> Effect | None:
        """The analytic effect on one message, for simulator.metering.expectation: a function from
        a message's Track to its new Track when this fault hits it (None: untouched), applied with
        the fault's probability; None when the fault changes no SLA class. A kind that does not
        say makes its scenarios non-analytic."""
        walk.not_analytic(f"fault kind {self.kind!r} ({self.name!r}): its effect on the rate is not modelled")
        return None

    def validity(self, submission: Submission) -> Verdict | None:
        """The destination's validity, for a section that decides it (number plan, blacklists): the
        invalid_number verdict of a destination that is not a valid number, else None. The
        pipeline asks after every fault has acted and gives it the last word (outcome.PRECEDENCE)."""
        return None

    def classify(self, outcome: Outcome, verdict: Verdict | None = None) -> None:
        """Mark `outcome` as decided by this fault, counted as `verdict` (default: the fault's own,
        which honours the scenario's `sla:`), unless the outcome already holds a verdict that
        ranks as high or higher (outcome.prevails: the one precedence of SLA classes)."""
        sla_class, reason = verdict or self.verdict
        if not prevails(sla_class, outcome.sla_class):
            return
        outcome.sla_class = sla_class
        outcome.reason = reason
        outcome.decided_by = self.name

    def retune(self, spec: FaultSpec) -> None:
        """Take new parameters live (same kind and name); the random stream continues."""
        self._take(spec)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "hits": self.hits, **self.spec.model_dump(mode="json")}


class SectionFault(Fault):
    """A scenario section that acts as a fault (number plan, blacklists, rules, throttling).

    Its parameters are the section; it has no probability (draw() is always True) and, live, can
    only be switched on and off. Set by @scenario_section: stage.
    """

    def __init__(self, section: BaseModel, env: FaultEnv, name: str) -> None:
        self.spec = section  # type: ignore[assignment]
        self.env = env
        self.name = name
        self.random = seeded_random(env.seed, "section", name)
        self.hits = 0
        self._accounts = None
        self._enabled = True

    @classmethod
    def from_scenario(cls, scenario: Any, env: FaultEnv) -> SectionFault | None:
        """The section's run-time object for `scenario`, or None when the section is empty."""
        raise NotImplementedError

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled

    def applies_to(self, account: str) -> bool:
        return True

    def draw(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": "section", "enabled": self._enabled, "hits": self.hits}
