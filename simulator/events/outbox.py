"""The outbox: one node's records as encoded batches waiting for the broker, bounded by the buffer.

Owns: Outgoing (one encoded batch), the batching of the tap's rows (at most batch_records each,
oldest first, a sequence number per kind), the buffer bound (the oldest batch goes first and is
counted unpublished), and the published/unpublished counters. Not here: taking rows from the SMSC
(tap.py), the broker connection that sends the batches (link.py), the payload formats (schema.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import schema

KINDS = ("outcomes", "receipts", "audit")


@dataclass(slots=True)
class Outgoing:
    """One encoded batch waiting for the broker."""

    kind: str  # outcomes / receipts / audit
    topic: str
    payload: bytes
    records: int


class Outbox:
    """Batches in publishing order; `take()` for the sender, `done()` with what it could not send."""

    def __init__(self, node: str, stream: str, topics: dict[str, str], batch_records: int,
                 buffer: int) -> None:
        self.node = node
        self.stream = stream  # with `seq`, names each batch uniquely (consumers drop repeats)
        self.topics = topics  # kind -> topic
        self.batch_records = batch_records
        self.buffer = buffer
        self.queue: deque[Outgoing] = deque()
        self.records = 0  # in `queue`
        self.sending: list[Outgoing] = []
        self._seq = {kind: 0 for kind in KINDS}
        self.published = {kind: 0 for kind in KINDS}
        self.unpublished = {kind: 0 for kind in KINDS}  # dropped from a full buffer: never to be published
        self.batches_published = 0

    def __bool__(self) -> bool:
        return bool(self.queue)

    def add(self, run_id: str, now: float, messages: Sequence[Any], finals: Sequence[Any],
            deliveries: Sequence[Any], entries: Sequence[dict[str, Any]]) -> None:
        """Encode rows into batches (messages and finals share outcomes batches, messages first)."""
        size = self.batch_records
        m = f = 0
        while m < len(messages) or f < len(finals):
            chunk_m = messages[m:m + size]
            chunk_f = finals[f:f + size - len(chunk_m)]
            m += len(chunk_m)
            f += len(chunk_f)
            seq = self._next_seq("outcomes")
            payload = _encode(schema.outcomes_payload, self.node, self.stream, seq, run_id, now,
                              chunk_m, chunk_f)
            self._enqueue(Outgoing("outcomes", self.topics["outcomes"], payload, len(chunk_m) + len(chunk_f)))
        for i in range(0, len(deliveries), size):
            chunk = deliveries[i:i + size]
            seq = self._next_seq("receipts")
            payload = _encode(schema.receipts_payload, self.node, self.stream, seq, run_id, now, chunk)
            self._enqueue(Outgoing("receipts", self.topics["receipts"], payload, len(chunk)))
        if entries:
            seq = self._next_seq("audit")
            payload = schema.audit_payload(self.node, self.stream, seq, run_id, now, entries)
            self._enqueue(Outgoing("audit", self.topics["audit"], payload, len(entries)))

    def take(self, n: int) -> list[Outgoing]:
        """Up to n batches for the sender; they count as `sending` until done()."""
        items = [self.queue.popleft() for _ in range(min(n, len(self.queue)))]
        self.records -= sum(i.records for i in items)
        self.sending = items
        return items

    def done(self, published: Sequence[Outgoing], failed: Sequence[Outgoing]) -> None:
        """The sender's result: published batches are counted, failed ones go back to the front."""
        for item in published:
            self.published[item.kind] += item.records
            self.batches_published += 1
        self.sending = []
        for item in reversed(failed):
            self.queue.appendleft(item)
            self.records += item.records
        self._trim()

    def drop_all(self) -> int:
        """Count everything still here as unpublished (at stop); returns the records dropped."""
        left = self.waiting_records()
        for item in [*self.sending, *self.queue]:
            self.unpublished[item.kind] += item.records
        self.queue.clear()
        self.sending = []
        self.records = 0
        return left

    def waiting_records(self) -> int:
        return self.records + sum(i.records for i in self.sending)

    def waiting(self) -> dict[str, int]:
        """Records per kind not yet published (queued or being sent)."""
        waiting = {kind: 0 for kind in KINDS}
        for item in [*self.sending, *self.queue]:
            waiting[item.kind] += item.records
        return waiting

    def _next_seq(self, kind: str) -> int:
        self._seq[kind] += 1
        return self._seq[kind]

    def _enqueue(self, item: Outgoing) -> None:
        self.queue.append(item)
        self.records += item.records
        self._trim()

    def _trim(self) -> None:
        while self.records > self.buffer and len(self.queue) > 1:
            old = self.queue.popleft()
            self.records -= old.records
            self.unpublished[old.kind] += old.records


def _encode(build: Callable[..., bytes], *args: Any) -> bytes:
    """Encode a batch; rows that the fast encoder refuses (odd strings) go through the tolerant one."""
    try:
        return build(*args)
    except (TypeError, ValueError):
        return build(*args, encode=schema.dumps_any)


__all__ = ["KINDS", "Outbox", "Outgoing"]
