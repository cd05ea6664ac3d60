"""throttle: the carrier answers ESME_RTHROTTLED (or `status`) to `probability` of submits.

Optionally only during `window: {start_s, end_s}` of scenario time. This is the carrier (or a
regulator) controlling traffic, an excluded cause in the SLA; the accounts' own rate limits are the
throttling section. It never touches a message something earlier already refused.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from simulator.smpp.constants import CommandStatus

from ..analytic import Effect, Walk, settles_unsettled
from ..base import FAULT_CONFIG, MAX_SCENARIO_S, Fault, FaultSpec, FaultStage
from ..outcome import Outcome, SlaClass, Submission
from ..registry import fault_kind


class TimeWindow(BaseModel):
    """[start_s, end_s) in seconds of scenario time; no end_s: until the run ends."""

    model_config = FAULT_CONFIG

    start_s: float = Field(default=0.0, ge=0, le=MAX_SCENARIO_S)
    end_s: float | None = Field(default=None, ge=0, le=MAX_SCENARIO_S)

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self

    def contains(self, now: float) -> bool:
        return self.start_s <= now and (self.end_s is None or now < self.end_s)


class ThrottleSpec(FaultSpec):
    kind: Literal["throttle"] = "throttle"
    status: int = Field(default=CommandStatus.ESME_RTHROTTLED, description="e.g. 0x58, 0x14, 0x400-0x4FF")
    window: TimeWindow | None = Field(default=None, description="only then (default: always)")

    @field_validator("status")
    @classmethod
    def _a_refusal(cls, value: int) -> int:
        if not 0 < value <= 0xFFFFFFFF:
            raise ValueError("status must be a non-zero command_status")
        return value


@fault_kind(ThrottleSpec, stage=FaultStage.ADMISSION, sla=(SlaClass.EXCLUDED, "carrier_control"))
class Throttle(Fault):
    spec: ThrottleSpec

    def eligible(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        window = self.spec.window
        return not outcome.submit_status and (window is None or window.contains(now))

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        outcome.refuse(self.spec.status)
        self.classify(outcome)
        return True

    def expected(self, walk: Walk) -> Effect | None:
        if self.spec.window is not None:
            walk.time_dependent(self.name, "a throttle window", self.verdict.sla_class.value)
            return None
        return settles_unsettled(self.verdict)
