"""Messages the SMSC holds: the in-memory store for query_sm/cancel_sm/replace_sm, and message ids.

Owns: Message (a Submission that lives on), MessageStore, MessageIdAllocator.

Bounded: the oldest final messages are forgotten past `capacity` (query_sm then answers
ESME_RINVMSGID). The durable record of every message is the ledger's job, not this store's.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from simulator.faults.outcome import LinkStats, Outcome, Submission
from simulator.smpp.constants import MessageState


class MessageIdAllocator:
    """Message ids: a node prefix and a counter, decimal, the same text in the resp and the receipt."""

    def __init__(self, prefix: str = "", width: int = 10, start: int = 1) -> None:
        self.prefix = prefix
        self.width = width
        self._next = start
        self._format = (prefix.replace("{", "{{").replace("}", "}}") + "{:0%dd}" % width).format

    def __call__(self) -> str:
        n = self._next
        self._next = n + 1
        return self._format(n)


class Message(Submission):
    """One message (one segment, or one destination of a submit_multi) at the SMSC: the Submission
    the decider is asked about, then, once accepted, the message that query_sm, cancel_sm and
    replace_sm find and that receipts are about (one object from the submit to the receipt)."""

    __slots__ = ("message_id", "submit_time", "submit_wall", "outcome", "state", "done_time", "done_wall",
                 "parked", "start_at", "expires_at", "due")

    def __init__(
        self,
        account: str,
        bind_id: int,
        source: str,
        destination: str,
        data_coding: int,
        esm_class: int,
        body: bytes,
        segments: int,
        registered_delivery: int,
        index: int,
        link: LinkStats | None,
        sar: tuple[int, int, int] | None,
        now: float,
        wall: float,
    ) -> None:
        # Submission's fields, set here rather than through its __init__: this runs once per message
        self.account = account
        self.bind_id = bind_id
        self.source = source
        self.destination = destination
        self.data_coding = data_coding
        self.esm_class = esm_class
        self.body = body  # short_message (UDH included) or message_payload; replace_sm changes it
        self.segments = segments
        self.registered_delivery = registered_delivery
        self.index = index
        self.link = link
        self.sar = sar
        self.message_id = ""  # given when accepted
        self.outcome: Outcome = _UNDECIDED  # the decider's, once asked
        self.submit_time = now
        self.submit_wall = wall
        self.state = MessageState.ENROUTE
        self.done_time: float | None = None
        self.done_wall: float | None = None
        # deliver_sm about this message wait here until its submit_sm_resp is written: () while the
        # response is not out yet (a list once something waits), None once it is (or never will be)
        self.parked: tuple[()] | list[Any] | None = ()
        # the carrier clock's times of its delivery (carrier/validity.py, receipts.py): when it starts
        # (a schedule_delivery_time, else the submit), when it expires, when its final state is due
        self.start_at = now
        self.expires_at = _NEVER
        self.due = now

    @property
    def is_final(self) -> bool:
        return self.state is not MessageState.ENROUTE

    def finish(self, state: MessageState, now: float) -> None:
        self.state = state
        self.done_time = now
        self.done_wall = time.time()


_UNDECIDED = Outcome()
_NEVER = float("inf")
About = Message | list[Message] | None  # the message(s) a submit response gives an id to


def each(about: About) -> tuple[Message, ...] | list[Message]:
    """The messages a submit response is about (one for submit_sm/data_sm, several for submit_multi)."""
    if about is None:
        return ()
    return (about,) if type(about) is Message else about


class MessageStore:
    """message_id -> Message, bounded; a submit_multi id maps to one Message per destination."""

    def __init__(self, capacity: int = 2_000_000) -> None:
        self.capacity = capacity
        self._messages: dict[str, Message | list[Message]] = {}
        # ids oldest first, for eviction (deleting a plain dict's oldest keys one by one would make
        # each `next(iter(dict))` walk the deleted slots)
        self._order: deque[str] = deque()
        self.forgotten = 0

    def add(self, message: Message) -> None:
        messages = self._messages
        message_id = message.message_id
        existing = messages.get(message_id)
        if existing is None:
            messages[message_id] = message
            self._order.append(message_id)
            if len(messages) > self.capacity:
                del messages[self._order.popleft()]
                self.forgotten += 1
        elif isinstance(existing, list):
            existing.append(message)
        else:
            messages[message_id] = [existing, message]

    def get(self, message_id: str) -> list[Message]:
        found = self._messages.get(message_id)
        if found is None:
            return []
        return found if isinstance(found, list) else [found]

    def pending(self) -> list[Message]:
        """Messages without a final state (a scan: for cancel_sm by address, which is rare)."""
        out: list[Message] = []
        for entry in self._messages.values():
            for message in entry if isinstance(entry, list) else (entry,):
                if not message.is_final:
                    out.append(message)
        return out

    def __len__(self) -> int:
        return len(self._messages)
