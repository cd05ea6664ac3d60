"""out_of_order_receipt: some receipts are held back, so receipts arrive in another order than submits.

It adds `extra_delay_ms` to the receipt delay of `probability` of messages, after latency has set
it (this runs at the LINK stage). Timing only: it never changes an outcome or its SLA class.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..analytic import Effect, Walk
from ..base import MAX_DELAY_MS, Fault, FaultSpec, FaultStage
from ..outcome import Outcome, Submission
from ..registry import fault_kind


class OutOfOrderReceiptSpec(FaultSpec):
    """Hold back the receipt of `probability` of messages by `extra_delay_ms`."""

    kind: Literal["out_of_order_receipt"] = "out_of_order_receipt"
    extra_delay_ms: float = Field(default=500, gt=0, le=MAX_DELAY_MS, description="added to the receipt delay of a hit")


@fault_kind(OutOfOrderReceiptSpec, stage=FaultStage.LINK)
class OutOfOrderReceipt(Fault):
    spec: OutOfOrderReceiptSpec

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if outcome.submit_status:
            return False  # refused at submit: no receipt to hold back
        outcome.receipt_delay += self.spec.extra_delay_ms / 1000
        return True

    def expected(self, walk: Walk) -> Effect | None:
        return None  # timing only
