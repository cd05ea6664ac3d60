"""duplicate_receipt: the carrier sends the final receipt of a message more than once.

Each copy is the same deliver_sm content (same id, state and dates); clients must deduplicate.
It changes no outcome and no SLA class: a message is counted once however often it is receipted.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..analytic import Effect, Walk
from ..base import Fault, FaultSpec, FaultStage
from ..outcome import Outcome, Submission
from ..registry import fault_kind


class DuplicateReceiptSpec(FaultSpec):
    """Send `copies` extra copies of the final receipt of `probability` of accepted messages."""

    kind: Literal["duplicate_receipt"] = "duplicate_receipt"
    copies: int = Field(default=1, ge=1, le=100, description="extra copies, beyond the first receipt")


@fault_kind(DuplicateReceiptSpec, stage=FaultStage.LINK)
class DuplicateReceipt(Fault):
    spec: DuplicateReceiptSpec

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if outcome.submit_status:
            return False  # refused at submit: there is no receipt to copy
        outcome.duplicate_receipts += self.spec.copies
        return True

    def expected(self, walk: Walk) -> Effect | None:
        return None  # receipts only
