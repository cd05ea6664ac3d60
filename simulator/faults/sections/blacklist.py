"""Blacklists (`blacklists:`): the platform's, the carrier's and each account's opt-out list.

A destination on a list is refused at submit and counts as an invalid number (out of the SLA's
denominator), whatever an earlier or later fault did to the message (a maintenance window or a
throttle that refused it first: see outcome.PRECEDENCE). Lists are loaded once, when the
pipeline is built, into sets of ints; a bad file stops the run there with its file and line.
Checking a number never does I/O.

List                       default submit status      SLA class / reason
-------------------------  -------------------------  ------------------------------
blacklists.platform        0x401 (vendor range)       invalid_number / blacklist_platform
blacklists.carrier         0x402 (vendor range)       invalid_number / blacklist_carrier
blacklists.accounts.<id>   0x403 (vendor range)       invalid_number / opt_out   (only that account's submits)

Each list takes `numbers:` inline and/or `file:` (UTF-8, one number per line, digits with an
optional leading + and spaces, dashes, dots or brackets between them; blank lines and anything
after # ignored; read by simulator.scenario.lists), and `status:` to refuse with another
command_status. The lists are checked in the order above; the first hit decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.scenario.lists import (
    HINT,
    MAX_DIGITS,
    Blacklists,
    BlacklistSource,
    parse_number,
    read_number_file,
)
from simulator.scenario.base import ScenarioError

from ..base import FaultEnv, FaultStage, SectionFault
from ..outcome import Outcome, SlaClass, Submission, Verdict
from ..registry import scenario_section
from .number_plan import destination_digits

if TYPE_CHECKING:
    from simulator.scenario import Scenario

PLATFORM_STATUS = 0x401
CARRIER_STATUS = 0x402
OPT_OUT_STATUS = 0x403


class NumberList:
    """One loaded list: its keys, the status that refuses a hit, and the SLA verdict of a hit."""

    __slots__ = ("keys", "name", "reason", "status", "verdict")

    def __init__(self, name: str, keys: set[int], status: int, reason: str) -> None:
        self.name = name
        self.keys = keys
        self.status = status
        self.reason = reason
        self.verdict = Verdict(SlaClass.INVALID_NUMBER, reason)

    def __contains__(self, key: int) -> bool:
        return key in self.keys

    def __len__(self) -> int:
        return len(self.keys)


def load_list(where: str, source: BlacklistSource, default_status: int, reason: str) -> NumberList:
    """A scenario's list: inline numbers and the file's, checked, normalized, as a set of keys."""
    status = default_status if source.status is None else source.status
    if not 0 < status <= 0xFFFFFFFF:
        raise ScenarioError(f"{where}.status: must be a non-zero command_status, got {status:#x}")
    keys: set[int] = set()
    for i, number in enumerate(source.numbers):
        key = parse_number(number.strip())
        if key is None:
            raise ScenarioError(f"{where}.numbers[{i}]: not a phone number: {number!r} ({HINT})")
        keys.add(key)
    if source.file is not None:
        from_file = read_number_file(Path(source.file), where)
        keys = from_file if not keys else keys | from_file
    return NumberList(where, keys, status, reason)


@scenario_section(stage=FaultStage.POLICY)
class Blacklist(SectionFault):
    """The `blacklists:` section at run time: refuses listed destinations."""

    spec: Blacklists  # type: ignore[assignment]

    def __init__(
        self,
        section: Blacklists,
        env: FaultEnv,
        name: str = "blacklists",
        shared: Iterable[NumberList] = (),
        opt_outs: dict[str, NumberList] | None = None,
    ) -> None:
        super().__init__(section, env, name)
        self.shared = tuple(lst for lst in shared if len(lst))
        self.opt_outs = {account: lst for account, lst in (opt_outs or {}).items() if len(lst)}

    @classmethod
    def load(cls, section: Blacklists, env: FaultEnv, name: str = "blacklists") -> Blacklist:
        shared = []
        if section.platform is not None:
            shared.append(
                load_list("blacklists.platform", section.platform, PLATFORM_STATUS, "blacklist_platform")
            )
        if section.carrier is not None:
            shared.append(
                load_list("blacklists.carrier", section.carrier, CARRIER_STATUS, "blacklist_carrier")
            )
        opt_outs = {
            account: load_list(f"blacklists.accounts.{account}", source, OPT_OUT_STATUS, "opt_out")
            for account, source in section.accounts.items()
        }
        return cls(section, env, name, shared, opt_outs)

    @classmethod
    def from_scenario(cls, scenario: Scenario, env: FaultEnv) -> Blacklist | None:
        lists = scenario.blacklists
        if lists.platform is None and lists.carrier is None and not lists.accounts:
            return None
        blacklist = cls.load(lists, env)
        return None if blacklist.empty else blacklist

    @property
    def empty(self) -> bool:
        return not self.shared and not self.opt_outs

    def match(self, account: str, destination: str) -> NumberList | None:
        """The first list that holds `destination` for `account`, or None."""
        digits = destination_digits(destination)
        if not digits or len(digits) > MAX_DIGITS:
            return None
        key = int("1" + digits)
        for lst in self.shared:
            if key in lst.keys:
                return lst
        own = self.opt_outs.get(account)
        if own is not None and key in own.keys:
            return own
        return None

    def validity(self, submission: Submission) -> Verdict | None:
        """A listed destination is an invalid number, whatever else refused or failed it."""
        hit = self.match(submission.account, submission.destination)
        return None if hit is None else hit.verdict

    def apply(self, submission: Submission, outcome: Outcome, now: float) -> bool:
        if outcome.settled:
            return False
        hit = self.match(submission.account, submission.destination)
        if hit is None:
            return False
        outcome.refuse(hit.status)
        self.classify(outcome, hit.verdict)
        return True

    def describe(self) -> dict[str, Any]:
        sizes = {lst.name: len(lst) for lst in (*self.shared, *self.opt_outs.values())}
        return {**super().describe(), "lists": sizes}
