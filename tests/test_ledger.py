"""The ledger: every message recorded durably, finals before receipts, audit, pruning, and a
kill -9 in the middle of a load that loses no acknowledged message."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator.carrier.smsc import Smsc
from simulator.esme import Esme, EsmeError
from simulator.ledger.reader import LedgerReader, prune
from simulator.ledger.writer import LedgerWriter
from simulator.scenario import parse_scenario
from simulator.smpp.constants import CommandStatus
from simulator.smpp.pdu import SubmitSm
from simulator.smpp.receipt import parse_receipt

from .conftest import FAST
from .waiting import eventually

S = CommandStatus

SCENARIO = """
name: ledgered
seed: 1
faults:
  - {kind: provider_failure, name: refused, probability: 0.25, submit_status: 0x45, receipt: null, submit_share: 1}
"""


async def start(tmp_path: Path, text: str = SCENARIO, durability: str = "commit") -> Smsc:
    scenario = parse_scenario(text)
    scenario = scenario.model_copy(update={"carrier": scenario.carrier.model_copy(update=FAST)})
    ledger = LedgerWriter(tmp_path / "ledger.sqlite", run_id="run-1", scenario=scenario.name, durability=durability)
    smsc = Smsc.from_scenario(scenario, ledger=ledger, housekeeping_interval=0.05)
    await smsc.start()
    return smsc


async def test_every_submit_is_recorded_with_its_id_status_and_sla_class(tmp_path):
    smsc = await start(tmp_path)
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    answers = [await esme.submit(f"86138{i:08d}", registered_delivery=1) for i in range(40)]
    accepted = [a.message_id for a in answers if a.status == 0]
    for _ in accepted:
        await esme.next_delivery()
    esme.close()
    await smsc.stop(grace=0.2)
    with LedgerReader(tmp_path / "ledger.sqlite") as ledger:
        records = list(ledger.records())
    assert len(records) == 40
    assert sorted(r.message_id for r in records if r.accepted) == sorted(accepted)
    refused = [r for r in records if not r.accepted]
    assert len(refused) == 40 - len(accepted) > 0
    assert all(r.submit_status == S.ESME_RSUBMITFAIL and r.message_id is None for r in refused)
    assert all(r.sla_class == "definite_failure" and r.reason == "provider_failure" for r in refused)
    assert all(r.sla_class == "delivered" and r.final_state == "DELIVRD" for r in records if r.accepted)


async def test_the_final_state_is_in_the_ledger_before_the_receipt_is_sent(tmp_path):
    smsc = await start(tmp_path, "name: finals\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    resp = await esme.submit("8613800000001", registered_delivery=1)
    receipt = parse_receipt((await esme.next_delivery()).short_message)
    # read with a separate connection while the simulator still runs
    conn = sqlite3.connect(tmp_path / "ledger.sqlite")
    row = conn.execute("SELECT final_state, sla_class FROM finals WHERE message_id = ?", (receipt.message_id,)).fetchone()
    conn.close()
    assert receipt.message_id == resp.message_id and row == ("DELIVRD", "delivered")
    esme.close()
    await smsc.stop(grace=0.2)


async def test_binds_failed_logins_and_fault_changes_are_in_the_audit_log(tmp_path):
    smsc = await start(tmp_path)
    bad = await Esme.connect("127.0.0.1", smsc.port)
    with pytest.raises(EsmeError) as refused:
        await bad.bind("qa", "nope")
    assert refused.value.status == S.ESME_RINVPASWD
    bad.close()
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    smsc.change_fault("refused", {"probability": 0.5}, actor="alice")
    await esme.unbind()
    await smsc.stop(grace=0.2)
    with LedgerReader(tmp_path / "ledger.sqlite") as ledger:
        actions = [(a["action"], a["actor"]) for a in ledger.audit()]
    assert [a for a, _ in actions][:2] == ["bind.refused", "bind"]
    assert ("fault.change", "alice") in actions
    assert "unbind" in [a for a, _ in actions]


async def test_receipt_deliveries_are_recorded_with_their_result(tmp_path):
    smsc = await start(tmp_path, "name: deliveries\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    resp = await esme.submit("8613800000001", registered_delivery=1)
    await esme.next_delivery()
    router = smsc.accounts["qa"].router
    await eventually(lambda: router.stats.acked == 1, what="the SMSC to read the deliver_sm_resp")
    esme.close()
    await smsc.stop(grace=0.2)
    with LedgerReader(tmp_path / "ledger.sqlite") as ledger:
        deliveries = ledger.deliveries()
    assert [(d["message_id"], d["kind"], d["state"], d["result"]) for d in deliveries] == [
        (resp.message_id, "receipt", "DELIVRD", "acked")
    ]


async def test_prune_removes_records_past_the_retention_age(tmp_path):
    smsc = await start(tmp_path, "name: prune\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    for _ in range(3):
        await esme.submit("8613800000001", registered_delivery=1)
    esme.close()
    await smsc.stop(grace=0.2)
    path = tmp_path / "ledger.sqlite"
    assert prune(path, older_than_s=3 * 365 * 86400)["messages"] == 0
    assert prune(path, older_than_s=60, now=time.time() + 3600)["messages"] == 3
    with LedgerReader(path) as ledger:
        assert ledger.count() == 0


KILL_AT = 2000  # acknowledgements of a steady pipelined load (WINDOW in flight) before the burst
WINDOW = 64
BURST = 500  # submits written at once; the first bytes answering them trigger the kill


def group_members(pgid: int) -> list[int] | None:
    """The live processes of a process group (zombies waiting for their parent are not alive);
    None where there is no /proc to read."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it went away meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def group_is_gone(pgid: int) -> bool:
    members = group_members(pgid)
    if members is None:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        return False
    return not members


class KillingEsme(Esme):
    """An ESME that calls kill() the moment the first bytes answering its burst arrive, before it
    even decodes them: the SMSC answered microseconds earlier, so if it acknowledged before the
    commit, the burst's records would still be on their way to the disk when the processes die."""

    def __init__(self, kill: Callable[[], None]) -> None:
        super().__init__()
        self.kill = kill
        self.sent = 0
        self.burst_sent = False
        self.killed = False

    def submit_next(self) -> asyncio.Future:
        self.sent += 1
        return self.send_submit(f"86138{self.sent:08d}")

    def send_burst(self, count: int) -> list[asyncio.Future]:
        """`count` submit_sm in one write, with nothing else in flight: whatever comes back next
        answers the burst."""
        assert self.transport is not None and not self.protocol.waiting, "the burst goes out on a quiet link"
        loop = asyncio.get_running_loop()
        futures = []
        for _ in range(count):
            self.sent += 1
            futures.append(loop.create_future())
            self.protocol.request(
                SubmitSm(source_addr="1000", destination_addr=f"86138{self.sent:08d}", short_message=b"hello"),
                futures[-1])
        self.transport.write(self.protocol.data_to_send())
        self.burst_sent = True
        return futures

    def data_received(self, data: bytes) -> None:
        if self.burst_sent and not self.killed:
            self.killed = True
            self.kill()
        super().data_received(data)


async def submit_until_killed(port: int, kill: Callable[[], None]) -> tuple[set[str], int]:
    """A pipelined load (WINDOW in flight) until KILL_AT acknowledgements; once those in flight
    are answered, a burst of BURST submits whose first answer triggers kill(). Returns the ids
    acknowledged before the link died, and the submits sent."""
    esme = await KillingEsme.connect("127.0.0.1", port, kill=kill)
    await esme.bind("qa", "qa-pass", "transmitter")
    acked: set[str] = set()
    pending: set[asyncio.Future] = set()
    while not esme.killed or pending:
        if len(acked) >= KILL_AT and not pending and not esme.burst_sent:
            pending.update(esme.send_burst(BURST))
        while len(acked) < KILL_AT and len(pending) < WINDOW:
            pending.add(esme.submit_next())
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for future in done:
            try:
                resp = future.result()
            except EsmeError as exc:  # the link died with the processes: these were never answered
                assert esme.killed and str(exc) == "connection closed", exc
                continue
            assert resp.status == 0, f"submit refused with 0x{resp.status:X}"
            acked.add(resp.message_id)
    await esme.wait_closed()
    return acked, esme.sent


async def test_kill_9_of_server_and_writer_loses_no_acknowledged_message(tmp_path):
    """serve runs in its own process group with its ledger writer; once the client holds KILL_AT
    acknowledgements the whole group gets SIGKILL (the writer cannot commit what it was handed
    afterwards), and every id the client saw acknowledged must be in the ledger."""
    ledger_path = tmp_path / "crash.sqlite"
    ready = tmp_path / "ready"
    stderr = (tmp_path / "serve.stderr").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "serve", "--listen", "127.0.0.1:0", "--control", "off",
         "--ledger", str(ledger_path), "--ready-file", str(ready), "--run-id", "crash"],
        stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
    )
    pgid = proc.pid  # the session leader leads its process group; the writer is its child in it

    def serve_ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"serve exited ({proc.returncode}): {(tmp_path / 'serve.stderr').read_text()}")
        return ready.exists() and ready.read_text().endswith("\n")

    try:
        await eventually(serve_ready, timeout=30, what="serve to get ready", interval=0.02)
        port = int(ready.read_text().splitlines()[0].rpartition(":")[2])
        members = group_members(pgid)
        assert members is None or len(members) >= 2, f"the ledger writer is not in serve's process group: {members}"
        acked, sent = await asyncio.wait_for(
            submit_until_killed(port, lambda: os.killpg(pgid, signal.SIGKILL)), 60)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        # the writer too: nothing may commit while we read
        await eventually(lambda: group_is_gone(pgid), timeout=10, interval=0.02,
                         what="the ledger writer to die with the SIGKILL of its group")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=10)
        stderr.close()
    assert KILL_AT <= len(acked) <= sent
    with LedgerReader(ledger_path) as ledger:
        recorded = {r.message_id for r in ledger.records()}
    missing = acked - recorded
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged messages are not in the ledger"


async def test_rows_holding_enums_are_written_as_plain_values(tmp_path):
    ledger = LedgerWriter(tmp_path / "enums.sqlite", run_id="enums")
    await ledger.start()
    done = asyncio.get_running_loop().create_future()
    row = ("enums", None, "qa", 1, "1000", "861390000001", "notification", 0, 1, time.time(),
           S.ESME_RINVDSTADR, 1, "invalid_number", "nonexistent", "numbers")
    ledger.add_message(row, done.set_result, "committed")
    assert await asyncio.wait_for(done, 10) == "committed"
    await ledger.close()
    with LedgerReader(tmp_path / "enums.sqlite") as reader:
        (record,) = reader.records()
    assert record.submit_status == 0x0B and type(record.submit_status) is int


async def test_the_prune_command_removes_records_past_the_age_it_is_given(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from click.testing import CliRunner

    import simulator.ledger.reader
    from simulator.cli import main

    smsc = await start(tmp_path, "name: prune-cli\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    for _ in range(4):
        await esme.submit("8613800000001")
    esme.close()
    await smsc.stop(grace=0.2)
    path = str(tmp_path / "ledger.sqlite")
    runner = CliRunner()
    kept = runner.invoke(main, ["prune", path])  # default: 3 years
    assert kept.exit_code == 0 and "0 messages" in kept.output
    # a fake clock for prune, 2 s on: the records are then older than 1 s, without waiting for it
    later = time.time() + 2
    monkeypatch.setattr(simulator.ledger.reader, "time", SimpleNamespace(time=lambda: later))
    gone = runner.invoke(main, ["prune", path, "--older-than", "1s"])
    assert gone.exit_code == 0 and "4 messages" in gone.output
    with LedgerReader(path) as ledger:
        assert ledger.count() == 0
    bad = runner.invoke(main, ["prune", path, "--older-than", "soon"])
    assert bad.exit_code == 2 and "give a number and a unit" in bad.output
