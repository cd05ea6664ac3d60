"""Delay distributions for latency faults: fixed, uniform, normal, lognormal (by median and p99).

Pure: a distribution samples from the random stream it is given and never from a global one.
Every parameter is a finite number of milliseconds up to MAX_DELAY_MS (a day), and so is every
sample: a long tail is cut there, so a delay can always be scheduled.
"""

from __future__ import annotations

import math
import random
from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field, model_validator

from .base import FAULT_CONFIG, MAX_DELAY_MS

Z99 = 2.3263478740408408  # the standard normal's 99th percentile


Ms = Annotated[float, Field(ge=0, le=MAX_DELAY_MS, description="milliseconds, at most a day")]


class _Dist(BaseModel):
    model_config = FAULT_CONFIG

    def sample_ms(self, rng: random.Random) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


class Fixed(_Dist):
    dist: Literal["fixed"] = "fixed"
    ms: Ms

    def sample_ms(self, rng: random.Random) -> float:
        return self.ms


class Uniform(_Dist):
    dist: Literal["uniform"] = "uniform"
    min_ms: Ms
    max_ms: Ms

    @model_validator(mode="after")
    def _ordered(self) -> "Uniform":
        if self.max_ms < self.min_ms:
            raise ValueError("max_ms must be >= min_ms")
        return self

    def sample_ms(self, rng: random.Random) -> float:
        return rng.uniform(self.min_ms, self.max_ms)


class Normal(_Dist):
    dist: Literal["normal"] = "normal"
    mean_ms: Ms
    stddev_ms: Ms

    def sample_ms(self, rng: random.Random) -> float:
        return min(max(0.0, rng.gauss(self.mean_ms, self.stddev_ms)), MAX_DELAY_MS)


class LogNormal(_Dist):
    """Long-tailed, as network latency is: given by its median and its 99th percentile."""

    dist: Literal["lognormal"] = "lognormal"
    median_ms: float = Field(gt=0, le=MAX_DELAY_MS)
    p99_ms: float = Field(gt=0, le=MAX_DELAY_MS)

    @model_validator(mode="after")
    def _tail(self) -> "LogNormal":
        if self.p99_ms < self.median_ms:
            raise ValueError("p99_ms must be >= median_ms")
        return self

    def sample_ms(self, rng: random.Random) -> float:
        mu = math.log(self.median_ms)
        sigma = (math.log(self.p99_ms) - mu) / Z99
        return min(rng.lognormvariate(mu, sigma), MAX_DELAY_MS)


Distribution = Annotated[Union[Fixed, Uniform, Normal, LogNormal], Field(discriminator="dist")]  # noqa: UP007
