"""A coarse timer wheel: many thousands of due items per second for the price of one asyncio timer.

Receipts, delayed responses and retries are due at a time; they go into buckets of `tick` seconds
and one periodic callback fires whole buckets. Never used for anything that needs sub-tick accuracy.
An item whose callback raises is handed to `on_error` and the others still fire: it never stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any


class Scheduler:
    """Call `callback(item)` for each item at (or up to one tick after) its due time, in due order."""

    def __init__(self, callback: Callable[[Any], None], tick: float = 0.005, clock=time.monotonic,
                 on_error: Callable[[Any, Exception], None] | None = None) -> None:
        self.callback = callback
        self.on_error = on_error  # on_error(item, exception): the item's callback raised
        self.tick = tick
        self.clock = clock
        self._buckets: dict[int, list[Any]] = {}
        self._next_slot: int | None = None  # the smallest slot that may hold items
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.pending = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._arm()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._loop = None

    def at(self, due: float, item: Any) -> None:
        """Raises OverflowError or ValueError for a due time that is not a finite number."""
        slot = math.ceil(due / self.tick)
        bucket = self._buckets.get(slot)
        if bucket is None:
            self._buckets[slot] = [item]
            if self._next_slot is None or slot < self._next_slot:
                self._next_slot = slot
        else:
            bucket.append(item)
        self.pending += 1

    def _arm(self) -> None:
        if self._loop is not None:
            self._handle = self._loop.call_later(self.tick, self._fire)

    def _fire(self) -> None:
        try:
            self.run_due(self.clock())
        except Exception as exc:  # noqa: BLE001 - the wheel itself broke: report it, keep ticking
            self._failed(None, exc)
        finally:
            self._arm()

    def run_due(self, now: float) -> int:
        """Fire every item due by `now`; returns how many fired."""
        if self._next_slot is None:
            return 0
        last = math.floor(now / self.tick)
        fired = 0
        buckets = self._buckets
        callback = self.callback
        if len(buckets) < last - self._next_slot:
            slots = sorted(s for s in buckets if s <= last)
        else:
            slots = [s for s in range(self._next_slot, last + 1) if s in buckets]
        for slot in slots:
            items = buckets.pop(slot)
            self.pending -= len(items)
            fired += len(items)
            for item in items:
                try:  # free unless it raises (CPython 3.11's zero-cost exceptions)
                    callback(item)
                except Exception as exc:  # noqa: BLE001 - one bad item must not stop the others
                    self._failed(item, exc)
        self._next_slot = min(buckets) if buckets else None
        return fired

    def _failed(self, item: Any, exc: Exception) -> None:
        if self.on_error is not None:
            self.on_error(item, exc)
        else:
            logging.getLogger("carrier_sim.scheduler").error("timer item %r failed", item, exc_info=exc)
