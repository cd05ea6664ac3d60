"""reset_mid_pdu: the carrier writes half of a submit response, then resets the TCP connection.

The carrier had accepted the message before the link broke: it keeps it and its receipt comes later
on whatever bind the account has then, as real carriers do. Link only: the SLA class is unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..analytic import Effect, Walk
from ..base import MAX_COUNT, Fault, FaultSpec, FaultStage
from ..outcome import Outcome, Submission
from ..registry import fault_kind


class ResetMidPduSpec(FaultSpec):
    """Cut a response and reset: with `probability` per submit, counting only submits that arrive
    once the bind has received `after_pdus` PDUs (its bind request included) when that is given."""

    kind: Literal["reset_mid_pdu"] = "reset_mid_pdu"
    after_pdus: int | None = Field(default=None, ge=1, le=MAX_COUNT,
                                   description="PDUs received on the bind, bind included")


@fault_kind(ResetMidPduSpec, stage=FaultStage.LINK)
class ResetMidPdu(Fault):
    spec: ResetMidPduSpec

    def eligible(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        after = self.spec.after_pdus
        link = submission.link
        return after is None or (link is not None and link.pdus >= after)

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if outcome.response_taken:
            return False  # an earlier link fault decided what becomes of the response
        outcome.link_action = "reset_mid_pdu"
        return True

    def expected(self, walk: Walk) -> Effect | None:
        if self.spec.after_pdus is not None:
            walk.link_history.append(f"reset_mid_pdu {self.name!r}")
            return None
        return lambda track: track._replace(link_free=False) if track.link_free else None
