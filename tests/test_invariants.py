"""The invariants of DESIGN.md that a reviewer's mutations got past, tested over real sockets on
127.0.0.1 against a real ledger writer process and real SQLite files:

- durable before acknowledged: no submit_sm_resp (status 0), and no receipt, while the commit of
  its record is held back (the writer process is paused with SIGSTOP);
- a receipt only after its final state is committed (the real writer, with the carrier's view of
  the finals' commits held back by a test double until the test releases them);
- response before notification: in the raw byte stream of a transceiver, no deliver_sm about a
  message comes before the submit_sm_resp that gave its id;
- the suite runs on the real event loop: nothing in this process was patched by gevent, and no
  test module imports the harness's Locust modules in-process.

Mutations applied one at a time to simulator/ (each reverted afterwards), and what killed them
(counts are runs that failed out of runs tried, on a shared 2-core machine):

M1  "answer submit_sm before the ledger commit" (Smsc._answer: add the record without a callback
    and respond at once): test_no_submit_sm_resp_and_no_receipt_while_the_commit_is_held, 3/3;
    tests/test_ledger.py::test_kill_9_of_server_and_writer_loses_no_acknowledged_message, 30/30
    (the whole burst of 500 acknowledged submits missing from the ledger). Before it, the whole
    suite let M1 through.
M1w the same promise broken inside the writer (LedgerWriter._hand_over runs the commit callbacks
    when it hands the batch to the writer process instead of on its acknowledgement):
    test_no_submit_sm_resp_and_no_receipt_while_the_commit_is_held, 3/3; the kill -9 test 4/10
    (here the rows reach the pipe before the responses leave, so the writer often wins the race).
M2  "send a receipt before its final state is committed" (Smsc._record_final: queue the receipt,
    then add the final without a callback): test_no_receipt_goes_out_before_its_final_state_is_committed,
    3/3 (10/10 again at 0d32378). At 0eb662b also
    test_no_submit_sm_resp_and_no_receipt_while_the_commit_is_held 3/3 and
    test_no_deliver_sm_is_written_before_the_submit_sm_resp_that_gave_its_id 3/10 and 2/10; since
    notifications wait for their response (677b8c7) those two pass with M2 (0/10 each).
M4  "respond one scheduler tick after the commit" (Smsc._respond: every response through the
    timer wheel, as a delayed one is): at 0eb662b
    test_no_deliver_sm_is_written_before_the_submit_sm_resp_that_gave_its_id [0 ms] and [1 ms], 3/3;
    test_no_submit_sm_resp_and_no_receipt_while_the_commit_is_held, 3/3
    (after the release all five receipts overtook their responses). Since 677b8c7 a receipt
    cannot overtake its response, and no test here fails with M4 (0/3 at 0d32378); it is killed by
    tests/test_faults_link.py (a no_response fault's and a stall's responses come out of order).
M5  "import locust in a test module" (a temporary tests/test_zz_*.py with `import locust`):
    test_the_suite_runs_unpatched_by_gevent, test_async_tests_run_on_a_real_asyncio_event_loop
    (the loop's selector is gevent's) and test_no_test_module_imports_the_locust_modules_in_process.
    A module-level import anywhere in the suite runs at collection, before every test, so the first
    two see it whatever the order; an import inside a test function that runs after this module
    is seen only by the third (a static scan of tests/*.py).
Was a bug (issue 12), now fixed: with the ledger on, the ENROUTE notification (registered_delivery
0x10) was queued at submit and overtook the submit_sm_resp that waited for the commit (300 of 300).
Every deliver_sm about a message now waits until its response is written (Message.parked):
test_no_enroute_notification_is_written_before_its_submit_sm_resp, and
test_every_notification_follows_its_submit_sm_resp_in_every_durability_mode (5,000 each),
test_a_receiver_bind_gets_no_notification_before_the_submitter_got_its_response (a delayed response).
M6  (tests/test_metering.py) the fee summed in Decimal's default 28-digit context, as it was:
    the explicit @example of test_the_fee_is_the_accepted_segments_at_their_category_price_rounded_once
    and test_the_fee_is_rounded_half_up_once_per_cycle_not_per_category, every run.

The ten mutations of issue 10's table, each killed by a test that runs in under a second
(docs/mutation.md, "The ten mutations of issue 10", has the exact changes, every killing test,
their times, and variants of each mutation in the other place that carries the same promise):

 1  answer submit_sm before the ledger commit (= M1):
      test_no_submit_sm_resp_and_no_receipt_while_the_commit_is_held
      tests/test_ledger.py::test_kill_9_of_server_and_writer_loses_no_acknowledged_message
      tests/test_ledger_failures.py::
        test_after_the_writer_dies_the_carrier_refuses_submits_and_never_acknowledges_the_uncommitted
 2  reconcile ignores status mismatches between the client tally and the ledger:
      tests/test_mutants_reconcile.py::test_submit_counts_per_status_must_agree
      tests/test_mutants_reconcile.py::test_a_status_only_the_ledger_has_is_a_difference_too
 3  send a receipt before its final state is committed (= M2):
      test_no_receipt_goes_out_before_its_final_state_is_committed
      tests/test_hardening.py::
        test_a_commit_callback_that_raises_once_does_not_stop_the_acknowledgement_reader
 4  swap the default compensation tiers' vouchers:
      tests/test_ten_mutations.py::test_the_default_tiers_* (both)
      tests/test_report.py::test_the_report_bills_accepted_segments_and_compensates_a_missed_target
 5  one duplicate receipt too few:
      tests/test_ten_mutations.py::
        test_a_duplicated_receipt_arrives_once_plus_its_copies_and_other_accounts_get_one
      tests/test_faults_link.py::test_duplicate_receipt_fault_sends_the_final_receipt_again_with_the_same_id
 6  gate comparison `>=` turned into `<=`:
      tests/test_gates.py::test_at_least_passes_at_and_above_its_limit_only (and 18 more in
      test_gates.py and test_mutants_gates.py)
 7  error-ratio gate direction flipped:
      tests/test_gates.py::test_max_error_ratio_is_an_upper_bound_and_needs_answered_submits
      tests/test_mutants_gates.py::test_an_error_ratio_is_of_the_answered_submits_only
 8  pending counted as delivered:
      tests/test_metering.py::
        test_invalid_numbers_excluded_causes_and_pending_messages_are_left_out_of_the_denominator
      (and 10 more in test_metering.py, test_report.py, test_mutants_gates.py, test_ten_mutations.py)
 9  throttling counted as a failure:
      tests/test_faults_throttle_maintenance.py::
        test_account_bucket_admits_the_burst_then_refills_at_rate_up_to_the_burst (and 3 more there)
      tests/test_scenarios.py::test_throttled_carrier_lets_through_about_its_rate_and_excludes_the_rest
      in the `throttle` fault: tests/test_faults_throttle_maintenance.py::
        test_the_throttle_fault_refuses_its_probability_as_carrier_control_repeatably
10  GSM segment limit off by one:
      tests/test_coding.py::test_segment_count_at_the_boundaries
      tests/test_coding.py::test_segment_limits_per_coding_and_concatenation
      tests/test_mutants_coding.py::test_the_default_concatenation_is_udh8
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.carrier.smsc import Smsc
from simulator.ledger.writer import LedgerWriter
from simulator.smpp.constants import CommandId, EsmClass, Tag
from simulator.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    EnquireLinkResp,
    Pdu,
    SubmitSm,
    decode_pdu,
)

from .conftest import carrier

C = CommandId
HOLD = 0.3  # how long a held commit must keep the answer back (seconds)
# the harness's modules that import Locust (and so gevent's monkey-patching): subprocesses only
LOCUST_MODULES = {"loadtests.user", "loadtests.process", "loadtests.client", "loadtests.shape", "loadtests.locustfile"}


# ============================================================================= helpers
class RawLink:
    """A transceiver bind over a plain socket. Requests are encoded here, and the byte stream that
    comes back is split and decoded here, in order, with simulator.smpp.pdu: no session state
    machine between the wire and the test. deliver_sm and enquire_link are answered at once."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.received: list[Pdu] = []  # every PDU from the SMSC, in stream order
        self.arrived: list[float] = []  # time.monotonic() when each was read
        self._sequence = 0
        self._changed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def bound(cls, port: int, bind: type[Pdu] = BindTransceiver) -> "RawLink":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = cls(reader, writer)
        link.send(bind(system_id="qa", password="qa-pass", interface_version=0x34))
        await link.wait_for(lambda: link.received, "bind response")
        (resp,) = link.received
        assert resp.command_id == bind.command_id | 0x80000000 and resp.status == 0, resp
        link.received.clear()
        link.arrived.clear()
        return link

    def send(self, pdu: Pdu) -> int:
        self._sequence += 1
        pdu.sequence = self._sequence
        self.writer.write(pdu.encode())
        return self._sequence

    def submit(self, i: int, registered_delivery: int) -> int:
        return self.send(SubmitSm(source_addr="1000", destination_addr=f"86138{i:08d}",
                                  short_message=b"hello", registered_delivery=registered_delivery))

    async def _read(self) -> None:
        buffer = b""
        while True:
            data = await self.reader.read(1 << 16)
            if not data:
                self._changed.set()
                return
            buffer += data
            while len(buffer) >= 16:
                length = int.from_bytes(buffer[:4], "big")
                assert length >= 16, f"impossible command_length {length} in the stream"
                if len(buffer) < length:
                    break
                frame, buffer = buffer[:length], buffer[length:]
                pdu = decode_pdu(frame)
                self.received.append(pdu)
                self.arrived.append(time.monotonic())
                if pdu.command_id == C.deliver_sm:
                    self.writer.write(pdu.response().encode())
                elif pdu.command_id == C.enquire_link:
                    self.writer.write(EnquireLinkResp(sequence=pdu.sequence).encode())
            self._changed.set()

    async def wait_for(self, condition: Callable[[], Any], what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self._task.done():
                self._task.result()  # a decoding error surfaces here
                raise AssertionError(f"the SMSC closed the link while waiting for {what}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout}s; received {summary(self.received)}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def responses(self) -> list[Pdu]:
        return [p for p in self.received if p.command_id == C.submit_sm_resp]

    def deliveries(self) -> list[Pdu]:
        return [p for p in self.received if p.command_id == C.deliver_sm]

    async def close(self) -> None:
        self._task.cancel()
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def summary(pdus: list[Pdu]) -> str:
    counts: dict[str, int] = {}
    for pdu in pdus:
        counts[pdu.name] = counts.get(pdu.name, 0) + 1
    return ", ".join(f"{n} {name}" for name, n in counts.items()) or "nothing"


def receipted_id(pdu: Pdu) -> str:
    return pdu.tlvs[Tag.receipted_message_id].rstrip(b"\x00").decode()


def notifications_before_their_response(received: list[Pdu]) -> list[str]:
    """Walk the stream in order: every deliver_sm whose message id no submit_sm_resp gave yet."""
    given: set[str] = set()
    early = []
    for pdu in received:
        if pdu.command_id == C.submit_sm_resp and pdu.status == 0:
            given.add(pdu.message_id)
        elif pdu.command_id == C.deliver_sm and receipted_id(pdu) not in given:
            kind = "ENROUTE" if pdu.esm_class & EsmClass.INTERMEDIATE_NOTIFICATION else "receipt"
            early.append(f"{kind} for {receipted_id(pdu)}")
    return early


def in_ledger(path: Path, table: str, ids: list[str]) -> set[str]:
    """The ids among `ids` that a separate connection reads as committed in `table`."""
    conn = sqlite3.connect(path)
    try:
        marks = ",".join("?" * len(ids))
        rows = conn.execute(f"SELECT message_id FROM {table} WHERE message_id IN ({marks})", ids)
        return {row[0] for row in rows}
    finally:
        conn.close()


@contextlib.contextmanager
def paused(pid: int) -> Iterator[None]:
    """SIGSTOP a process (and see it stopped, where /proc tells), SIGCONT it on the way out."""
    os.kill(pid, signal.SIGSTOP)
    try:
        stat = Path(f"/proc/{pid}/stat")
        deadline = time.monotonic() + 5
        while stat.exists() and stat.read_text().rpartition(")")[2].split()[0] not in ("T", "t"):
            assert time.monotonic() < deadline, f"process {pid} did not stop"
            time.sleep(0.001)
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def ledgered_smsc(run_smsc, path: Path, ledger_class: type[LedgerWriter] = LedgerWriter,
                        receipt_delay_ms: float = 0) -> Smsc:
    ledger = ledger_class(path, run_id="invariants", durability="commit")
    config = carrier(receipt_delay_ms=receipt_delay_ms)
    return await run_smsc(Smsc(config, ledger=ledger, housekeeping_interval=0.05))


# ============================================================================= durable before acknowledged
async def test_no_submit_sm_resp_and_no_receipt_while_the_commit_is_held(run_smsc, tmp_path):
    path = tmp_path / "held.sqlite"
    smsc = await ledgered_smsc(run_smsc, path)
    link = await RawLink.bound(smsc.port)
    assert smsc.ledger is not None and smsc.ledger.pid is not None
    with paused(smsc.ledger.pid):  # the writer can neither commit nor acknowledge
        for i in range(5):
            link.submit(i, registered_delivery=1)
        await asyncio.sleep(HOLD)
        assert link.received == [], f"answered while the commit was held: {summary(link.received)}"
    await link.wait_for(lambda: len(link.responses()) == 5 and len(link.deliveries()) == 5,
                        "5 submit_sm_resp and 5 receipts after the release")
    ids = [r.message_id for r in link.responses()]
    assert all(r.status == 0 for r in link.responses())
    assert in_ledger(path, "messages", ids) == set(ids)
    assert in_ledger(path, "finals", ids) == set(ids)
    assert notifications_before_their_response(link.received) == []
    await link.close()


class FinalsHeld(LedgerWriter):
    """The real writer (real commits to a real SQLite file), except that the carrier hears of a
    final state's commit only when the test calls release()."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.holding = True
        self.held: list[tuple[Callable[[Any], None], Any]] = []

    def add_final(self, row: tuple[Any, ...], callback: Callable[[Any], None] | None = None,
                  arg: Any = None) -> None:
        if callback is None:
            super().add_final(row)
            return

        def committed(value: Any) -> None:
            if self.holding:
                self.held.append((callback, value))
            else:
                callback(value)

        super().add_final(row, committed, arg)

    def release(self) -> None:
        self.holding = False
        held, self.held = self.held, []
        for callback, value in held:
            callback(value)


async def test_no_receipt_goes_out_before_its_final_state_is_committed(run_smsc, tmp_path):
    path = tmp_path / "finals.sqlite"
    smsc = await ledgered_smsc(run_smsc, path, FinalsHeld)
    ledger = smsc.ledger
    assert isinstance(ledger, FinalsHeld)
    link = await RawLink.bound(smsc.port)
    for i in range(5):
        link.submit(i, registered_delivery=1)
    await link.wait_for(lambda: len(link.responses()) == 5, "5 submit_sm_resp")
    ids = [r.message_id for r in link.responses()]
    deadline = time.monotonic() + 10
    while in_ledger(path, "finals", ids) != set(ids):  # the finals are committed; the carrier is not told yet
        assert time.monotonic() < deadline, "the final states were not committed within 10 s"
        await asyncio.sleep(0.01)
    await asyncio.sleep(HOLD)
    early = link.deliveries()
    assert early == [], f"{len(early)} receipts went out before their final's commit was acknowledged"
    ledger.release()
    await link.wait_for(lambda: len(link.deliveries()) == 5, "5 receipts after the release")
    assert sorted(receipted_id(d) for d in link.deliveries()) == sorted(ids)
    await link.close()


# ============================================================================= response before notification
MESSAGES = 300


async def submit_in_bursts(link: RawLink, registered_delivery: int, bursts: int = 6) -> None:
    """MESSAGES submits in a few pipelined bursts, so responses and receipts interleave."""
    per = MESSAGES // bursts
    for burst in range(bursts):
        for i in range(burst * per, (burst + 1) * per):
            link.submit(i, registered_delivery)
        await asyncio.sleep(0.002)


@pytest.mark.parametrize("receipt_delay_ms", [0, 1])
async def test_no_deliver_sm_is_written_before_the_submit_sm_resp_that_gave_its_id(run_smsc, tmp_path,
                                                                                   receipt_delay_ms):
    smsc = await ledgered_smsc(run_smsc, tmp_path / "order.sqlite", receipt_delay_ms=receipt_delay_ms)
    link = await RawLink.bound(smsc.port)
    await submit_in_bursts(link, registered_delivery=1)
    await link.wait_for(lambda: len(link.responses()) == MESSAGES and len(link.deliveries()) == MESSAGES,
                        f"{MESSAGES} submit_sm_resp and {MESSAGES} receipts")
    early = notifications_before_their_response(link.received)
    assert early == [], f"{len(early)} deliver_sm before the submit_sm_resp of their id, first: {early[:5]}"
    await link.close()


async def test_no_enroute_notification_is_written_before_its_submit_sm_resp(run_smsc, tmp_path):
    smsc = await ledgered_smsc(run_smsc, tmp_path / "enroute.sqlite", receipt_delay_ms=1)
    link = await RawLink.bound(smsc.port)
    await submit_in_bursts(link, registered_delivery=0x11)  # final receipt + intermediate notification
    await link.wait_for(lambda: len(link.responses()) == MESSAGES and len(link.deliveries()) == 2 * MESSAGES,
                        f"{MESSAGES} submit_sm_resp and {2 * MESSAGES} deliver_sm")
    early = notifications_before_their_response(link.received)
    await link.close()
    assert early == [], f"{len(early)} deliver_sm before the submit_sm_resp of their id, first: {early[:5]}"


@pytest.mark.parametrize("durability", ["commit", "fsync", "async", "off"])
async def test_every_notification_follows_its_submit_sm_resp_in_every_durability_mode(run_smsc, tmp_path,
                                                                                      durability):
    """5,000 submits asking for the intermediate notification and the final receipt (0x11), receipts
    due at once: in the byte stream every deliver_sm comes after the submit_sm_resp of its id."""
    n = 5000
    ledger = None if durability == "off" else LedgerWriter(tmp_path / "l.sqlite", run_id="order",
                                                            durability=durability)
    smsc = await run_smsc(Smsc(carrier(receipt_delay_ms=0), ledger=ledger, housekeeping_interval=0.05))
    link = await RawLink.bound(smsc.port)
    for burst in range(10):
        for i in range(burst * n // 10, (burst + 1) * n // 10):
            link.submit(i, 0x11)
        await asyncio.sleep(0.005)
    await link.wait_for(lambda: len(link.responses()) == n and len(link.deliveries()) == 2 * n,
                        f"{n} submit_sm_resp and {2 * n} deliver_sm", timeout=60)
    early = notifications_before_their_response(link.received)
    await link.close()
    assert early == [], f"{len(early)} deliver_sm before the submit_sm_resp of their id, first: {early[:5]}"


async def test_a_receiver_bind_gets_no_notification_before_the_submitter_got_its_response(
        scenario_smsc, tmp_path):
    """The responses are held back 150 ms (a latency fault); the ENROUTE notifications and receipts
    (due at once) go to a receiver bind of the same account on another socket: none may arrive
    there before the transmitter got the response that gave its id."""
    smsc = await scenario_smsc(
        "name: slow-responses\n"
        "carrier: {receipt_delay_ms: 0, accounts: [{system_id: qa, password: qa-pass, max_binds: 4}]}\n"
        "faults:\n  - {kind: latency, submit_resp: {dist: fixed, ms: 150}}\n",
        ledger=LedgerWriter(tmp_path / "l.sqlite", run_id="rx", durability="commit"),
    )
    receiver = await RawLink.bound(smsc.port, BindReceiver)
    transmitter = await RawLink.bound(smsc.port, BindTransmitter)
    n = 200
    for i in range(n):
        transmitter.submit(i, 0x11)
    await transmitter.wait_for(lambda: len(transmitter.responses()) == n, f"{n} submit_sm_resp")
    await receiver.wait_for(lambda: len(receiver.deliveries()) == 2 * n, f"{2 * n} deliver_sm")
    answered_at = {p.message_id: t for p, t in zip(transmitter.received, transmitter.arrived, strict=True)
                   if p.command_id == C.submit_sm_resp}
    early = [(receipted_id(p), round((answered_at[receipted_id(p)] - t) * 1000, 1))
             for p, t in zip(receiver.received, receiver.arrived, strict=True)
             if p.command_id == C.deliver_sm and t < answered_at[receipted_id(p)] - 0.02]
    await receiver.close()
    await transmitter.close()
    assert early == [], f"{len(early)} deliver_sm reached the receiver (ms) before their response: {early[:5]}"


# ============================================================================= the real event loop
def test_the_suite_runs_unpatched_by_gevent():
    """`import locust` monkey-patches the process (DESIGN.md); the simulator's tests must not run
    on patched sockets. Only gevent.monkey patches, so if it was never imported nothing was."""
    import select
    import threading
    import _thread

    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        assert not monkey.is_anything_patched(), f"gevent patched: {sorted(monkey.saved)}"
    assert socket.socket.__module__ == "socket"
    assert type(select.select).__name__ == "builtin_function_or_method"
    assert select.select.__module__ == "select"
    assert time.sleep.__module__ == "time"
    assert threading.Lock is _thread.allocate_lock
    assert "locust" not in sys.modules, "a test imported locust in the test process"


async def test_async_tests_run_on_a_real_asyncio_event_loop():
    loop = asyncio.get_running_loop()
    assert isinstance(loop, asyncio.AbstractEventLoop)
    assert type(loop).__module__.split(".")[0] in ("asyncio", "uvloop"), type(loop)
    selector = getattr(loop, "_selector", None)  # asyncio's selector loop: gevent patches `selectors`
    assert selector is None or type(selector).__module__ == "selectors", type(selector)
    # and it does real socket I/O: an echo over 127.0.0.1
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(4))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert type(writer.get_extra_info("socket")).__module__ in ("socket", "asyncio.trsock")
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    writer.close()
    server.close()
    await server.wait_closed()


def imported_modules(path: Path) -> set[str]:
    """Every module a test file imports, wherever the import statement is (strings are not imports)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_test_module_imports_the_locust_modules_in_process():
    """Locust's modules (and gevent) run only in subprocesses of the tests, never in their process."""
    offenders = {}
    for path in sorted(Path(__file__).parent.glob("*.py")):
        bad = {m for m in imported_modules(path)
               if m in LOCUST_MODULES or m.split(".")[0] in ("locust", "gevent")}
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}
