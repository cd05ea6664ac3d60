"""Limits you can see and set (issue 13, reproductions 6 and 7), against a real server over sockets.

The open-files soft limit raised at start; `carrier.max_connections` refusing cleanly with one log
line per interval while bound clients and the control API go on; a bound on live faults (409);
bind protection (a connection closed after its refused binds, an address slowed, one audit row per
interval) and `carrier.uniform_bind_errors`. Bind PDUs are written here from the SMPP 3.4 tables
(section 4.1.1), not with simulator/smpp; expected figures are worked out in each test.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time

import pytest

from simulator.carrier.limits import connection_cap, raise_open_files_limit
from simulator.carrier.smsc import Smsc
from simulator.esme import Esme, EsmeError
from simulator.scenario import ScenarioError, parse_scenario

from .conftest import carrier
from .test_hardening import control_of, http

BIND_TRANSMITTER = 0x00000002
BIND_TRANSMITTER_RESP = 0x80000002
RINVSYSID, RINVPASWD, RBINDFAIL = 0x0F, 0x0E, 0x0D
GUESSER = "127.0.0.2"  # another loopback address: the address that is slowed is not the tests' own
SLOW = {"peer_burst": 20, "peer_rate": 2.0, "max_delay_s": 2.0}  # the figures the tests below work with


def bind_transmitter(sequence: int, system_id: bytes, password: bytes) -> bytes:
    """SMPP 3.4 4.1.1: system_id, password, system_type (C-Octet Strings), interface_version 0x34,
    addr_ton, addr_npi, address_range (empty C-Octet String)."""
    body = system_id + b"\0" + password + b"\0" + b"\0" + b"\x34\x00\x00" + b"\0"
    return struct.pack(">IIII", 16 + len(body), BIND_TRANSMITTER, 0, sequence) + body


async def read_pdus(reader: asyncio.StreamReader, timeout: float) -> list[tuple[int, int, int]]:
    """(command_id, status, sequence) of every PDU until EOF or `timeout` of silence."""
    got = []
    try:
        while True:
            header = await asyncio.wait_for(reader.readexactly(16), timeout)
            length, command_id, status, sequence = struct.unpack(">IIII", header)
            await reader.readexactly(length - 16)
            got.append((command_id, status, sequence))
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
        return got


async def read_pdus_n(reader: asyncio.StreamReader, n: int, timeout: float) -> list[tuple[int, int, int]]:
    got = []
    try:
        while len(got) < n:
            header = await asyncio.wait_for(reader.readexactly(16), timeout)
            length, command_id, status, sequence = struct.unpack(">IIII", header)
            await reader.readexactly(length - 16)
            got.append((command_id, status, sequence))
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
        pass
    return got


async def guess(port: int, n: int, timeout: float = 5.0, source: str = GUESSER) -> tuple[list, bool, float]:
    """Send n wrong-password binds at once on one connection from `source`: (answers, closed by the
    server, seconds until the last answer or the close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    started = time.perf_counter()
    writer.write(b"".join(bind_transmitter(i + 1, b"qa", b"guess%03d" % (i % 1000)) for i in range(n)))
    answers = await read_pdus(reader, timeout)
    elapsed = time.perf_counter() - started
    closed = reader.at_eof()
    writer.close()
    return answers, closed, elapsed


def refused_rows(smsc: Smsc) -> list[dict]:
    return [e for e in smsc.audit_log if e["action"] == "bind.refused"]


def open_files_at_least(n: int):
    """Raise this process's open-files limits to at least `n`, the hard one too where allowed (root,
    as in CI, may raise it); skipped only where the OS refuses, which CI reports as missing evidence."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n or hard < n:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n), max(hard, n)))
        except (ValueError, OSError) as exc:
            pytest.skip(f"needs {n:,} open files and the OS refuses to raise the limit ({soft}/{hard}): {exc}")
    return resource


# ------------------------------------------------------------------------------- open files
def test_the_soft_open_files_limit_is_raised_to_the_hard_limit_and_logged_once(caplog):
    resource = open_files_at_least(4096)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        with caplog.at_level(logging.INFO, logger="carrier_sim.limits"):
            assert raise_open_files_limit() == (1024, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
        assert [r.getMessage() for r in caplog.records] == [f"open files: soft limit raised 1024 -> {hard}"]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_connection_cap_is_the_open_files_limit_less_a_reserve_unless_set_lower():
    assert connection_cap(None, 1024) == 1024 - 64
    assert connection_cap(100, 1024) == 100
    assert connection_cap(5_000, 1024) == 1024 - 64  # more than the descriptors allow: clamped, and logged


# ------------------------------------------------------------------------------- max_connections
async def test_connections_past_max_connections_are_closed_at_once_counted_and_logged_once(make_smsc, caplog):
    smsc = await make_smsc(carrier(max_connections=3))
    control = await control_of(smsc)
    bound = [await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "transceiver") for _ in range(3)]
    with caplog.at_level(logging.INFO, logger="carrier_sim.limits"):
        extra = [await asyncio.open_connection("127.0.0.1", smsc.port) for _ in range(5)]
        for reader, writer in extra:  # closed by the server at once, before any bind
            assert await asyncio.wait_for(reader.read(), 2) == b""
            writer.close()
        refusals = [r.getMessage() for r in caplog.records if "max_connections" in r.getMessage()]
        assert len(refusals) == 1 and refusals[0].startswith("carrier: 1 connection refused past max_connections 3")
        smsc.admission.refused.flush()  # the line the next 10 s would bring
        refusals = [r.getMessage() for r in caplog.records if "max_connections" in r.getMessage()]
        assert len(refusals) == 2 and "4 connections refused past max_connections 3 in the last " in refusals[1]
    for esme in bound:  # the bound clients are still served
        assert (await esme.submit("+447700900123", "still here", timeout=2)).status == 0
    code, status = await asyncio.to_thread(http, "GET", f"http://{control.address}/status")
    assert code == 200
    assert (status["connections"], status["max_connections"], status["stats"]["connections_refused"]) == (3, 3, 5)
    bound[0].close()  # a place is free again: the next client binds
    for _ in range(100):
        if len(smsc.connections) < 3:
            break
        await asyncio.sleep(0.01)
    again = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "transceiver")
    assert (await again.submit("+447700900123", "in", timeout=2)).status == 0
    for esme in [again, *bound[1:]]:
        esme.close()
    await control.stop()


# ------------------------------------------------------------------------------- faults
async def test_live_faults_past_max_faults_are_refused_with_409_and_a_removed_one_frees_a_place(scenario_smsc):
    smsc = await scenario_smsc("carrier:\n  max_faults: 2\n")
    control = await control_of(smsc)
    url = f"http://{control.address}/faults"
    body = {"kind": "no_response", "probability": 0.001}
    assert (await asyncio.to_thread(http, "PUT", f"{url}/a", body))[0] == 200
    assert (await asyncio.to_thread(http, "PUT", f"{url}/b", body))[0] == 200
    code, answer = await asyncio.to_thread(http, "PUT", f"{url}/c", body)
    assert code == 409 and "carrier.max_faults" in answer["error"]
    assert (await asyncio.to_thread(http, "PUT", f"{url}/b", {"enabled": False}))[0] == 200  # a change: fine
    assert (await asyncio.to_thread(http, "DELETE", f"{url}/a"))[0] == 200
    assert (await asyncio.to_thread(http, "PUT", f"{url}/c", body))[0] == 200
    names = [f["name"] for f in (await asyncio.to_thread(http, "GET", url))[1]]
    assert "a" not in names and {"b", "c"} <= set(names)
    await control.stop()


def test_a_scenario_with_more_faults_than_max_faults_is_a_file_line_error():
    text = ("carrier:\n  max_faults: 1\nfaults:\n  - kind: no_response\n    name: one\n"
            "  - kind: no_response\n    name: two\n")
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "limits.yaml")
    message = str(err.value)
    assert "limits.yaml:6" in message and "faults[1]" in message and "max_faults" in message


# ------------------------------------------------------------------------------- bind protection
async def test_twenty_thousand_wrong_passwords_on_one_connection_get_ten_answers_then_a_close(make_smsc):
    smsc = await make_smsc()
    answers, closed, elapsed = await guess(smsc.port, 20_000)
    # max_failures (10) refusals, each its own answer, then the connection is closed
    assert [(c, s) for c, s, _ in answers] == [(BIND_TRANSMITTER_RESP, RINVPASWD)] * 10 and closed
    assert smsc.stats.bind_failures == 10 and smsc.stats.bind_lockouts == 1
    # one audit row at once; the nine others counted into one row when the interval ends
    assert len(refused_rows(smsc)) == 1
    smsc.bind_guard.tick(time.monotonic(), force=True)
    rows = refused_rows(smsc)
    assert len(rows) == 2 and rows[1]["count"] == 9 and rows[1]["actor"] == GUESSER
    assert rows[1]["status"] == "ESME_RINVPASWD" and rows[1]["system_id"] == "qa"


async def test_a_guessing_address_is_slowed_while_a_right_bind_from_another_is_answered_at_once(make_smsc):
    smsc = await make_smsc(carrier(bind_protection=SLOW))
    seconds = 3.0
    refused = 0
    started = time.perf_counter()

    async def keep_guessing() -> None:  # one bind at a time, each after the last one's answer
        nonlocal refused
        while time.perf_counter() - started < seconds:
            reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port, local_addr=(GUESSER, 0))
            sequence = 0
            while time.perf_counter() - started < seconds:
                sequence += 1
                writer.write(bind_transmitter(sequence, b"qa", b"guess"))
                answers = await read_pdus_n(reader, 1, seconds)
                if not answers:
                    break  # closed after max_failures: connect again
                refused += 1
            writer.close()

    guesser = asyncio.create_task(keep_guessing())
    await asyncio.sleep(1.0)  # the address is in debt by now
    t0 = time.perf_counter()
    right = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "transmitter")
    assert time.perf_counter() - t0 < 0.5
    right.close()
    await guesser
    # 20 free, then 2 a second: at most 20 + 2 x 3 s, and one more answered as the time ran out
    assert 20 <= refused <= 20 + 2 * seconds + 1
    assert smsc.stats.binds_slowed >= 1
    # the slowed address still binds with the right password: after at most max_delay_s
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port, local_addr=(GUESSER, 0))
    writer.write(bind_transmitter(1, b"qa", b"qa-pass"))
    answers = await read_pdus_n(reader, 1, 3.0)
    assert answers == [(BIND_TRANSMITTER_RESP, 0, 1)] and time.perf_counter() - t0 < 2.0 + 0.5
    writer.close()


async def test_with_bind_protection_off_refused_binds_are_answered_and_the_connection_stays(make_smsc):
    smsc = await make_smsc(carrier(bind_protection={"enabled": False}))
    answers, closed, _ = await guess(smsc.port, 30, timeout=1.0)
    assert len(answers) == 30 and not closed and smsc.stats.binds_slowed == 0


@pytest.mark.parametrize("uniform", [False, True])
async def test_uniform_bind_errors_answer_rbindfail_for_every_refusal_and_audit_the_real_reason(make_smsc, uniform):
    smsc = await make_smsc(carrier(uniform_bind_errors=uniform))
    cases = [("nobody", "x", "transceiver", RINVSYSID, "ESME_RINVSYSID"),
             ("qa", "wrong", "transceiver", RINVPASWD, "ESME_RINVPASWD"),
             ("tx-only", "pw", "receiver", RBINDFAIL, "ESME_RBINDFAIL")]
    for system_id, password, kind, status, name in cases:
        esme = await Esme.connect("127.0.0.1", smsc.port)
        with pytest.raises(EsmeError) as err:
            await esme.bind(system_id, password, kind)
        assert err.value.status == (RBINDFAIL if uniform else status)
        assert refused_rows(smsc)[-1]["status"] == name  # the audit trail keeps the reason
        esme.close()


async def test_many_connections_from_one_address_do_not_check_more_passwords_a_second(make_smsc):
    smsc = await make_smsc(carrier(bind_protection=SLOW))
    seconds = 3.0
    started = time.perf_counter()

    async def one_guesser() -> None:
        while time.perf_counter() - started < seconds:
            reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port, local_addr=(GUESSER, 0))
            sequence = 0
            while time.perf_counter() - started < seconds:
                sequence += 1
                writer.write(bind_transmitter(sequence, b"qa", b"guess"))
                if not await read_pdus_n(reader, 1, 2 * seconds):
                    break
            writer.close()

    await asyncio.gather(*(one_guesser() for _ in range(30)))
    smsc.bind_guard.tick(time.monotonic(), force=True)
    checked = sum(e.get("count", 1) for e in refused_rows(smsc) if e["status"] == "ESME_RINVPASWD")
    # 20 free, 2 a second for 3 s, and the 2 s x 2/s = 4 reserved by binds waiting as the time ran out
    assert 20 <= checked <= 20 + 2 * seconds + 4 + 1
    unread = sum(e.get("count", 1) for e in refused_rows(smsc) if e["status"] == "ESME_RBINDFAIL")
    assert unread > 0 and smsc.stats.bind_failures == checked + unread


async def test_serve_under_a_hard_limit_of_1024_files_refuses_past_its_cap_and_the_control_api_answers(tmp_path):
    """The reproduction of issue 13 (6): under 1,024 open files, connections past ~1,000 were closed
    silently and the control API failed too. Now the cap is 1,024 - 64 = 960, in the banner and
    /status, the 1,000 connections past it are refused, and the control API still answers."""
    import subprocess
    import sys

    resource = open_files_at_least(2_500)  # this test opens 2,000 connections itself
    ready = tmp_path / "ready"
    out = (tmp_path / "serve.out").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "serve", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
         "--ledger", "off", "--ready-file", str(ready)],
        stdout=out, stderr=subprocess.STDOUT,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)))
    sockets = []
    try:
        for _ in range(300):
            if ready.exists() and ready.read_text().count("\n") == 2 or proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        smpp, control = ready.read_text().split()
        port = int(smpp.rpartition(":")[2])
        for _ in range(1_960):
            sockets.append(await asyncio.open_connection("127.0.0.1", port))
        for _ in range(200):
            code, status = await asyncio.to_thread(http, "GET", f"http://{control}/status")
            if status["stats"]["connections_refused"] + status["connections"] >= 1_960:
                break
            await asyncio.sleep(0.05)
        assert code == 200
        assert (status["max_connections"], status["connections"]) == (960, 960)
        assert status["stats"]["connections_refused"] == 1_000
        # the first 960 are open and can bind
        reader, writer = sockets[0]
        writer.write(bind_transmitter(1, b"qa", b"qa-pass"))
        assert await read_pdus_n(reader, 1, 5) == [(BIND_TRANSMITTER_RESP, 0, 1)]
    finally:
        for _, writer in sockets:
            writer.close()
        proc.terminate()
        proc.wait(timeout=20)
        out.close()
    text = (tmp_path / "serve.out").read_text()
    assert "limits: open files soft limit 1024; max_connections 960" in text


async def test_serve_raises_its_soft_limit_to_the_hard_limit_and_says_so_in_its_banner(tmp_path):
    import subprocess
    import sys

    resource = open_files_at_least(4096)
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "serve", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0",
         "--ledger", "off", "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096)))
    try:
        for _ in range(300):
            if ready.exists() and ready.read_text().count("\n") == 2 or proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        control = ready.read_text().split()[1]
        code, status = await asyncio.to_thread(http, "GET", f"http://{control}/status")
        assert (code, status["max_connections"]) == (200, 4096 - 64)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "limits: open files soft limit raised 1024 -> 4096; max_connections 4032" in out.decode()


# ------------------------------------------------------------------------------- other bounds
async def test_an_accounts_deliver_sm_queue_past_max_queued_per_account_drops_the_oldest_and_counts_it(make_smsc):
    smsc = await make_smsc(carrier(max_queued_per_account=3))
    for i in range(5):  # no receiver is bound: the MOs wait in the queue
        smsc.inject_mo("qa", "8613800000001", "1000", f"mo {i}")
    status = smsc.status()["accounts"]["qa"]
    assert status["backlog"] == 3 and status["delivery"]["overflowed"] == 2


def test_the_bind_guard_remembers_at_most_max_peers_addresses_and_audit_counters():
    from types import SimpleNamespace

    from simulator.carrier.bind_guard import BindGuard
    from simulator.carrier.stats import CarrierStats
    from simulator.scenario import BindProtection

    rows = []
    guard = BindGuard(BindProtection(max_peers=3), False, CarrierStats(), lambda: 100.0,
                      lambda action, actor, **details: rows.append((actor, details)))
    for i in range(50):  # 50 addresses, each refused twice
        conn = SimpleNamespace(peer=f"10.0.0.{i}:4000", id=i, bind_failures=0)
        for _ in range(2):
            guard.answered(conn, RINVPASWD, False, "qa", "transmitter", True)
    assert len(guard._peers) == 3 and len(guard._refusals) == 3 + 1  # 3 counters and the one for the rest
    assert len(rows) == 3  # a row at once for each address counter opened; the rest are counted
    guard.tick(200.0, force=True)
    counted = sum(d.get("count", 1) for _, d in rows)
    assert counted == 100 and rows[-1][0] == "*"
