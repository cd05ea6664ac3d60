"""provider_failure: the carrier fails messages to valid numbers, at submit or in the receipt.

These are the SLA's definite failures (unless the scenario says otherwise with `sla:`). Only
messages nothing earlier refused or failed are eligible, so invalid numbers never count twice.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from simulator.smpp.constants import MessageState

from ..analytic import Effect, Walk, settles_unsettled
from ..base import FAULT_CONFIG, Fault, FaultSpec, FaultStage
from ..outcome import Outcome, SlaClass, Submission
from ..registry import fault_kind


class FailedReceipt(BaseModel):
    model_config = FAULT_CONFIG

    state: Literal["UNDELIV", "EXPIRED", "UNKNOWN", "REJECTD", "DELETED"] = "UNDELIV"
    err: str = Field(default="069", max_length=3)


class ProviderFailureSpec(FaultSpec):
    """Fail `probability` of eligible messages: refuse them with `submit_status`, or accept them
    and send a failed `receipt`. With both given, `submit_share` of the hits are refusals."""

    kind: Literal["provider_failure"] = "provider_failure"
    submit_status: int | None = Field(default=None, description="e.g. 0x08 RSYSERR, 0x45, 0x400-0x4FF")
    receipt: FailedReceipt | None = None
    submit_share: float = Field(default=0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _something_fails(self) -> ProviderFailureSpec:
        if self.submit_status is None and self.receipt is None:
            object.__setattr__(self, "receipt", FailedReceipt())
        if self.submit_status is not None and not 0 < self.submit_status <= 0xFFFFFFFF:
            raise ValueError("submit_status must be a non-zero command_status")
        return self


@fault_kind(ProviderFailureSpec, stage=FaultStage.NETWORK,
            sla=(SlaClass.DEFINITE_FAILURE, "provider_failure"))
class ProviderFailure(Fault):
    spec: ProviderFailureSpec

    def eligible(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        return not outcome.settled

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        spec = self.spec
        refuse = spec.receipt is None or (spec.submit_status is not None and self.random.random() < spec.submit_share)
        if refuse:
            assert spec.submit_status is not None
            outcome.refuse(spec.submit_status)
        else:
            assert spec.receipt is not None
            outcome.fail(MessageState.from_stat(spec.receipt.state), spec.receipt.err)
        self.classify(outcome)
        return True

    def expected(self, walk: Walk) -> Effect | None:
        return settles_unsettled(self.verdict)
