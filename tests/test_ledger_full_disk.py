"""A full disk under the ledger while a client submits (issue 13, reproduction 3): the carrier fails
closed and resumes by itself.

The disk is a real small filesystem (a 4 MB tmpfs mounted for the test, filled with a file until
ENOSPC, then the file deleted) where the test may mount one, and otherwise the writer process's
commits fail as on a full disk while a flag file exists (CARRIER_SIM_LEDGER_FAIL_WHILE): the same
scenario runs both ways. Real SMSC, real sockets on 127.0.0.1, a real writer process and SQLite file.

What must hold: every submit is answered (status 0 only when its record is durable: each id answered
0 is in the ledger afterwards and gets its one receipt; the rest ESME_RSYSERR and no receipt,
including the submits waiting for their commit when the disk filled); binds keep getting bind_resp (0, or the refusal they deserve) and their audit
rows reach the ledger after all; the failure is logged in a few summed-up lines, not one per submit;
/health answers 503 "degraded" naming the ledger and the reason, then 200 "ok" once space is freed;
new submits then get 0 and are in the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import subprocess
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from simulator.control.http import ControlServer
from simulator.esme import Esme, EsmeError
from simulator.ledger.process import FAIL_WHILE_ENV
from simulator.ledger.writer import LedgerWriter
from simulator.smpp.constants import CommandStatus, Tag
from simulator.smpp.pdu import SmeAddress, SubmitMulti

from .conftest import carrier

S = CommandStatus
RUN = "full-disk"


class SmallDisk:
    """A ledger folder whose disk can be filled and freed."""

    def __init__(self, folder: Path, fill: Callable[[], None], free: Callable[[], None]) -> None:
        self.folder, self.fill, self.free = folder, fill, free


def fill_with_a_file(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0" * 512):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk)
    finally:
        os.close(fd)


def mount_tmpfs(folder: Path, size: str) -> str | None:
    """Mount a tmpfs of `size` on `folder`; None when done, else why it cannot be done here."""
    folder.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                 capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if mounted.returncode == 0 else mounted.stderr.strip() or f"mount exit {mounted.returncode}"


def injected(tmp_path: Path, monkeypatch) -> SmallDisk:
    flag = tmp_path / "disk-is-full"
    monkeypatch.setenv(FAIL_WHILE_ENV, str(flag))  # read by the writer process when it starts
    return SmallDisk(tmp_path, flag.touch, flag.unlink)


@pytest.fixture(params=["tmpfs", "injected"])
def small_disk(request, tmp_path, monkeypatch) -> Iterator[SmallDisk]:
    """A real 4 MiB tmpfs where this machine lets the tests mount one (root in the CI containers);
    elsewhere the same scenario with the writer's commits failing on purpose (the issue allows it
    "where the test can make a small filesystem; otherwise with an injected write failure"),
    said in a warning rather than skipped: the scenario still runs and is checked."""
    if request.param == "tmpfs":
        folder = tmp_path / "disk"
        why = mount_tmpfs(folder, "4m")
        if why is None:
            filler = folder / "filler"
            try:
                yield SmallDisk(folder, lambda: fill_with_a_file(filler), lambda: filler.unlink())
            finally:
                subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)
            return
        warnings.warn(f"cannot mount a tmpfs here ({why}): the full-disk case ran with an injected write failure",
                      stacklevel=1)
    yield injected(tmp_path, monkeypatch)


async def health(base: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/health") as resp:
        return resp.status, await resp.json()


async def until_async(condition, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)


def rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


async def test_a_full_disk_refuses_submits_keeps_binding_and_resumes_once_space_is_freed(
        small_disk, make_smsc, caplog):
    caplog.set_level(logging.INFO, logger="carrier_sim")
    path = small_disk.folder / "ledger.sqlite"
    ledger = LedgerWriter(path, run_id=RUN, probe_s=(0.05, 0.5))
    smsc = await make_smsc(carrier(), ledger=ledger)
    control = ControlServer(smsc)
    await control.start("127.0.0.1", 0)
    base = f"http://{control.address}"
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    answered: list = []  # every submit_sm_resp, in the order the submits were sent
    binds_during: list[str] = []
    try:
        before = [await esme.submit(f"861380000{i:04d}", registered_delivery=1) for i in range(20)]
        answered += before
        assert {r.status for r in before} == {S.ESME_ROK}
        assert await health(base) == (200, {"status": "ok"})

        # 200 submits on their way to the carrier, then the disk fills before any is recorded:
        # they wait for a commit that is rolled back, and are answered all the same
        in_flight = [esme.send_submit(f"861381000{i:04d}", registered_delivery=1) for i in range(200)]
        small_disk.fill()
        answered += await asyncio.wait_for(asyncio.gather(*in_flight), 20)

        # the client goes on submitting for 2 s while the disk is full (the carrier's probes fail
        # meanwhile); binds come and go
        failed_at = time.monotonic()
        wave = 0
        while wave < 10 or time.monotonic() - failed_at < 2:
            wave += 1
            await asyncio.sleep(0.05)
            sends = [esme.send_submit(f"8613{wave:03d}2{i:04d}", registered_delivery=1) for i in range(200)]
            answered += await asyncio.wait_for(asyncio.gather(*sends), 20)
            other = await asyncio.wait_for(Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass",
                                                      "receiver" if wave % 2 else "transmitter"), 10)
            binds_during.append("bound")
            await asyncio.wait_for(other.unbind(), 10)
            with pytest.raises(EsmeError) as refused:
                await asyncio.wait_for(Esme.bound("127.0.0.1", smsc.port, "qa", "wrong"), 10)
            assert refused.value.status == S.ESME_RINVPASWD  # a bind_resp with its status, not a drop
            binds_during.append("refused")
        status, body = await health(base)
        assert status == 503 and body["status"] == "degraded", body
        (reason,) = [r for r in body["reasons"] if r.startswith("ledger: writes failing")]
        assert "database or disk is full" in reason, reason
        during = Counter(r.status for r in answered[20:])
        assert set(during) <= {S.ESME_ROK, S.ESME_RSYSERR}, during
        assert during[S.ESME_RSYSERR] >= 200 + 200 * 10, during  # the 200 in flight and those sent since
        failing_for = time.monotonic() - failed_at

        # space comes back: the carrier notices by itself (its probe commits) and serves again
        small_disk.free()

        async def healthy() -> bool:
            return (await health(base))[0] == 200

        await until_async(healthy, "/health to be ok again after the space is freed")
        after = [await esme.submit(f"861383000{i:04d}", registered_delivery=1) for i in range(50)]
        answered += after
        assert {r.status for r in after} == {S.ESME_ROK}
        # one receipt for each acknowledged message (final states held meanwhile are written and
        # their receipts sent after all), none for a message refused with ESME_RSYSERR
        acknowledged = {r.message_id for r in answered if r.status == S.ESME_ROK}
        receipted = Counter()
        while sum(receipted.values()) < len(acknowledged):
            pdu = await esme.next_delivery(timeout=10)
            receipted[pdu.tlvs[Tag.receipted_message_id].rstrip(b"\0").decode()] += 1
        await asyncio.sleep(0.2)  # no more than those
        assert esme.delivered.empty() and set(receipted) == acknowledged and set(receipted.values()) == {1}
        await esme.unbind()
    finally:
        esme.close()
        await control.stop()
        await smsc.stop(grace=0.2)

    # nothing acknowledged is missing from the ledger
    in_ledger = {m for (m,) in rows(path, "SELECT message_id FROM messages WHERE message_id IS NOT NULL")}
    assert acknowledged <= in_ledger, sorted(acknowledged - in_ledger)[:5]
    assert len(acknowledged) >= 70  # the 20 before and the 50 after at least
    # and the binds made while the disk was full are in the audit trail, with the outage itself
    audit = Counter(action for (action,) in rows(path, "SELECT action FROM audit"))
    assert audit["bind"] == 1 + binds_during.count("bound"), audit  # the client, then those made meanwhile
    # a refused bind is one row at once, its repeats one row with their `count` (carrier/bind_guard.py)
    refused = sum(json.loads(d).get("count", 1) for (d,) in rows(path, "SELECT details FROM audit "
                                                                     "WHERE action = 'bind.refused'"))
    assert refused == binds_during.count("refused"), (refused, audit)
    assert audit["ledger.failing"] == 1 and audit["ledger.resumed"] == 1, audit
    (details,) = rows(path, "SELECT details FROM audit WHERE action = 'ledger.resumed'")
    resumed = json.loads(details[0])
    assert resumed["refused"] + resumed["given_up"] == during[S.ESME_RSYSERR], (resumed, during)
    assert resumed["reason"].startswith("OperationalError: database or disk is full"), resumed

    # thousands of refusals, a handful of log lines: one at once, then one per 10 s at most
    ledger_lines = [r.getMessage() for r in caplog.records if r.name == "carrier_sim.ledger"]
    failed_lines = [m for m in ledger_lines if " failed" in m]
    assert 1 <= len(failed_lines) <= 2 + failing_for / 10, ledger_lines
    assert failed_lines[0].startswith("ledger: "), failed_lines
    assert any(" writes failed in the last " in m for m in failed_lines), failed_lines
    assert sum(1 for m in ledger_lines if "writes succeed again" in m) == 1, ledger_lines
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) <= 5, [r.getMessage() for r in errors]


async def test_a_submit_multi_refused_for_a_full_disk_leaves_none_of_its_destinations_in_the_ledger(
        tmp_path, make_smsc, monkeypatch):
    """Its rows share one fate: all given up when their commit is rolled back (sent just before the
    disk filled), none recorded when refused at once (sent while it is full)."""
    flag = tmp_path / "disk-is-full"
    monkeypatch.setenv(FAIL_WHILE_ENV, str(flag))
    path = tmp_path / "ledger.sqlite"
    ledger = LedgerWriter(path, run_id=RUN, probe_s=(0.05, 0.2))
    smsc = await make_smsc(carrier(), ledger=ledger)
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")

    def submit_multi(prefix: str) -> asyncio.Future:
        dests = [SmeAddress(1, 1, f"{prefix}{i}") for i in range(3)]
        return esme.send(SubmitMulti(source_addr="Acme", dest_address=dests, short_message=b"hi"))

    try:
        in_flight = submit_multi("86138111000")  # reaches the carrier after the disk filled
        flag.touch()
        assert (await asyncio.wait_for(in_flight, 10)).status == S.ESME_RSYSERR
        assert (await asyncio.wait_for(submit_multi("86138222000"), 10)).status == S.ESME_RSYSERR
        flag.unlink()
        await until_async(lambda: asyncio.sleep(0.05, ledger.failing is None), "the ledger to resume")
        ok = await asyncio.wait_for(submit_multi("86138333000"), 10)
        assert ok.status == S.ESME_ROK
    finally:
        esme.close()
        await smsc.stop(grace=0.2)
    assert sorted(d for (d,) in rows(path, "SELECT destination FROM messages")) == [f"86138333000{i}" for i in range(3)]
