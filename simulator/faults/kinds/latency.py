"""latency: how long the carrier takes to answer a submit and to produce its receipt.

Samples a distribution (fixed, uniform, normal, lognormal by median and p99) per message from the
fault's own seeded stream. It changes timing only, never an outcome or its SLA class.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from ..analytic import Effect, Walk
from ..base import Fault, FaultSpec, FaultStage
from ..distributions import Distribution
from ..outcome import Outcome, Submission
from ..registry import fault_kind


class LatencySpec(FaultSpec):
    kind: Literal["latency"] = "latency"
    submit_resp: Distribution | None = None
    receipt: Distribution | None = None

    @model_validator(mode="after")
    def _something(self) -> LatencySpec:
        if self.submit_resp is None and self.receipt is None:
            raise ValueError("give submit_resp and/or receipt")
        return self


@fault_kind(LatencySpec, stage=FaultStage.TIMING)
class Latency(Fault):
    spec: LatencySpec

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if self.spec.submit_resp is not None:
            outcome.response_delay += self.spec.submit_resp.sample_ms(self.random) / 1000
        if self.spec.receipt is not None:
            delay = self.spec.receipt.sample_ms(self.random) / 1000
            # a failure that takes long on its own (an expiry) keeps its longer delay
            outcome.receipt_delay = delay if not outcome.settled else max(delay, outcome.receipt_delay)
        return True

    def expected(self, walk: Walk) -> Effect | None:
        return None  # timing only
