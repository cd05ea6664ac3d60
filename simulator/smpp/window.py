"""The window of one SMPP link: requests in flight, keyed by sequence number, at most `size` of them.

Owns: which sequence numbers wait for a response and what waits on each (the caller's choice: an
asyncio Future, a gevent AsyncResult, a send time). Not here: sockets, clocks, timeouts (the shells
simulator/esme.py and loadtests/client.py), sequence numbering and framing (smpp/session.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

W = TypeVar("W")


class WindowFull(Exception):
    """A request that does not fit: the window is full, or its sequence number is already in flight."""


class Window(Generic[W]):
    """Requests in flight. `in_flight` (sequence -> waiter) is public for the hot paths of
    smpp/esme_session.py, which fill and drain it in loops; everything else goes through methods.
    A waiter is never None: close() answers None for a sequence that is not in flight."""

    __slots__ = ("in_flight", "size")

    def __init__(self, size: int | None = None) -> None:
        self.size = size  # None: no limit
        self.in_flight: dict[int, W] = {}

    def __len__(self) -> int:
        return len(self.in_flight)

    @property
    def free(self) -> int:
        """Slots still open (a large number when there is no limit)."""
        if self.size is None:
            return 1 << 31
        return self.size - len(self.in_flight)

    def open(self, sequence: int, waiter: W) -> None:
        """Put `waiter` in flight under `sequence`; WindowFull if full or the sequence is in flight."""
        if waiter is None:
            raise ValueError("a waiter cannot be None")
        if sequence in self.in_flight:
            raise WindowFull(f"sequence {sequence} is already in flight")
        if self.size is not None and len(self.in_flight) >= self.size:
            raise WindowFull(f"the window is full ({self.size} in flight)")
        self.in_flight[sequence] = waiter

    def close(self, sequence: int) -> W | None:
        """Take `sequence` out of flight; its waiter, or None if it was not in flight."""
        return self.in_flight.pop(sequence, None)

    def fail_all(self) -> list[W]:
        """Empty the window (the link is gone); the waiters that were in it, in the order sent."""
        waiters = list(self.in_flight.values())
        self.in_flight.clear()
        return waiters

    @contextmanager
    def slot(self, sequence: int, waiter: W) -> Iterator[W]:
        """open() for the duration of the block, close() however it ends."""
        self.open(sequence, waiter)
        try:
            yield waiter
        finally:
            self.close(sequence)
