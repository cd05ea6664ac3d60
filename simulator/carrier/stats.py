"""The carrier's counters: one CarrierStats per Smsc, read by /status.

Owns: CarrierStats. Not here: the deliver_sm counters of each account (delivery.py DeliveryStats).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CarrierStats:
    connections: int = 0
    connections_refused: int = 0  # past carrier.max_connections: closed at once
    binds: int = 0
    bind_failures: int = 0
    binds_slowed: int = 0  # binds held back because their address kept failing (bind_guard.py)
    bind_lockouts: int = 0  # connections closed after carrier.bind_protection.max_failures refused binds
    submits: int = 0  # submit_sm / data_sm / submit_multi destinations received while bound
    accepted: int = 0
    refused: int = 0
    unanswered: int = 0  # submits left unanswered on purpose (the "no response" fault)
    receipts: int = 0  # receipts generated (queued for delivery)
    mo: int = 0
    protocol_violations: int = 0
    dead_peers: int = 0
    dropped_links: int = 0  # connections dropped or reset on purpose by a fault

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)
