"""Per-account SLA figures kept up to date from message and final rows, as the ledger's view joins them.

A message row counts with its own class until its final row arrives, then with the final's class
(the ledger's COALESCE(final, message)); a final that comes before its message waits for it.
Pure bookkeeping on simulator.metering.SlaFigures: no I/O, no clock, no MQTT.
"""

from __future__ import annotations

from typing import Any

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


__all__ = ["LiveFigures", "PENDING", "figures_snapshot"]
