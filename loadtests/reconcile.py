"""Reconciling what the load generator saw (the tally) with what the simulator recorded (the ledger).

Exact by default: every acknowledged id is in the ledger as accepted; submit counts per status
agree; every receipt the ledger says was delivered arrived once (more only where the scenario
injects duplicates). Reads only; the verdict and its numbers go to the gates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simulator.ledger.reader import LedgerReader
from simulator.smpp.constants import status_name

from .tally import Tally

# faults after which the client may legitimately not see a response the ledger has
LINK_FAULTS = {"no_response", "reset_mid_pdu", "drop_bind", "maintenance"}


@dataclass
class TallyReconciliation:
    acked_not_in_ledger: list[str] = field(default_factory=list)  # must be empty
    accepted_not_acked: list[str] = field(default_factory=list)  # responses the client never got
    status_differences: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (ledger, client)
    receipts_missing: list[str] = field(default_factory=list)  # delivered per ledger, never seen
    receipts_unexpected: list[str] = field(default_factory=list)  # seen, but no delivered receipt in ledger
    receipt_count_differences: dict[str, tuple[int, int]] = field(default_factory=dict)
    duplicates_seen: int = 0
    duplicates_injected: bool = False
    explained_by_link_faults: bool = False

    @property
    def exact(self) -> bool:
        if self.acked_not_in_ledger or self.receipts_unexpected:
            return False
        if self.explained_by_link_faults:
            return True
        return not (self.accepted_not_acked or self.status_differences or self.receipts_missing
                    or self.receipt_count_differences)

    def summary(self) -> dict[str, Any]:
        return {
            "exact": self.exact,
            "acked_not_in_ledger": len(self.acked_not_in_ledger),
            "accepted_not_acked": len(self.accepted_not_acked),
            "status_differences": {k: {"ledger": a, "client": b} for k, (a, b) in self.status_differences.items()},
            "receipts_missing": len(self.receipts_missing),
            "receipts_unexpected": len(self.receipts_unexpected),
            "receipt_count_differences": len(self.receipt_count_differences),
            "duplicates_seen": self.duplicates_seen,
            "duplicates_injected": self.duplicates_injected,
            "explained_by_link_faults": self.explained_by_link_faults,
            "examples": {
                "acked_not_in_ledger": self.acked_not_in_ledger[:5],
                "accepted_not_acked": self.accepted_not_acked[:5],
                "receipts_missing": self.receipts_missing[:5],
            },
        }


def reconcile_tally(tally: Tally, reader: LedgerReader, fault_kinds: set[str]) -> TallyReconciliation:
    result = TallyReconciliation()
    result.duplicates_injected = "duplicate_receipt" in fault_kinds
    result.explained_by_link_faults = bool(fault_kinds & LINK_FAULTS)
    ledger_status: Counter[str] = Counter()
    accepted: set[str] = set()
    for record in reader.records():
        if record.responded:
            ledger_status[status_name(record.submit_status)] += 1
        if record.accepted and record.message_id is not None:
            accepted.add(record.message_id)
    result.acked_not_in_ledger = sorted(tally.acked - accepted)
    result.accepted_not_acked = sorted(accepted - tally.acked)
    client_status = Counter({k: v for k, v in tally.submits.items() if k != "LOST" and not k.startswith("generic_nack")})
    for name in sorted(set(ledger_status) | set(client_status)):
        if ledger_status[name] != client_status[name]:
            result.status_differences[name] = (ledger_status[name], client_status[name])
    delivered: Counter[str] = Counter()
    for row in reader.deliveries():
        if row["kind"] == "receipt" and row["result"] == "acked" and row["message_id"]:
            delivered[row["message_id"]] += 1
    seen = tally.receipt_ids
    result.receipts_missing = sorted(i for i in delivered if i not in seen)
    result.receipts_unexpected = sorted(i for i in seen if i not in delivered and i in accepted)
    for message_id, count in delivered.items():
        if message_id in seen and seen[message_id] != count:
            result.receipt_count_differences[message_id] = (count, seen[message_id])
    result.duplicates_seen = sum(v - 1 for v in seen.values() if v > 1)
    return result
