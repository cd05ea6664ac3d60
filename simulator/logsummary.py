"""Repeated log lines summed up: the first one at once, then at most one line every `every_s` seconds
saying how many happened meanwhile ("ledger: 12,345 writes failed in the last 10 s: disk full").

Owns: counting repeats of one kind of event and writing their summary lines. Not here: what is
counted (the ledger writer, carrier/receipts.py), the supervisor's traceback-once reports
(carrier/supervisor.py). Use from one thread (the event loop's); nothing here raises.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable


class LogSummary:
    """One kind of repeated event, e.g. LogSummary(log, "ledger", "write failed", "writes failed")."""

    def __init__(self, logger: logging.Logger, subject: str, one: str, many: str, *, level: int = logging.WARNING,
                 every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.subject = subject
        self.one, self.many = one, many  # "write failed", "writes failed"
        self.level = level
        self.every_s = every_s
        self.clock = clock
        self.total = 0  # every event ever counted
        self.lines = 0  # log lines written
        self._pending = 0  # events not in a line yet
        self._reason = ""
        self._since = 0.0  # when the window of the pending events began
        self._last_line: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def add(self, reason: str = "", n: int = 1) -> None:
        """Count `n` events (the last reason given is the one the line names)."""
        self.total += n
        self._pending += n
        if reason:
            self._reason = reason
        now = self.clock()
        if self._last_line is None or now - self._last_line >= self.every_s:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: the next add() or flush() writes it
            self._timer = loop.call_later(self._last_line + self.every_s - now, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write the line of the events not logged yet, if any."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        n, self._pending = self._pending, 0
        now = self.clock()
        what = f"{n:,} {self.one if n == 1 else self.many}"
        if self._last_line is not None:
            what += f" in the last {max(now - self._last_line, 0):.0f} s"
        try:
            self.logger.log(self.level, "%s: %s%s", self.subject, what, f": {self._reason}" if self._reason else "")
        except Exception:  # noqa: BLE001 - logging must never be what fails
            pass
        self.lines += 1
        self._last_line = now

    def close(self) -> None:
        """Write what is pending and stop the timer (at shutdown)."""
        self.flush()


__all__ = ["LogSummary"]
