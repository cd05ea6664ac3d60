"""The ledger writer: group commit in a separate process, so the event loop never waits on SQLite.

Rows added during one turn of the event loop go to the writer process as one batch (marshal over
a pipe); it commits whatever batches are waiting in one transaction and acknowledges the last one.
With durability "commit" (default) or "fsync", the carrier answers a submit only in the callback
that follows that acknowledgement: an acknowledged message is in the ledger even if the simulator
is killed. A separate process, not a thread: SQLite's work then runs on another core without
contending for the simulator's GIL (measured: bench/RESULTS.md).
A callback that raises never stops the acknowledgement reader: it goes to `on_callback_error`
(logged with its traceback when nobody set it), and the callbacks after it still run.

Failing closed (a full disk, an I/O error): outage.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import marshal
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from .outage import AUDIT, DELIVERIES, FINALS, MESSAGES, Entry, FailClosed
from .outage import LedgerBusy, LedgerUnavailable, LedgerWriteError  # noqa: F401 - the writer's errors, named here too
from .process import ACK, FAILED, LENGTH
from .records import Row

log = logging.getLogger("carrier_sim.ledger")

Durability = Literal["commit", "fsync", "async"]
DURABILITIES = ("commit", "fsync", "async")


class LedgerWriter(FailClosed):
    """Append-only writer of one run's records; a RecordSink (records.py). Use from the event loop
    thread only. add_message/add_final also take a callback to run once the row is durable."""

    def __init__(
        self,
        path: str | Path,
        *,
        run_id: str,
        node_id: str = "node-1",
        scenario: str = "default",
        seed: int = 0,
        config: dict[str, Any] | None = None,
        durability: Durability = "commit",
        hold_limit: int = 100_000,
        max_backlog: int = 500_000,
        probe_s: tuple[float, float] = (0.05, 2.0),
    ) -> None:
        if durability not in DURABILITIES:
            raise ValueError(f"durability must be one of {', '.join(DURABILITIES)}, got {durability!r}")
        self.path = Path(path)
        self.run_id = run_id
        self.node_id = node_id
        self.scenario = scenario
        self.seed = seed
        self.config = config or {}
        self.durability = durability
        self.waits = durability != "async"  # whether callers must wait for the commit callback
        self._rows: list[list[tuple[Any, ...]]] = [[], [], [], []]  # by MESSAGES, FINALS, DELIVERIES, AUDIT
        self._callbacks: list[Entry] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._acks: asyncio.Task[None] | None = None
        # every batch handed over and not acknowledged yet: (id, its entries, its rows, its row count)
        self._waiting: deque[tuple[int, list[Entry], list[list[tuple[Any, ...]]], int]] = deque()
        self._backlog = 0  # rows handed over, not committed yet
        self._next_batch = 1
        self._failure: str | None = None  # lasting: the writer process is gone
        self._init_failing(hold_limit, max_backlog, probe_s)  # outage.py: while commits are rolled back
        self._closing = False  # close() began: the writer's end of the pipe is expected
        # set by the carrier before start(): how to run the ack reader (its supervisor's spawn), and
        # what to do when a commit callback raises (report it); by default a plain task and a log line
        self.spawn: Callable[[str, Callable[[], Awaitable[None]]], asyncio.Task[None]] | None = None
        self.on_callback_error: Callable[[Callable[[Any], None], Any, Exception], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerWriteError(f"cannot open ledger {self.path}: cannot create its folder: {exc.strerror or exc}") from exc
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simulator.ledger.process", str(self.path), self.durability,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        run = ("run", self.run_id, self.node_id, self.scenario, self.seed, json.dumps(self.config, default=str))
        self._write(run)
        assert self._proc.stdout is not None
        try:
            ready = await asyncio.wait_for(self._proc.stdout.readexactly(ACK.size), 30)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError):
            err = b""
            if self._proc.stderr is not None:
                try:
                    err = await asyncio.wait_for(self._proc.stderr.read(), 5)
                except asyncio.TimeoutError:
                    pass
            await self._reap()
            raise LedgerWriteError(err.decode(errors="replace").strip() or f"cannot start the ledger writer for {self.path}")
        if ACK.unpack(ready)[0] != 0:
            await self._reap()
            raise LedgerWriteError(f"ledger writer for {self.path} did not start properly")
        if self.spawn is not None:
            self._acks = self.spawn("ledger-acks", self._read_acks)
        else:
            self._acks = self._loop.create_task(self._read_acks())

    async def _reap(self) -> None:
        """After a failed start: the writer process is ended and waited for, not left behind."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def close(self, timeout: float = 60) -> None:
        """Commit everything added so far, mark the run ended, stop the writer process."""
        proc = self._proc
        if proc is None:
            return
        self._closing = True
        if self._probe_timer is not None:
            self._probe_timer.cancel()
            self._probe_timer = None
        self._hand_over()
        if self._failing is not None and any(self._held):  # one last try at what was held
            self._send(self._held, self._held_entries)
            self._held, self._held_entries = [[], [], [], []], []
        if proc.stdin is not None and not proc.stdin.is_closing():
            try:
                await proc.stdin.drain()
            except (ConnectionError, BrokenPipeError):
                pass
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            log.error("ledger writer for %s did not finish in %ss; killing it", self.path, timeout)
            proc.kill()
            await proc.wait()
        if self._acks is not None:
            try:
                await asyncio.wait_for(self._acks, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._acks.cancel()
        self._proc = None
        self.failures.close()
        self.busy.close()

    @property
    def failed(self) -> str | None:
        return self._failure

    @property
    def pid(self) -> int | None:
        """The writer process's id while it runs (None before start() and after close()): tests
        pause it (SIGSTOP) to hold commits back."""
        return self._proc.pid if self._proc is not None else None

    # ------------------------------------------------------------------ the loop side
    def add_message(self, row: Row, callback: Callable[[Any], None] | None = None, arg: Any = None,
                    lost: Callable[[Any], None] | None = None) -> None:
        """`callback(arg)` runs when the row is durable; with `lost`, the row is never retried:
        `lost(arg)` runs instead if its commit is rolled back, and while the ledger fails or is
        behind the add raises LedgerUnavailable or LedgerBusy. Raises LedgerWriteError once the
        writer process is gone."""
        self._add(MESSAGES, row, callback, arg, lost)

    def add_final(self, row: Row, callback: Callable[[Any], None] | None = None, arg: Any = None) -> None:
        self._add(FINALS, row, callback, arg)

    def add_delivery(self, row: Row) -> None:
        self._add(DELIVERIES, row, None, None)

    def add_audit(self, at: float, action: str, actor: str, details: dict[str, Any]) -> None:
        self._add(AUDIT, (self.run_id, at, action, actor, json.dumps(details, default=str)), None, None)  # AuditRow's

    # the RecordSink side: a record with nothing waiting for its commit
    def on_message(self, row: Row) -> None:
        self._add(MESSAGES, row, None, None)

    def on_final(self, row: Row) -> None:
        self._add(FINALS, row, None, None)

    def on_delivery(self, row: Row) -> None:
        self._add(DELIVERIES, row, None, None)

    def _add(self, slot: int, row: tuple[Any, ...], callback: Callable[[Any], None] | None, arg: Any,
             lost: Callable[[Any], None] | None = None) -> None:
        if self._failure is not None:
            raise LedgerWriteError(f"ledger {self.path} failed: {self._failure}")
        if self._failing is not None:
            self._hold_new(slot, row, callback, arg, lost)
            return
        if lost is not None and self._backlog > self.max_backlog and self.waits:
            self.outage["busy"] += 1
            self.busy.add(f"{self._backlog:,} rows wait for their commit")
            raise LedgerBusy(f"ledger {self.path} is behind: {self._backlog:,} rows wait for their commit")
        self._rows[slot].append(row)
        if callback is not None:
            if self.waits:
                self._callbacks.append((callback, arg, lost, row))
            else:
                callback(arg)
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None, "start() the writer first"
            self._loop.call_soon(self._hand_over)

    def _hand_over(self) -> None:
        self._scheduled = False
        rows, entries = self._rows, self._callbacks
        if not (rows[MESSAGES] or rows[FINALS] or rows[DELIVERIES] or rows[AUDIT]):
            return
        self._rows, self._callbacks = [[], [], [], []], []
        self._send(rows, entries)

    def _send(self, rows: list[list[tuple[Any, ...]]], entries: list[Entry]) -> int:
        batch = self._next_batch
        self._next_batch += 1
        count = len(rows[MESSAGES]) + len(rows[FINALS]) + len(rows[DELIVERIES]) + len(rows[AUDIT])
        self._waiting.append((batch, entries, rows, count))
        self._backlog += count
        self._write(("batch", batch, *rows))  # plain tuples (records.Row): marshal takes no NamedTuple
        return batch

    def _write(self, frame: tuple[Any, ...]) -> None:
        try:
            payload = marshal.dumps(frame)
        except ValueError:  # an enum or str subclass slipped into a row: write plain values
            payload = marshal.dumps(_plain(frame))
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(LENGTH.pack(len(payload)) + payload)
        except (ConnectionError, RuntimeError) as exc:
            self._fail(f"cannot write to the ledger writer: {exc}")

    async def _read_acks(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stdout = self._proc.stdout
        waiting = self._waiting
        while True:
            try:
                data = await stdout.readexactly(ACK.size)
                (batch,) = ACK.unpack(data)
                if batch & FAILED:
                    (size,) = LENGTH.unpack(await stdout.readexactly(LENGTH.size))
                    reason = (await stdout.readexactly(size)).decode(errors="replace")
                    self._rolled_back(batch & ~FAILED, reason)
                    continue
            except asyncio.IncompleteReadError:
                break
            while waiting and waiting[0][0] <= batch:
                _, entries, _, count = waiting.popleft()
                self._backlog -= count
                for callback, arg, _, _ in entries:
                    try:  # free unless it raises (CPython 3.11's zero-cost exceptions)
                        callback(arg)
                    except Exception as exc:  # noqa: BLE001 - one callback must not silence every later one
                        self._callback_failed(callback, arg, exc)
            if self._probe is not None and batch >= self._probe:
                self._resumed()
        if waiting or not self._closing or self._proc.returncode not in (None, 0):
            # the writer ended before close() asked it to (or with an error): even with nothing
            # waiting, later rows would go into a dead pipe and their submits never be answered
            err = b""
            if self._proc.stderr is not None:
                err = await self._proc.stderr.read()
            self._fail(f"the ledger writer stopped: {err.decode(errors='replace').strip() or 'no reason given'}")
            self._give_up_waiting()

    def _callback_failed(self, callback: Callable[[Any], None], arg: Any, exc: Exception) -> None:
        handler = self.on_callback_error
        if handler is not None:
            try:
                handler(callback, arg, exc)
                return
            except Exception as again:  # noqa: BLE001 - fall back to the log
                exc = again
        log.error("ledger %s: a commit callback (%s) raised; going on", self.path,
                  getattr(callback, "__name__", callback), exc_info=exc)

    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
            log.error("ledger %s: %s; submits will be refused with ESME_RSYSERR", self.path, reason)
            if self._probe_timer is not None:
                self._probe_timer.cancel()
                self._probe_timer = None

def _plain(value: Any) -> Any:
    """The value with int/str/float subclasses (enums) turned into the plain types marshal takes."""
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value) if type(value) in (tuple, list) else tuple(_plain(v) for v in value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return float(value)
    return value
