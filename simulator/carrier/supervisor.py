"""The carrier's supervisor: starts its background tasks and hears every failure in the background.

A failure is logged once with its traceback (repeats are counted and summed up in one line at most
every `summary_s`), becomes a `degraded` reason in /status and /health, and the loop is restarted
(tasks) or goes on with its next item (timers, callbacks). Nothing here may raise or block.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("carrier_sim.supervisor")


@dataclass
class Trouble:
    """One thing that went wrong in one place: what, how often, when first and last (Unix time)."""

    where: str
    error: str
    count: int
    first_at: float
    last_at: float
    unlogged: int = 0  # repeats not yet in a log line
    logged_at: float = 0.0  # monotonic time of the last log line about it

    def as_dict(self) -> dict[str, Any]:
        return {"where": self.where, "error": self.error, "count": self.count,
                "first_at": self.first_at, "last_at": self.last_at}


class Supervisor:
    """Background tasks and failures of one carrier. `spawn()` on the loop; `report()` from anywhere
    on the loop's thread; `health()` for the control API."""

    def __init__(self, name: str = "carrier", *, summary_s: float = 10.0,
                 restart_delay: tuple[float, float] = (0.05, 5.0),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.summary_s = summary_s
        self.restart_delay = restart_delay
        self.clock = clock
        self.troubles: dict[tuple[str, str], Trouble] = {}  # (where, exception type) -> Trouble
        self.conditions: dict[str, str] = {}  # where -> reason (see degrade)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.restarts: dict[str, int] = {}
        self.checks: list[Callable[[], list[str]]] = []  # more reasons, asked at each health()

    # ------------------------------------------------------------------ tasks
    def spawn(self, name: str, loop_fn: Callable[[], Awaitable[None]], *, restart: bool = True) -> asyncio.Task[None]:
        """Run `loop_fn()` as a task. If it raises, the failure is reported and, with `restart`, it
        is called again after a delay that doubles up to restart_delay[1]; it never dies silently."""
        task = asyncio.get_running_loop().create_task(self._run(name, loop_fn, restart), name=f"{self.name}:{name}")
        self.tasks[name] = task
        return task

    async def _run(self, name: str, loop_fn: Callable[[], Awaitable[None]], restart: bool) -> None:
        delay, longest = self.restart_delay
        while True:
            started = self.clock()
            try:
                await loop_fn()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the point of a supervisor
                self.report(f"task {name}", exc)
                if not restart:
                    self.degrade(f"task {name}", f"stopped after {type(exc).__name__}: {exc}")
                    return
            self.restarts[name] = self.restarts.get(name, 0) + 1
            if self.clock() - started > longest * 4:
                delay = self.restart_delay[0]  # it had been running well: start again quickly
            log.warning("%s: restarting task %s in %.2fs", self.name, name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)

    async def stop(self) -> None:
        """Cancel every task spawned here and wait for them."""
        tasks = [t for t in self.tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # noqa: BLE001 - reported, never raised at shutdown
                self.report("stop", exc)
        self.tasks.clear()

    # ------------------------------------------------------------------ failures
    def report(self, where: str, exc: BaseException, detail: str = "") -> None:
        """An exception that a loop caught and survived. Logged with its traceback the first time
        (where, exception type) happens; after that counted, and summed up in one line at most
        every summary_s seconds. The carrier is degraded from then on (it has run into a bug or a
        broken dependency: an operator should look, and a run should not pass unnoticed)."""
        try:
            key = (where, type(exc).__name__)
            now, wall = self.clock(), time.time()
            text = f"{type(exc).__name__}: {exc}" + (f" ({detail})" if detail else "")
            trouble = self.troubles.get(key)
            if trouble is None:
                self.troubles[key] = Trouble(where, text, 1, wall, wall, 0, now)
                log.error("%s: %s failed: %s; going on", self.name, where, text, exc_info=exc)
                return
            trouble.count += 1
            trouble.last_at = wall
            trouble.error = text
            trouble.unlogged += 1
            if now - trouble.logged_at >= self.summary_s:
                log.error("%s: %s failed %d more times since the last report (last: %s); going on",
                          self.name, where, trouble.unlogged, text)
                trouble.unlogged = 0
                trouble.logged_at = now
        except Exception:  # noqa: BLE001 - reporting must never be what fails
            pass

    def degrade(self, where: str, reason: str) -> None:
        """A lasting condition (a task stopped for good): degraded from then on."""
        if self.conditions.get(where) != reason:
            self.conditions[where] = reason
            log.error("%s: degraded: %s: %s", self.name, where, reason)

    # ------------------------------------------------------------------ health
    def reasons(self) -> list[str]:
        reasons = [f"{where}: {reason}" for where, reason in self.conditions.items()]
        for trouble in self.troubles.values():
            times = "once" if trouble.count == 1 else f"{trouble.count} times"
            reasons.append(f"{trouble.where} failed {times}, last with {trouble.error}")
        for check in self.checks:
            try:
                reasons.extend(check())
            except Exception as exc:  # noqa: BLE001 - a broken check is itself a reason
                reasons.append(f"health check {getattr(check, '__name__', check)!s} failed: {exc!r}")
        for name, task in self.tasks.items():
            if task.done() and not task.cancelled() and name not in self.conditions:
                reasons.append(f"task {name} ended")
        return reasons

    def health(self) -> dict[str, Any]:
        """{"status": "ok"} or {"status": "degraded", "reasons": [...]}."""
        reasons = self.reasons()
        return {"status": "degraded", "reasons": reasons} if reasons else {"status": "ok"}

    def details(self) -> dict[str, Any]:
        """health() with every failure's counts and times, and the task restarts, for /status."""
        return {**self.health(), "failures": [t.as_dict() for t in self.troubles.values()],
                "restarts": dict(self.restarts)}


__all__ = ["Supervisor", "Trouble"]
