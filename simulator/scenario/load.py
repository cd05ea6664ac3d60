"""The `load:` section: what the Locust harness sends, and the stages of its user count.

Owns: Load, LoadStage. Not here: sending it (loadtests/).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .base import MAX_COUNT, MAX_RATE, Duration, Model, duration_seconds
from .rules import Template


class LoadStage(Model):
    """One entry of `load.stages`: hold `users` users for `duration`."""

    duration: Duration
    users: int = Field(ge=0, le=MAX_COUNT)
    spawn_rate: float | None = Field(default=None, gt=0, le=MAX_RATE)


class Load(Model):
    """What the Locust harness sends (see loadtests/)."""

    users: int = Field(default=10, ge=1, le=MAX_COUNT)
    spawn_rate: float = Field(default=100, gt=0, le=MAX_RATE)
    duration: Duration = "30s"
    drain: Duration = "5s"
    window: int = Field(default=10, ge=1, le=10_000)
    rate_per_user: float | None = Field(default=None, gt=0, le=MAX_RATE,
                                       description="submits per second per user")
    bind: Literal["transceiver", "transmitter+receiver"] = "transceiver"
    account: str | None = None
    traffic: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict,
                                                              description="weights over number groups")
    templates: list[Template | str] = Field(default_factory=list)
    long_messages: float = Field(default=0, ge=0, le=1, description="share of long messages")
    registered_delivery: int = Field(default=1, ge=0, le=0x1F)
    stages: list[LoadStage] = Field(default_factory=list)

    @field_validator("traffic")
    @classmethod
    def _some_weight(cls, value: dict[str, float]) -> dict[str, float]:
        if value and not any(w > 0 for w in value.values()):
            raise ValueError("needs at least one weight > 0")
        return value

    @model_validator(mode="after")
    def _stages_set_the_duration(self) -> "Load":
        """With stages, the stages say how long users submit: a stated duration must agree."""
        if self.stages:
            total = sum(duration_seconds(stage.duration) for stage in self.stages)
            if "duration" in self.model_fields_set and abs(duration_seconds(self.duration) - total) > 1e-9:
                raise ValueError(f"duration {self.duration} disagrees with the stages, which last {total:g}s: "
                                 "leave duration out (the stages set it) or make them agree")
            object.__setattr__(self, "duration", f"{total:g}s")  # frozen: set once, while validating
        return self
