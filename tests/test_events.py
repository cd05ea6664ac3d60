"""Live events and control over MQTT, with a real mosquitto: the documented schema, control changes
mid-run, a broker restart that costs no ledger record, and two nodes metered together exactly as
their merged ledgers are."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Self

import pytest

from simulator.control.http import ControlServer
from simulator.carrier.messages import MessageIdAllocator
from simulator.carrier.smsc import Smsc
from simulator.esme import Esme
from simulator.events import schema
from simulator.events.follow import follow
from simulator.events.live_meter import LiveMeter, combined_report
from simulator.events.publisher import EventPublisher
from simulator.events.settings import SettingsError, parse_url
from simulator.ledger.reader import LedgerReader
from simulator.ledger.schema import DELIVERY_COLUMNS, FINAL_COLUMNS, MESSAGE_COLUMNS
from simulator.ledger.writer import LedgerWriter
from simulator.metering.meter import sla_figures
from simulator.metering.sources import read_ledgers, report_from_ledgers
from simulator.scenario import parse_scenario
from simulator.smpp.constants import CommandStatus

from .conftest import FAST
from .waiting import eventually

aiomqtt = pytest.importorskip("aiomqtt")
S = CommandStatus
SCHEMA_DOC = Path(__file__).resolve().parents[1] / "simulator" / "events" / "SCHEMA.md"

METERED = """
name: metered
seed: 5
numbers:
  groups:
    active: {prefix: "8613800", state: active}
    nonexistent: {prefix: "8613900", state: nonexistent}
    switched_off: {prefix: "8613700", state: powered_off}
faults:
  - {kind: provider_failure, probability: 0.2, receipt: {state: UNDELIV, err: "069"}}
  - {kind: latency, name: slow, probability: 0.05, receipt: {dist: fixed, ms: 60000}}
sla:
  prices: {notification: 0.045}
"""
PREFIXES = ["8613800"] * 8 + ["8613900", "8613700"]
SLOW_RECEIPT_S = 60  # METERED's `slow` latency fault: these messages are still pending when the nodes stop


def scenario_of(text: str):
    scenario = parse_scenario(text)
    return scenario.model_copy(update={"carrier": scenario.carrier.model_copy(update=FAST)})


class Collector:
    """A test client: records what arrives on `topic_filter`, sends requests (MQTT 5)."""

    def __init__(self, url: str, topic_filter: str) -> None:
        self.settings = parse_url(url)
        self.topic_filter = topic_filter
        self.messages: list[aiomqtt.Message] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Self:
        self.client = aiomqtt.Client(**self.settings.client_kwargs(), protocol=aiomqtt.ProtocolVersion.V5)
        await self.client.__aenter__()
        await self.client.subscribe(self.topic_filter, qos=1)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for message in self.client.messages:
            self.messages.append(message)

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.client.__aexit__(None, None, None)

    def payloads(self, suffix: str) -> list[dict]:
        return [json.loads(m.payload) for m in self.messages if str(m.topic).endswith(suffix)]

    async def wait_for(self, predicate, timeout: float = 10.0, what: str = "") -> None:
        await eventually(predicate, timeout, what, interval=0.02)

    async def request(self, topic: str, body: dict | None, response_topic: str | None = None,
                      correlation: bytes | None = None) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        properties = None
        if response_topic is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = response_topic
            if correlation is not None:
                properties.CorrelationData = correlation
        payload = b"" if body is None else json.dumps(body).encode()
        await self.client.publish(topic, payload, qos=1, properties=properties)


async def until(predicate, timeout: float = 10.0, what: str = "") -> None:
    await eventually(predicate, timeout, what, interval=0.02)


async def until_control_answers(probe: Collector, topic: str, reply_to: str, timeout: float = 10.0) -> None:
    """Until the node answers a control request on `topic` (replying to `reply_to`, which `probe`
    follows): then its control subscriptions are in place. A request published before they are is
    lost (nobody subscribed), so it is sent again until one is answered."""
    deadline = time.monotonic() + timeout
    while not probe.messages:
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for an answer to {topic}"
        await probe.request(topic, None, reply_to)
        with contextlib.suppress(AssertionError):
            await eventually(lambda: probe.messages, 0.25, interval=0.01)


def only_slow_messages_pending(smsc: Smsc) -> bool:
    """Every message but those held by the 60 s latency fault has its final state (powered-off
    numbers expire after 10 receipt delays, 200 ms)."""
    return all(m.outcome.receipt_delay >= SLOW_RECEIPT_S for m in smsc.store.pending())


# ------------------------------------------------------------------------------------------ settings
def test_broker_urls_carry_credentials_prefix_tls_and_options():
    s = parse_url("mqtt://alice:s%40cret@broker.example:1884/lab/sim?buffer=500&qos=0")
    assert (s.host, s.port, s.prefix, s.username, s.password, s.tls) == (
        "broker.example", 1884, "lab/sim", "alice", "s@cret", False)
    assert (s.buffer, s.qos) == (500, 0)
    assert "s@cret" not in s.url and "cret" not in s.url
    default = parse_url("mqtt://127.0.0.1")
    assert (default.port, default.prefix, default.qos) == (1883, "carrier-sim", 1)
    tls = parse_url("mqtts://broker.example?insecure=true")
    assert (tls.port, tls.tls, tls.insecure) == (8883, True, True)
    assert tls.ssl_context() is not None
    for bad in ("http://x", "mqtt://", "mqtt://h/a+b", "mqtt://h?nope=1", "mqtt://h?qos=2",
                "mqtt://h?ca=/etc/ssl/certs/ca-certificates.crt"):
        with pytest.raises(SettingsError):
            parse_url(bad)


# ------------------------------------------------------------------------------------------ events
def documented_fields() -> set[str]:
    return set(re.findall(r"^\s*([a-z_]+)\s{2,}", SCHEMA_DOC.read_text(), re.MULTILINE))


async def test_events_arrive_in_batches_with_the_documented_schema(mqtt_broker, scenario_smsc):
    smsc = await scenario_smsc(METERED)
    settings = parse_url(mqtt_broker.url + "/test").with_options(batch_records=50)
    async with Collector(mqtt_broker.url, "test/#") as seen:
        publisher = EventPublisher(smsc, settings, "n1")
        await publisher.start()
        esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
        responses = await asyncio.gather(*[esme.send_submit(f"{PREFIXES[i % 10]}{i:06d}", registered_delivery=1)
                                           for i in range(120)])
        accepted = {r.message_id for r in responses if r.status == 0}

        def outcome_rows(table: str) -> list[list]:
            return [row for p in seen.payloads("/outcomes") for row in p[table]["rows"]]

        await seen.wait_for(lambda: len(outcome_rows("messages")) == 120 and seen.payloads("/metering")
                            and seen.payloads("/metering")[-1]["accounts"]["qa"]["sends"] == 120, what="outcomes")
        await seen.wait_for(lambda: seen.payloads("/receipts"), what="receipts")
        esme.close()
        await smsc.stop(grace=0.2)
        await publisher.stop()
        await seen.wait_for(lambda: seen.payloads("/status")[-1]["state"] == "offline", what="offline status")

    documented = documented_fields()
    batches = seen.payloads("/outcomes")
    assert [b["seq"] for b in batches] == list(range(1, len(batches) + 1))
    for batch in batches:
        assert batch["schema"] == "carrier-sim/outcomes/1" and batch["node"] == "n1"
        assert set(batch) <= documented, set(batch) - documented
        assert batch["messages"]["columns"] == list(MESSAGE_COLUMNS)
        assert batch["finals"]["columns"] == list(FINAL_COLUMNS)
        assert 0 < len(batch["messages"]["rows"]) + len(batch["finals"]["rows"]) <= 50
        assert all(len(row) == len(MESSAGE_COLUMNS) for row in batch["messages"]["rows"])
    messages = outcome_rows("messages")
    assert {row[MESSAGE_COLUMNS.index("message_id")] for row in messages} - {None} == accepted
    finals = outcome_rows("finals")
    assert {row[FINAL_COLUMNS.index("final_state")] for row in finals} >= {"DELIVRD", "UNDELIV"}
    receipts = seen.payloads("/receipts")
    assert all(r["schema"] == "carrier-sim/receipts/1" and r["deliveries"]["columns"] == list(DELIVERY_COLUMNS)
               for r in receipts)
    assert all(set(r) <= documented for r in receipts)
    metering = seen.payloads("/metering")[-1]
    assert metering["schema"] == "carrier-sim/metering/1" and set(metering) <= documented
    qa = metering["accounts"]["qa"]
    assert {"sends", "valid_sends", "definite_failures", "pending", "rate"} <= set(qa) <= documented
    assert qa["sends"] == 120 and qa["valid_sends"] + qa["pending"] + qa["left_out"] == 120
    assert qa["rate"] == pytest.approx(1 - qa["definite_failures"] / qa["valid_sends"])
    statuses = seen.payloads("/status")
    assert statuses[0]["schema"] == "carrier-sim/status/1" and statuses[0]["state"] == "online"
    assert set(statuses[0]) <= documented
    last = statuses[-1]
    assert last["state"] == "offline" and last["reason"] == "stopped"
    assert last["mqtt"]["published"]["outcomes"] == len(messages) + len(finals)
    assert last["mqtt"]["unpublished"]["total"] == 0
    audit = [e for p in seen.payloads("/audit") for e in p["entries"]]
    assert any(e["action"] == "bind" and e["system_id"] == "qa" for e in audit)
    assert all(p["schema"] == "carrier-sim/audit/1" and set(p) <= documented for p in seen.payloads("/audit"))
    retained = [m for m in seen.messages if str(m.topic) == "test/n1/status"]
    assert retained  # published retained: a late subscriber gets the last status at once
    async with Collector(mqtt_broker.url, "test/n1/status") as late:
        await late.wait_for(lambda: late.messages, what="the retained status")
        assert late.messages[0].retain and json.loads(late.messages[0].payload)["state"] == "offline"


# ------------------------------------------------------------------------------------------ control
async def test_control_over_mqtt_takes_effect_on_the_same_bind_and_is_audited(mqtt_broker, scenario_smsc):
    smsc = await scenario_smsc("name: live\n")
    publisher = EventPublisher(smsc, parse_url(mqtt_broker.url + "/ctl"), "n1")
    await publisher.start()
    try:
        async with Collector(mqtt_broker.url, "ctl/+/control/reply") as replies, \
                Collector(mqtt_broker.url, "alice/replies") as mine, \
                Collector(mqtt_broker.url, "probe/replies") as probe:
            await until(lambda: publisher.connected, what="connection")
            # the subscriptions are made right after connecting, ctl/n1/... first, ctl/all/... last
            await until_control_answers(probe, "ctl/all/control/status", "probe/replies")
            esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
            assert (await esme.submit("8613800000001")).status == 0

            outage = {"kind": "provider_failure", "submit_status": 8, "receipt": None, "submit_share": 1}
            await mine.request("ctl/n1/control/faults/outage", outage, "alice/replies", b"42")
            await mine.wait_for(lambda: mine.messages, what="the reply")
            reply = mine.messages[0]
            assert reply.properties.CorrelationData == b"42"
            body = json.loads(reply.payload)
            assert body["ok"] is True and body["fault"]["name"] == "outage" and body["node"] == "n1"
            assert (await esme.submit("8613800000001")).status == S.ESME_RSYSERR  # same bind, new behaviour

            await replies.request("ctl/n1/control/faults/outage", {"probability": 7, "request_id": "r2"})
            await replies.wait_for(lambda: replies.messages, what="the error reply")
            error = json.loads(replies.messages[0].payload)
            assert error["ok"] is False and "probability" in error["error"] and error["request_id"] == "r2"
            assert str(replies.messages[0].topic) == "ctl/n1/control/reply"

            await replies.request("ctl/all/control/faults/outage", None)  # empty payload: remove
            await replies.wait_for(lambda: len(replies.messages) == 2, what="the removal")
            assert json.loads(replies.messages[1].payload) == {
                "schema": "carrier-sim/control-reply/1", "node": "n1", "request": "ctl/all/control/faults/outage",
                "ok": True, "removed": "outage"}
            assert (await esme.submit("8613800000001")).status == 0

            await replies.request("ctl/n1/control/mo", {"account": "qa", "source": "8613800000001",
                                                        "destination": "1000", "text": "STOP"})
            assert (await esme.next_delivery()).short_message == b"STOP"
            await replies.request("ctl/n1/control/mo", {"account": "nobody", "source": "1", "destination": "2",
                                                        "text": "x"})
            await replies.request("ctl/n1/control/status", None)
            await replies.request("ctl/n1/control/reboot", None)
            await replies.wait_for(lambda: len(replies.messages) == 6, what="mo, status and unknown replies")
            mo_ok, mo_bad, status, unknown = (json.loads(m.payload) for m in replies.messages[2:6])
            assert mo_ok["ok"] and mo_ok["queued_parts"] == 1
            assert not mo_bad["ok"] and "nobody" in mo_bad["error"]
            assert status["ok"] and status["status"]["stats"]["submits"] == 3
            assert status["status"]["mqtt"]["connected"] is True
            assert not unknown["ok"] and "unknown control command" in unknown["error"]
            esme.close()
    finally:
        await publisher.stop()
    changes = [(e["action"], e["actor"]) for e in smsc.audit_log if e["action"].startswith("fault.") or
               e["action"] == "mo"]
    assert changes == [("fault.add", "mqtt:alice/replies"), ("fault.remove", "mqtt:anonymous"),
                       ("mo", "mqtt:anonymous")]


# ------------------------------------------------------------------------------------------ outage
async def test_a_broker_restart_loses_no_ledger_record_and_the_simulator_keeps_answering(mqtt_broker, tmp_path):
    scenario = scenario_of("name: outage\n")
    ledger = LedgerWriter(tmp_path / "ledger.sqlite", run_id="run-outage", scenario=scenario.name)
    smsc = Smsc.from_scenario(scenario, ledger=ledger, housekeeping_interval=0.05)
    await smsc.start()
    settings = parse_url(mqtt_broker.url + "/out?buffer=300&backoff_min=0.1&backoff_max=0.5")
    publisher = EventPublisher(smsc, settings, "n1")
    await publisher.start()
    control = ControlServer(smsc, extra_status=[publisher.status_section])
    await control.start("127.0.0.1", 0)
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    answered: list[int] = []
    slowest = 0.0
    running = True

    async def traffic() -> None:
        nonlocal slowest
        i = 0
        while running:
            started = time.monotonic()
            batch = [esme.send_submit(f"86138{i + k:08d}", registered_delivery=1) for k in range(10)]
            i += 10
            for resp in await asyncio.wait_for(asyncio.gather(*batch), 5):
                answered.append(resp.status)
            slowest = max(slowest, time.monotonic() - started)
            await asyncio.sleep(0.005)

    def http_status() -> dict:
        with urllib.request.urlopen(f"http://{control.address}/status", timeout=5) as resp:
            return json.loads(resp.read())

    try:
        await until(lambda: publisher.connected, what="the first connection")
        load = asyncio.create_task(traffic())
        await until(lambda: len(answered) >= 100 and publisher.status()["published"]["outcomes"] >= 100,
                    what="traffic answered and published")
        mqtt_broker.stop()
        before = len(answered)
        await until(lambda: not publisher.connected, 5, "the lost connection")
        # still answering while the broker is away, until more than the buffer (300 records) waits
        await until(lambda: len(answered) > before + 100 and publisher.status()["unpublished"]["total"] > 0,
                    what="100 more answers and an overflowing buffer while the broker is away")
        assert len(answered) > before + 100 and not publisher.connected
        status = (await asyncio.to_thread(http_status))["mqtt"]
        assert status["connected"] is False and status["disconnections"] == 1 and status["last_error"]
        assert status["unpublished"]["total"] > 0  # the buffer (300 records) overflowed meanwhile
        mqtt_broker.start()
        async with Collector(mqtt_broker.url, "out/n1/status") as watcher:
            await until(lambda: publisher.connected, 10, "the reconnection")
            answered_at_reconnection = len(answered)
            published = publisher.status()["published"]["outcomes"]
            await until(lambda: len(answered) > answered_at_reconnection + 100
                        and publisher.status()["published"]["outcomes"] > published,
                        what="traffic answered and published after the reconnection")
            running = False
            await load
            await watcher.wait_for(lambda: any(p["mqtt"]["disconnections"] == 1 for p in watcher.payloads("/status")),
                                   what="a status that tells of the outage")
            told = [p for p in watcher.payloads("/status") if p["mqtt"]["disconnections"] == 1][-1]
            assert told["state"] == "online" and told["mqtt"]["unpublished"]["total"] > 0
    finally:
        running = False
        esme.close()
        await control.stop()
        await smsc.stop(grace=0.2)
        await publisher.stop()
    # slowest: the longest wait for a batch of 10 submits (a few ms here). The bound is about
    # correctness, not speed: the carrier must never wait on the broker (reconnect backoff up to
    # 0.5 s, a connect attempt to a stopped broker) to answer; generous for a loaded machine.
    assert answered and set(answered) == {0} and slowest < 2.0
    with LedgerReader(tmp_path / "ledger.sqlite") as reader:
        assert reader.count() == len(answered)  # every acknowledged submit is in the ledger
        finals = reader.conn.execute("SELECT COUNT(*) FROM finals").fetchone()[0]
    mqtt = publisher.status()
    # every record was either published or counted as not published: none went missing silently
    assert mqtt["published"]["outcomes"] + mqtt["unpublished"]["outcomes"] == len(answered) + finals
    assert mqtt["waiting"]["total"] == 0 and mqtt["connects"] == 2


# ------------------------------------------------------------------------------------------ nodes
async def test_two_nodes_metered_together_equal_their_merged_ledgers(mqtt_broker, tmp_path):
    scenario = scenario_of(METERED)
    settings = parse_url(mqtt_broker.url + "/pair")
    meter = LiveMeter()
    stop, ready = asyncio.Event(), asyncio.Event()
    following = asyncio.create_task(follow(settings, meter, stop, ready))
    await asyncio.wait_for(ready.wait(), 10)
    nodes = []
    for n in (1, 2):
        ledger = LedgerWriter(tmp_path / f"node-{n}.sqlite", run_id=f"run-{n}", node_id=f"node-{n}",
                              scenario=scenario.name, seed=scenario.seed, config=scenario.model_dump(mode="json"))
        smsc = Smsc.from_scenario(scenario, ledger=ledger, housekeeping_interval=0.05,
                                  message_ids=MessageIdAllocator(str(n)))
        await smsc.start()
        publisher = EventPublisher(smsc, settings, f"node-{n}")
        await publisher.start()
        nodes.append((smsc, publisher))
    per_node = {1: 150, 2: 90}
    try:
        for n, (smsc, _) in zip((1, 2), nodes):
            esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
            await asyncio.gather(*[esme.send_submit(f"{PREFIXES[i % 10]}{n}{i:05d}", registered_delivery=1)
                                   for i in range(per_node[n])])
            esme.close()
        for smsc, _ in nodes:
            await until(lambda: only_slow_messages_pending(smsc), what="every final state but the 60 s ones")
    finally:
        for smsc, publisher in nodes:
            await smsc.stop(grace=0.2)
            await publisher.stop()
    await until(lambda: sum(n.records for n in meter.nodes.values()) >=
                sum(p.published["outcomes"] for _, p in nodes), what="the meter to catch up")
    stop.set()
    await following

    ledgers = read_ledgers([tmp_path / "node-1.sqlite", tmp_path / "node-2.sqlite"])
    assert len(ledgers.records) == sum(per_node.values())
    truth = sla_figures(ledgers.records)
    live = meter.combined()
    assert live.outcomes == truth.outcomes
    assert truth.pending and truth.definite_failures and truth.left_out_total  # every kind of record is there
    assert live.rate == truth.rate
    assert meter.summary()["complete"] is True
    from simulator.events.figures import figures_snapshot

    for n, (_, publisher) in zip((1, 2), nodes):  # each node's own metering snapshot is its ledger's too
        with LedgerReader(tmp_path / f"node-{n}.sqlite") as reader:
            assert publisher.figures.snapshot() == {"qa": figures_snapshot(sla_figures(reader.records()))}
    report = combined_report(meter)
    from_ledgers = report_from_ledgers([tmp_path / "node-1.sqlite", tmp_path / "node-2.sqlite"])
    keep = ("account", "cycle", "sends", "valid_sends", "definite_failures", "success_rate", "pending",
            "left_out", "billing", "compensation")
    assert [{k: c[k] for k in keep} for c in report["cycles"]] == [{k: c[k] for k in keep}
                                                                   for c in from_ledgers["cycles"]]
    assert report["sources"]["terms"] == "the sla terms announced by node node-1"


# ------------------------------------------------------------------------------------------ commands
async def test_serve_and_meter_commands_and_the_last_will(mqtt_broker, tmp_path):
    ready = tmp_path / "ready"
    serve = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "simulator.cli", "serve", "--listen", "127.0.0.1:0", "--control", "off",
         "--ledger", str(tmp_path / "serve.sqlite"), "--node-id", "edge-7", "--ready-file", str(ready),
         "--mqtt", mqtt_broker.url + "/cmd"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    report_path = tmp_path / "meter.json"
    meter = None
    try:
        await until(lambda: ready.exists() and ready.read_text().strip(), 20, "serve to start")
        host, _, port = ready.read_text().split()[0].rpartition(":")
        meter = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-m", "simulator.cli", "-v", "meter", "--mqtt", mqtt_broker.url + "/cmd",
             "--duration", "4", "--output", str(report_path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        def meter_subscribed() -> list[bytes]:
            """The meter's output up to its "subscribed" log line (-v), read as it comes."""
            lines = []
            for line in meter.stdout:
                lines.append(line)
                if b"meter: subscribed to" in line:
                    return lines
            output = b"".join(lines).decode(errors="replace")
            raise AssertionError(f"the meter ended before subscribing:\n{output}")

        async with Collector(mqtt_broker.url, "cmd/edge-7/status") as status:
            await status.wait_for(lambda: status.payloads("/status"), 10, "the node's status")
            # (if it hangs, the reading thread ends when the meter is killed below)
            early = await asyncio.wait_for(asyncio.to_thread(meter_subscribed), 20)
            esme = await Esme.bound(host, int(port), "qa", "qa-pass")
            await asyncio.gather(*[esme.send_submit(f"86138{i:08d}") for i in range(50)])
            esme.close()
            out, _ = await asyncio.to_thread(meter.communicate, timeout=30)
            out = b"".join(early) + out
            assert meter.returncode == 0, out.decode(errors="replace")
            report = json.loads(report_path.read_text())
            assert report["schema"] == "carrier-sim/report/1"
            assert report["outcomes"]["sends"] == 50 and report["sources"]["mqtt"]["nodes"]["edge-7"]["records"] >= 50
            serve.send_signal(signal.SIGKILL)  # no goodbye: the broker publishes the last will
            serve.wait(10)
            await status.wait_for(lambda: status.payloads("/status")[-1]["state"] == "offline", 10, "the last will")
            assert "last will" in status.payloads("/status")[-1]["reason"]
    finally:
        for proc in (serve, meter):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_the_schema_document_names_every_schema():
    text = SCHEMA_DOC.read_text()
    for name in (schema.OUTCOMES, schema.RECEIPTS, schema.METERING, schema.STATUS, schema.AUDIT, schema.REPLY):
        assert name in text


def test_a_nodes_bulk_figures_equal_the_row_by_row_figures():
    import random

    from simulator.events.figures import LiveFigures, NodeFigures

    rng = random.Random(4)
    node, live = NodeFigures(), LiveFigures()
    open_messages: list[tuple] = []
    for round_ in range(40):
        messages, finals = [], []
        for _ in range(rng.randrange(0, 30)):
            account = rng.choice(["qa", "b2"]) if round_ > 10 else "qa"  # one account first, then two
            if rng.random() < 0.2:
                messages.append(("r", None, account, 1, "1", f"86{rng.randrange(99)}", "n", 0, 1, 0.0, 11, 1,
                                 "invalid_number", "nonexistent", "numbers"))
            else:
                row = ("r", f"{rng.randrange(10**9)}", account, 1, "1", f"86{rng.randrange(99)}", "n", 0, 1, 0.0, 0,
                       1, "pending", "", "")
                messages.append(row)
                open_messages.append(row)
        for m in list(open_messages):
            if rng.random() < 0.5:
                open_messages.remove(m)
                cls, reason = rng.choice([("delivered", ""), ("definite_failure", "provider_failure"),
                                          ("excluded", "maintenance")])
                finals.append(("r", m[1], m[5], "X", "000", 1.0, cls, reason))
        node.add_messages(messages)
        node.add_finals(finals)
        for m in messages:
            live.message(m[0], m[1], m[2], m[5], m[12], m[13])
        for f in finals:
            live.final(f[0], f[1], f[2], f[6], f[7])
        assert node.snapshot() == live.snapshot()
    assert node.multi and set(node.snapshot()) == {"qa", "b2"}


async def test_carrier_sim_run_publishes_while_the_run_goes(mqtt_broker, tmp_path):
    root = Path(__file__).resolve().parents[1]
    async with Collector(mqtt_broker.url, "run/+/outcomes") as seen:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "simulator.cli", "run", str(root / "scenarios" / "baseline.yaml"), "--report-dir",
             str(tmp_path / "report"), "--duration", "2s", "--users", "2", "--mqtt", mqtt_broker.url + "/run"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        with LedgerReader(tmp_path / "report" / "ledger.sqlite") as reader:
            submitted = reader.count()
        await seen.wait_for(lambda: sum(len(p["messages"]["rows"]) for p in seen.payloads("/outcomes")) == submitted,
                            what="every message record of the run")
    assert submitted > 0 and {p["node"] for p in seen.payloads("/outcomes")} == {"node-1"}


async def test_a_tls_broker_with_a_password_is_reached_with_the_url_and_a_ca_file(tmp_path, scenario_smsc):
    import shutil

    from simulator.events.broker import LocalBroker, find_mosquitto

    if find_mosquitto() is None or shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs mosquitto, mosquitto_passwd and openssl")
    cert, key, passwords = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "passwd"
    await asyncio.to_thread(
        subprocess.run,
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days",
         "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    await asyncio.to_thread(subprocess.run, ["mosquitto_passwd", "-b", "-c", str(passwords), "alice", "s3cret:@/"],
                            check=True)
    broker = LocalBroker(workdir=tmp_path / "tls-broker", tls=(cert, key), password_file=passwords).start()
    try:
        smsc = await scenario_smsc("name: tls\n")
        url = f"mqtts://alice:s3cret%3A%40%2F@127.0.0.1:{broker.port}/secure?backoff_min=0.1&backoff_max=0.3"
        good = EventPublisher(smsc, parse_url(url, ca_file=str(cert)), "n1")
        wrong = EventPublisher(smsc, parse_url(url.replace("s3cret", "nope"), ca_file=str(cert)), "n2")
        untrusted = EventPublisher(smsc, parse_url(url), "n3")  # the system CAs do not know our certificate
        for publisher in (good, wrong, untrusted):
            await publisher.start()
        await until(lambda: good.connected, 10, "the TLS connection")
        await until(lambda: wrong.last_error and untrusted.last_error, 10, "the refusals")
        assert not wrong.connected and not untrusted.connected
        assert "s3cret" not in good.status()["broker"]
        for publisher in (good, wrong, untrusted):
            await publisher.stop(timeout=2)
    finally:
        broker.close()
