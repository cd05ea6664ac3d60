"""drop_bind: the carrier closes a bind after so many PDUs and/or once it is so many seconds old.

By PDUs: the response to the submit that reaches `after_pdus` is sent, then the connection closes.
By age: the carrier's housekeeping aborts the connection. Link only: no SLA class changes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..analytic import Effect, Walk
from ..base import MAX_COUNT, MAX_SCENARIO_S, Fault, FaultSpec, FaultStage
from ..outcome import Outcome, Submission
from ..registry import fault_kind

_REMEMBERED_BINDS = 4096  # binds whose last age check is remembered (oldest forgotten first)


class DropBindSpec(FaultSpec):
    """Drop a bind once it has received `after_pdus` PDUs (its bind request included), and/or each
    time its age crosses a multiple of `every_s` seconds. `probability` is drawn at each such point."""

    kind: Literal["drop_bind"] = "drop_bind"
    after_pdus: int | None = Field(default=None, ge=1, le=MAX_COUNT,
                                   description="PDUs received on the bind, bind included")
    every_s: float | None = Field(default=None, gt=0, le=MAX_SCENARIO_S,
                                  description="bind age (seconds) at which to drop it")

    @model_validator(mode="after")
    def _something(self) -> DropBindSpec:
        if self.after_pdus is None and self.every_s is None:
            raise ValueError("give after_pdus and/or every_s")
        return self


@fault_kind(DropBindSpec, stage=FaultStage.LINK)
class DropBind(Fault):
    spec: DropBindSpec

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._periods: dict[int, int] = {}  # bind_id -> the last every_s multiple it was checked at

    def eligible(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        after = self.spec.after_pdus
        link = submission.link
        return after is not None and link is not None and link.pdus >= after

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if outcome.response_taken:
            return False
        outcome.link_action = "drop"
        return True

    def on_link(self, link: Any, now: float) -> str | None:
        every = self.spec.every_s
        if every is None:
            return None
        age = now - (link.opened_at - self.env.started_at)  # both in scenario seconds
        period = int(age // every)
        if period < 1 or period <= self._periods.get(link.bind_id, 0):
            return None
        self._periods.pop(link.bind_id, None)
        self._periods[link.bind_id] = period
        if len(self._periods) > _REMEMBERED_BINDS:
            del self._periods[next(iter(self._periods))]
        return "drop"  # the pipeline draws `probability` and counts the hit

    def expected(self, walk: Walk) -> Effect | None:
        if self.spec.after_pdus is not None:
            walk.link_history.append(f"drop_bind {self.name!r}")
        return None  # by age only: on_link, no submit outcome changes
