"""Blacklists (`blacklists:`): the platform's, the carrier's and each account's opt-out list.

A destination on a list is refused at submit and counts as an invalid number (out of the SLA's
denominator). Lists are loaded once, when the pipeline is built, into sets of ints; a bad file
stops the run there with its file and line. Checking a number never does I/O.

List                       default submit status      SLA class / reason
-------------------------  -------------------------  ------------------------------
blacklists.platform        0x401 (vendor range)       invalid_number / blacklist_platform
blacklists.carrier         0x402 (vendor range)       invalid_number / blacklist_carrier
blacklists.accounts.<id>   0x403 (vendor range)       invalid_number / opt_out   (only that account's submits)

Each list takes `numbers:` inline and/or `file:` (UTF-8, one number per line, digits with an
optional leading + and spaces, dashes, dots or brackets between them; blank lines and anything
after # ignored), and `status:` to refuse with another command_status. The lists are checked in
the order above; the first hit decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from simulator.scenario import (
    MAX_LIST_FILE_BYTES,
    Blacklists,
    BlacklistSource,
    FileRefused,
    ScenarioError,
    normalize_number,
    read_limited,
)

from ..base import SectionFault, Stage
from ..outcome import Outcome, SlaClass, Submission
from ..pipeline import section
from .number_plan import destination_digits

if TYPE_CHECKING:
    from simulator.scenario import Scenario

    from ..pipeline import FaultEnv

PLATFORM_STATUS = 0x401
CARRIER_STATUS = 0x402
OPT_OUT_STATUS = 0x403
MAX_DIGITS = 20  # destination_addr is at most 20 characters (SMPP 3.4, 5.2.9)

_NUMBER = re.compile(r"\+?[0-9][0-9 ().\-]*", re.ASCII)
HINT = "one number per line: digits with an optional leading +; # starts a comment"


def number_key(digits: str) -> int:
    """A normalized number as an int; the leading 1 keeps leading zeros apart ('012' != '12')."""
    return int("1" + digits)


def parse_number(text: str) -> int | None:
    """The key of one written number, or None if `text` is not a phone number."""
    if not _NUMBER.fullmatch(text):
        return None
    digits = normalize_number(text)
    if not digits or len(digits) > MAX_DIGITS:
        return None
    return number_key(digits)


_MISTYPED = re.compile(r"[0-9 +().\-]*[A-Za-z]?[0-9 +().\-]*[A-Za-z]?[0-9 +().\-]*", re.ASCII)


def _shown(written: str) -> str:
    """How an error shows a bad line of a list file: quoted only when it is a mistyped number (at
    most 24 characters of digits and number punctuation, with at most two stray letters, like
    86138000000O2); anything else could be any file's content and is not shown."""
    if len(written) <= 24 and sum(c.isdigit() for c in written) >= 6 and _MISTYPED.fullmatch(written):
        return f": {written!r}"
    return f" (a line of {len(written)} characters, not shown)"


def read_number_file(path: Path, where: str = "blacklist") -> set[int]:
    """Every number of a blacklist file, as keys. Raises ScenarioError naming the file and line; a
    bad line is quoted only if it is a mistyped number (_shown), since a list file may be anything
    someone pointed a scenario at. Only a regular file of at most MAX_LIST_FILE_BYTES is read
    (simulator.scenario.read_limited)."""
    try:
        data = read_limited(path, MAX_LIST_FILE_BYTES)
    except FileRefused as exc:
        raise ScenarioError(f"{path}: {where}: {exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(f"{path}:{line}: {where}: not UTF-8 text") from None
    keys: set[int] = set()
    add = keys.add
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.isdigit() and line.isascii():  # the usual line: bare digits
            digits = line.removeprefix("00")
            if 0 < len(digits) <= MAX_DIGITS:
                add(int("1" + digits))
                continue
        written = line.split("#", 1)[0].strip()
        if not written:
            continue
        key = parse_number(written)
        if key is None:
            raise ScenarioError(f"{path}:{lineno}: {where}: not a phone number{_shown(written)} ({HINT})")
        add(key)
    return keys


class NumberList:
    """One loaded list: its keys, the status that refuses a hit, and the SLA reason."""

    __slots__ = ("keys", "name", "reason", "status")

    def __init__(self, name: str, keys: set[int], status: int, reason: str) -> None:
        self.name = name
        self.keys = keys
        self.status = status
        self.reason = reason

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


class Blacklist(SectionFault):
    """The `blacklists:` section at run time: refuses listed destinations."""

    stage: ClassVar[Stage] = Stage.POLICY
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

    def on_submit(self, submission: Submission, outcome: Outcome, now: float) -> None:
        if outcome.settled:
            return
        hit = self.match(submission.account, submission.destination)
        if hit is None:
            return
        self.hits += 1
        outcome.refuse(hit.status)
        self.classify(outcome, SlaClass.INVALID_NUMBER, hit.reason)

    def describe(self) -> dict[str, Any]:
        sizes = {lst.name: len(lst) for lst in (*self.shared, *self.opt_outs.values())}
        return {**super().describe(), "lists": sizes}


@section
def build_blacklists(scenario: Scenario, env: FaultEnv) -> Blacklist | None:
    lists = scenario.blacklists
    if lists.platform is None and lists.carrier is None and not lists.accounts:
        return None
    blacklist = Blacklist.load(lists, env)
    return None if blacklist.empty else blacklist
