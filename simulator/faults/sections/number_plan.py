"""The number plan (`numbers:`): which subscriber state a destination is in, and what that state does.

A lookup per message (exact numbers, then ranges, then the longest prefix) picks a state whose
behaviour and SLA class are below; it never touches a message something earlier already settled.

state             outcome (stat err: GSM MAP cause)           delay  SLA class / reason
----------------  ------------------------------------------  -----  ----------------------------------
active            DELIVRD 000                                 1x     delivered
nonexistent       refused at submit: 0x0B ESME_RINVDSTADR     -      invalid_number / nonexistent
out_of_service    UNDELIV 001: unknown subscriber             1x     invalid_number / out_of_service
powered_off       EXPIRED 027: absent subscriber              10x    invalid_number / powered_off
arrears           UNDELIV 013: call barred                    1x     invalid_number / arrears
not_subscribed    UNDELIV 011: teleservice not provisioned    1x     invalid_number / sms_not_subscribed
unreachable       EXPIRED 027: absent subscriber              10x    invalid_number / unreachable
unstable_network  70 %: DELIVRD 000                           1x     invalid_number / unstable_network
                  30 %: UNDELIV 034: system failure           2x     invalid_number / unstable_network

Every state but `active` makes the destination an invalid number (a user-side cause, SLA 3.1(2)):
each message to it is counted invalid_number with the state's reason, whether it is delivered,
fails, or is refused by something else first (a maintenance window, a throttle): validity() gives
that verdict and the pipeline applies it last (outcome.PRECEDENCE). The same number cannot be a
valid one when a message reaches it and an invalid one when a message fails.

`err` is the decimal GSM MAP error cause (3GPP TS 29.002), as most SMSCs write it. The delay is in
carrier.receipt_delay_ms: an EXPIRED receipt stands for a validity period running out, compressed
to ten times that. `numbers.states.<state>` replaces a state's row by a mix of StateBehaviour
(shares adding up to 1), keeping the state's SLA class for every message; failures of an `active`
override are the provider's (definite_failure, reason "numbers"). The mix is drawn from the
section's seeded stream, exactly one draw per message consulted, so a run repeats.

Which group a number is in: a listed number beats a range, a range beats a prefix; among ranges
the innermost (ranges of one length may nest, not partly overlap), among prefixes the longest.
Numbers in no group are in `numbers.default_state`. Numbers are compared normalized (digits only,
a leading 00 dropped: simulator.scenario.normalize_number).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulator.scenario import NumberGroup, Numbers, ScenarioError, StateBehaviour, normalize_number
from simulator.smpp.constants import CommandStatus, MessageState

from ..base import FaultEnv, FaultStage, SectionFault
from ..outcome import Outcome, SlaClass, Submission, Verdict
from ..registry import scenario_section

if TYPE_CHECKING:
    from simulator.scenario import Scenario

EXPIRY_FACTOR = 10.0  # an EXPIRED receipt comes this many carrier receipt delays after the submit
UNSTABLE_FAILURE_SHARE = 0.30

INVALID_REASONS: dict[str, str] = {
    "nonexistent": "nonexistent",
    "out_of_service": "out_of_service",
    "powered_off": "powered_off",
    "arrears": "arrears",
    "not_subscribed": "sms_not_subscribed",
    "unreachable": "unreachable",
    "unstable_network": "unstable_network",
}


def state_verdict(state: str) -> Verdict | None:
    """The validity of a destination in `state`: invalid_number with the state's reason for
    every state but `active` (None: a valid number)."""
    reason = INVALID_REASONS.get(state)
    return None if reason is None else Verdict(SlaClass.INVALID_NUMBER, reason)


def destination_digits(number: str) -> str:
    """normalize_number(), with a fast path for the usual all-digit destination_addr."""
    if number.isdigit() and number.isascii():
        return number.removeprefix("00")
    return normalize_number(number)


@dataclass(frozen=True, slots=True)
class Behaviour:
    """One resolved way a state answers: refuse (submit_status), deliver, or fail in the receipt."""

    share: float
    submit_status: int = 0
    final_state: MessageState = MessageState.DELIVERED
    err: str = "000"
    delay: float | None = None  # receipt delay in seconds; None: leave the outcome's
    sla_class: SlaClass = SlaClass.DELIVERED
    reason: str = ""

    @property
    def delivers(self) -> bool:
        return not self.submit_status and self.final_state is MessageState.DELIVERED

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.sla_class, self.reason)


class StateMix:
    """A state's behaviours and their cumulative shares: pick(r) for a uniform r in [0, 1)."""

    __slots__ = ("behaviours", "bounds", "single", "state", "validity")

    def __init__(self, state: str, behaviours: list[Behaviour]) -> None:
        self.state = state
        self.validity = state_verdict(state)  # None: a valid number
        self.behaviours = tuple(behaviours)
        bounds, total = [], 0.0
        for b in behaviours:
            total += b.share
            bounds.append(total)
        self.bounds = tuple(bounds)
        self.single = behaviours[0] if len(behaviours) == 1 else None

    def pick(self, r: float) -> Behaviour:
        if self.single is not None:
            return self.single
        for bound, behaviour in zip(self.bounds, self.behaviours):
            if r < bound:
                return behaviour
        return self.behaviours[-1]  # shares that add up to 1 - epsilon


def builtin_behaviours(state: str, receipt_delay: float) -> list[Behaviour]:
    """The realistic default of each subscriber state (the table in this module's docstring)."""
    reason = INVALID_REASONS.get(state, "")
    expiry = receipt_delay * EXPIRY_FACTOR

    def failing(share: float, stat: MessageState, err: str, delay: float | None = None) -> Behaviour:
        return Behaviour(share, final_state=stat, err=err, delay=delay, sla_class=SlaClass.INVALID_NUMBER,
                         reason=reason)  # fmt: skip

    undeliv, expired = MessageState.UNDELIVERABLE, MessageState.EXPIRED
    unstable = UNSTABLE_FAILURE_SHARE
    table: dict[str, list[Behaviour]] = {
        "active": [Behaviour(1.0)],
        "nonexistent": [Behaviour(1.0, submit_status=CommandStatus.ESME_RINVDSTADR,
                                  sla_class=SlaClass.INVALID_NUMBER, reason=reason)],
        "out_of_service": [failing(1.0, undeliv, "001")],  # unknown subscriber
        "powered_off": [failing(1.0, expired, "027", expiry)],  # absent subscriber
        "arrears": [failing(1.0, undeliv, "013")],  # call barred
        "not_subscribed": [failing(1.0, undeliv, "011")],  # teleservice not provisioned
        "unreachable": [failing(1.0, expired, "027", expiry)],  # absent subscriber
        "unstable_network": [Behaviour(1.0 - unstable), failing(unstable, undeliv, "034", receipt_delay * 2)],
    }  # fmt: skip
    return table[state]


def resolve(state: str, mix: list[StateBehaviour], name: str) -> list[Behaviour]:
    """A scenario's `numbers.states.<state>` mix, with the state's SLA class on its failures."""
    out = []
    for b in mix:
        if state == "active":
            sla_class, reason = SlaClass.DEFINITE_FAILURE, name
        else:
            sla_class, reason = SlaClass.INVALID_NUMBER, INVALID_REASONS[state]
        if b.submit_status:
            out.append(Behaviour(b.share, submit_status=b.submit_status, sla_class=sla_class, reason=reason))
            continue
        final = MessageState.from_stat(b.receipt_state)
        delay = None if b.delay_ms is None else b.delay_ms / 1000
        if final is MessageState.DELIVERED:
            out.append(Behaviour(b.share, delay=delay))
        else:
            out.append(
                Behaviour(
                    b.share, final_state=final, err=b.err, delay=delay, sla_class=sla_class, reason=reason
                )
            )
    return out


Entry = tuple[str, StateMix]  # (group name, the group's state mix)


@scenario_section(stage=FaultStage.SUBSCRIBER)
class NumberPlan(SectionFault):
    """The `numbers:` section at run time: state lookup and the state's outcome, per message."""

    spec: Numbers  # type: ignore[assignment]

    def __init__(self, section: Numbers, env: FaultEnv, name: str = "numbers") -> None:
        super().__init__(section, env, name)
        self.mixes: dict[str, StateMix] = {}
        for state in ("active", "nonexistent", "out_of_service", "powered_off", "arrears", "not_subscribed",
                      "unreachable", "unstable_network"):  # fmt: skip
            override = section.states.get(state)  # type: ignore[call-overload]
            behaviours = (
                resolve(state, override, name) if override else builtin_behaviours(state, env.receipt_delay)
            )
            self.mixes[state] = StateMix(state, behaviours)
        self.default: Entry = ("", self.mixes[section.default_state])
        self._last: tuple[str | None, StateMix] = (None, self.default[1])  # apply()'s lookup, for validity()
        self._exact: dict[str, Entry] = {}
        self._prefixes: dict[str, Entry] = {}
        ranges: dict[int, list[tuple[int, int, Entry]]] = {}
        owner: dict[tuple[str, str], str] = {}  # (selector, value) -> group: duplicates are ambiguous
        for group_name, group in section.groups.items():
            entry = (group_name, self.mixes[group.state])
            for selector, value in self._selectors(group_name, group):
                key = (selector, value)
                if key in owner and owner[key] != group_name:
                    raise ScenarioError(
                        f"numbers.groups: {owner[key]} and {group_name} both claim "
                        f"{selector} {value!r}: give it to one group"
                    )
                owner[key] = group_name
                if selector == "number":
                    self._exact[value] = entry
                elif selector == "prefix":
                    self._prefixes[value] = entry
                else:
                    lo, hi = value.split("-")
                    ranges.setdefault(len(lo), []).append((int(lo), int(hi), entry))
        self._prefix_lengths = tuple(sorted({len(p) for p in self._prefixes}, reverse=True))
        self._ranges = {length: _segments(length, rs) for length, rs in ranges.items()}

    @staticmethod
    def _selectors(group_name: str, group: NumberGroup) -> list[tuple[str, str]]:
        if group.prefix is not None:
            return [("prefix", normalize_number(group.prefix))]
        if group.range is not None:
            lo, hi = (normalize_number(x) for x in group.range)
            return [("range", f"{lo}-{hi}")]
        out = []
        for i, number in enumerate(group.numbers or []):
            digits = normalize_number(number)
            if not digits:
                raise ScenarioError(
                    f"numbers.groups.{group_name}.numbers[{i}]: not a phone number: {number!r}"
                )
            out.append(("number", digits))
        return out

    # ---------------------------------------------------------------- lookup
    def entry_for(self, number: str) -> Entry:
        digits = destination_digits(number)
        if self._exact:
            hit = self._exact.get(digits)
            if hit is not None:
                return hit
        if self._ranges:
            table = self._ranges.get(len(digits))
            if table is not None:
                starts, ends, entries = table  # same-length digit strings sort as their numbers do
                i = bisect_right(starts, digits) - 1
                if i >= 0 and digits <= ends[i]:
                    return entries[i]
        prefixes = self._prefixes
        if prefixes:
            size = len(digits)
            for length in self._prefix_lengths:
                if length <= size:
                    hit = prefixes.get(digits[:length])
                    if hit is not None:
                        return hit
        return self.default

    def group_of(self, number: str) -> str | None:
        """The name of the group `number` is in, or None (it is then in the default state)."""
        return self.entry_for(number)[0] or None

    def state_of(self, number: str) -> str:
        return self.entry_for(number)[1].state

    # ---------------------------------------------------------------- the decision
    def validity(self, submission: Submission) -> Verdict | None:
        destination = submission.destination
        if destination is self._last[0]:  # apply() just looked it up (the pipeline asks right after)
            return self._last[1].validity
        return self.entry_for(destination)[1].validity

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        r = self.random.random()  # exactly one draw per message, whatever happens next
        destination = submission.destination
        mix = self.entry_for(destination)[1]
        self._last = (destination, mix)
        if outcome.settled:
            return False
        behaviour = mix.pick(r)
        if behaviour.delivers:
            if behaviour.delay is not None:
                outcome.receipt_delay = behaviour.delay
            return False
        if behaviour.submit_status:
            outcome.refuse(behaviour.submit_status)
        else:
            outcome.fail(behaviour.final_state, behaviour.err)
            if behaviour.delay is not None:
                outcome.receipt_delay = behaviour.delay
        self.classify(outcome, behaviour.verdict)
        return True

    @classmethod
    def from_scenario(cls, scenario: Scenario, env: FaultEnv) -> NumberPlan | None:
        numbers = scenario.numbers
        if not numbers.groups and numbers.default_state == "active" and "active" not in numbers.states:
            return None
        return cls(numbers, env, "numbers")

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "groups": len(self.spec.groups),
            "default_state": self.spec.default_state,
        }


def _segments(length: int, ranges: list[tuple[int, int, Entry]]) -> tuple[list[str], list[str], list[Entry]]:
    """Disjoint [start, end] segments of same-length ranges, each owned by its innermost range,
    as zero-padded digit strings (compared as strings, a lookup needs no int()).

    Ranges may nest (the inner one wins) but not partly overlap: that would be ambiguous.
    """
    ranges = sorted(ranges, key=lambda r: (r[0], -r[1]))
    stack: list[tuple[int, int, Entry]] = []
    for lo, hi, entry in ranges:
        while stack and stack[-1][1] < lo:
            stack.pop()
        if stack and hi > stack[-1][1]:
            other = stack[-1]
            first = f"{other[0]:0{length}d}-{other[1]:0{length}d}"
            second = f"{lo:0{length}d}-{hi:0{length}d}"
            raise ScenarioError(
                f"numbers.groups: the ranges of {other[2][0]} ({first}) and {entry[0]} ({second}) "
                "partly overlap: ranges may only nest"
            )
        stack.append((lo, hi, entry))
    points = sorted({lo for lo, _, _ in ranges} | {hi + 1 for _, hi, _ in ranges})
    starts: list[int] = []
    ends: list[int] = []
    entries: list[Entry] = []
    active: list[tuple[int, int, int, Entry]] = []  # (width, order, hi, entry): the narrowest on top
    k = 0
    for i, point in enumerate(points[:-1]):
        while k < len(ranges) and ranges[k][0] == point:
            lo, hi, entry = ranges[k]
            heapq.heappush(active, (hi - lo, k, hi, entry))
            k += 1
        while active and active[0][2] < point:
            heapq.heappop(active)
        if not active:
            continue
        end = points[i + 1] - 1
        owner = active[0][3]
        if entries and entries[-1] is owner and ends[-1] + 1 == point:
            ends[-1] = end
        else:
            starts.append(point)
            ends.append(end)
            entries.append(owner)
    return [f"{n:0{length}d}" for n in starts], [f"{n:0{length}d}" for n in ends], entries
