"""maintenance: a window when the carrier refuses binds, rejects submits or holds receipts.

The window starts `start` after the scenario start ("30s", "5m", "1h") or `at` a wall-clock time
(ISO 8601 with a zone), lasts `duration`, and may repeat `every`. It never sleeps or reads a clock:
wall-clock windows become scenario time through env.started_wall (the Unix time of scenario
time 0, which FaultPipeline.start() records next to its monotonic start).

Modes, during the window:
  refuse_binds    binds get `bind_status` (ESME_RBINDFAIL), bound links are dropped at the next
                  link check, and a submit that slips in before its link goes gets `submit_status`
  reject_submits  submits get `submit_status` (ESME_RSYSERR)
  hold_receipts   submits are accepted; no final state (so no receipt) before the window ends
Refused submits are excluded "pre_notified_maintenance" when `pre_notified`, else definite
failures "maintenance". Holding receipts does not change a message's SLA class, unless it holds
them past their validity (carrier.default_validity): they end EXPIRED then (carrier/receipts.py).
`probability` is the share of submits in the window that are hit; binds and links are always
refused/dropped.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator, Field, field_validator, model_validator

from simulator.scenario import duration_seconds
from simulator.smpp.constants import CommandStatus

from ..analytic import Effect, Walk
from ..base import MAX_SCENARIO_S, Fault, FaultSpec, FaultStage
from ..outcome import Outcome, SlaClass, Submission, Verdict
from ..registry import fault_kind

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> Any:
    """'30s', '1.5m', '2h', '500ms', '1d' or a number of seconds -> seconds (float)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("must be a duration like 30s, 10m, 1h or 500ms")
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=MAX_SCENARIO_S, allow_inf_nan=False)]


class MaintenanceSpec(FaultSpec):
    kind: Literal["maintenance"] = "maintenance"
    start: Seconds | None = Field(default=None, description="after the scenario start: 30s, 5m, 1h")
    at: AwareDatetime | None = Field(default=None, strict=False,  # an ISO 8601 string in YAML and JSON
                                     description="wall clock, ISO 8601 with zone: 2026-11-22T02:00:00Z")
    duration: Seconds
    every: Seconds | None = Field(default=None, description="repeat the window with this period")
    mode: Literal["refuse_binds", "reject_submits", "hold_receipts"] = "reject_submits"
    pre_notified: bool = Field(default=False, description="announced in advance: excluded from the SLA")
    bind_status: int = Field(default=CommandStatus.ESME_RBINDFAIL)
    submit_status: int = Field(default=CommandStatus.ESME_RSYSERR)

    @field_validator("bind_status", "submit_status")
    @classmethod
    def _a_refusal(cls, value: int) -> int:
        if not 0 < value <= 0xFFFFFFFF:
            raise ValueError("must be a non-zero command_status")
        return value

    @model_validator(mode="after")
    def _a_window(self) -> MaintenanceSpec:
        if (self.start is None) == (self.at is None):
            raise ValueError("give exactly one of start (after the scenario start) or at (wall clock)")
        if self.duration <= 0:
            raise ValueError("duration must be more than 0")
        if self.every is not None and self.every <= self.duration:
            raise ValueError("every must be longer than duration (else the window never ends)")
        return self


@fault_kind(MaintenanceSpec, stage=FaultStage.ADMISSION, sla=(SlaClass.DEFINITE_FAILURE, "maintenance"))
class Maintenance(Fault):
    spec: MaintenanceSpec
    link_draws = False  # in a window every bind is refused and every link dropped

    def default_verdict(self) -> Verdict:
        if self.spec.pre_notified:
            return Verdict(SlaClass.EXCLUDED, "pre_notified_maintenance")
        return super().default_verdict()

    def first_start(self) -> float:
        """When the first window opens, in scenario seconds (may be negative for a past `at`)."""
        spec = self.spec
        if spec.start is not None:
            return spec.start
        assert spec.at is not None
        return spec.at.timestamp() - self.env.started_wall

    def window_at(self, now: float) -> tuple[float, float] | None:
        """The (start, end) of the window open at `now` (scenario seconds), or None."""
        spec = self.spec
        start = self.first_start()
        if now < start:
            return None
        if spec.every is not None:
            start += math.floor((now - start) / spec.every) * spec.every
        end = start + spec.duration
        return (start, end) if now < end else None

    def on_bind(self, account: str, bind_type: str, now: float) -> int:
        if self.spec.mode == "refuse_binds" and self.window_at(now) is not None:
            return self.spec.bind_status
        return 0

    def on_link(self, link: Any, now: float) -> str | None:
        if self.spec.mode == "refuse_binds" and self.window_at(now) is not None:
            return "drop"
        return None

    def eligible(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        return not outcome.submit_status and self.window_at(now) is not None

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        spec = self.spec
        if spec.mode == "hold_receipts":
            window = self.window_at(now)
            assert window is not None  # eligible() said so
            outcome.hold_until = max(outcome.hold_until, window[1])
            return True
        outcome.refuse(spec.submit_status)
        self.classify(outcome)
        return True

    def expected(self, walk: Walk) -> Effect | None:
        if self.spec.mode == "hold_receipts":
            scenario = self.env.scenario  # the carrier's default validity (carrier/validity.py)
            validity = math.inf if scenario is None else duration_seconds(scenario.carrier.default_validity)
            if self.spec.duration < validity:
                walk.assume(f"maintenance {self.name!r} holds receipts only (no class changes)")
            else:  # held past their validity, messages end EXPIRED: definite failures
                walk.time_dependent(self.name, "a window holding receipts past carrier.default_validity",
                                    SlaClass.DEFINITE_FAILURE.value)
        else:
            what = f"a maintenance window ({self.spec.mode})"
            walk.time_dependent(self.name, what, self.verdict.sla_class.value)
        return None
