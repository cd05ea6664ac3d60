"""Failing closed: what the ledger writer does while its commits are rolled back, until one succeeds.

A commit the writer process rolls back (a full disk, an I/O error) makes the writer
*failing* until a probe commits again. Meanwhile a row whose caller gave a `lost` fallback (a submit
waiting to be answered) is refused at once (LedgerUnavailable), and those already handed over are
given up: `lost(arg)` runs and their rows are not retried (their submits were never acknowledged).
Every other row (finals, deliveries, audit) is held, up to `hold_limit` rows (more are counted and
dropped), and written by the probe, retried with a backoff up to `probe_s[1]`: the carrier resumes
by itself. A writer process that dies is a lasting failure (`failed`). With more than `max_backlog`
rows handed over and not committed yet, a waiting row is refused with LedgerBusy (the writer is only
slow). Repeated failures are summed up in one log line every 10 s (simulator/logsummary.py).

Owns: the failing state, what is held for the probe, the probe and its backoff, the outage counts,
the errors callers see. Not here: batching and acknowledgements (writer.py), the rollback itself
(process.py), what a refused submit is answered (carrier/answers.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.logsummary import LogSummary


log = logging.getLogger("carrier_sim.ledger")
# where each table's rows wait in a batch (and their order in its frame)
MESSAGES, FINALS, DELIVERIES, AUDIT = 0, 1, 2, 3
Entry = tuple[Callable[[Any], None], Any, "Callable[[Any], None] | None", tuple[Any, ...]]  # callback, arg, lost, row


class LedgerWriteError(RuntimeError):
    """The ledger cannot be written: the simulator must not acknowledge messages any more."""


class LedgerUnavailable(LedgerWriteError):
    """The ledger's writes fail for now (a full disk): refuse the submit (ESME_RSYSERR); it may resume."""


class LedgerBusy(LedgerWriteError):
    """Too many rows wait for their commit (the writer is slow): refuse the submit (ESME_RMSGQFUL)."""


class FailClosed:
    """The failing side of LedgerWriter (its base class): state set up by LedgerWriter.__init__."""

    path: Path
    run_id: str
    waits: bool
    _loop: asyncio.AbstractEventLoop | None
    _proc: Any
    _failure: str | None
    _closing: bool
    _rows: list[list[tuple[Any, ...]]]
    _callbacks: list[Entry]
    _waiting: deque[tuple[int, list[Entry], list[list[tuple[Any, ...]]], int]]
    _backlog: int
    failures: LogSummary

    def _send(self, rows: list[list[tuple[Any, ...]]], entries: list[Entry]) -> int: ...
    def _callback_failed(self, callback: Callable[[Any], None], arg: Any, exc: Exception) -> None: ...
    def add_audit(self, at: float, action: str, actor: str, details: dict[str, Any]) -> None: ...

    def _init_failing(self, hold_limit: int, max_backlog: int, probe_s: tuple[float, float]) -> None:
        self.hold_limit, self.max_backlog, self.probe_s = hold_limit, max_backlog, probe_s
        self._failing: str | None = None
        self._failing_since = 0.0
        self._held: list[list[tuple[Any, ...]]] = [[], [], [], []]
        self._held_entries: list[Entry] = []
        self._probe: int | None = None  # the batch id of the probe in flight
        self._probe_delay = probe_s[0]
        self._probe_timer: asyncio.TimerHandle | None = None
        self.outage = {"refused": 0, "given_up": 0, "dropped": 0, "busy": 0}  # during the current failure
        self.outages = 0  # failures the writer resumed from or is in
        self.failures = LogSummary(log, "ledger", "write failed", "writes failed", level=logging.ERROR)
        self.busy = LogSummary(log, "ledger", "submit refused while the writer is behind",
                               "submits refused while the writer is behind")

    def _give_up_waiting(self) -> None:
        """The writer process is gone: what waits with a fallback (a submit) is answered by it now."""
        entries = [e for _, batch_entries, _, _ in self._waiting for e in batch_entries] + self._held_entries
        entries += self._callbacks
        self._held_entries, self._callbacks = [], []
        for _, arg, lost, _ in entries:
            if lost is not None:
                self._run_lost(lost, arg)

    def _run_lost(self, lost: Callable[[Any], None], arg: Any) -> None:
        self.outage["given_up"] += 1
        try:
            lost(arg)
        except Exception as exc:  # noqa: BLE001 - as a commit callback
            self._callback_failed(lost, arg, exc)

    # ------------------------------------------------------------------ failing and resuming
    @property
    def failing(self) -> str | None:
        """Why commits fail for now (None when they succeed, or when the writer is gone: `failed`)."""
        return self._failing

    def outage_summary(self) -> str:
        o = self.outage
        return (f"{time.monotonic() - self._failing_since:.1f} s; {o['refused']:,} submits refused, "
                f"{o['given_up']:,} in flight answered ESME_RSYSERR, {o['dropped']:,} rows dropped")

    def _rolled_back(self, upto: int, reason: str) -> None:
        """The writer process rolled back every batch up to `upto`: give up what has a fallback,
        hold the rest for the probe."""
        if self._failing is None:
            self._failing, self._failing_since = reason, time.monotonic()
            self.outage = dict.fromkeys(self.outage, 0)
            self.outages += 1
            self._probe_delay = self.probe_s[0]
            self._held[AUDIT].append((self.run_id, time.time(), "ledger.failing", "carrier",  # an AuditRow
                                              json.dumps({"reason": reason})))
        self._failing = reason
        failed = 1  # the commit; and each submit given up (rows held for the probe are not lost yet)
        while self._waiting and self._waiting[0][0] <= upto:
            batch, entries, rows, count = self._waiting.popleft()
            self._backlog -= count
            given_up: set[int] = set()
            for entry in entries:
                if entry[2] is not None:
                    given_up.add(id(entry[3]))
                    failed += 1
                    self._run_lost(entry[2], entry[1])
                else:
                    self._held_entries.append(entry)
            for slot, table in enumerate(rows):
                self._held[slot].extend(r for r in table if id(r) not in given_up)
            if batch == self._probe:
                self._probe = None
                self._probe_delay = min(self._probe_delay * 2, self.probe_s[1])
        self.failures.add(reason, failed)
        self._schedule_probe()

    def _hold_new(self, slot: int, row: tuple[Any, ...], callback: Callable[[Any], None] | None, arg: Any,
                  lost: Callable[[Any], None] | None) -> None:
        """While failing: a submit is refused now; any other row is held for the probe, if there is room."""
        if lost is not None:
            self.outage["refused"] += 1
            self.failures.add(self._failing or "")
            raise LedgerUnavailable(f"ledger {self.path} cannot write: {self._failing}")
        held = self._held
        if len(held[0]) + len(held[1]) + len(held[2]) + len(held[3]) >= self.hold_limit:
            self.outage["dropped"] += 1  # counted in the ledger.resumed audit entry
            self.failures.add(self._failing or "")
            if callback is not None:
                raise LedgerUnavailable(f"ledger {self.path} cannot write: {self._failing} (and holds "
                                        f"{self.hold_limit:,} rows already)")
            return
        held[slot].append(row)
        if callback is not None:
            if self.waits:
                self._held_entries.append((callback, arg, None, row))
            else:
                callback(arg)

    def _schedule_probe(self) -> None:
        if (self._probe is None and self._probe_timer is None and self._failure is None and not self._closing
                and self._loop is not None):
            self._probe_timer = self._loop.call_later(self._probe_delay, self._send_probe)

    def _send_probe(self) -> None:
        """Write what is held (at least the ledger.failing audit row): its commit ends the failure."""
        self._probe_timer = None
        if self._failure is not None or self._failing is None or self._proc is None or self._closing:
            return  # close() hands over what is held itself
        rows, entries = self._held, self._held_entries
        self._held, self._held_entries = [[], [], [], []], []
        if not any(rows):
            rows[AUDIT].append((self.run_id, time.time(), "ledger.probe", "carrier", "{}"))  # an AuditRow's fields
        self._probe = self._send(rows, entries)

    def _resumed(self) -> None:
        """The probe was committed: writes succeed again; what was held meanwhile goes now."""
        self._probe = None
        details = {"after_s": round(time.monotonic() - self._failing_since, 3), "reason": self._failing, **self.outage}
        self.failures.flush()
        log.warning("ledger %s: writes succeed again after failing for %s", self.path, self.outage_summary())
        self._failing = None
        held, entries = self._held, self._held_entries
        self._held, self._held_entries = [[], [], [], []], []
        for slot, table in enumerate(held):
            self._rows[slot].extend(table)
        self._callbacks.extend(entries)
        self.add_audit(time.time(), "ledger.resumed", "carrier", details)
