"""stall: during stall windows the carrier holds every submit response until the window ends.

Windows are one span (`start_s` to `end_s`) or repeat (`for_s` seconds every `every_s` seconds from
`start_s`, until `end_s` if given), in scenario seconds. Timing only: no outcome or SLA class changes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..analytic import Effect, Walk
from ..base import MAX_SCENARIO_S, Fault, FaultSpec, FaultStage
from ..outcome import Outcome, Submission
from ..registry import fault_kind


class StallSpec(FaultSpec):
    """Responses to submits received inside a window go out when the window ends (or later, if
    latency had them due later). Other PDUs (enquire_link, binds) are answered as usual."""

    kind: Literal["stall"] = "stall"
    start_s: float = Field(default=0, ge=0, le=MAX_SCENARIO_S, description="the first window opens (scenario seconds)")
    end_s: float | None = Field(default=None, gt=0, le=MAX_SCENARIO_S,
                                description="the single window, or the schedule, ends")
    every_s: float | None = Field(default=None, gt=0, le=MAX_SCENARIO_S,
                                  description="a window opens every every_s seconds")
    for_s: float | None = Field(default=None, gt=0, le=MAX_SCENARIO_S,
                                description="each repeated window lasts for_s seconds")

    @model_validator(mode="after")
    def _windows(self) -> StallSpec:
        if (self.every_s is None) != (self.for_s is None):
            raise ValueError("give every_s and for_s together")
        if self.every_s is None and self.end_s is None:
            raise ValueError("give end_s (one window from start_s) or every_s and for_s (repeated windows)")
        if self.every_s is not None and self.for_s is not None and self.for_s >= self.every_s:
            raise ValueError("for_s must be shorter than every_s")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self

    def window_end(self, now: float) -> float | None:
        """The end of the stall window that `now` falls in (scenario seconds), or None."""
        if now < self.start_s or (self.end_s is not None and now >= self.end_s):
            return None
        if self.every_s is None or self.for_s is None:
            return self.end_s
        phase = (now - self.start_s) % self.every_s
        if phase >= self.for_s:
            return None
        end = now - phase + self.for_s
        return end if self.end_s is None else min(end, self.end_s)


@fault_kind(StallSpec, stage=FaultStage.LINK)
class Stall(Fault):
    spec: StallSpec

    def eligible(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        return self.spec.window_end(now) is not None

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        end = self.spec.window_end(now)
        assert end is not None  # eligible() said so
        outcome.response_delay = max(outcome.response_delay, end - now)
        return True

    def expected(self, walk: Walk) -> Effect | None:
        return None  # timing only
