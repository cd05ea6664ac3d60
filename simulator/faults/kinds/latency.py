"""latency: how long the carrier takes to answer a submit and to produce its receipt.

Samples a distribution (fixed, uniform, normal, lognormal by median and p99) per message from the
fault's own seeded stream. It changes timing only, never an outcome or its SLA class.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from ..base import Fault, FaultSpec, Stage, fault_kind
from ..distributions import Distribution
from ..outcome import Outcome, Submission


@fault_kind
class LatencySpec(FaultSpec):
    kind: Literal["latency"] = "latency"
    submit_resp: Distribution | None = None
    receipt: Distribution | None = None

    @model_validator(mode="after")
    def _something(self) -> "LatencySpec":
        if self.submit_resp is None and self.receipt is None:
            raise ValueError("give submit_resp and/or receipt")
        return self


class Latency(Fault):
    spec: LatencySpec

    def on_submit(self, submission: Submission, outcome: Outcome, now: float) -> None:
        if not self.draw():
            return
        self.hits += 1
        if self.spec.submit_resp is not None:
            outcome.response_delay += self.spec.submit_resp.sample_ms(self.random) / 1000
        if self.spec.receipt is not None:
            delay = self.spec.receipt.sample_ms(self.random) / 1000
            # a failure that takes long on its own (an expiry) keeps its longer delay
            outcome.receipt_delay = delay if not outcome.settled else max(delay, outcome.receipt_delay)


LatencySpec.stage = Stage.TIMING
LatencySpec.runtime = Latency
