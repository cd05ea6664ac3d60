"""The ledger: every message recorded durably, finals before receipts, audit, pruning, and a
kill -9 in the middle of a load that loses no acknowledged message."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.carrier.smsc import Smsc
from simulator.esme import Esme, EsmeError
from simulator.ledger.reader import LedgerReader, prune
from simulator.ledger.writer import LedgerWriter
from simulator.scenario import parse_scenario
from simulator.smpp.constants import CommandStatus
from simulator.smpp.receipt import parse_receipt

from .conftest import FAST

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
    await asyncio.sleep(0.1)
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


async def submit_until_killed(port: int, stop_after: int, window: int = 50) -> tuple[set[str], int]:
    """Pipelined submits; returns the ids the client saw acknowledged before the link died."""
    esme = await Esme.bound("127.0.0.1", port, "qa", "qa-pass", "transmitter")
    acked: set[str] = set()
    sent = 0
    pending: set[asyncio.Future] = set()
    try:
        while sent < stop_after * 4:
            while len(pending) < window:
                pending.add(esme.send_submit(f"86138{sent:08d}"))
                sent += 1
            done, pending = await asyncio.wait(pending, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break
            for future in done:
                if future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
                resp = future.result()
                if resp.status == 0:
                    acked.add(resp.message_id)
    except Exception:  # noqa: BLE001 - the simulator was killed under us: that is the test
        pass
    for future in pending:
        if future.done() and not future.exception() and future.result().status == 0:
            acked.add(future.result().message_id)
    return acked, sent


async def test_kill_9_during_a_load_loses_no_acknowledged_message(tmp_path):
    ledger_path = tmp_path / "crash.sqlite"
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "serve", "--listen", "127.0.0.1:0", "--control", "off",
         "--ledger", str(ledger_path), "--ready-file", str(ready), "--run-id", "crash"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            if ready.exists() and ready.read_text().strip():
                break
            await asyncio.sleep(0.05)
        port = int(ready.read_text().splitlines()[0].rpartition(":")[2])
        client = asyncio.create_task(submit_until_killed(port, stop_after=3000))
        while True:  # kill once a good number of messages were acknowledged
            await asyncio.sleep(0.05)
            if ledger_path.exists():
                with sqlite3.connect(ledger_path) as conn:
                    try:
                        if conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] > 3000:
                            break
                    except sqlite3.OperationalError:
                        pass
        os.kill(proc.pid, signal.SIGKILL)
        acked, sent = await asyncio.wait_for(client, 20)
    finally:
        proc.kill()
        proc.wait()
    assert len(acked) > 3000
    with LedgerReader(ledger_path) as ledger:
        recorded = {r.message_id for r in ledger.records()}
    missing = acked - recorded
    assert not missing, f"{len(missing)} acknowledged messages are not in the ledger"


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


async def test_the_prune_command_removes_records_past_the_age_it_is_given(tmp_path):
    from click.testing import CliRunner

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
    await asyncio.sleep(1.1)
    gone = runner.invoke(main, ["prune", path, "--older-than", "1s"])
    assert gone.exit_code == 0 and "4 messages" in gone.output
    with LedgerReader(path) as ledger:
        assert ledger.count() == 0
    bad = runner.invoke(main, ["prune", path, "--older-than", "soon"])
    assert bad.exit_code == 2 and "give a number and a unit" in bad.output
