"""drop_bind: the carrier closes a bind after so many PDUs and/or once it is so many seconds old.

By PDUs: the response to the submit that reaches `after_pdus` is sent, then the connection closes.
By age: the carrier's housekeeping aborts the connection. Link only: no SLA class changes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..base import MAX_COUNT, MAX_SCENARIO_S, Fault, FaultSpec, Stage, fault_kind
from ..outcome import Outcome, Submission

_REMEMBERED_BINDS = 4096  # binds whose last age check is remembered (oldest forgotten first)


@fault_kind
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


class DropBind(Fault):
    spec: DropBindSpec

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._periods: dict[int, int] = {}  # bind_id -> the last every_s multiple it was checked at

    def on_submit(self, submission: Submission, outcome: Outcome, now: float) -> None:
        after = self.spec.after_pdus
        link = submission.link
        if after is None or link is None or link.pdus < after:
            return
        if not self.claim_response(outcome):
            return
        outcome.link_action = "drop"

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
        return "drop" if self.draw() else None  # the pipeline counts the hit


DropBindSpec.stage = Stage.LINK
DropBindSpec.runtime = DropBind
