"""Store-and-forward delivery of deliver_sm (receipts and MO) to an account's receiver binds.

Each account has one bounded queue; items go round-robin to its receiver and transceiver binds,
each bind holding at most `window` unanswered deliver_sm. A refused or unanswered deliver_sm is
retried later; an item is only ever dropped by expiry, overflow or a PDU that cannot be sent (a
bug upstream: reported to `on_error`, and the queue goes on), and then it is counted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from simulator.smpp.pdu import Pdu

if TYPE_CHECKING:
    from .messages import Message


class Receiver(Protocol):
    """What the router needs of a bind: room in its window, and a way to send."""

    deliveries: dict[int, "PendingDelivery"]

    @property
    def accepting(self) -> bool:
        """Bound as a receiver and not closing or unbinding: a deliver_sm may be sent now."""
        ...

    def send_delivery(self, item: "PendingDelivery") -> None: ...


class PendingDelivery:
    """A deliver_sm waiting to be delivered, with its retry history."""

    __slots__ = ("pdu", "kind", "message", "expires", "attempts", "sent_at")

    RECEIPT, INTERMEDIATE, MO = "receipt", "intermediate", "mo"

    def __init__(self, pdu: Pdu, kind: str, message: "Message | None", now: float, ttl: float) -> None:
        self.pdu = pdu
        self.kind = kind
        self.message = message
        self.expires = now + ttl
        self.attempts = 0
        self.sent_at = 0.0


class DeliveryStats:
    """Counters of one router; summed across accounts for the carrier's status."""

    __slots__ = ("queued", "sent", "acked", "refused", "timed_out", "expired", "overflowed", "unsendable")

    def __init__(self) -> None:
        self.queued = self.sent = self.acked = self.refused = 0
        self.timed_out = self.expired = self.overflowed = self.unsendable = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class DeliveryRouter:
    """The deliver_sm queue of one account and the binds that drain it."""

    def __init__(
        self,
        account: str,
        *,
        window: int,
        ttl: float,
        max_queued: int,
        retry_delay: float,
        clock: Callable[[], float],
        schedule: Callable[[float, Callable[[PendingDelivery], None], PendingDelivery], None],
        on_done: Callable[[PendingDelivery, str], None] | None = None,
        on_error: Callable[[PendingDelivery, Exception], None] | None = None,
    ) -> None:
        self.account = account
        self.window = window
        self.ttl = ttl
        self.max_queued = max_queued
        self.retry_delay = retry_delay
        self.clock = clock
        self.schedule = schedule  # schedule(due, fn, item): call fn(item) at due
        self.on_done = on_done  # on_done(item, "acked" | "expired" | "overflowed" | "unsendable")
        self.on_error = on_error  # on_error(item, exception): sending it raised (it is dropped)
        self.queue: deque[PendingDelivery] = deque()
        self.receivers: list[Receiver] = []
        self.stats = DeliveryStats()
        self._next = 0  # round-robin position
        self.waiting_retry = 0

    # -- binds come and go
    def add_receiver(self, receiver: Receiver) -> None:
        self.receivers.append(receiver)
        self.pump()

    def remove_receiver(self, receiver: Receiver) -> None:
        """A bind went away: what it had not acknowledged goes back to the front of the queue."""
        if receiver in self.receivers:
            self.receivers.remove(receiver)
        unacked = sorted(receiver.deliveries.values(), key=lambda item: item.sent_at, reverse=True)
        receiver.deliveries.clear()
        for item in unacked:
            self.queue.appendleft(item)
        self.pump()

    # -- items come in
    def enqueue(self, item: PendingDelivery) -> None:
        self.stats.queued += 1
        self.queue.append(item)
        if len(self.queue) > self.max_queued:
            dropped = self.queue.popleft()
            self.stats.overflowed += 1
            if self.on_done is not None:
                self.on_done(dropped, "overflowed")
        self.pump()

    def pump(self) -> None:
        """Hand queued items to binds with room in their window, round-robin."""
        queue, receivers = self.queue, self.receivers
        if not queue or not receivers:
            return
        now = self.clock()
        window = self.window
        n = len(receivers)
        while queue:
            for step in range(n):
                receiver = receivers[(self._next + step) % n]
                if len(receiver.deliveries) < window and receiver.accepting:
                    self._next = (self._next + step + 1) % n
                    break
            else:
                return  # every window is full
            item = queue.popleft()
            if item.expires <= now:
                self._expire(item)
                continue
            item.attempts += 1
            item.sent_at = now
            self.stats.sent += 1
            try:  # free unless it raises (CPython 3.11's zero-cost exceptions)
                receiver.send_delivery(item)
            except Exception as exc:  # noqa: BLE001 - one PDU that cannot be encoded must not stop the queue
                self._unsendable(item, exc)

    # -- outcomes of a send
    def on_response(self, item: PendingDelivery, status: int) -> None:
        if status == 0:
            self.stats.acked += 1
            if self.on_done is not None:
                self.on_done(item, "acked")
        else:
            self.stats.refused += 1
            self._retry_later(item)
        self.pump()

    def on_timeout(self, item: PendingDelivery) -> None:
        self.stats.timed_out += 1
        self._retry_later(item)

    def _retry_later(self, item: PendingDelivery) -> None:
        delay = self.retry_delay * (2 ** min(item.attempts - 1, 6))
        due = self.clock() + delay
        if due >= item.expires:
            self._expire(item)
            return
        self.waiting_retry += 1
        self.schedule(due, self._requeue, item)

    def _requeue(self, item: PendingDelivery) -> None:
        self.waiting_retry -= 1
        self.queue.append(item)
        self.pump()

    def _unsendable(self, item: PendingDelivery, exc: Exception) -> None:
        self.stats.sent -= 1
        self.stats.unsendable += 1
        if self.on_error is not None:
            self.on_error(item, exc)
        if self.on_done is not None:
            self.on_done(item, "unsendable")

    def _expire(self, item: PendingDelivery) -> None:
        self.stats.expired += 1
        if self.on_done is not None:
            self.on_done(item, "expired")

    @property
    def backlog(self) -> int:
        """Items not yet acknowledged: queued, in flight and waiting for a retry."""
        return len(self.queue) + sum(len(r.deliveries) for r in self.receivers) + self.waiting_retry
