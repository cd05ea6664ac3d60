"""Failing closed, step by step (simulator/ledger/outage.py), against the test double of the writer
process from test_mutants_writer.py: the double answers a batch with "rolled back" (FAILED | id, then
the reason) or with an ack only when the test says so, so which callback or fallback runs, what is
retried and what is refused is checked exactly, not by timing. Also the summed-up log lines
(simulator/logsummary.py) and, through a real carrier, ESME_RMSGQFUL while the writer is behind and
the dropped-receipt lines.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import time

import pytest

from simulator.esme import Esme
from simulator.ledger.process import ACK, FAILED, LENGTH
from simulator.ledger.writer import LedgerBusy, LedgerUnavailable, LedgerWriteError, LedgerWriter
from simulator.logsummary import LogSummary
from simulator.smpp.constants import CommandStatus

from .conftest import carrier
from .ledger_rows import final, message
from .test_mutants_writer import FakeWriterProcess, spawner, turns  # noqa: F401 - spawner is a fixture

S = CommandStatus
RUN = "run-1"
FULL = "OperationalError: database or disk is full"
MESSAGES, FINALS, DELIVERIES, AUDIT = 2, 3, 4, 5  # a batch frame: ("batch", id, messages, finals, deliveries, audit)


def roll_back(proc: FakeWriterProcess, batch: int, reason: str = FULL) -> None:
    text = reason.encode()
    proc.stdout.feed_data(ACK.pack(FAILED | batch) + LENGTH.pack(len(text)) + text)


async def until(condition, what: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.005)


def audit_actions(batch: tuple) -> list[str]:
    return [row[2] for row in batch[AUDIT]]


async def failing_writer(tmp_path, spawner, **kwargs) -> LedgerWriter:  # noqa: F811
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN, probe_s=(0.01, 0.04), **kwargs)
    await writer.start()
    return writer


# ------------------------------------------------------------------ a rolled-back commit
async def test_a_rolled_back_commit_gives_up_the_waiting_submit_and_holds_every_other_row(tmp_path, spawner):  # noqa: F811
    writer = await failing_writer(tmp_path, spawner)
    durable, lost, finals = [], [], []
    writer.add_message(message("m1"), durable.append, "m1", lost.append)
    writer.add_final(final("m0"), finals.append, "f0")
    writer.add_audit(1.0, "bind", "peer", {})
    await turns()
    roll_back(spawner.proc, 1)
    await turns()
    assert (durable, lost, finals) == ([], ["m1"], [])  # answered ESME_RSYSERR by its owner, never 0
    assert writer.failing == FULL and writer.failed is None
    # while failing: a submit is refused at once; other rows are held, never raised
    with pytest.raises(LedgerUnavailable, match="cannot write: OperationalError: database or disk is full"):
        writer.add_message(message("m2"), durable.append, "m2", lost.append)
    writer.add_audit(2.0, "bind", "peer", {})
    writer.add_message(message("refused-row"))
    assert len(spawner.proc.batches) == 1  # nothing is handed over but the probe
    await until(lambda: len(spawner.proc.batches) == 2, "the probe")
    probe = spawner.proc.batches[1]
    assert [r[1] for r in probe[MESSAGES]] == ["refused-row"]  # m1 is not retried: it was given up
    assert [r[1] for r in probe[FINALS]] == ["m0"]
    assert audit_actions(probe) == ["ledger.failing", "bind", "bind"]
    spawner.proc.ack(2)
    await turns()
    assert writer.failing is None and finals == ["f0"] and durable == [] and lost == ["m1"]
    await until(lambda: len(spawner.proc.batches) == 3, "the resumed entry")
    (resumed,) = spawner.proc.batches[2][AUDIT]
    assert resumed[2] == "ledger.resumed"
    details = json.loads(resumed[4])
    assert (details["refused"], details["given_up"], details["dropped"], details["reason"]) == (1, 1, 0, FULL)
    # serving again: a submit waits for its commit as before
    writer.add_message(message("m3"), durable.append, "m3", lost.append)
    await turns()
    spawner.proc.ack(4)
    await turns()
    assert durable == ["m3"]


async def test_a_probe_that_fails_again_is_retried_with_the_same_rows_after_a_longer_delay(tmp_path, spawner):  # noqa: F811
    writer = await failing_writer(tmp_path, spawner)
    writer.add_audit(1.0, "bind", "peer", {})
    await turns()
    roll_back(spawner.proc, 1)
    await until(lambda: len(spawner.proc.batches) == 2, "the first probe")
    first = spawner.proc.batches[1]
    failed_at = time.monotonic()
    roll_back(spawner.proc, 2)
    await until(lambda: len(spawner.proc.batches) == 3, "the second probe")
    assert time.monotonic() - failed_at >= 0.02 * 0.9  # the delay doubled from 0.01 s
    assert spawner.proc.batches[2][2:] == first[2:]  # the same rows, nothing lost, nothing added
    assert writer.failing == FULL
    spawner.proc.ack(3)
    await turns()
    assert writer.failing is None


async def test_while_failing_rows_over_the_hold_limit_are_counted_and_a_waiting_one_refused(tmp_path, spawner):  # noqa: F811
    writer = await failing_writer(tmp_path, spawner, hold_limit=3)
    writer.add_audit(1.0, "bind", "peer", {})
    await turns()
    roll_back(spawner.proc, 1)
    await turns()  # held: ledger.failing and the bind
    writer.add_audit(2.0, "bind", "peer", {})  # the third
    writer.add_audit(3.0, "bind", "peer", {})  # dropped, counted
    with pytest.raises(LedgerUnavailable, match="holds 3 rows already"):
        writer.add_final(final("m1"), lambda _: None, None)
    assert writer.outage["dropped"] == 2
    await until(lambda: len(spawner.proc.batches) == 2, "the probe")
    assert audit_actions(spawner.proc.batches[1]) == ["ledger.failing", "bind", "bind"]


async def test_a_writer_behind_by_more_than_max_backlog_rows_refuses_waiting_submits_as_busy(tmp_path, spawner):  # noqa: F811
    writer = await failing_writer(tmp_path, spawner, max_backlog=2)
    durable = []
    for m in ("m1", "m2", "m3"):
        writer.add_message(message(m), durable.append, m, lambda _: None)
    await turns()  # handed over, not acknowledged: 3 rows behind
    with pytest.raises(LedgerBusy, match="3 rows wait for their commit"):
        writer.add_message(message("m4"), durable.append, "m4", lambda _: None)
    writer.add_message(message("no-one-waits"))  # a row without a fallback is never refused for this
    assert writer.failing is None and writer.outage["busy"] == 1
    spawner.proc.ack(1)
    await turns()
    writer.add_message(message("m5"), durable.append, "m5", lambda _: None)
    assert durable == ["m1", "m2", "m3"]


async def test_a_writer_that_dies_answers_the_waiting_submits_through_their_fallback(tmp_path, spawner):  # noqa: F811
    writer = await failing_writer(tmp_path, spawner)
    durable, lost = [], []
    writer.add_message(message("m1"), durable.append, "m1", lost.append)
    writer.add_final(final("m0"), durable.append, "f0")  # no fallback: never called
    await turns()
    spawner.proc.exit(-9)
    await until(lambda: writer.failed is not None, "the failure")
    assert (durable, lost) == ([], ["m1"])
    with pytest.raises(LedgerWriteError):
        writer.add_audit(1.0, "bind", "peer", {})  # a lasting failure: nothing is held for it


async def test_close_while_failing_hands_over_what_is_held(tmp_path, spawner):  # noqa: F811
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN, probe_s=(60, 60))  # no probe in this test
    await writer.start()
    writer.add_audit(1.0, "bind", "peer", {})
    await turns()
    roll_back(spawner.proc, 1)
    await turns()
    await asyncio.wait_for(writer.close(), 5)
    assert audit_actions(spawner.proc.batches[-1]) == ["ledger.failing", "bind"]


# ------------------------------------------------------------------ the summed-up log lines
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_repeated_events_make_one_line_at_once_then_one_per_period(caplog):
    clock = Clock()
    summary = LogSummary(logging.getLogger("test.summary"), "ledger", "write failed", "writes failed",
                         every_s=10, clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.summary"):
        summary.add("disk full")
        for _ in range(12_344):
            clock.now += 0.0005
            summary.add("disk full")
        clock.now = 110.0
        summary.add("disk still full")
        clock.now = 111.0
        summary.add("x", n=5)
        summary.flush()
        summary.flush()  # nothing pending: no line
    assert [r.getMessage() for r in caplog.records] == [
        "ledger: 1 write failed: disk full",
        "ledger: 12,345 writes failed in the last 10 s: disk still full",
        "ledger: 5 writes failed in the last 1 s: x",
    ]
    assert (summary.total, summary.lines) == (1 + 12_344 + 1 + 5, 3)


async def test_a_pending_summary_is_written_by_its_timer_without_another_event(caplog):
    summary = LogSummary(logging.getLogger("test.summary"), "carrier", "receipt dropped", "receipts dropped",
                         every_s=0.05)
    with caplog.at_level(logging.WARNING, logger="test.summary"):
        summary.add("expired")
        summary.add("expired")
        summary.add("expired")
        await until(lambda: len(caplog.records) == 2, "the timer's line", timeout=2)
    assert caplog.records[1].getMessage().startswith("carrier: 2 receipts dropped in the last 0 s: expired")


# ------------------------------------------------------------------ through a real carrier
async def test_a_writer_that_is_only_slow_gets_submits_refused_with_msgqful_and_answers_the_rest(
        make_smsc, tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = LedgerWriter(path, run_id=RUN, max_backlog=50)
    smsc = await make_smsc(carrier(), ledger=ledger)
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    os.kill(ledger.pid, signal.SIGSTOP)  # it commits nothing for now: every row stays behind
    try:
        waiting = [esme.send_submit(f"86138000{i:04d}") for i in range(100)]
        await until(lambda: smsc.stats.submits == 100, "the first 100 submits to be taken")
        await asyncio.sleep(0.05)  # handed over: 100 rows wait for their commit
        refused = await asyncio.wait_for(asyncio.gather(*[esme.send_submit(f"86139000{i:04d}") for i in range(100)]), 10)
        assert {r.status for r in refused} == {S.ESME_RMSGQFUL}
        assert not any(f.done() for f in waiting)  # not answered before their commit
    finally:
        os.kill(ledger.pid, signal.SIGCONT)
    accepted = await asyncio.wait_for(asyncio.gather(*waiting), 10)
    assert {r.status for r in accepted} == {S.ESME_ROK}
    assert (await esme.submit("8613800000001")).status == S.ESME_ROK
    esme.close()
    await smsc.stop(grace=0.2)
    conn = sqlite3.connect(path)
    in_ledger = {m for (m,) in conn.execute("SELECT message_id FROM messages")}
    conn.close()
    assert {r.message_id for r in accepted} <= in_ledger


async def test_dropped_receipts_are_logged_in_a_summed_up_line_not_one_each(make_smsc, caplog):
    smsc = await make_smsc(carrier(max_queued_per_account=10))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "transmitter")  # nobody to deliver to
    caplog.set_level(logging.WARNING, logger="carrier_sim")
    sent = [esme.send_submit(f"86138000{i:04d}", registered_delivery=1) for i in range(500)]
    assert {r.status for r in await asyncio.wait_for(asyncio.gather(*sent), 20)} == {S.ESME_ROK}
    await until(lambda: sum(a.router.stats.overflowed for a in smsc.accounts.values()) >= 490, "the overflow", 20)
    esme.close()
    await smsc.stop(grace=0.2)  # writes the line still pending
    dropped = sum(a.router.stats.overflowed + a.router.stats.expired for a in smsc.accounts.values())
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert 1 <= len(lines) <= 2, lines
    assert lines[0].startswith("carrier: 1 receipt or MO dropped: last: receipt for "), lines
    assert lines[0].endswith(" overflowed"), lines
    counts = [int(line.split()[1].replace(",", "")) for line in lines]
    assert sum(counts) == dropped >= 490, (lines, dropped)  # every one counted, in one line or two
