"""The RecordSink the SMSC hands every record to for MQTT: it appends the row to a bounded buffer.

This runs on the SMPP hot path, so it does nothing else: no I/O, no encoding, no awaiting, never
an exception. Rows come and are kept as plain tuples (records.Row: the publisher's JSON encoder
takes no NamedTuple), in the columns of simulator/ledger/records.py. When a buffer is full the oldest row is discarded and
counted (`dropped`). Not here: encoding and publishing (publisher.py).
"""

from __future__ import annotations

from collections import deque
from typing import Any


class RecordTap:
    """A RecordSink (on_message, on_final, on_delivery) and audit listener (on_audit), feeding bounded deques."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.messages: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        self.finals: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        self.deliveries: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        self.audit: deque[dict[str, Any]] = deque(maxlen=min(capacity, 10_000))
        self.dropped = {"messages": 0, "finals": 0, "deliveries": 0, "audit": 0}
        # Closures, not methods: the SMSC calls these once per record, so every attribute look-up counts.
        dropped = self.dropped

        def keeper(buffer: deque[Any], kind: str):
            append = buffer.append
            limit = buffer.maxlen

            def keep(row: Any) -> None:
                if len(buffer) == limit:
                    dropped[kind] += 1
                append(row)

            return keep

        self.on_message = keeper(self.messages, "messages")
        self.on_final = keeper(self.finals, "finals")
        self.on_delivery = keeper(self.deliveries, "deliveries")
        self.on_audit = keeper(self.audit, "audit")  # audit entries are dicts

    def take(self, buffer: deque[Any], limit: int | None = None) -> list[Any]:
        """Up to `limit` rows (all by default) from the front of one of the buffers, oldest first."""
        n = len(buffer) if limit is None else min(limit, len(buffer))
        if n == len(buffer):
            rows = list(buffer)
            buffer.clear()
            return rows
        popleft = buffer.popleft
        return [popleft() for _ in range(n)]

    @property
    def waiting(self) -> int:
        return len(self.messages) + len(self.finals) + len(self.deliveries)
