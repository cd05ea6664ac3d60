"""The ledger writer: group commit on a dedicated thread, so the loop never waits on the disk.

Rows added during one turn of the event loop go to the writer thread as one batch; the thread
merges what queued up while it was busy and commits it in one transaction, then calls back on the
loop. With durability "commit" (default) or "fsync", the carrier answers a submit only in that
callback: an acknowledged message is in the ledger even if the process is killed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from . import schema

log = logging.getLogger("carrier_sim.ledger")

Durability = Literal["commit", "fsync", "async"]
_SYNCHRONOUS = {"commit": "NORMAL", "fsync": "FULL", "async": "NORMAL"}
_M, _F, _D, _A = 0, 1, 2, 3  # batch slots: messages, finals, deliveries, audit


class LedgerError(RuntimeError):
    """The ledger cannot be written: the simulator must not acknowledge messages any more."""


class LedgerWriter:
    """Append-only writer of one run's records. Use from the event loop thread only."""

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
        max_batch: int = 20_000,
    ) -> None:
        if durability not in _SYNCHRONOUS:
            raise ValueError(f"durability must be one of {', '.join(_SYNCHRONOUS)}, got {durability!r}")
        self.path = Path(path)
        self.run_id = run_id
        self.node_id = node_id
        self.scenario = scenario
        self.seed = seed
        self.config = config or {}
        self.durability = durability
        self.waits = durability != "async"  # whether callers must wait for the commit callback
        self.max_batch = max_batch
        self._rows: list[list[tuple[Any, ...]]] = [[], [], [], []]
        self._callbacks: list[tuple[Callable[[Any], None], Any]] = []
        self._scheduled = False
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self.committed = 0  # rows committed (all tables)
        self.commits = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name=f"ledger-{self.run_id}", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._failure is not None:
            raise LedgerError(f"cannot open ledger {self.path}: {self._failure}") from self._failure

    async def close(self) -> None:
        """Commit everything added so far, mark the run ended, stop the thread."""
        if self._thread is None:
            return
        self._hand_over()
        self._queue.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None

    @property
    def failed(self) -> BaseException | None:
        return self._failure

    # ------------------------------------------------------------------ the loop side
    def add_message(self, row: tuple[Any, ...], callback: Callable[[Any], None] | None = None, arg: Any = None) -> None:
        self._add(_M, row, callback, arg)

    def add_final(self, row: tuple[Any, ...], callback: Callable[[Any], None] | None = None, arg: Any = None) -> None:
        self._add(_F, row, callback, arg)

    def add_delivery(self, row: tuple[Any, ...]) -> None:
        self._add(_D, row, None, None)

    def add_audit(self, at: float, action: str, actor: str, details: dict[str, Any]) -> None:
        self._add(_A, (self.run_id, at, action, actor, json.dumps(details, default=str)), None, None)

    def _add(self, slot: int, row: tuple[Any, ...], callback: Callable[[Any], None] | None, arg: Any) -> None:
        if self._failure is not None:
            raise LedgerError(f"ledger {self.path} failed: {self._failure}")
        self._rows[slot].append(row)
        if callback is not None:
            if self.waits:
                self._callbacks.append((callback, arg))
            else:
                callback(arg)
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None, "start() the writer first"
            self._loop.call_soon(self._hand_over)

    def _hand_over(self) -> None:
        self._scheduled = False
        rows, callbacks = self._rows, self._callbacks
        if not (rows[0] or rows[1] or rows[2] or rows[3] or callbacks):
            return
        self._rows, self._callbacks = [[], [], [], []], []
        self._queue.put((rows, callbacks))

    def _committed(self, callbacks: list[tuple[Callable[[Any], None], Any]]) -> None:
        for callback, arg in callbacks:
            callback(arg)

    # ------------------------------------------------------------------ the writer thread
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={_SYNCHRONOUS[self.durability]}")
        conn.execute("PRAGMA busy_timeout=10000")
        schema.create(conn)
        conn.execute(
            "INSERT OR REPLACE INTO runs (run_id, node_id, scenario, seed, started_at, ended_at, config)"
            " VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (self.run_id, self.node_id, self.scenario, self.seed, time.time(), json.dumps(self.config, default=str)),
        )
        return conn

    def _run(self) -> None:
        try:
            conn = self._open()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        sql = [
            schema.insert_sql("messages", schema.MESSAGE_COLUMNS),
            schema.insert_sql("finals", schema.FINAL_COLUMNS),
            schema.insert_sql("deliveries", schema.DELIVERY_COLUMNS),
            schema.insert_sql("audit", schema.AUDIT_COLUMNS),
        ]
        stopping = False
        try:
            while not stopping:
                item = self._queue.get()
                if item is None:
                    break
                batches = [item]
                size = sum(len(r) for r in item[0])
                while size < self.max_batch:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stopping = True
                        break
                    batches.append(more)
                    size += sum(len(r) for r in more[0])
                conn.execute("BEGIN")
                for slot in (_M, _F, _D, _A):
                    rows = [row for rows, _ in batches for row in rows[slot]]
                    if rows:
                        conn.executemany(sql[slot], rows)
                conn.execute("COMMIT")
                self.commits += 1
                self.committed += size
                callbacks = [cb for _, cbs in batches for cb in cbs]
                if callbacks:
                    self._loop.call_soon_threadsafe(self._committed, callbacks)  # type: ignore[union-attr]
            conn.execute("UPDATE runs SET ended_at = ? WHERE run_id = ?", (time.time(), self.run_id))
        except BaseException as exc:  # noqa: BLE001 - the carrier must stop acknowledging
            self._failure = exc
            log.error("ledger %s failed: %s", self.path, exc)
        finally:
            conn.close()
