"""Issue 13: no client, input or failure may silence the carrier.

Each reproduction of the issue is a test here, over real sockets: the bad input is refused where it
enters (an SMPP status, HTTP 400 naming the field, a scenario file:line error) and a well-behaved
client on another bind is still answered within BOUND seconds afterwards. A background task that
fails is logged once with its traceback, the carrier reports `degraded` with the reason (/status,
/health), and the task goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from simulator.carrier.decider import DeciderDefaults
from simulator.control.http import ControlServer
from simulator.carrier.smsc import Smsc
from simulator.esme import Esme
from simulator.ledger.writer import LedgerWriter
from simulator.smpp.constants import CommandId, CommandStatus, Tag
from simulator.smpp.pdu import DataSm

from .conftest import carrier

S = CommandStatus
BOUND = 2.0  # seconds within which a well-behaved client must still be answered
GOOD = "8613800000001"
LONG = "8" * 30  # 21-64 characters: data_sm carries it, a deliver_sm (a receipt, an MO) cannot


# ============================================================================= helpers
async def ledgered(make_smsc, tmp_path: Path, durability: str = "commit", **kwargs: Any) -> Smsc:
    ledger = LedgerWriter(tmp_path / "ledger.sqlite", run_id="hardening", durability=durability)  # type: ignore[arg-type]
    return await make_smsc(carrier(**kwargs), ledger=ledger)


async def still_served(smsc: Smsc, *others: Esme, n: int = 5) -> None:
    """A fresh, well-behaved transceiver bind gets every submit answered (status 0) within BOUND s,
    and every receipt it asked for (on its bind or on `others`, the account's other receivers)."""
    esme = await asyncio.wait_for(Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass"), BOUND)
    try:
        resps = await asyncio.wait_for(
            asyncio.gather(*(esme.send_submit(GOOD, registered_delivery=1) for _ in range(n))), BOUND)
        assert [r.status for r in resps] == [0] * n
        wanted = {r.message_id for r in resps}
        seen: set[str] = set()
        deadline = asyncio.get_running_loop().time() + BOUND
        while not wanted <= seen:
            assert asyncio.get_running_loop().time() < deadline, f"receipts missing for {wanted - seen}"
            for bind in (esme, *others):
                while not bind.delivered.empty():
                    pdu = bind.delivered.get_nowait()
                    seen.add(pdu.tlvs[Tag.receipted_message_id].rstrip(b"\0").decode())
            await asyncio.sleep(0.01)
    finally:
        esme.close()


def http(method: str, url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={"X-Actor": "hardening"})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def control_of(smsc: Smsc) -> ControlServer:
    control = ControlServer(smsc)
    await control.start("127.0.0.1", 0)
    return control


# ============================================================================= item 1: data_sm addresses
@pytest.mark.parametrize("durability", ["commit", "async", "off"])
@pytest.mark.parametrize("registered_delivery", [0x01, 0x10, 0x11])
@pytest.mark.parametrize("field", ["source_addr", "destination_addr"])
async def test_a_data_sm_with_a_long_address_is_refused_and_the_next_client_is_still_answered(
        make_smsc, tmp_path, durability, registered_delivery, field):
    smsc = (await ledgered(make_smsc, tmp_path, durability) if durability != "off"
            else await make_smsc(carrier()))
    sender = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    fields = {"source_addr": "Acme", "destination_addr": GOOD, field: LONG}
    resp = await sender.request(DataSm(registered_delivery=registered_delivery, tlvs={0x0424: b"hi"}, **fields),
                                timeout=BOUND)
    expected = S.ESME_RINVSRCADR if field == "source_addr" else S.ESME_RINVDSTADR
    assert (resp.command_id, resp.status) == (CommandId.data_sm_resp, expected)
    # the sender's own bind is still up and served
    assert (await sender.submit(GOOD, timeout=BOUND)).status == 0
    await still_served(smsc, sender)
    assert smsc.health()["status"] == "ok"
    sender.close()


async def test_a_data_sm_with_a_twenty_character_address_is_still_accepted_and_receipted(make_smsc, tmp_path):
    smsc = await ledgered(make_smsc, tmp_path)
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    resp = await esme.request(DataSm(source_addr="1" * 20, destination_addr="8" * 20, registered_delivery=1,
                                     tlvs={0x0424: b"hi"}), timeout=BOUND)
    assert resp.status == 0
    receipt = await esme.next_delivery(timeout=BOUND)
    assert (receipt.source_addr, receipt.destination_addr) == ("8" * 20, "1" * 20)
    esme.close()


async def test_a_receipt_that_cannot_be_encoded_is_dropped_and_reported_and_the_ack_reader_goes_on(
        make_smsc, tmp_path, monkeypatch, caplog):
    """The second line of defence, under the exact conditions of the issue (durability commit, the
    receipt built in a commit callback): with the edge check switched off, the unsendable receipt is
    counted and reported once, and submits and receipts keep flowing."""
    import simulator.carrier.submits as submits_module

    monkeypatch.setattr(submits_module, "MAX_ADDRESS", 64)
    smsc = await ledgered(make_smsc, tmp_path)
    sender = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    with caplog.at_level(logging.ERROR, logger="carrier_sim"):
        for _ in range(2):
            resp = await sender.request(DataSm(source_addr="Acme", destination_addr=LONG, registered_delivery=1,
                                               tlvs={0x0424: b"hi"}), timeout=BOUND)
            assert resp.status == 0  # accepted: the edge check is off
        await still_served(smsc, sender)
    delivery = smsc.status()["accounts"]["qa"]["delivery"]
    assert delivery["unsendable"] == 2
    assert tracebacks(caplog, "sending a receipt deliver_sm") == 1  # logged once, counted twice
    health = smsc.health()
    assert health["status"] == "degraded"
    assert any("sending a receipt deliver_sm failed 2 times" in r and "PduEncodeError" in r for r in health["reasons"])
    sender.close()


def tracebacks(caplog: pytest.LogCaptureFixture, where: str) -> int:
    """How many log records about `where` carry a traceback."""
    return sum(1 for r in caplog.records if r.exc_info and where in r.getMessage())


# ============================================================================= item 2: non-finite numbers
LATENCY_SCENARIO = "name: hardening\n"


@pytest.mark.parametrize("raw, field", [
    (b'{"kind": "latency", "submit_resp": {"dist": "fixed", "ms": Infinity}}', "Infinity"),
    (b'{"kind": "latency", "submit_resp": {"dist": "fixed", "ms": -Infinity}}', "-Infinity"),
    (b'{"kind": "latency", "submit_resp": {"dist": "fixed", "ms": NaN}}', "NaN"),
    (b'{"kind": "latency", "submit_resp": {"dist": "fixed", "ms": 1e400}}', "1e400"),
    (b'{"kind": "latency", "submit_resp": {"dist": "fixed", "ms": 1e12}}', "submit_resp.fixed.ms"),
    (b'{"kind": "latency", "receipt": {"dist": "lognormal", "median_ms": 3, "p99_ms": 1e10}}', "p99_ms"),
    (b'{"kind": "out_of_order_receipt", "extra_delay_ms": 1e300}', "extra_delay_ms"),
    (b'{"kind": "provider_failure", "probability": 1.5}', "probability"),
    (b'{"kind": "stall", "end_s": 1e300}', "end_s"),
])
async def test_a_fault_with_a_non_finite_or_unbounded_number_is_refused_with_400_and_the_carrier_keeps_answering(
        scenario_smsc, tmp_path, raw, field):
    ledger = LedgerWriter(tmp_path / "ledger.sqlite", run_id="faults", durability="commit")
    smsc = await scenario_smsc(LATENCY_SCENARIO, ledger=ledger)
    control = await control_of(smsc)
    try:
        status, body = await asyncio.to_thread(http, "PUT", f"http://{control.address}/faults/x", raw=raw)
        assert status == 400 and field in body["error"], body
        assert "x" not in {f["name"] for f in smsc.faults()}
        await still_served(smsc)
        status, _ = await asyncio.to_thread(http, "DELETE", f"http://{control.address}/faults/x")
        assert status == 404  # it was never added
        await still_served(smsc)
        status, health = await asyncio.to_thread(http, "GET", f"http://{control.address}/health")
        assert (status, health) == (200, {"status": "ok"})
    finally:
        await control.stop()


@pytest.mark.parametrize("fault, line, field", [
    ("  - {kind: latency, submit_resp: {dist: fixed, ms: .inf}}", 3, "submit_resp.ms"),
    ("  - {kind: latency, receipt: {dist: uniform, min_ms: 0, max_ms: .nan}}", 3, "receipt.max_ms"),
    ("  - {kind: latency, receipt: {dist: fixed, ms: 90000000}}", 3, "receipt.ms"),
    ("  - {kind: provider_failure, probability: .nan}", 3, "probability"),
    ("  - {kind: maintenance, start: 10s, duration: .inf}", 3, "duration"),
    ("  - {kind: throttle, window: {start_s: 0, end_s: .inf}}", 3, "window.end_s"),
])
def test_a_scenario_fault_with_a_non_finite_or_unbounded_number_is_a_file_line_error(fault, line, field):
    from simulator.scenario import ScenarioError, parse_scenario

    with pytest.raises(ScenarioError) as refused:
        parse_scenario(f"name: x\nfaults:\n{fault}\n", "bad.yaml")
    assert f"bad.yaml:{line}" in str(refused.value) and field in str(refused.value)


class InfiniteOnce(DeciderDefaults):
    """A decider that, once, asks for a response delay that is not a number (as the PUT above used
    to): the carrier must answer that submit ESME_RSYSERR, not die in the ack reader."""

    def __init__(self) -> None:
        self.armed = True

    def decide(self, submission, now):
        from simulator.faults.outcome import Outcome

        if self.armed:
            self.armed = False
            return Outcome(response_delay=float("inf"), receipt_delay=0.02)
        return Outcome(receipt_delay=0.02)


@pytest.mark.parametrize("durability", ["commit", "off"])
async def test_a_response_delay_that_is_not_a_number_is_answered_rsyserr_and_the_carrier_goes_on(
        make_smsc, tmp_path, durability, caplog):
    decider = InfiniteOnce()
    if durability == "off":
        smsc = await make_smsc(carrier(), decider)
    else:
        smsc = await make_smsc(carrier(), decider, ledger=LedgerWriter(tmp_path / "l.sqlite", run_id="inf"))
    sender = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    with caplog.at_level(logging.ERROR, logger="carrier_sim"):
        resp = await sender.submit(GOOD, registered_delivery=1, timeout=BOUND)
        assert resp.status == S.ESME_RSYSERR
        await still_served(smsc, sender)
    await asyncio.sleep(0.1)
    assert sender.delivered.empty(), "a receipt went out for a message that was never given an id"
    assert tracebacks(caplog, "answering a submit") == 1
    assert smsc.health()["status"] == "degraded"
    sender.close()


# ============================================================================= item 5: MO values
MO = {"account": "qa", "source": "8613800000001", "destination": "1000", "text": "STOP"}


@pytest.mark.parametrize("change, field", [
    ({"source": "8" * 100}, "source"),
    ({"destination": "1" * 21}, "destination"),
    ({"source": ""}, "source"),
    ({"source": "86138\x00"}, "source"),
    ({"source": 8613800000001}, "source"),
    ({"data_coding": "x"}, "data_coding"),
    ({"data_coding": 256}, "data_coding"),
    ({"data_coding": -1}, "data_coding"),
    ({"data_coding": True}, "data_coding"),
    ({"data_coding": 1.5}, "data_coding"),
    ({"data_coding": 0x05}, "data_coding"),  # reserved: no alphabet
    ({"data_coding": 3, "text": "Привет"}, "text"),  # Latin-1 cannot carry it
    ({"text": "x" * 1601}, "text"),
    ({"text": None}, "text"),
    ({"account": ["qa"]}, "account"),
    ({"priority": 1}, "priority"),
])
async def test_an_mo_with_a_bad_value_is_refused_with_400_naming_the_field_and_the_next_receiver_still_binds(
        make_smsc, change, field):
    smsc = await make_smsc()
    control = await control_of(smsc)
    try:
        status, body = await asyncio.to_thread(http, "POST", f"http://{control.address}/mo", {**MO, **change})
        assert (status, body["field"]) == (400, field), body
        assert smsc.stats.mo == 0 and smsc.accounts["qa"].router.stats.queued == 0  # it never reached the queue
        rx = await asyncio.wait_for(Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "receiver"), BOUND)
        status, body = await asyncio.to_thread(http, "POST", f"http://{control.address}/mo", MO)
        assert (status, body) == (202, {"queued_parts": 1})
        assert (await rx.next_delivery(timeout=BOUND)).short_message == b"STOP"
        await still_served(smsc, rx)
        status, health = await asyncio.to_thread(http, "GET", f"http://{control.address}/health")
        assert (status, health) == (200, {"status": "ok"})
        rx.close()
    finally:
        await control.stop()


async def test_an_mo_body_with_a_non_finite_number_or_no_object_is_refused_with_400(make_smsc):
    smsc = await make_smsc()
    control = await control_of(smsc)
    try:
        for raw in (b'{"account": "qa", "source": "1", "destination": "2", "text": "x", "data_coding": NaN}',
                    b'{"account": "qa", "source": "1", "destination": "2", "text": "x", "data_coding": 1e999}',
                    b'[1, 2]', b'{"account": "qa"', b'\xff\xfe'):
            status, body = await asyncio.to_thread(http, "POST", f"http://{control.address}/mo", raw=raw)
            assert status == 400 and "error" in body, (raw, status, body)
        assert smsc.stats.mo == 0
    finally:
        await control.stop()


async def test_an_mo_with_a_long_source_is_refused_by_the_python_api_and_over_mqtt_control(make_smsc):
    from simulator.carrier.mo import MoError
    from simulator.control.core import ControlCore
    from simulator.control.mqtt import handle
    from simulator.events.topics import ControlTopic

    smsc = await make_smsc()
    core = ControlCore(smsc)
    with pytest.raises(MoError) as refused:
        smsc.inject_mo("qa", "8" * 100, "1000", "STOP")
    assert refused.value.field == "source"
    topic = ControlTopic("n1", "mo", "")
    reply = handle(core, topic, json.dumps({**MO, "source": "8" * 100, "request_id": "r1"}).encode(), "mqtt:test")
    assert reply == {"ok": False, "field": "source", "request_id": "r1",
                     "error": "source: has 100 characters; a deliver_sm address holds at most 20"}
    reply = handle(core, topic, json.dumps({**MO, "data_coding": "x"}).encode(), "mqtt:test")
    assert not reply["ok"] and reply["field"] == "data_coding"
    reply = handle(core, ControlTopic("n1", "faults", "x"),
                   b'{"kind": "latency", "submit_resp": {"dist": "fixed", "ms": Infinity}}', "mqtt:test")
    assert not reply["ok"] and "Infinity" in reply["error"]
    assert smsc.stats.mo == 0 and smsc.accounts["qa"].router.stats.queued == 0
    assert handle(core, topic, json.dumps(MO).encode(), "mqtt:test") == {"ok": True, "queued_parts": 1}


# ============================================================================= the supervisor
class RaisesTwice(DeciderDefaults):
    """The default decider, except that its first two decisions raise."""

    def __init__(self) -> None:
        self.failures = 2

    def decide(self, submission, now):
        from simulator.faults.outcome import Outcome

        if self.failures:
            self.failures -= 1
            raise RuntimeError("injected: the decider broke")
        return Outcome(receipt_delay=0.02)


async def test_a_decider_that_raises_is_logged_once_the_carrier_reports_degraded_and_other_binds_are_served(
        make_smsc, tmp_path, caplog):
    smsc = await make_smsc(carrier(), RaisesTwice(), ledger=LedgerWriter(tmp_path / "l.sqlite", run_id="sup"))
    control = await control_of(smsc)
    try:
        status, health = await asyncio.to_thread(http, "GET", f"http://{control.address}/health")
        assert (status, health) == (200, {"status": "ok"})
        victim = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
        with caplog.at_level(logging.ERROR, logger="carrier_sim"):
            for _ in range(2):  # each submit gets its one answer
                assert (await victim.submit(GOOD, timeout=BOUND)).status == S.ESME_RSYSERR
            await still_served(smsc, victim)
        assert tracebacks(caplog, "decider") == 1
        status, health = await asyncio.to_thread(http, "GET", f"http://{control.address}/health")
        assert status == 503 and health["status"] == "degraded"
        assert health["reasons"] == ["decider failed 2 times, last with RuntimeError: injected: the decider broke"]
        status, full = await asyncio.to_thread(http, "GET", f"http://{control.address}/status")
        assert full["health"] == "degraded" and full["supervisor"]["failures"][0]["count"] == 2
        victim.close()
    finally:
        await control.stop()
    rows = ledger_rows(tmp_path / "l.sqlite", "SELECT submit_status, sla_class, reason FROM messages WHERE reason != ''")
    assert rows == [(S.ESME_RSYSERR, "excluded", "simulator_error")] * 2  # recorded, out of the denominator


def ledger_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_a_commit_callback_that_raises_once_does_not_stop_the_acknowledgement_reader(
        make_smsc, tmp_path, caplog):
    smsc = await ledgered(make_smsc, tmp_path)
    real = smsc.receipts.send_final_receipts
    broken = []

    def send_final_receipts_once_broken(message):
        if not broken:
            broken.append(message.message_id)
            raise RuntimeError("injected: a commit callback broke")
        real(message)

    smsc.receipts.send_final_receipts = send_final_receipts_once_broken  # type: ignore[method-assign]
    victim = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    with caplog.at_level(logging.ERROR, logger="carrier_sim"):
        assert (await victim.submit(GOOD, registered_delivery=1, timeout=BOUND)).status == 0
        deadline = asyncio.get_running_loop().time() + BOUND
        while not broken:
            assert asyncio.get_running_loop().time() < deadline, "the final was never acknowledged"
            await asyncio.sleep(0.01)
        await still_served(smsc, victim)
    assert tracebacks(caplog, "ledger commit callback send_final_receipts_once_broken") == 1
    assert smsc.health()["status"] == "degraded"
    assert not smsc.supervisor.tasks["ledger-acks"].done()
    victim.close()


class LinkCheckRaisesOnce(DeciderDefaults):
    """A decider whose periodic link check raises once: the housekeeping loop's body fails."""

    wants_link_checks = True

    def __init__(self) -> None:
        self.checks = 0

    def decide(self, submission, now):
        from simulator.faults.outcome import Outcome

        return Outcome(receipt_delay=0.02)

    def decide_link(self, link, now):
        self.checks += 1
        if self.checks == 1:
            raise RuntimeError("injected: a link check broke")
        return None


async def test_a_housekeeping_loop_that_raises_is_restarted_and_reported(make_smsc, caplog):
    decider = LinkCheckRaisesOnce()
    smsc = await make_smsc(carrier(), decider)
    with caplog.at_level(logging.ERROR, logger="carrier_sim"):
        victim = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
        deadline = asyncio.get_running_loop().time() + BOUND
        while decider.checks < 3:  # it failed once, was restarted, and checks links again
            assert asyncio.get_running_loop().time() < deadline, f"{decider.checks} link checks"
            await asyncio.sleep(0.02)
        await still_served(smsc, victim)
    assert tracebacks(caplog, "task housekeeping") == 1
    assert smsc.supervisor.restarts == {"housekeeping": 1}
    assert smsc.health()["reasons"] == ["task housekeeping failed once, last with RuntimeError: injected: a link check broke"]
    victim.close()


async def test_a_timer_item_that_raises_does_not_stop_the_others_in_its_tick(make_smsc, caplog):
    smsc = await make_smsc()
    fired = []

    def broken_timer(arg):
        raise RuntimeError("injected: a timer broke")

    due = smsc.clock() + 0.01
    with caplog.at_level(logging.ERROR, logger="carrier_sim"):
        smsc.schedule(due, fired.append, "before")
        smsc.schedule(due, broken_timer, None)
        smsc.schedule(due, fired.append, "after")
        await asyncio.sleep(0.1)
        await still_served(smsc)
    assert fired == ["before", "after"]
    assert tracebacks(caplog, "timer broken_timer") == 1
    assert smsc.health()["status"] == "degraded"


async def test_a_handler_that_raises_answers_the_request_and_keeps_the_link(make_smsc, monkeypatch, caplog):
    from simulator.smpp.pdu import EnquireLink

    smsc = await make_smsc()
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")

    def broken(conn, pdu):
        raise RuntimeError("injected: a handler broke")

    monkeypatch.setitem(smsc.handlers, CommandId.enquire_link, broken)
    with caplog.at_level(logging.ERROR, logger="carrier_sim"):
        resp = await esme.request(EnquireLink(), timeout=BOUND)
    assert (resp.command_id, resp.status) == (CommandId.generic_nack, S.ESME_RSYSERR)
    monkeypatch.undo()
    assert (await esme.submit(GOOD, timeout=BOUND)).status == 0  # the same link is still served
    assert tracebacks(caplog, "handling enquire_link") == 1
    esme.close()


@pytest.mark.parametrize("name, body, error", [
    ("numbers", {}, "give the changes"),
    ("numbers", {"enabled": "no"}, "enabled: must be true or false"),
    ("numbers", {"enabled": 0}, "enabled: must be true or false"),
    ("x", {"kind": "no_response", "enabled": "yes"}, "enabled: must be true or false"),
])
async def test_a_fault_change_that_is_empty_or_not_boolean_is_refused_with_400_not_500(scenario_smsc, name, body,
                                                                                        error):
    smsc = await scenario_smsc('name: sections\nnumbers:\n  groups:\n    active: {prefix: "8613800", state: active}\n')
    control = await control_of(smsc)
    try:
        status, reply = await asyncio.to_thread(http, "PUT", f"http://{control.address}/faults/{name}", body)
        assert status == 400 and error in reply["error"], reply
        assert smsc.health() == {"status": "ok"}
        assert [f["enabled"] for f in smsc.faults() if f["name"] == "numbers"] == [True]
    finally:
        await control.stop()
