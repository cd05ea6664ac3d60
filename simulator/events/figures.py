"""Per-account SLA figures kept up to date from message and final rows, as the ledger's view joins them.

A message row counts with its own class until its final row arrives, then with the final's class
(the ledger's COALESCE(final, message)). LiveFigures takes rows in any order (the meter);
NodeFigures takes one node's own rows in order, in bulk, at C speed (the publisher, next to the
SMPP path). Pure bookkeeping on simulator.metering.SlaFigures: no I/O, no clock, no MQTT.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import compress, repeat
from operator import itemgetter
from typing import Any

from simulator.ledger.schema import FINAL_COLUMNS, MESSAGE_COLUMNS
from simulator.metering.meter import PENDING, SlaFigures

Key = tuple[str, str, str]  # (run_id, message_id, destination): how the ledger joins a final to its message


class LiveFigures:
    def __init__(self) -> None:
        self.accounts: dict[str, SlaFigures] = {}
        self._open: dict[Key, tuple[str, str, str]] = {}  # key -> (account, class, reason) still counted as such
        self._early: dict[Key, tuple[str, str]] = {}  # finals whose message has not been seen (yet)

    def figures(self, account: str) -> SlaFigures:
        found = self.accounts.get(account)
        if found is None:
            found = self.accounts[account] = SlaFigures()
        return found

    def message(self, run_id: str, message_id: str | None, account: str, destination: str, sla_class: str,
                reason: str) -> None:
        figures = self.figures(account)
        if message_id is not None:
            key = (run_id, message_id, destination)
            early = self._early.pop(key, None)
            if early is not None:
                figures.add(*early)
                return
            self._open[key] = (account, sla_class, reason)
        figures.add(sla_class, reason)

    def final(self, run_id: str, message_id: str, destination: str, sla_class: str, reason: str) -> None:
        key = (run_id, message_id, destination)
        entry = self._open.pop(key, None)
        if entry is None:
            self._early[key] = (sla_class, reason)
            return
        outcomes = self.accounts[entry[0]].outcomes
        was = (entry[1], entry[2])
        outcomes[was] -= 1
        if not outcomes[was]:
            del outcomes[was]
        outcomes[(sla_class, reason)] += 1

    @property
    def unmatched_finals(self) -> int:
        """Finals whose message row never arrived (lost on the way): they are not counted."""
        return len(self._early)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per account: sends, valid_sends, definite_failures, delivered, pending, left_out, rate."""
        return {account: figures_snapshot(f) for account, f in sorted(self.accounts.items())}


def _message(*names: str) -> itemgetter:
    """A getter of the named fields of a message row (ledger.schema.MESSAGE_COLUMNS order)."""
    return itemgetter(*(MESSAGE_COLUMNS.index(name) for name in names))


def _final(*names: str) -> itemgetter:
    """A getter of the named fields of a final row (ledger.schema.FINAL_COLUMNS order)."""
    return itemgetter(*(FINAL_COLUMNS.index(name) for name in names))


_M_ID = _message("message_id")
_M_ACCOUNT = _message("account")
_M_CLASS = _message("sla_class")
_M_ACCOUNT_CLASS = _message("account", "sla_class")
_M_JOIN = _message("message_id", "destination")  # run_id is the node's own: one run per publisher
_F_JOIN = _final("message_id", "destination")
_F_CLASS = _final("sla_class")


class NodeFigures:
    """The metering snapshot's figures (per account and class) from one node's own ledger rows.

    Built for the publisher, next to the SMPP path: bulk map/Counter updates, no Python loop per
    row. It relies on what the SMSC guarantees for its own rows: a final comes after its message,
    and settles an accepted message, whose row says "pending". While the node has seen a single
    account, a final needs no look-up at all; from the second account on, accepted messages are
    remembered until their final. Exact unless the tap overflowed (the status says so)."""

    def __init__(self, only_account: str | None = None) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()  # (account, class) -> records
        self._first: str | None = only_account  # the account seen first; the only one while not self.multi
        self._sole = only_account is not None  # the SMSC has one account: no need to look at the rows' accounts
        self.multi = False
        self._open: dict[tuple[str, str], str] = {}  # multi: (message_id, destination) -> account, until the final

    def add_messages(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self._sole:
            first = self._first
            for sla_class, n in Counter(map(_M_CLASS, rows)).items():
                self.counts[(first, sla_class)] += n
            return
        if not self.multi:
            accounts = set(map(_M_ACCOUNT, rows))
            if self._first is None and len(accounts) == 1:
                self._first = next(iter(accounts))
            if accounts == {self._first}:
                first = self._first
                for sla_class, n in Counter(map(_M_CLASS, rows)).items():
                    self.counts[(first, sla_class)] += n
                return
            if self._first is None:
                self._first = _M_ACCOUNT(rows[0])
            self.multi = True  # messages of the single-account time stay out of _open: their finals fall back to _first
        self.counts.update(map(_M_ACCOUNT_CLASS, rows))
        accepted = list(compress(rows, map(_M_ID, rows)))  # refused rows have no id and no final
        self._open.update(zip(map(_M_JOIN, accepted), map(_M_ACCOUNT, accepted)))

    def add_finals(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self._first is None:  # finals before any message (their message rows were lost): not counted
            return
        if not self.multi:
            accounts: Counter[str] = Counter({self._first: len(rows)})
            finals = Counter(map(_F_CLASS, rows))
            first = self._first
            for sla_class, n in finals.items():
                self.counts[(first, sla_class)] += n
        else:
            owners = list(map(self._open.pop, map(_F_JOIN, rows), repeat(self._first)))
            accounts = Counter(owners)
            self.counts.update(zip(owners, map(_F_CLASS, rows)))
        for account, n in accounts.items():
            self.counts[(account, PENDING)] -= n

    @property
    def accounts(self) -> dict[str, SlaFigures]:
        out: dict[str, SlaFigures] = {}
        for (account, sla_class), n in self.counts.items():
            if n:
                figures = out.get(account)
                if figures is None:
                    figures = out[account] = SlaFigures()
                figures.add(sla_class, "", n)
        return out

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {account: figures_snapshot(f) for account, f in sorted(self.accounts.items())}


def figures_snapshot(f: SlaFigures) -> dict[str, Any]:
    return {
        "sends": f.sends,
        "valid_sends": f.valid_sends,
        "delivered": f.delivered,
        "definite_failures": f.definite_failures,
        "pending": f.pending,
        "left_out": f.left_out_total,
        "rate": f.rate,
    }


__all__ = ["PENDING", "LiveFigures", "NodeFigures", "figures_snapshot"]
