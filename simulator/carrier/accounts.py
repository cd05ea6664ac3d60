"""An account's live state at the carrier: its configuration, its binds and its deliver_sm queue.

Owns: AccountState. Not here: who may bind (binds.py), the queue itself (delivery.py DeliveryRouter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.scenario import Account

from .delivery import DeliveryRouter


@dataclass
class AccountState:
    """An account's live state: its configuration, its binds and its delivery queue."""

    config: Account
    router: DeliveryRouter
    binds: set[Any] = field(default_factory=set)  # the SmscConnections bound to it (connection.py)
