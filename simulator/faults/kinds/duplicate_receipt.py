"""duplicate_receipt: the carrier sends the final receipt of a message more than once.

Each copy is the same deliver_sm content (same id, state and dates); clients must deduplicate.
It changes no outcome and no SLA class: a message is counted once however often it is receipted.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..base import Fault, FaultSpec, Stage, fault_kind
from ..outcome import Outcome, Submission


@fault_kind
class DuplicateReceiptSpec(FaultSpec):
    """Send `copies` extra copies of the final receipt of `probability` of accepted messages."""

    kind: Literal["duplicate_receipt"] = "duplicate_receipt"
    copies: int = Field(default=1, ge=1, le=100, description="extra copies, beyond the first receipt")


class DuplicateReceipt(Fault):
    spec: DuplicateReceiptSpec

    def on_submit(self, submission: Submission, outcome: Outcome, now: float) -> None:
        if not self.draw():
            return
        if outcome.submit_status:
            return  # refused at submit: there is no receipt to copy
        self.hits += 1
        outcome.duplicate_receipts += self.spec.copies


DuplicateReceiptSpec.stage = Stage.LINK
DuplicateReceiptSpec.runtime = DuplicateReceipt
