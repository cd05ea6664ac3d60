"""The scenario's building blocks: the base Model, the bounds every number keeps, and ScenarioError.

Owns: Model (unknown keys refused, numbers finite), the MAX_* bounds, Status, Duration and CString,
ScenarioError and Problems (what the loader reports). Not here: any section (its own module).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Base of every scenario section: unknown keys are errors, not silently ignored; numbers are
    finite (no .inf or .nan)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# Bounds of the numbers the models take: generous, but finite, so that nothing absurd reaches a
# timer, a counter, an encoder or the ledger (which stores the seed as a signed 64-bit integer).
MAX_SEED = 2**63 - 1
MAX_STATUS = 0xFFFFFFFF  # command_status is an unsigned 32-bit integer
MAX_COUNT = 100_000_000  # binds, queues, stores, users, windows
MAX_RATE = 1_000_000.0  # per second (throughput, spawn rates, rates per user)
MAX_DELAY_MS = 86_400_000.0  # one day
MAX_SECONDS = 86_400.0  # timers in seconds: one day
MAX_DURATION_S = 30 * 86_400.0  # load durations and drains: 30 days

Status = Annotated[int, Field(ge=1, le=MAX_STATUS)]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """Seconds of a duration written as in scenarios: 500ms, 30s, 5m, 1h."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 30s, 5m, 1h)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def _duration_in_bounds(text: str) -> str:
    if _DURATION.match(text) and duration_seconds(text) > MAX_DURATION_S:
        raise ValueError("must be at most 30 days")
    return text


Duration = Annotated[str, Field(pattern=_DURATION.pattern), AfterValidator(_duration_in_bounds)]


def _latin1_printable(value: str) -> str:
    """SMPP C-Octet Strings are encoded as Latin-1 and end at a NUL: no other characters fit."""
    if any(not (" " <= c <= "~" or "\xa0" <= c <= "\xff") for c in value):
        raise ValueError("must be printable Latin-1 characters (an SMPP C-Octet String)")
    return value


CString = Annotated[str, AfterValidator(_latin1_printable)]


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file, line, field and problem."""


Problems = list[tuple[tuple[Any, ...], str]]  # (field path, what is wrong)
