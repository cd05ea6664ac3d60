"""reset_mid_pdu: the carrier writes half of a submit response, then resets the TCP connection.

The carrier had accepted the message before the link broke: it keeps it and its receipt comes later
on whatever bind the account has then, as real carriers do. Link only: the SLA class is unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..base import MAX_COUNT, Fault, FaultSpec, Stage, fault_kind
from ..outcome import Outcome, Submission


@fault_kind
class ResetMidPduSpec(FaultSpec):
    """Cut a response and reset: with `probability` per submit, counting only submits that arrive
    once the bind has received `after_pdus` PDUs (its bind request included) when that is given."""

    kind: Literal["reset_mid_pdu"] = "reset_mid_pdu"
    after_pdus: int | None = Field(default=None, ge=1, le=MAX_COUNT,
                                   description="PDUs received on the bind, bind included")


class ResetMidPdu(Fault):
    spec: ResetMidPduSpec

    def on_submit(self, submission: Submission, outcome: Outcome, now: float) -> None:
        after = self.spec.after_pdus
        link = submission.link
        if after is not None and (link is None or link.pdus < after):
            return
        if not self.claim_response(outcome):
            return
        outcome.link_action = "reset_mid_pdu"


ResetMidPduSpec.stage = Stage.LINK
ResetMidPduSpec.runtime = ResetMidPdu
