"""no_response: the carrier never answers a submit (the client's request times out).

The message never got an id, so the carrier does not keep it and sends no receipt; it is a
definite failure ("no_response") unless an earlier stage already classed it or `sla:` says otherwise.
"""

from __future__ import annotations

from typing import Literal

from simulator.smpp.constants import CommandStatus

from ..analytic import Effect, Walk, takes_response
from ..base import Fault, FaultSpec, FaultStage
from ..outcome import Outcome, SlaClass, Submission
from ..registry import fault_kind


class NoResponseSpec(FaultSpec):
    """Leave `probability` of submits unanswered; the bind stays up and later submits are answered."""

    kind: Literal["no_response"] = "no_response"


@fault_kind(NoResponseSpec, stage=FaultStage.LINK, sla=(SlaClass.DEFINITE_FAILURE, "no_response"))
class NoResponse(Fault):
    spec: NoResponseSpec

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if outcome.response_taken:
            return False  # an earlier link fault decided what becomes of the response
        outcome.respond = False
        if not outcome.submit_status:
            # never answered, so never given an id: the carrier keeps no message and sends no
            # receipt (the status is the record's only; nothing goes on the wire)
            outcome.refuse(CommandStatus.ESME_RSYSERR)
        self.classify(outcome)  # an earlier verdict of the same or a higher rank stands (outcome.PRECEDENCE)
        return True

    def expected(self, walk: Walk) -> Effect | None:
        return takes_response(walk, f"{self.kind} {self.name!r}", self.verdict)
