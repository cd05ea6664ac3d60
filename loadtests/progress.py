"""Progress while the load runs: a live line on a terminal, a plain line every few seconds in a CI log.

Owns what those lines say (time into the load, phase, submits/s, submits, receipts, refused) from
the simulator's /status. Not here: polling the children or deciding when the run ends
(loadtests/run.py); never stops or signals anything.
"""

from __future__ import annotations

from typing import Any, Self

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .settings import RunSettings

PROGRESS_EVERY = 5.0  # seconds between plain progress lines when stdout is not a terminal


def is_terminal(console: Console) -> bool:
    isatty = getattr(console.file, "isatty", None)
    return bool(isatty and isatty())


class ProgressDisplay:
    """Progress while the load runs: a live line on a terminal; elsewhere (a CI log) a plain line
    every PROGRESS_EVERY seconds and when the phase changes: time into the load, phase (starting,
    submitting, draining), submits/s, submits, receipts, refused, from the simulator's /status. The
    load's clock starts at the simulator's first bind; an external SMSC gives only time and phase."""

    def __init__(self, console: Console, settings: RunSettings, *, live: bool) -> None:
        self.console = console
        self.settings = settings
        self.live: Live | None = Live(console=console, refresh_per_second=2, transient=True) if live else None
        self.load_started: float | None = None  # elapsed (since Locust started) at the first bind
        self.samples: list[tuple[float, int]] = []  # (time into the load, simulator's submits)
        self.next_line = 0.0
        self.last_phase = ""
        self.finished = False

    def __enter__(self) -> Self:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def update(self, elapsed: float, status: dict[str, Any] | None) -> None:
        """Called every POLL seconds with the time since Locust started and the simulator's status."""
        stats = status["stats"] if status is not None else None
        if self.load_started is None and (stats is None and elapsed > 0 or stats is not None and stats["binds"]):
            self.load_started = elapsed  # without a simulator, from Locust's start
        t = 0.0 if self.load_started is None else elapsed - self.load_started
        phase = ("starting" if self.load_started is None else
                 "submitting" if t < self.settings.duration else "draining")
        rate = self._rate(t, stats["submits"], 2.0 if self.live else PROGRESS_EVERY) if stats else None
        if self.live is not None:
            self.live.update(self._table(t, phase, stats, rate))
        elif phase != "starting" and (t >= self.next_line or phase != self.last_phase):
            self.console.print(self._line(t, phase, stats, rate), markup=False, highlight=False)
            self.next_line = (t // PROGRESS_EVERY + 1) * PROGRESS_EVERY
            self.last_phase = phase

    def finish(self, message: str) -> None:
        self.finished = True
        if self.live is not None:
            self.live.update(Text(message))
        else:
            self.console.print(message, markup=False, highlight=False)

    def _rate(self, t: float, submits: int, window: float) -> float | None:
        """submits/s over about the last `window` seconds."""
        samples = self.samples
        samples.append((t, submits))
        while len(samples) > 2 and t - samples[1][0] >= window:
            samples.pop(0)
        t0, n0 = samples[0]
        return (submits - n0) / (t - t0) if t - t0 >= 0.5 else None

    @staticmethod
    def _line(t: float, phase: str, stats: dict[str, int] | None, rate: float | None) -> str:
        line = f"progress: {t:.0f} s {phase}"
        if stats is None:
            return line + " (no live counts from an external SMSC)"
        rate_text = "-" if rate is None else f"{rate:,.0f}"
        return (f"{line}, {rate_text} submits/s, {stats['submits']:,} submits, {stats['receipts']:,} receipts, "
                f"{stats['refused']:,} refused")

    def _table(self, t: float, phase: str, stats: dict[str, int] | None, rate: float | None) -> Table:
        table = Table.grid(padding=(0, 2))
        left = max(0.0, self.settings.duration + self.settings.drain - t)
        row = [f"[bold]{phase}[/]", f"{t:5.1f}s elapsed", f"{left:5.1f}s left"]
        if stats is not None:
            row += ["" if rate is None else f"{rate:8.0f} submits/s", f"accepted {stats['accepted']:,}",
                    f"refused {stats['refused']:,}", f"receipts {stats['receipts']:,}"]
        table.add_row(*row)
        return table
