"""Benchmark: bind guessing against a carrier with the default scenario (issue 13, reproduction 7).

Three attacks from 127.0.0.2 on one carrier, in this order: 20,000 wrong passwords pipelined on one
connection; 10 s of reconnect-and-guess, one bind at a time; 10 s of the same from PARALLEL
connections at once. Prints the answers, their rate, and the refused-bind audit rows (the repeats
are counted into one row per interval: the rows are counted after a forced count at the end).
Run: .venv/bin/python bench/bind_guessing.py [PARALLEL]   (default 100)
"""

from __future__ import annotations

import asyncio
import struct
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.carrier.smsc import Smsc  # noqa: E402

SOURCE = "127.0.0.2"


def bind_transmitter(sequence: int, password: bytes) -> bytes:
    body = b"qa\0" + password + b"\0\0\x34\x00\x00\0"  # SMPP 3.4 4.1.1, written by hand
    return struct.pack(">IIII", 16 + len(body), 2, 0, sequence) + body


async def answers(reader: asyncio.StreamReader, n: int, timeout: float) -> tuple[int, float]:
    """(PDUs read, seconds of silence waited at the end) until n, EOF or `timeout` of silence."""
    got = 0
    try:
        while got < n:
            header = await asyncio.wait_for(reader.readexactly(16), timeout)
            await reader.readexactly(struct.unpack(">I", header[:4])[0] - 16)
            got += 1
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    except asyncio.TimeoutError:
        return got, timeout
    return got, 0.0


async def guesser(port: int, seconds: float, started: float) -> None:
    while time.perf_counter() - started < seconds:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(SOURCE, 0))
        sequence = 0
        while time.perf_counter() - started < seconds:
            sequence += 1
            writer.write(bind_transmitter(sequence, b"x"))
            if not (await answers(reader, 1, 5))[0]:
                break
        writer.close()


def refusals(rows: list[dict], since: int) -> str:
    statuses: Counter[str] = Counter()
    written = 0
    for row in rows[since:]:
        if row["action"] == "bind.refused":
            written += 1
            statuses[row["status"]] += row.get("count", 1)
    return f"{written} audit rows for {dict(statuses)}"


async def main(parallel: int) -> None:
    smsc = Smsc()
    rows: list[dict] = []
    smsc.audit_listeners.append(rows.append)
    await smsc.start("127.0.0.1", 0)
    guard = getattr(smsc, "bind_guard", None)  # absent before bind protection: runs on older trees too

    reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port, local_addr=(SOURCE, 0))
    t = time.perf_counter()
    writer.write(b"".join(bind_transmitter(i + 1, b"g%05d" % i) for i in range(20_000)))
    got, idle = await answers(reader, 20_000, 3)
    elapsed = time.perf_counter() - t - idle
    closed = reader.at_eof()
    writer.close()
    if guard is not None:
        guard.tick(time.monotonic(), force=True)
    print(f"20,000 pipelined on one connection: {got:,} answered in {elapsed:.3f} s "
          f"({got / max(elapsed, 1e-9):,.0f}/s), closed by the carrier: {closed}; {refusals(rows, 0)}")

    for n in (1, parallel):
        mark, failures = len(rows), smsc.stats.bind_failures
        t = time.perf_counter()
        await asyncio.gather(*(guesser(smsc.port, 10.0, t) for _ in range(n)))
        elapsed = time.perf_counter() - t
        if guard is not None:
            guard.tick(time.monotonic(), force=True)
        done = smsc.stats.bind_failures - failures
        print(f"10 s of reconnect-and-guess, {n} connection(s) at once: {done:,} refused "
              f"({done / elapsed:,.1f}/s); {refusals(rows, mark)}")
    await smsc.stop(grace=0.1)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
