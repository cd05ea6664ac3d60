"""The ledger's writer process: reads batches of rows on stdin, commits them, acknowledges on stdout.

It runs beside the simulator so SQLite's work happens on another core, free of the simulator's
GIL. Frames in: 4-octet length + marshal((kind, ...)); acks out: the 8-octet id of the last batch
committed. It writes nothing it was not sent and acknowledges nothing before its COMMIT returns.
"""

from __future__ import annotations

import marshal
import os
import select
import sqlite3
import struct
import sys
import time

from . import schema

LENGTH = struct.Struct(">I")
ACK = struct.Struct(">Q")
FAILED = 1 << 63  # set in an ack: the batches up to its id were rolled back, a reason follows
SYNCHRONOUS = {"commit": "NORMAL", "fsync": "FULL", "async": "NORMAL"}
MAX_BATCH_ROWS = 50_000
# for tests where no small filesystem can be mounted: while the file this names exists, every commit
# fails as on a full disk (tests/test_ledger_full_disk.py); unset in production
FAIL_WHILE_ENV = "CARRIER_SIM_LEDGER_FAIL_WHILE"


class _Input:
    """Frames from a pipe, read in large chunks; knows whether more are waiting."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.eof = False

    def _fill(self, block: bool) -> None:
        if self.eof:
            return
        if not block and not select.select([self.fd], [], [], 0)[0]:
            return
        data = os.read(self.fd, 1 << 20)
        if not data:
            self.eof = True
        else:
            self.buffer += data

    def frame(self, block: bool) -> object | None:
        """The next whole frame, or None (nothing complete is waiting / the pipe ended)."""
        while True:
            if len(self.buffer) >= 4:
                (size,) = LENGTH.unpack_from(self.buffer, 0)
                if len(self.buffer) >= 4 + size:
                    payload = bytes(self.buffer[4 : 4 + size])
                    del self.buffer[: 4 + size]
                    return marshal.loads(payload)
            if self.eof:
                return None
            before = len(self.buffer)
            self._fill(block)
            if len(self.buffer) == before and not self.eof and not block:
                return None


def main(argv: list[str]) -> int:
    path, durability = argv[0], argv[1]
    fail_while = os.environ.get(FAIL_WHILE_ENV)
    out = sys.stdout.buffer
    source = _Input(sys.stdin.buffer.fileno())
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={SYNCHRONOUS[durability]}")
        conn.execute("PRAGMA busy_timeout=10000")
        schema.create(conn)
        run = source.frame(block=True)
        if not (isinstance(run, tuple) and run[0] == "run"):
            raise ValueError("the first frame must describe the run")
        _, run_id, node_id, scenario, seed, config = run
        conn.execute(
            "INSERT OR REPLACE INTO runs (run_id, node_id, scenario, seed, started_at, ended_at, config)"
            " VALUES (?, ?, ?, ?, ?, NULL, ?)",
            (run_id, node_id, scenario, seed, time.time(), config),
        )
    except Exception as exc:  # noqa: BLE001 - reported to the simulator, which refuses to start
        sys.stderr.write(f"cannot open ledger {path}: {exc}\n")
        return 1
    out.write(ACK.pack(0))  # ready
    out.flush()
    sql = [
        schema.insert_sql("messages", schema.MESSAGE_COLUMNS),
        schema.insert_sql("finals", schema.FINAL_COLUMNS),
        schema.insert_sql("deliveries", schema.DELIVERY_COLUMNS),
        schema.insert_sql("audit", schema.AUDIT_COLUMNS),
    ]
    while True:
        first = source.frame(block=True)
        if first is None:
            break
        batches = [first]
        rows = sum(len(t) for t in first[2:])
        while rows < MAX_BATCH_ROWS:  # group commit: take everything that is already waiting
            more = source.frame(block=False)
            if more is None:
                break
            batches.append(more)
            rows += sum(len(t) for t in more[2:])
        try:
            conn.execute("BEGIN")
            for slot, statement in enumerate(sql):
                for batch in batches:
                    if batch[2 + slot]:
                        conn.executemany(statement, batch[2 + slot])
            if fail_while and os.path.exists(fail_while):
                raise sqlite3.OperationalError(f"database or disk is full (injected: {fail_while} exists)")
            conn.execute("COMMIT")
            reply = ACK.pack(batches[-1][1])
        except sqlite3.OperationalError as exc:  # disk full, I/O error: rolled back, said so, not hidden
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            reason = f"{type(exc).__name__}: {exc}".encode()
            reply = ACK.pack(FAILED | batches[-1][1]) + LENGTH.pack(len(reason)) + reason
        try:
            out.write(reply)
            out.flush()
        except BrokenPipeError:
            pass  # the simulator is gone; what we committed stays committed
    conn.execute("UPDATE runs SET ended_at = ? WHERE run_id = ?", (time.time(), run_id))
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

