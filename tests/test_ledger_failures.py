"""The ledger's failure paths (simulator/ledger/writer.py, simulator/ledger/process.py), as the API
promises them: a record is acknowledged only after its COMMIT, and a ledger that cannot be written
says so (LedgerWriteError, `failed`, ESME_RSYSERR, exit 2) instead of swallowing it.

- The writer process dies mid-run with commits pending (SIGSTOP, then SIGKILL: nothing it was handed
  is committed): `failed` names it, the pending callbacks never run, every later add raises
  LedgerWriteError, close() returns; through the carrier, the submits in flight are never acknowledged,
  the next one is refused with ESME_RSYSERR, and the ledger holds exactly what was acknowledged.
- The simulator goes away while the writer runs: what it was handed is committed and the run closed.
- A ledger that cannot be opened (a directory, a file that is not SQLite), a bad first frame, a bad
  durability value: LedgerWriteError or ValueError before anything is acknowledged; `carrier-sim serve`
  exits 2 with one line naming the ledger, and never listens.

Real writer processes, real SQLite files, real sockets; every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.esme import Esme
from simulator.ledger import schema
from simulator.ledger.process import ACK, LENGTH
from simulator.ledger.writer import LedgerWriteError, LedgerWriter
from simulator.smpp.constants import CommandStatus

from .conftest import carrier

S = CommandStatus
RUN = "run-1"


def message_row(message_id: str) -> tuple:
    """A messages row in the schema's column order (an accepted submit, not final yet)."""
    values = {"run_id": RUN, "message_id": message_id, "account": "qa", "bind_id": 1, "source": "1000",
              "destination": "8613800000001", "category": "notification", "data_coding": 0, "segments": 1,
              "submit_time": 1_790_000_000.0, "submit_status": 0, "responded": 1, "sla_class": "pending",
              "reason": "", "decided_by": "test"}
    assert set(values) == set(schema.MESSAGE_COLUMNS), schema.MESSAGE_COLUMNS
    return tuple(values[c] for c in schema.MESSAGE_COLUMNS)


def final_row(message_id: str) -> tuple:
    values = {"run_id": RUN, "message_id": message_id, "destination": "8613800000001", "final_state": "DELIVRD",
              "error_code": "000", "done_time": 1_790_000_001.0, "sla_class": "delivered", "reason": ""}
    assert set(values) == set(schema.FINAL_COLUMNS), schema.FINAL_COLUMNS
    return tuple(values[c] for c in schema.FINAL_COLUMNS)


def committed(path: Path, table: str, column: str = "message_id") -> list:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(f"SELECT {column} FROM {table} ORDER BY rowid")]
    finally:
        conn.close()


async def until(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.01)


async def handed_over() -> None:
    """One turn of the event loop: rows added in this turn are written to the writer's pipe then
    (LedgerWriter._add schedules the hand-over with call_soon, which runs before this task resumes)."""
    await asyncio.sleep(0)


# ----------------------------------------------------------------------- the writer dies mid-run
async def test_a_writer_killed_with_commits_pending_fails_and_acknowledges_nothing_it_did_not_commit(tmp_path):
    path = tmp_path / "ledger.sqlite"
    writer = LedgerWriter(path, run_id=RUN)
    await writer.start()
    acked: list[str] = []
    writer.add_message(message_row("m1"), acked.append, "m1")
    await until(lambda: acked == ["m1"], "the first commit's acknowledgement")
    os.kill(writer.pid, signal.SIGSTOP)  # it reads nothing more: the next batch stays uncommitted
    try:
        writer.add_message(message_row("m2"), acked.append, "m2")
        writer.add_final(final_row("m1"), acked.append, "final m1")
        await handed_over()
    finally:
        os.kill(writer.pid, signal.SIGKILL)
    await until(lambda: writer.failed is not None, "the writer's death to be noticed")
    assert writer.failed.startswith("the ledger writer stopped"), writer.failed
    with pytest.raises(LedgerWriteError, match="failed: the ledger writer stopped"):
        writer.add_message(message_row("m3"), acked.append, "m3")
    with pytest.raises(LedgerWriteError):
        writer.add_audit(time.time(), "test", "pytest", {})
    await asyncio.wait_for(writer.close(), 30)
    assert writer.pid is None
    assert acked == ["m1"]  # the callbacks of what was never committed never ran
    assert committed(path, "messages") == ["m1"] and committed(path, "finals") == []
    assert committed(path, "runs", "ended_at") == [None]  # the run was never closed by the writer


async def test_after_the_writer_dies_the_carrier_refuses_submits_and_never_acknowledges_the_uncommitted(
        make_smsc, tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = LedgerWriter(path, run_id=RUN)
    smsc = await make_smsc(carrier(), ledger=ledger)
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    try:
        first = await esme.submit("8613800000001")
        assert first.status == S.ESME_ROK
        os.kill(ledger.pid, signal.SIGSTOP)
        try:
            in_flight = [esme.send_submit(f"86138000001{i:02d}") for i in range(5)]
            await until(lambda: smsc.stats.submits == 6, "the SMSC to take the five submits")
            await handed_over()
        finally:
            os.kill(ledger.pid, signal.SIGKILL)
        await until(lambda: ledger.failed is not None, "the carrier's ledger to fail")
        after = await esme.submit("8613800000002", timeout=10)
        assert after.status == S.ESME_RSYSERR
        # nothing that was never committed was acknowledged, whatever else became of it
        answered = [f.result().status for f in in_flight if f.done() and not f.exception()]
        assert S.ESME_ROK not in answered, answered
    finally:
        esme.close()
    assert committed(path, "messages") == [first.message_id]


# ----------------------------------------------------------------- the writer outlives the simulator
def frame(value: tuple) -> bytes:
    payload = marshal.dumps(value)
    return LENGTH.pack(len(payload)) + payload


def test_the_writer_commits_what_it_was_handed_when_the_simulator_is_gone(tmp_path):
    """Its acknowledgements then go nowhere (a broken pipe): it commits every batch, marks the run
    ended at the end of its input and exits 0."""
    path = tmp_path / "ledger.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "simulator.ledger.process", str(path), "commit"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(frame(("run", RUN, "node-1", "test", 7, "{}")))
        proc.stdin.flush()
        assert ACK.unpack(proc.stdout.read(ACK.size)) == (0,)  # ready
        proc.stdout.close()  # the simulator is gone: nobody reads the acknowledgements
        for batch, message_id in enumerate(["m1", "m2", "m3"], start=1):
            proc.stdin.write(frame(("batch", batch, [message_row(message_id)], [final_row(message_id)], [], [])))
            proc.stdin.flush()
        proc.stdin.close()
        assert proc.wait(30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert committed(path, "messages") == ["m1", "m2", "m3"] and committed(path, "finals") == ["m1", "m2", "m3"]
    (ended,) = committed(path, "runs", "ended_at")
    assert ended is not None


def test_a_writer_whose_first_frame_is_not_the_run_refuses_to_start(tmp_path):
    path = tmp_path / "ledger.sqlite"
    result = subprocess.run([sys.executable, "-m", "simulator.ledger.process", str(path), "commit"],
                            input=frame(("batch", 1, [message_row("m1")], [], [], [])), capture_output=True,
                            timeout=30)
    assert result.returncode == 1 and result.stdout == b""  # no "ready" acknowledgement
    assert result.stderr.decode().strip() == (f"cannot open ledger {path}: the first frame must describe the run")
    assert committed(path, "messages") == []


# ------------------------------------------------------------------ a ledger that cannot be opened
@pytest.mark.parametrize("kind", ["a directory", "not a database"])
async def test_a_ledger_that_cannot_be_opened_raises_ledger_error_at_start(tmp_path, kind):
    path = tmp_path / "ledger.sqlite"
    if kind == "a directory":
        path.mkdir()
        reason = "unable to open database file"
    else:
        path.write_bytes(b"these are not the octets of a SQLite database\n" * 100)
        reason = "file is not a database"
    writer = LedgerWriter(path, run_id=RUN)
    with pytest.raises(LedgerWriteError) as raised:
        await asyncio.wait_for(writer.start(), 60)
    assert str(raised.value) == f"cannot open ledger {path}: {reason}"
    await asyncio.wait_for(writer.close(), 30)  # reaps the writer process that refused
    assert writer.pid is None
    if kind == "not a database":
        assert path.read_bytes().startswith(b"these are not")  # left as it was


def serve(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    ready = cwd / "serve.ready"
    result = subprocess.run([sys.executable, "-m", "simulator.cli", "serve", "--listen", "127.0.0.1:0",
                             "--control", "off", "--ready-file", str(ready), *args],
                            capture_output=True, text=True, timeout=60, cwd=cwd)
    assert not ready.exists(), "it was listening"
    return result


def test_serve_with_a_ledger_it_cannot_open_exits_2_naming_it(tmp_path):
    path = tmp_path / "ledger.sqlite"
    path.mkdir()
    result = serve("--ledger", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: cannot open ledger {path}: unable to open database file"
    assert "Traceback" not in result.stdout + result.stderr


def test_serve_with_a_ledger_under_a_file_names_the_ledger_not_the_listen_address(tmp_path):
    (tmp_path / "file").write_text("a file, not a folder\n")
    path = tmp_path / "file" / "ledger.sqlite"
    result = serve("--ledger", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot listen" not in result.stderr and str(path) in result.stderr, result.stderr


# --------------------------------------------------------------------------- a bad durability value
def test_a_bad_durability_is_refused_before_any_process_or_file(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with pytest.raises(ValueError, match=r"durability must be one of commit, fsync, async, got 'sometimes'"):
        LedgerWriter(path, run_id=RUN, durability="sometimes")  # type: ignore[arg-type]
    assert not path.exists()


def test_the_writer_process_refuses_a_bad_durability_without_acknowledging_anything(tmp_path):
    path = tmp_path / "ledger.sqlite"
    result = subprocess.run([sys.executable, "-m", "simulator.ledger.process", str(path), "sometimes"],
                            input=frame(("run", RUN, "node-1", "test", 7, "{}")), capture_output=True, timeout=30)
    assert result.returncode == 1 and result.stdout == b""
    assert result.stderr.decode().strip() == f"cannot open ledger {path}: 'sometimes'"


def test_serve_refuses_a_bad_durability_with_exit_2_and_the_choices(tmp_path):
    path = tmp_path / "ledger.sqlite"
    result = serve("--ledger", str(path), "--durability", "sometimes", cwd=tmp_path)
    assert result.returncode == 2
    assert "Invalid value for '--durability': 'sometimes' is not one of 'commit', 'fsync', 'async'." in result.stderr
    assert not path.exists()
