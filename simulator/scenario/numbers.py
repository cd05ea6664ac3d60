"""The `numbers:` section: the number plan's groups, subscriber states and their behaviour mixes.

Owns: Numbers, NumberGroup, StateBehaviour, normalize_number, DEFAULT_TRAFFIC_GROUP and the
number plan's ambiguities that load_scenario reports (number_plan_problems). Not here: what a
state does to a message (simulator.faults.sections.number_plan).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from .base import MAX_DELAY_MS, MAX_STATUS, Model, Problems

SubscriberStateName = Literal[
    "active",
    "nonexistent",
    "out_of_service",
    "powered_off",
    "arrears",
    "not_subscribed",
    "unreachable",
    "unstable_network",
]


def _phone_number(number: str) -> str:
    # no upper bound on digits: the load may send to numbers no SMSC takes (tests/test_run.py does)
    if not normalize_number(number):
        raise ValueError("not a phone number (no digits)")
    return number


PhoneNumber = Annotated[str, AfterValidator(_phone_number)]


class NumberGroup(Model):
    """Numbers sharing a subscriber state: by prefix, or by an inclusive range, or listed."""

    prefix: str | None = Field(default=None, pattern=r"^\+?[0-9]+$")
    range: tuple[str, str] | None = Field(default=None, description="[first, last], inclusive")
    numbers: list[PhoneNumber] | None = Field(default=None, min_length=1)
    state: SubscriberStateName = "active"
    length: int = Field(default=13, ge=3, le=20, description="digits of generated numbers (load)")

    @model_validator(mode="after")
    def _one_selector(self) -> "NumberGroup":
        given = [k for k in ("prefix", "range", "numbers") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of prefix, range or numbers")
        if self.range is not None:
            lo, hi = (normalize_number(x) for x in self.range)
            if not lo.isdigit() or not hi.isdigit() or int(lo) > int(hi) or len(lo) != len(hi):
                raise ValueError("range must be two numbers of the same length, first <= last")
        return self


# Where the load sends when the scenario has no number groups (loadtests.traffic, and the metering's
# expectation, which must predict what that traffic meets).
DEFAULT_TRAFFIC_GROUP = NumberGroup(prefix="8613800", state="active")


class StateBehaviour(Model):
    """How a subscriber state answers: refuse at submit, or accept and fail in the receipt."""

    submit_status: int | None = Field(default=None, ge=0, le=MAX_STATUS,
                                      description="refuse at submit with this status (0: accept)")
    receipt_state: Literal["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "UNKNOWN", "DELETED"] = "UNDELIV"
    err: str = Field(default="000", max_length=3)
    delay_ms: float | None = Field(default=None, ge=0, le=MAX_DELAY_MS,
                                   description="receipt delay (default: the carrier's)")
    share: float = Field(default=1.0, ge=0, le=1, description="share of messages that behave so")


class Numbers(Model):
    """The number plan: groups that the load's traffic mix refers to, and how states behave."""

    default_state: SubscriberStateName = "active"
    groups: dict[str, NumberGroup] = Field(default_factory=dict)
    states: dict[SubscriberStateName, list[StateBehaviour]] = Field(
        default_factory=dict, description="override the built-in behaviour of a state (a mix)"
    )

    @field_validator("states")
    @classmethod
    def _shares_sum_to_one(cls, value: dict[str, list[StateBehaviour]]) -> dict[str, list[StateBehaviour]]:
        for state, mix in value.items():
            total = sum(b.share for b in mix)
            if mix and abs(total - 1.0) > 1e-6:
                raise ValueError(f"shares of {state} must add up to 1, got {total:g}")
        return value


def normalize_number(number: str) -> str:
    """Digits only, international form: '+86 138-00' -> '8613800'; a leading '00' is dropped."""
    digits = re.sub(r"[^0-9]", "", number)
    return digits[2:] if digits.startswith("00") else digits


def number_plan_problems(numbers: Numbers, lines: dict[tuple[Any, ...], int]) -> Problems:
    """Groups that claim the same numbers with nothing to say which one wins: the same prefix, the
    same listed number, or ranges (of one length) that partly overlap or are equal. Nesting is not
    ambiguous: a listed number beats a range, a range beats a prefix, an inner range the one around
    it, a longer prefix a shorter one (simulator.faults.sections.number_plan)."""
    problems: Problems = []

    def both(first: str, second: str, what: str) -> str:
        line = lines.get(("numbers", "groups", first))
        return f"{first} and {second} both claim {what}" + (f" ({first} is at line {line})" if line else "")

    prefixes: dict[str, str] = {}
    listed: dict[str, str] = {}
    ranges: dict[int, list[tuple[int, int, str]]] = {}
    for name, group in numbers.groups.items():
        here = ("numbers", "groups", name)
        if group.prefix is not None:
            digits = normalize_number(group.prefix)
            if digits in prefixes:
                problems.append((here + ("prefix",), both(prefixes[digits], name, f"prefix {digits!r}")
                                 + ": give it to one group"))
            prefixes.setdefault(digits, name)
        elif group.range is not None:
            lo, hi = (normalize_number(x) for x in group.range)
            ranges.setdefault(len(lo), []).append((int(lo), int(hi), name))
        else:
            for i, number in enumerate(group.numbers or []):
                digits = normalize_number(number)
                owner = listed.setdefault(digits, name)
                if owner != name:
                    problems.append((here + ("numbers", i), both(owner, name, f"number {digits!r}")
                                     + ": give it to one group"))
    for length, spans in ranges.items():
        spans.sort(key=lambda r: (r[0], -r[1]))
        stack: list[tuple[int, int, str]] = []
        for lo, hi, name in spans:
            while stack and stack[-1][1] < lo:
                stack.pop()
            if stack and (hi > stack[-1][1] or (lo, hi) == stack[-1][:2]):
                olo, ohi, other = stack[-1]
                line = lines.get(("numbers", "groups", other))
                how = "are the same" if (lo, hi) == (olo, ohi) else "partly overlap"
                at = f", line {line}" if line else ""
                problems.append((("numbers", "groups", name, "range"),
                                 f"the ranges of {other} ({olo:0{length}d}-{ohi:0{length}d}{at}) and {name} "
                                 f"({lo:0{length}d}-{hi:0{length}d}) {how}: ranges may only nest "
                                 "(the inner one wins)"))
                continue
            stack.append((lo, hi, name))
    return problems
