"""Waiting on what a test expects, never for a fixed time.

`await eventually(lambda: smsc.router.backlog == 20, what="20 receipts queued")` returns as soon as
the condition holds, and fails with the name of what did not happen once `timeout` seconds have
passed. The timeout is a deadline against hanging, not a measure of speed: keep it generous.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
POLL_INTERVAL = 0.005


async def eventually(condition: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, what: str = "",
                     interval: float = POLL_INTERVAL) -> T:
    """Poll `condition` (checked at once, then every `interval` s, the event loop running between
    checks) until it returns something true, and return that. After `timeout` s: AssertionError
    naming `what` (or the condition) and how long it waited."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        await asyncio.sleep(interval)


__all__ = ["eventually"]
