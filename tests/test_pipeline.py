"""The fault pipeline over real SMPP sessions: seeded determinism, provider failures, latency,
live changes through the HTTP control API and the Python API, and the audit trail."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from simulator.control.http import ControlServer
from simulator.esme import Esme, EsmeError
from simulator.faults.outcome import SlaClass, Submission
from simulator.faults.pipeline import FaultChangeError, FaultPipeline
from simulator.scenario import parse_scenario
from simulator.smpp.constants import CommandStatus, MessageState
from simulator.smpp.receipt import parse_receipt

S = CommandStatus

FLAKY = """
name: flaky
seed: {seed}
faults:
  - {{kind: provider_failure, name: refusals, probability: 0.2, submit_status: 0x45, receipt: null, submit_share: 1}}
  - {{kind: provider_failure, name: undelivered, probability: 0.3, receipt: {{state: UNDELIV, err: "069"}}}}
  - kind: latency
    receipt: {{dist: uniform, min_ms: 1, max_ms: 30}}
"""


def submission(i: int, destination: str = "8613800000001", account: str = "qa") -> Submission:
    return Submission(account, 1, "1000", destination, 0, 0, b"hello", 1, 1, i)


async def run_once(scenario_smsc, seed: int, n: int = 60) -> list[tuple]:
    smsc = await scenario_smsc(FLAKY.format(seed=seed))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    results = []
    for i in range(n):
        resp = await esme.submit(f"86138{i:08d}", registered_delivery=1)
        results.append([resp.status, resp.message_id])
    accepted = {r[1]: r for r in results if r[0] == 0}
    for _ in range(len(accepted)):
        receipt = parse_receipt((await esme.next_delivery()).short_message)
        accepted[receipt.message_id].append((receipt.state.name, receipt.err))
    for message_id, row in accepted.items():
        row.append(round(smsc.store.get(message_id)[0].outcome.receipt_delay, 9))
    esme.close()
    return [tuple(r) for r in results]


async def test_the_same_seed_and_submits_give_the_same_ids_states_errors_and_delays(scenario_smsc):
    first = await run_once(scenario_smsc, seed=7)
    second = await run_once(scenario_smsc, seed=7)
    assert first == second
    statuses = [r[0] for r in first]
    assert S.ESME_RSUBMITFAIL in statuses and 0 in statuses
    assert any(len(r) > 2 and r[2] == ("UNDELIVERABLE", "069") for r in first)


async def test_a_different_seed_gives_a_different_run(scenario_smsc):
    assert await run_once(scenario_smsc, seed=7) != await run_once(scenario_smsc, seed=8)


def test_provider_failures_hit_their_probability_and_are_definite_failures():
    pipeline = FaultPipeline(parse_scenario(FLAKY.format(seed=1)))
    outcomes = [pipeline.decide(submission(i), 0.0) for i in range(20_000)]
    refused = sum(o.submit_status == S.ESME_RSUBMITFAIL for o in outcomes)
    failed = sum(o.final_state is MessageState.UNDELIVERABLE for o in outcomes)
    assert abs(refused / 20_000 - 0.2) < 0.015  # ~5 sigma
    assert abs(failed / 20_000 - 0.8 * 0.3) < 0.015
    assert all(o.sla_class is SlaClass.DEFINITE_FAILURE for o in outcomes if o.settled)
    assert all(o.sla_class is SlaClass.DELIVERED for o in outcomes if not o.settled)


def test_disabling_one_fault_does_not_shift_another_faults_draws():
    scenario = parse_scenario(FLAKY.format(seed=3))
    a, b = FaultPipeline(scenario), FaultPipeline(scenario)
    b.change("refusals", {"enabled": False})
    outcomes_a = [a.decide(submission(i), 0) for i in range(200)]
    outcomes_b = [b.decide(submission(i), 0) for i in range(200)]
    same = [i for i in range(200) if not outcomes_a[i].settled and not outcomes_b[i].settled]
    assert len(same) > 50
    assert [outcomes_a[i].receipt_delay for i in same] == [outcomes_b[i].receipt_delay for i in same]


def test_an_sla_override_reclassifies_a_faults_outcomes():
    pipeline = FaultPipeline(parse_scenario(
        "faults:\n  - {kind: provider_failure, probability: 1, sla: {class: excluded, reason: third_party_network}}\n"
    ))
    outcome = pipeline.decide(submission(0), 0.0)
    assert (outcome.sla_class, outcome.reason) == (SlaClass.EXCLUDED, "third_party_network")


def test_lognormal_latency_has_the_median_and_p99_it_was_given():
    pipeline = FaultPipeline(parse_scenario(
        "faults:\n  - kind: latency\n    submit_resp: {dist: lognormal, median_ms: 3, p99_ms: 40}\n"
    ))
    delays = sorted(pipeline.decide(submission(i), 0.0).response_delay * 1000 for i in range(20_000))
    assert 2.8 < delays[10_000] < 3.2
    assert 35 < delays[19_800] < 45


def test_live_changes_are_validated():
    pipeline = FaultPipeline(parse_scenario(FLAKY.format(seed=1)))
    with pytest.raises(FaultChangeError, match="probability"):
        pipeline.change("refusals", {"probability": 2})
    with pytest.raises(FaultChangeError, match="no fault named"):
        pipeline.change("nope", {"probability": 0.1})
    with pytest.raises(FaultChangeError, match="remove it and add"):
        pipeline.change("refusals", {"kind": "latency"})
    assert pipeline.by_name["refusals"].spec.probability == 0.2


@pytest.mark.parametrize("enabled", ["false", "true", 0, 1, None, [], {}])
def test_a_live_enabled_that_is_not_a_boolean_is_refused_not_coerced(enabled):
    """Python's API takes what the transports would refuse: "false" must not switch a fault on (or off)."""
    text = FLAKY.format(seed=1) + "numbers: {default_state: powered_off}\n"
    pipeline = FaultPipeline(parse_scenario(text))
    events = []
    pipeline.listeners.append(events.append)
    for name in ("refusals", "numbers"):  # a fault kind and a scenario section
        with pytest.raises(FaultChangeError, match="enabled: must be true or false"):
            pipeline.change(name, {"enabled": enabled})
        assert pipeline.by_name[name].enabled is True
    with pytest.raises(FaultChangeError, match="enabled: must be true or false"):
        pipeline.change("new", {"kind": "no_response", "enabled": enabled})
    assert "new" not in pipeline.by_name and events == []


def http(method: str, url: str, body: dict | None = None, actor: str = "qa-engineer") -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"X-Actor": actor})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


async def test_a_fault_switched_on_over_http_takes_effect_without_dropping_binds(scenario_smsc):
    smsc = await scenario_smsc("name: live\n")
    control = ControlServer(smsc)
    await control.start("127.0.0.1", 0)
    base = f"http://{control.address}"
    try:
        esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
        assert (await esme.submit("8613800000001")).status == 0
        status, body = await asyncio.to_thread(
            http, "PUT", f"{base}/faults/outage", {"kind": "provider_failure", "submit_status": 8, "receipt": None,
                                                   "submit_share": 1})
        assert status == 200 and body["name"] == "outage"
        assert (await esme.submit("8613800000001")).status == S.ESME_RSYSERR  # same bind, new behaviour
        status, _ = await asyncio.to_thread(http, "PUT", f"{base}/faults/outage", {"probability": 7})
        assert status == 400
        status, _ = await asyncio.to_thread(http, "PUT", f"{base}/faults/outage", {"enabled": False})
        assert status == 200
        assert (await esme.submit("8613800000001")).status == 0
        status, audit = await asyncio.to_thread(http, "GET", f"{base}/audit")
        changes = [(e["action"], e["actor"], e.get("fault")) for e in audit if e["action"].startswith("fault.")]
        assert changes == [("fault.add", "qa-engineer", "outage"), ("fault.change", "qa-engineer", "outage")]
        assert any(e["action"] == "bind" and e["system_id"] == "qa" for e in audit)
        status, scenario = await asyncio.to_thread(http, "GET", f"{base}/scenario")
        assert status == 200 and scenario["scenario"]["name"] == "live"
        esme.close()
    finally:
        await control.stop()


async def test_mo_can_be_injected_over_http(scenario_smsc):
    smsc = await scenario_smsc("name: mo\n")
    control = ControlServer(smsc)
    await control.start("127.0.0.1", 0)
    try:
        rx = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "receiver")
        status, body = await asyncio.to_thread(
            http, "POST", f"http://{control.address}/mo",
            {"account": "qa", "source": "8613800000001", "destination": "1000", "text": "STOP"})
        assert (status, body) == (202, {"queued_parts": 1})
        assert (await rx.next_delivery()).short_message == b"STOP"
        status, _ = await asyncio.to_thread(http, "POST", f"http://{control.address}/mo",
                                            {"account": "nobody", "source": "1", "destination": "2", "text": "x"})
        assert status == 404
        rx.close()
    finally:
        await control.stop()


async def test_failed_logins_are_audited(scenario_smsc):
    smsc = await scenario_smsc("name: audit\n")
    esme = await Esme.connect("127.0.0.1", smsc.port)
    with pytest.raises(EsmeError) as refused:
        await esme.bind("qa", "wrong")
    assert refused.value.status == S.ESME_RINVPASWD
    esme.close()
    refused = [e for e in smsc.audit_log if e["action"] == "bind.refused"]
    assert refused and refused[0]["status"] == "ESME_RINVPASWD" and refused[0]["system_id"] == "qa"


@pytest.mark.parametrize("change", [
    {"kind": "provider_failure", "probability": True},  # was taken as 1.0
    {"kind": "provider_failure", "probability": "0.5"},  # was taken as 0.5
    {"kind": "latency", "submit_resp": {"dist": "fixed", "ms": "12"}},
    {"kind": "reset_mid_pdu", "after_pdus": "3"},
    {"kind": "duplicate_receipt", "copies": True},
    {"kind": "duplicate_receipt", "copies": 2.0},
])
def test_a_live_fault_value_of_the_wrong_json_type_is_refused_not_coerced(change):
    """A fault's parameters take the JSON types they declare (strict): `true` is not a probability of
    1, "12" is not 12 ms (found by tests/test_fuzz_stateful.py). YAML scenarios give numbers as numbers."""
    pipeline = FaultPipeline(parse_scenario(FLAKY.format(seed=1)))
    before = pipeline.describe()
    with pytest.raises(FaultChangeError):
        pipeline.change("new", change)
    assert "new" not in pipeline.by_name and pipeline.describe() == before
