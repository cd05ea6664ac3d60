"""The control API's two transports, HTTP and MQTT (a real mosquitto, real sockets), answer the same
request the same way; and the MQTT publisher's tasks never die silently.

Each transport gets its own carrier from the same scenario, and both are sent the same requests in
the same order: what one accepts, refuses or answers, the other must too. The expected answers are
written out here, not taken from simulator/control.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from typing import Any

import pytest

from simulator.control.core import ControlError, check_actor
from simulator.control.http import ControlServer
from simulator.esme import Esme
from simulator.events.publisher import EventPublisher
from simulator.events.settings import parse_url

from .test_events import Collector, until, until_control_answers

aiomqtt = pytest.importorskip("aiomqtt")

MO = {"account": "qa", "source": "8613800000001", "destination": "1000", "text": "STOP"}
OUTAGE = {"kind": "provider_failure", "submit_status": 8, "receipt": None, "submit_share": 1}
NOT_JSON = object()  # a marker: the body below is sent as it is


def http(method: str, url: str, raw: bytes | None, actor: str = "tester") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=raw, method=method, headers={"X-Actor": actor})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class MqttCaller:
    """Sends one control request at a time as user `tester` and waits for its reply (MQTT 5)."""

    def __init__(self, url: str, prefix: str, node: str) -> None:
        self.url, self.prefix, self.node = url, prefix, node
        self.replies = Collector(url, "caller/replies")
        self.n = 0

    async def __aenter__(self) -> MqttCaller:
        await self.replies.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.replies.__aexit__(*exc)

    async def call(self, path: str, raw: bytes, actor: str = "tester") -> dict[str, Any]:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.n += 1
        correlation = str(self.n).encode()
        properties = Properties(PacketTypes.PUBLISH)
        properties.ResponseTopic = "caller/replies"
        properties.CorrelationData = correlation
        properties.UserProperty = [("actor", actor)]
        await self.replies.client.publish(f"{self.prefix}/{self.node}/control/{path}", raw, qos=1,
                                          properties=properties)
        mine = lambda: [m for m in self.replies.messages if m.properties.CorrelationData == correlation]  # noqa: E731
        await until(mine, what=f"the reply to {path}")
        return json.loads(mine()[0].payload)


# (HTTP method, path, body; the MQTT payload is the same body, or empty for DELETE and GET;
#  the field of the MQTT reply that carries the HTTP body, None when the body's fields are the reply's)
REQUESTS: list[tuple[str, str, Any, str | None]] = [
    ("PUT", "faults/outage", OUTAGE, "fault"),
    ("PUT", "faults/outage", {"probability": 7}, "fault"),
    ("PUT", "faults/outage", {"enabled": "no"}, "fault"),
    ("PUT", "faults/outage", {}, "fault"),
    ("PUT", "faults/outage", {"enabled": False}, "fault"),
    ("PUT", "faults/x", b'{"kind": "latency", "submit_resp": {"dist": "fixed", "ms": Infinity}}', "fault"),
    ("PUT", "faults/x", b'{"kind": "latency", "submit_resp": {"dist": "fixed", "ms": 1e400}}', "fault"),
    ("PUT", "faults/x", b"[1, 2]", "fault"),
    ("PUT", "faults/x", b'{"kind": ', "fault"),
    ("PUT", "faults/numbers", {"probability": 0.5}, "fault"),
    ("GET", "faults", None, "faults"),
    ("DELETE", "faults/nope", None, None),
    ("DELETE", "faults/numbers", None, None),
    ("DELETE", "faults/outage", None, None),
    ("POST", "mo", MO, None),
    ("POST", "mo", b"", None),
    ("POST", "mo", {**MO, "source": "8" * 100}, None),
    ("POST", "mo", {**MO, "data_coding": "x"}, None),
    ("POST", "mo", {**MO, "data_coding": 0x05}, None),
    ("POST", "mo", {**MO, "priority": 1}, None),
    ("POST", "mo", {**MO, "account": "nobody"}, None),
    ("POST", "mo", b'{"account": "qa", "source": "1", "destination": "2", "text": "x", "data_coding": NaN}', None),
    ("GET", "health", None, "health"),
    ("GET", "scenario", None, None),
]
SCENARIO = 'name: parity\nnumbers:\n  groups:\n    active: {prefix: "8613800", state: active}\n'


def raw_of(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.fixture
async def two_carriers(mqtt_broker, scenario_smsc):
    """(HTTP base URL, MqttCaller, the HTTP carrier, the MQTT carrier): one scenario, one transport each."""
    over_http = await scenario_smsc(SCENARIO)
    over_mqtt = await scenario_smsc(SCENARIO)
    control = ControlServer(over_http)
    await control.start("127.0.0.1", 0)
    publisher = EventPublisher(over_mqtt, parse_url(mqtt_broker.url + "/par"), "n1")
    await publisher.start()
    try:
        async with MqttCaller(mqtt_broker.url, "par", "n1") as caller, \
                Collector(mqtt_broker.url, "probe/replies") as probe:
            await until(lambda: publisher.connected, what="the connection")
            await until_control_answers(probe, "par/n1/control/status", "probe/replies")
            yield f"http://{control.address}", caller, over_http, over_mqtt
    finally:
        await publisher.stop()
        await control.stop()


def outcome_of_mqtt(reply: dict[str, Any], key: str | None) -> tuple[bool, Any]:
    envelope = {"schema", "node", "request", "ok"}
    if not reply["ok"]:
        return False, {k: v for k, v in reply.items() if k not in envelope}
    return True, reply[key] if key is not None else {k: v for k, v in reply.items() if k not in envelope}


async def test_every_request_is_accepted_refused_and_answered_alike_over_http_and_mqtt(two_carriers):
    base, caller, over_http, over_mqtt = two_carriers
    for method, path, body, key in REQUESTS:
        raw = None if body is None else raw_of(body)
        status, http_body = await asyncio.to_thread(http, method, f"{base}/{path}", raw)
        mqtt_ok, mqtt_body = outcome_of_mqtt(await caller.call(path, b"" if raw is None else raw), key)
        assert (status < 400, http_body) == (mqtt_ok, mqtt_body), (method, path, body, status)
    # the same operations, so the same audit trail (actor "tester" over HTTP, "mqtt:tester" over MQTT)
    trail = [(e["action"], e["actor"], e.get("fault"), e.get("changes")) for e in over_http.audit_log]
    assert trail == [(a, actor.removeprefix("mqtt:"), f, c) for a, actor, f, c in
                     ((e["action"], e["actor"], e.get("fault"), e.get("changes")) for e in over_mqtt.audit_log)]
    assert [a for a, *_ in trail] == ["fault.add", "fault.change", "fault.remove", "mo"]
    assert {a for _, a, *_ in trail} == {"tester"}


async def test_the_answers_compared_are_the_documented_ones(two_carriers):
    """A few of the answers above, written out: codes and the words a client sees."""
    base, caller, _, _ = two_carriers
    cases = [
        ("PUT", "faults/outage", {}, 400, "give the changes"),
        ("PUT", "faults/x", b'{"kind": "latency", "submit_resp": {"dist": "fixed", "ms": Infinity}}', 400,
         "the request is not JSON: Infinity"),
        ("PUT", "faults/x", b"[1, 2]", 400, "the request must be a JSON object"),
        ("DELETE", "faults/nope", None, 404, "no fault named 'nope'"),
        ("POST", "mo", {**MO, "account": "nobody"}, 404, "no account 'nobody'"),
        ("POST", "mo", {**MO, "source": "8" * 100}, 400,
         "source: has 100 characters; a deliver_sm address holds at most 20"),
    ]
    for method, path, body, code, words in cases:
        raw = None if body is None else raw_of(body)
        status, answer = await asyncio.to_thread(http, method, f"{base}/{path}", raw)
        assert status == code and answer["error"].startswith(words), (path, status, answer)
        reply = await caller.call(path, b"" if raw is None else raw)
        assert reply["ok"] is False and reply["error"] == answer["error"]


async def test_status_has_the_faults_and_health_scenario_and_audit_exist_over_both(two_carriers):
    """Drifts fixed: /status lacked the faults that MQTT's status had; MQTT had no health, scenario
    or audit; an unknown HTTP path was answered with a text page, an unknown MQTT command with JSON."""
    base, caller, over_http, _ = two_carriers
    status, http_status = await asyncio.to_thread(http, "GET", f"{base}/status", None)
    reply = await caller.call("status", b"")
    assert status == 200 and reply["ok"]
    assert http_status["faults"] == reply["status"]["faults"] == [
        {**f} for f in over_http.faults()] and [f["name"] for f in http_status["faults"]] == ["numbers"]
    assert set(http_status) | {"mqtt"} == set(reply["status"])  # the MQTT carrier adds its publisher's section
    for path, key in (("health", "health"), ("audit", "audit")):
        reply = await caller.call(path, b"")
        assert reply["ok"] and key in reply, reply
    assert (await caller.call("health", b""))["health"] == {"status": "ok"}
    scenario = await caller.call("scenario", b"")
    assert scenario["scenario"]["name"] == "parity" and [f["name"] for f in scenario["faults"]] == ["numbers"]
    status, answer = await asyncio.to_thread(http, "GET", f"{base}/reboot", None)
    assert status == 404 and "GET /reboot" in answer["error"]
    status, answer = await asyncio.to_thread(http, "POST", f"{base}/status", b"{}")
    assert status == 405 and "POST /status" in answer["error"]
    reply = await caller.call("reboot", b"")
    assert not reply["ok"] and "unknown control command 'reboot'" in reply["error"]


async def test_a_bug_behind_either_transport_is_answered_reported_once_and_degrades_health(two_carriers, caplog,
                                                                                           monkeypatch):
    """Drift fixed: HTTP reported it as "control API PUT /faults/x", MQTT as "MQTT control faults":
    two failures, two tracebacks, for one bug. Now one place, with one name."""
    base, caller, over_http, over_mqtt = two_carriers

    def broken(*args, **kwargs):
        raise RuntimeError("injected: change_fault broke")

    for smsc in (over_http, over_mqtt):
        monkeypatch.setattr(smsc, "change_fault", broken)
    caplog.set_level(logging.ERROR)
    for _ in range(2):
        status, answer = await asyncio.to_thread(http, "PUT", f"{base}/faults/outage", raw_of(OUTAGE))
        assert (status, answer) == (500, {"error": "RuntimeError: injected: change_fault broke"})
        reply = await caller.call("faults/outage", raw_of(OUTAGE))
        assert outcome_of_mqtt(reply, "fault") == (False, {"error": "RuntimeError: injected: change_fault broke"})
    for smsc in (over_http, over_mqtt):
        assert smsc.health() == {"status": "degraded", "reasons": [
            "control PUT /faults/{name} failed 2 times, last with RuntimeError: injected: change_fault broke"]}
    tracebacks = [r for r in caplog.records if r.exc_info and "change_fault broke" in str(r.exc_info[1])]
    assert len(tracebacks) == 2  # one per carrier, not one per request


async def test_a_fault_name_with_a_slash_is_refused_over_both(two_carriers):
    """Drift fixed: PUT /faults/a%2Fb created a fault named "a/b" over HTTP, which MQTT refused (and
    could then never address); now both refuse it with 400."""
    base, caller, over_http, _ = two_carriers
    body = raw_of({"kind": "no_response"})
    status, answer = await asyncio.to_thread(http, "PUT", f"{base}/faults/a%2Fb", body)
    assert (status, answer) == (400, {"error": "bad fault name 'a/b'"})
    reply = await caller.call("faults/a/b", body)
    assert outcome_of_mqtt(reply, "fault") == (False, {"error": "bad fault name 'a/b'"})
    assert [f["name"] for f in over_http.faults()] == ["numbers"]


# ------------------------------------------------------------------------------------------ publisher tasks
async def test_a_publisher_task_that_fails_is_logged_once_restarted_and_reported_in_health(mqtt_broker, scenario_smsc,
                                                                                          caplog):
    smsc = await scenario_smsc("name: supervised\n")
    publisher = EventPublisher(smsc, parse_url(mqtt_broker.url + "/sup?batch_interval=0.02"), "n1")
    breaks = {"drain": 3, "connect": 2}
    add_messages = publisher.figures.add_messages
    online = publisher.link._online

    def failing_add_messages(rows):
        if rows and breaks["drain"]:
            breaks["drain"] -= 1
            raise RuntimeError("injected: the drain broke")
        add_messages(rows)

    def failing_online():
        if breaks["connect"]:
            breaks["connect"] -= 1
            raise RuntimeError("injected: the connection broke")
        return online()

    publisher.figures.add_messages = failing_add_messages
    publisher.link._online = failing_online
    caplog.set_level(logging.WARNING)
    async with Collector(mqtt_broker.url, "sup/n1/outcomes") as seen:
        await publisher.start()
        try:
            await until(lambda: publisher.connected, what="a connection after two failed ones")
            esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
            sent = []
            for _ in range(6):  # three drains break (each loses its rows, counted), then they get through
                sent.append((await esme.submit("8613800000001")).message_id)
                await asyncio.sleep(0.1)
            await until(lambda: not breaks["drain"], what="the three broken drains")
            last = (await esme.submit("8613800000001")).message_id
            published = lambda: {row[1] for p in seen.payloads("/outcomes")  # noqa: E731
                                 for row in p["messages"]["rows"]}
            await until(lambda: last in published(), what="the last message published after the restarts")
            esme.close()
            health = smsc.health()
            assert health["status"] == "degraded", health
            assert any(r.startswith("task drain failed 3 times, last with RuntimeError: injected: the drain broke")
                       for r in health["reasons"]), health
            assert any(r.startswith("task connection failed 2 times, last with RuntimeError: injected: the "
                                    "connection broke") for r in health["reasons"]), health
            status = publisher.status()
            lost = len(sent) + 1 - len(published())
            assert lost >= 3 and status["unpublished"]["outcomes"] >= lost  # lost rows are counted, not silent
            assert publisher.supervisor.restarts == {"drain": 3, "connection": 2}
        finally:
            await publisher.stop()
    for what in ("the drain broke", "the connection broke"):
        tracebacks = [r for r in caplog.records if r.exc_info and what in str(r.exc_info[1])]
        assert len(tracebacks) == 1, [r.getMessage() for r in caplog.records]  # once, with its traceback
    assert smsc.health() == {"status": "ok"}  # a stopped publisher no longer speaks for the carrier


async def test_an_actor_too_long_is_refused_over_both_before_anything_changes(two_carriers):
    """Who asked goes into the audit trail of every change: a 200-character actor is refused (400,
    field actor) over HTTP and MQTT alike, and the fault is not added."""
    base, caller, over_http, over_mqtt = two_carriers
    actor = "x" * 200
    code, body = await asyncio.to_thread(http, "PUT", f"{base}/faults/outage", raw_of(OUTAGE), actor)
    reply = await caller.call("faults/outage", raw_of(OUTAGE), actor=actor)
    assert (code, body) == (400, {"error": "actor: at most 128 printable characters", "field": "actor"})
    assert outcome_of_mqtt(reply, "fault") == (False, body)
    assert "outage" not in {f["name"] for f in over_http.faults()} | {f["name"] for f in over_mqtt.faults()}
    code, _ = await asyncio.to_thread(http, "PUT", f"{base}/faults/outage", raw_of(OUTAGE), "x" * 128)
    assert code == 200  # 128 is allowed


@pytest.mark.parametrize("actor", ["tab\there", "nul\x00", "x" * 129, ""])
def test_the_core_refuses_an_actor_it_cannot_audit(actor):
    """Control characters (which MQTT brokers refuse in user properties and HTTP in headers, so only
    the core can be shown them) and more than 128 characters; an empty actor is printable and kept."""
    if actor == "":
        assert check_actor(actor) == ""
        return
    with pytest.raises(ControlError) as refused:
        check_actor(actor)
    assert (refused.value.code, refused.value.field) == (400, "actor")
