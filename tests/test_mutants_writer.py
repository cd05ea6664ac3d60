"""The ledger writer's acknowledgement path, against a test double of its writer process: the
double keeps the frames it is sent and acknowledges a batch only when the test says so, so
"no callback before the commit of its batch" is checked exactly, not by timing. Written to kill
the mutants `make mutants` found surviving in simulator/ledger/writer.py (docs/mutation.md):
batch numbering, which acks release which callbacks, what a stopped writer process leaves behind,
close(), and start()'s failures. One test runs the real writer process (a ledger it cannot open).

The double speaks the protocol of simulator/ledger/process.py: length-prefixed marshal frames in,
8-octet batch ids out (0 = ready)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import marshal
from pathlib import Path

import pytest

from simulator.ledger.process import ACK, LENGTH
from simulator.ledger.writer import LedgerWriteError, LedgerWriter

from .ledger_rows import delivery, final, message

RUN = "run-1"


class FakeStdin:
    def __init__(self, proc: FakeWriterProcess) -> None:
        self.proc = proc
        self.data = bytearray()
        self.closing = False
        self.broken: Exception | None = None

    def write(self, data: bytes) -> None:
        if self.broken is not None:
            raise self.broken
        self.data += data

    async def drain(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        if self.proc.finish_on_eof:  # as the real process: commit what is left, ack it, exit 0
            batches = [f[1] for f in self.proc.frames if f[0] == "batch"]
            if batches:
                self.proc.ack(batches[-1])
            self.proc.exit(0)


class FakeWriterProcess:
    """Stands in for `python -m simulator.ledger.process`."""

    def __init__(self, *, ready: int | None = 0, finish_on_eof: bool = True, vanishes: bool = False) -> None:
        self.stdin = FakeStdin(self)
        self.stdout = asyncio.StreamReader()
        self.stderr = asyncio.StreamReader()
        self.returncode: int | None = None
        self.pid = 2**22 + 1  # above any pid_max: never a real process
        self.finish_on_eof = finish_on_eof
        self.killed = False
        self.vanishes = vanishes  # it ends by itself just as it is killed: kill() finds no process
        self._exited = asyncio.Event()
        if ready is not None:
            self.stdout.feed_data(ACK.pack(ready))

    @property
    def frames(self) -> list[tuple]:
        out, data = [], bytes(self.stdin.data)
        while data:
            (size,) = LENGTH.unpack_from(data)
            out.append(marshal.loads(data[LENGTH.size:LENGTH.size + size]))
            data = data[LENGTH.size + size:]
        return out

    @property
    def batches(self) -> list[tuple]:
        return [f for f in self.frames if f[0] == "batch"]

    def ack(self, batch: int) -> None:
        self.stdout.feed_data(ACK.pack(batch))

    def exit(self, code: int, stderr: bytes = b"") -> None:
        if self.returncode is not None:
            return
        self.returncode = code
        self.stderr.feed_data(stderr)
        self.stderr.feed_eof()
        self.stdout.feed_eof()
        self._exited.set()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.vanishes:
            self.exit(0)
            raise ProcessLookupError(3, "No such process")
        self.killed = True
        self.exit(-9)


class Spawner:
    def __init__(self) -> None:
        self.procs: list[FakeWriterProcess] = []
        self.options: dict = {}
        self.argv: tuple = ()

    async def __call__(self, *argv: str, **kwargs) -> FakeWriterProcess:
        self.argv = argv
        proc = FakeWriterProcess(**self.options)
        self.procs.append(proc)
        return proc

    @property
    def proc(self) -> FakeWriterProcess:
        (proc,) = self.procs
        return proc


@pytest.fixture
def spawner(monkeypatch) -> Spawner:
    spawner = Spawner()
    monkeypatch.setattr(asyncio, "create_subprocess_exec", spawner)
    return spawner


async def turns(n: int = 10) -> None:
    """Let the event loop run its ready callbacks (hand-over, ack reading) a few times."""
    for _ in range(n):
        await asyncio.sleep(0)


async def started(tmp_path: Path, spawner: Spawner, **kwargs) -> LedgerWriter:
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN, **kwargs)
    await writer.start()
    return writer


# ------------------------------------------------------------------ start
async def test_the_first_frame_describes_the_run_with_its_defaults(tmp_path, spawner):
    await started(tmp_path, spawner)
    assert spawner.argv[1:] == ("-m", "simulator.ledger.process", str(tmp_path / "ledger.sqlite"), "commit")
    assert spawner.proc.frames == [("run", RUN, "node-1", "default", 0, "{}")]


async def test_the_run_frame_carries_the_scenario_config_as_json(tmp_path, spawner):
    config = {"name": "x", "report_dir": Path("/reports/x")}  # a Path is written as its text
    await started(tmp_path, spawner, node_id="n2", scenario="x", seed=7, config=config)
    assert spawner.proc.frames == [("run", RUN, "n2", "x", 7, json.dumps({"name": "x", "report_dir": "/reports/x"}))]


async def test_start_creates_the_ledgers_directories(tmp_path, spawner):
    writer = LedgerWriter(tmp_path / "runs" / "2026" / "ledger.sqlite", run_id=RUN)
    await writer.start()
    assert (tmp_path / "runs" / "2026").is_dir()


async def test_a_writer_that_is_not_ready_properly_fails_the_start(tmp_path, spawner):
    spawner.options = {"ready": 5}
    with pytest.raises(LedgerWriteError) as info:
        await started(tmp_path, spawner)
    assert str(info.value) == f"ledger writer for {tmp_path / 'ledger.sqlite'} did not start properly"


async def test_a_writer_that_exits_before_it_is_ready_fails_the_start_with_its_stderr(tmp_path, spawner):
    spawner.options = {"ready": None}
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN)
    starting = asyncio.ensure_future(writer.start())
    await turns()
    spawner.proc.exit(1, b"  cannot open ledger: disk \xff full\n")
    with pytest.raises(LedgerWriteError) as info:
        await starting
    assert str(info.value) == "cannot open ledger: disk \ufffd full"


async def test_a_writer_that_exits_silently_before_it_is_ready_says_which_ledger(tmp_path, spawner):
    spawner.options = {"ready": None}
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN)
    starting = asyncio.ensure_future(writer.start())
    await turns()
    spawner.proc.exit(1)
    with pytest.raises(LedgerWriteError) as info:
        await starting
    assert str(info.value) == f"cannot start the ledger writer for {tmp_path / 'ledger.sqlite'}"


async def test_the_real_writer_process_reports_why_it_cannot_open_the_ledger(tmp_path):
    (tmp_path / "ledger.sqlite").mkdir()  # a directory: SQLite cannot open it
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN)
    with pytest.raises(LedgerWriteError) as info:
        await writer.start()
    assert str(info.value).startswith(f"cannot open ledger {tmp_path / 'ledger.sqlite'}: ")
    await writer.close()  # the process has exited; this reaps it


async def test_a_folder_that_cannot_be_created_fails_the_start_naming_the_ledger(tmp_path, spawner):
    (tmp_path / "a-file").write_text("")
    path = tmp_path / "a-file" / "runs" / "ledger.sqlite"
    writer = LedgerWriter(path, run_id=RUN)
    with pytest.raises(LedgerWriteError) as info:
        await writer.start()
    assert str(info.value) == f"cannot open ledger {path}: cannot create its folder: Not a directory"
    assert isinstance(info.value.__cause__, NotADirectoryError)
    assert spawner.procs == [] and writer.pid is None  # no writer process started


async def test_a_failed_start_kills_the_writer_process_and_waits_for_it(tmp_path, spawner):
    spawner.options = {"ready": 5}  # running, but not ready properly
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN)
    with pytest.raises(LedgerWriteError):
        await writer.start()
    assert spawner.proc.killed and spawner.proc.returncode == -9
    assert writer.pid is None
    await writer.close()  # nothing left to close
    assert spawner.proc.stdin.closing is False


async def test_a_writer_that_already_exited_is_reaped_without_a_signal(tmp_path, spawner):
    spawner.options = {"ready": None}
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN)
    starting = asyncio.ensure_future(writer.start())
    await turns()
    spawner.proc.exit(1, b"no")
    with pytest.raises(LedgerWriteError):
        await starting
    assert not spawner.proc.killed and spawner.proc.returncode == 1
    assert writer.pid is None


async def test_a_writer_gone_when_it_is_killed_after_a_failed_start_still_gives_the_ledger_error(tmp_path, spawner):
    spawner.options = {"ready": 5, "vanishes": True}
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN)
    with pytest.raises(LedgerWriteError) as info:
        await writer.start()
    assert str(info.value) == f"ledger writer for {tmp_path / 'ledger.sqlite'} did not start properly"
    assert spawner.proc.returncode == 0 and writer.pid is None


async def test_a_supervisor_runs_the_ack_reader_as_ledger_acks(tmp_path, spawner):
    spawned = []

    def spawn(name, run):
        spawned.append(name)
        return asyncio.get_running_loop().create_task(run())

    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN)
    writer.spawn = spawn
    await writer.start()
    assert spawned == ["ledger-acks"]
    told = []
    writer.add_message(message("m1"), told.append, "m1")
    await turns()
    spawner.proc.ack(1)
    await turns()
    assert told == ["m1"]  # the supervised reader is the one reading the acks
    await writer.close()


async def test_a_start_cancelled_before_the_writer_is_ready_can_still_be_closed(tmp_path, spawner):
    spawner.options = {"ready": None}
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN)
    starting = asyncio.ensure_future(writer.start())
    await turns()
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    await writer.close()  # no ack reader yet: close ends the process and returns
    assert spawner.proc.stdin.closing and spawner.proc.returncode == 0
    assert writer.pid is None and writer.failed is None


def test_an_unknown_durability_is_refused_by_name():
    with pytest.raises(ValueError) as info:
        LedgerWriter("x.sqlite", run_id=RUN, durability="eventually")  # type: ignore[arg-type]
    assert str(info.value) == "durability must be one of commit, fsync, async, got 'eventually'"


def test_adding_before_start_says_to_start_the_writer_first(tmp_path):
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN)
    with pytest.raises(AssertionError, match=r"^start\(\) the writer first$"):
        writer.add_delivery(delivery("m1"))


# ------------------------------------------------------------------ durable before acknowledged
@pytest.mark.parametrize("durability", ["commit", "fsync"])
async def test_a_commit_callback_runs_only_when_the_writer_acknowledges_its_batch(tmp_path, spawner, durability):
    writer = await started(tmp_path, spawner, durability=durability)
    told = []
    writer.add_message(message("m1"), told.append, "m1")
    assert told == []
    await turns()
    assert spawner.proc.batches == [("batch", 1, [message("m1")], [], [], [])]
    assert told == []  # handed over, not yet committed
    spawner.proc.ack(1)
    await turns()
    assert told == ["m1"]


async def test_async_durability_calls_back_at_once_with_the_callers_argument(tmp_path, spawner):
    writer = await started(tmp_path, spawner, durability="async")
    told = []
    writer.add_message(message("m1"), told.append, "m1")
    writer.add_final(final("m1"), told.append, "f1")
    assert told == ["m1", "f1"]


async def test_rows_added_in_one_loop_turn_go_as_one_batch_in_their_slots(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    writer.add_message(message("m1"))
    writer.add_final(final("m1"))
    writer.add_delivery(delivery("m1"))
    writer.add_audit(1_790_000_000.0, "bind", "qa", {"bind": "transceiver"})
    writer.add_message(message("m2"))
    await turns()
    assert spawner.proc.batches == [("batch", 1, [message("m1"), message("m2")], [final("m1")], [delivery("m1")],
                                     [(RUN, 1_790_000_000.0, "bind", "qa", '{"bind": "transceiver"}')])]


async def test_audit_details_that_json_cannot_encode_are_written_as_their_text(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    writer.add_audit(2.0, "fault.change", "alice", {"file": Path("/scenarios/x.yaml"), "probability": 0.2})
    await turns()
    (batch,) = spawner.proc.batches
    assert batch[5] == [(RUN, 2.0, "fault.change", "alice", '{"file": "/scenarios/x.yaml", "probability": 0.2}')]


@pytest.mark.parametrize("add", ["delivery", "audit"])
async def test_a_batch_of_deliveries_or_audit_rows_alone_is_handed_over(tmp_path, spawner, add):
    writer = await started(tmp_path, spawner)
    if add == "delivery":
        writer.add_delivery(delivery("m1"))
    else:
        writer.add_audit(1.0, "unbind", "qa", {})
    await turns()
    assert len(spawner.proc.batches) == 1


async def test_batches_are_numbered_in_order_and_an_ack_releases_every_batch_up_to_it(tmp_path, spawner):
    """The writer process commits whatever batches are waiting and acknowledges the last one."""
    writer = await started(tmp_path, spawner)
    told = []
    for i in (1, 2, 3):
        writer.add_message(message(f"m{i}"), told.append, f"m{i}")
        await turns()
    assert [b[1] for b in spawner.proc.batches] == [1, 2, 3]
    spawner.proc.ack(2)
    await turns()
    assert told == ["m1", "m2"]
    spawner.proc.ack(3)
    await turns()
    assert told == ["m1", "m2", "m3"]


async def test_an_early_ack_releases_nothing_that_came_after_it(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    told = []
    writer.add_message(message("m1"), told.append, "m1")
    await turns()
    writer.add_final(final("m1"), told.append, "f1")
    await turns()
    spawner.proc.ack(1)
    await turns()
    assert told == ["m1"]  # f1's batch (2) is not committed yet


# ------------------------------------------------------------------ a writer that stops or cannot be written to
async def test_a_writer_that_stops_with_callbacks_waiting_fails_the_ledger_and_refuses_more_rows(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    told = []
    writer.add_message(message("m1"), told.append, "m1")
    await turns()
    spawner.proc.exit(1, b"sqlite3.OperationalError: disk I/O \xff error\n")
    await turns()
    assert writer.failed == "the ledger writer stopped: sqlite3.OperationalError: disk I/O \ufffd error"
    assert told == []  # never acknowledged, never answered
    with pytest.raises(LedgerWriteError) as info:
        writer.add_message(message("m2"))
    assert str(info.value) == (f"ledger {tmp_path / 'ledger.sqlite'} failed: the ledger writer stopped: "
                               "sqlite3.OperationalError: disk I/O \ufffd error")


async def test_a_writer_that_stops_silently_gives_no_reason(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    writer.add_message(message("m1"), lambda _: None)
    await turns()
    spawner.proc.exit(-9)
    await turns()
    assert writer.failed == "the ledger writer stopped: no reason given"


async def test_a_writer_that_exits_with_an_error_after_every_ack_still_fails_the_ledger(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    writer.add_message(message("m1"), lambda _: None)
    await turns()
    spawner.proc.ack(1)
    await turns()
    spawner.proc.exit(1, b"cannot mark the run ended")
    await turns()
    assert writer.failed == "the ledger writer stopped: cannot mark the run ended"


async def test_the_first_failure_is_the_one_reported_and_logged_once(tmp_path, spawner, caplog):
    writer = await started(tmp_path, spawner)
    spawner.proc.stdin.broken = BrokenPipeError("gone")
    with caplog.at_level(logging.ERROR, logger="carrier_sim.ledger"):
        writer.add_message(message("m1"))  # the hand-over, one loop turn later, is where writing fails
        assert writer.failed is None
        await turns()
        writer._fail("a later failure")  # noqa: SLF001
    assert writer.failed == "cannot write to the ledger writer: gone"
    assert [r.getMessage() for r in caplog.records] == [
        f"ledger {tmp_path / 'ledger.sqlite'}: cannot write to the ledger writer: gone; "
        "submits will be refused with ESME_RSYSERR"]


async def test_a_writer_that_dies_between_batches_fails_the_ledger(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    writer.add_message(message("m1"), lambda _: None)
    await turns()
    spawner.proc.ack(1)
    await turns()
    spawner.proc.stdout.feed_eof()  # killed: its pipes close first, its exit status is reaped later
    await turns()
    spawner.proc.exit(-9)
    await turns()  # the reason is read from the writer's stderr, which ends when it has exited
    assert writer.failed is not None  # finding F1 (docs/mutation.md), fixed: later submits are refused
    with pytest.raises(LedgerWriteError):
        writer.add_message(message("m2"), lambda _: None)


# ------------------------------------------------------------------ a commit callback that raises
def boom(arg):
    raise ValueError(f"bad {arg}")


async def test_a_callback_that_raises_goes_to_the_handler_and_the_later_callbacks_still_run(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    reported, told = [], []
    writer.on_callback_error = lambda callback, arg, exc: reported.append((callback, arg, exc))
    writer.add_message(message("m1"), boom, "m1")
    writer.add_message(message("m2"), told.append, "m2")
    await turns()
    spawner.proc.ack(1)
    await turns()
    ((callback, arg, exc),) = reported
    assert callback is boom and arg == "m1"
    assert isinstance(exc, ValueError) and str(exc) == "bad m1"
    assert told == ["m2"] and writer.failed is None


async def test_a_callback_that_raises_with_no_handler_is_logged_and_the_reader_goes_on(tmp_path, spawner, caplog):
    writer = await started(tmp_path, spawner)
    told = []
    with caplog.at_level(logging.ERROR, logger="carrier_sim.ledger"):
        writer.add_message(message("m1"), boom, "m1")
        await turns()
        spawner.proc.ack(1)
        await turns()
        writer.add_message(message("m2"), told.append, "m2")
        await turns()
        spawner.proc.ack(2)
        await turns()
    (record,) = caplog.records
    assert record.getMessage() == f"ledger {tmp_path / 'ledger.sqlite'}: a commit callback (boom) raised; going on"
    assert record.exc_info[0] is ValueError and str(record.exc_info[1]) == "bad m1"
    assert told == ["m2"] and writer.failed is None


async def test_a_callback_without_a_name_is_logged_as_itself(tmp_path, spawner, caplog):
    writer = await started(tmp_path, spawner)
    callback = functools.partial(boom)
    with caplog.at_level(logging.ERROR, logger="carrier_sim.ledger"):
        writer.add_message(message("m1"), callback, "m1")
        await turns()
        spawner.proc.ack(1)
        await turns()
    (record,) = caplog.records
    assert record.getMessage() == f"ledger {tmp_path / 'ledger.sqlite'}: a commit callback ({callback!r}) raised; going on"


async def test_a_handler_that_raises_falls_back_to_the_log_with_its_own_error(tmp_path, spawner, caplog):
    writer = await started(tmp_path, spawner)
    told = []

    def handler(callback, arg, exc):
        raise RuntimeError(f"cannot report {arg}")

    writer.on_callback_error = handler
    with caplog.at_level(logging.ERROR, logger="carrier_sim.ledger"):
        writer.add_message(message("m1"), boom, "m1")
        writer.add_message(message("m2"), told.append, "m2")
        await turns()
        spawner.proc.ack(1)
        await turns()
    (record,) = caplog.records
    assert record.getMessage() == f"ledger {tmp_path / 'ledger.sqlite'}: a commit callback (boom) raised; going on"
    assert record.exc_info[0] is RuntimeError and str(record.exc_info[1]) == "cannot report m1"
    assert told == ["m2"] and writer.failed is None


# ------------------------------------------------------------------ the end of the writer's pipe
async def test_a_writer_that_dies_while_idle_before_any_batch_fails_the_ledger(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    spawner.proc.exit(-9)
    await turns()
    assert writer.failed == "the ledger writer stopped: no reason given"
    with pytest.raises(LedgerWriteError):
        writer.add_message(message("m1"), lambda _: None)


async def test_a_writer_that_exits_with_an_error_during_close_fails_the_ledger(tmp_path, spawner):
    spawner.options = {"finish_on_eof": False}
    writer = await started(tmp_path, spawner)
    closing = asyncio.ensure_future(writer.close())
    await turns()
    spawner.proc.exit(1, b"cannot mark the run ended")
    await closing
    assert writer.failed == "the ledger writer stopped: cannot mark the run ended"


async def test_the_writer_ending_its_pipe_during_close_is_not_a_failure(tmp_path, spawner):
    spawner.options = {"finish_on_eof": False}
    writer = await started(tmp_path, spawner)
    closing = asyncio.ensure_future(writer.close())
    await turns()
    spawner.proc.stdout.feed_eof()  # its pipe ends before its exit status is known
    await turns()
    spawner.proc.exit(0)
    await closing
    assert writer.failed is None


# ------------------------------------------------------------------ close
async def test_close_hands_over_what_is_left_and_returns_after_its_callbacks(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    told = []
    writer.add_message(message("m1"), told.append, "m1")
    await writer.close()
    assert spawner.proc.batches == [("batch", 1, [message("m1")], [], [], [])]
    assert spawner.proc.stdin.closing and spawner.proc.returncode == 0
    assert told == ["m1"]
    assert writer.failed is None and writer.pid is None


async def test_a_writer_that_never_started_has_no_pid_and_closes_without_doing_anything(tmp_path):
    writer = LedgerWriter(tmp_path / "ledger.sqlite", run_id=RUN)
    assert writer.pid is None
    await writer.close()
    assert writer.failed is None and not (tmp_path / "ledger.sqlite").exists()


async def test_close_with_nothing_added_writes_no_batch_and_a_second_close_does_nothing(tmp_path, spawner):
    writer = await started(tmp_path, spawner)
    await writer.close()
    await writer.close()
    assert spawner.proc.batches == []
    assert writer.failed is None


async def test_a_writer_that_does_not_finish_is_killed_after_the_timeout(tmp_path, spawner, caplog):
    spawner.options = {"finish_on_eof": False}
    writer = await started(tmp_path, spawner)
    with caplog.at_level(logging.ERROR, logger="carrier_sim.ledger"):
        await asyncio.wait_for(writer.close(timeout=0.05), 5)
    assert spawner.proc.killed
    assert caplog.records[0].getMessage() == (
        f"ledger writer for {tmp_path / 'ledger.sqlite'} did not finish in 0.05s; killing it")
