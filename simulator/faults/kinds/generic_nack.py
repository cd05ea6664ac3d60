"""generic_nack: the carrier answers a submit with generic_nack instead of submit_sm_resp.

The message is refused (no id, no receipt) with the nack's `status`; it is a definite failure
("generic_nack") unless an earlier stage already classed it or the scenario's `sla:` says otherwise.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from simulator.smpp.constants import CommandStatus

from ..analytic import Effect, Walk, takes_response
from ..base import Fault, FaultSpec, FaultStage
from ..outcome import Outcome, SlaClass, Submission
from ..registry import fault_kind


class GenericNackSpec(FaultSpec):
    """Nack `probability` of submits with `status` (default ESME_RSYSERR); the bind stays up."""

    kind: Literal["generic_nack"] = "generic_nack"
    status: int = Field(default=CommandStatus.ESME_RSYSERR, gt=0, le=0xFFFFFFFF,
                        description="command_status of the generic_nack")


@fault_kind(GenericNackSpec, stage=FaultStage.LINK, sla=(SlaClass.DEFINITE_FAILURE, "generic_nack"))
class GenericNack(Fault):
    spec: GenericNackSpec

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if outcome.response_taken:
            return False  # an earlier link fault decided what becomes of the response
        outcome.link_action = "nack"
        outcome.refuse(self.spec.status)  # the carrier puts the refusal's status in the nack
        self.classify(outcome)  # an earlier verdict of the same or a higher rank stands (outcome.PRECEDENCE)
        return True

    def expected(self, walk: Walk) -> Effect | None:
        return takes_response(walk, f"{self.kind} {self.name!r}", self.verdict)
