"""The `sla:` and `gates:` sections: the promised rate, its vouchers and prices, and what a run must show.

Owns: Sla, Tier, Gates, ExpectRate. Not here: metering (simulator.metering), checking (loadtests/gates.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import MAX_SEED, Duration, Model, duration_seconds

PENDING_FOREVER = "never"


class Tier(Model):
    below: float = Field(gt=0, le=1)
    voucher: float = Field(ge=0, le=1)


class Sla(Model):
    target: float = Field(default=0.95, gt=0, le=1)
    tiers: list[Tier] = Field(default_factory=lambda: [Tier(below=0.95, voucher=0.10), Tier(below=0.90, voucher=0.30)])
    prices: dict[str, Annotated[float, Field(ge=0, le=1e9)]] = Field(default_factory=dict,
                                                                     description="per segment, by category")
    currency: str = "USD"
    timezone: str | None = Field(default=None, pattern=r"^(UTC|Z|[+-]\d\d:\d\d)$",
                                 description="service cycles' months: UTC (default) or a fixed offset like +08:00")
    # 72h: the longest validity period carriers commonly allow, after which no final state will come;
    # and shorter than the gap between a cycle's end and its claim window (after the 5th working day),
    # so every message of a cycle is decided before the cycle can be claimed on.
    pending_after: Duration | Literal["never"] = Field(
        default="72h", description="a message to a valid number still without a final state this long after "
        "its submit is a definite failure (no_final_state); 'never' keeps it pending")

    @property
    def pending_after_s(self) -> float | None:
        """`pending_after` in seconds; None for 'never'."""
        return None if self.pending_after == PENDING_FOREVER else duration_seconds(self.pending_after)


class ExpectRate(Model):
    """The measured rate must fall in the binomial interval around `value`; without a value, around
    the rate the scenario's fault mix predicts (simulator.metering.expectation)."""

    value: float | None = Field(default=None, ge=0, le=1)
    interval: Literal["binomial-99", "binomial-95"] = "binomial-99"


class Gates(Model):
    """What a run must show to pass. The evidence gates (volume, sample size, load errors) are always
    checked; `min_sends` overrides the volume the load section implies (loadtests/plan.py)."""

    min_sends: int | None = Field(default=None, ge=1, le=MAX_SEED,
                                  description="submits the run must at least make")
    expect_success_rate: ExpectRate | None = None
    min_success_rate: float | None = Field(default=None, ge=0, le=1)
    max_p99_submit_ms: float | None = Field(default=None, gt=0)
    min_throughput: float | None = Field(default=None, gt=0)
    max_error_ratio: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    reconcile: Literal["exact", "off"] = "exact"
