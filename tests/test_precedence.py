"""One written precedence for SLA classes (README, "SLA classes: one precedence"):

  1. the destination's validity (number plan state, blacklists): an invalid number stays one,
     whatever refused, failed or delivered the message;
  2. then excluded causes;
  3. then definite failures;
  otherwise delivered. `unstable_network` (like every state but `active`) is a user-side cause,
  reached or not.

Every pair (destination x fault kind) goes through the real pipeline and is checked against the
table below, written from the rule and not computed by the code under test; the analytic
expectation is checked against the same table where it is analytic.
"""

from __future__ import annotations

import pytest

from simulator.faults import registry
from simulator.faults.outcome import Submission
from simulator.faults.pipeline import FaultPipeline
from simulator.metering.expectation import Expectation, analyse_expectation
from simulator.scenario import parse_scenario

# destination -> (prefix, its numbers section line or blacklist)
DESTINATIONS = {
    "active": "8613800",
    "nonexistent": "8613900",
    "out_of_service": "8613901",
    "powered_off": "8613902",
    "arrears": "8613903",
    "not_subscribed": "8613904",
    "unreachable": "8613905",
    "unstable_network": "8613906",
    "blacklist_platform": "8613907",
    "blacklist_carrier": "8613908",
    "opt_out": "8613909",
}
STATES = [d for d in DESTINATIONS if not d.startswith("blacklist") and d != "opt_out"]
LISTED = {"blacklist_platform": "platform", "blacklist_carrier": "carrier"}
# the invalid_number reason of each invalid destination
INVALID = {"nonexistent": "nonexistent", "out_of_service": "out_of_service", "powered_off": "powered_off",
           "arrears": "arrears", "not_subscribed": "sms_not_subscribed", "unreachable": "unreachable",
           "unstable_network": "unstable_network", "blacklist_platform": "blacklist_platform",
           "blacklist_carrier": "blacklist_carrier", "opt_out": "opt_out"}

# fault name -> (its faults: entries, the (class, reason) of a message to a VALID number it hits)
FAULTS = {
    "none": ("", ("delivered", "")),
    "provider_failure (receipt)": ("{kind: provider_failure}", ("definite_failure", "provider_failure")),
    "provider_failure (refusal)": ("{kind: provider_failure, submit_status: 0x45, receipt: null}",
                                   ("definite_failure", "provider_failure")),
    "throttle": ("{kind: throttle}", ("excluded", "carrier_control")),
    "maintenance (surprise)": ("{kind: maintenance, start: 0s, duration: 1h}",
                               ("definite_failure", "maintenance")),
    "maintenance (pre-notified)": ("{kind: maintenance, start: 0s, duration: 1h, pre_notified: true}",
                                   ("excluded", "pre_notified_maintenance")),
    "maintenance (refuse_binds)": ("{kind: maintenance, start: 0s, duration: 1h, mode: refuse_binds}",
                                   ("definite_failure", "maintenance")),
    "maintenance (hold_receipts)": ("{kind: maintenance, start: 0s, duration: 1h, mode: hold_receipts}",
                                    ("delivered", "")),
    "no_response": ("{kind: no_response}", ("definite_failure", "no_response")),
    "generic_nack": ("{kind: generic_nack}", ("definite_failure", "generic_nack")),
    "latency": ("{kind: latency, receipt: {dist: fixed, ms: 5}}", ("delivered", "")),
    "stall": ("{kind: stall, start_s: 0, end_s: 100}", ("delivered", "")),
    "drop_bind": ("{kind: drop_bind, after_pdus: 1}", ("delivered", "")),
    "reset_mid_pdu": ("{kind: reset_mid_pdu}", ("delivered", "")),
    "duplicate_receipt": ("{kind: duplicate_receipt}", ("delivered", "")),
    "out_of_order_receipt": ("{kind: out_of_order_receipt}", ("delivered", "")),
    # two causes: an excluded one beats a definite failure, whichever acted first
    "surprise maintenance + excluded nack": (
        "{kind: maintenance, start: 0s, duration: 1h}, "
        "{kind: generic_nack, sla: {class: excluded, reason: carrier_nack}}", ("excluded", "carrier_nack")),
    "throttle + generic_nack": ("{kind: throttle}, {kind: generic_nack}", ("excluded", "carrier_control")),
    "provider refusal + no_response": ("{kind: provider_failure, submit_status: 0x45, receipt: null}, "
                                       "{kind: no_response}", ("definite_failure", "provider_failure")),
}


def expected(destination: str, fault: str) -> tuple[str, str]:
    """The precedence, by hand: an invalid destination's class wins over everything."""
    if destination in INVALID:
        return ("invalid_number", INVALID[destination])
    return FAULTS[fault][1]


def scenario_text(fault: str, traffic: dict[str, int] | None = None) -> str:
    groups = "\n".join(f"    {d}: {{prefix: \"{DESTINATIONS[d]}\", state: {d}}}" for d in STATES)
    lists = "\n".join(f"  {kind}: {{numbers: [\"{DESTINATIONS[d]}0001\"]}}" for d, kind in LISTED.items())
    text = f"""
name: precedence
seed: 7
numbers:
  groups:
{groups}
blacklists:
{lists}
  accounts:
    qa: {{numbers: ["{DESTINATIONS['opt_out']}0001"]}}
faults: [{FAULTS[fault][0]}]
"""
    if traffic:
        text += "load: {traffic: {" + ", ".join(f"{k}: {v}" for k, v in traffic.items()) + "}}\n"
    return text


def destination_number(destination: str, i: int) -> str:
    if destination in LISTED or destination == "opt_out":
        return DESTINATIONS[destination] + "0001"
    return f"{DESTINATIONS[destination]}{i:04d}"


def test_the_table_covers_every_fault_kind():
    named = {entry.split(",")[0].removeprefix("{kind: ").strip("} ") for entry, _ in FAULTS.values() if entry}
    assert named == set(registry.kind_names())


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("destination", list(DESTINATIONS))
def test_every_destination_and_fault_pair_takes_the_class_of_the_precedence(destination, fault):
    pipeline = FaultPipeline(parse_scenario(scenario_text(fault), "<precedence>"))
    pipeline.start(0.0)
    classes = set()
    for i in range(60):  # a state mix (unstable_network: 70 % reached, 30 % failed) draws per message
        submission = Submission("qa", 1, "1000", destination_number(destination, i), 0, 0, b"hello", 1, 1, i)
        outcome = pipeline.decide(submission, 0.0)
        classes.add((outcome.sla_class.value, outcome.reason))
    assert classes == {expected(destination, fault)}


def test_unstable_network_is_invalid_whether_the_message_reaches_it_or_fails():
    pipeline = FaultPipeline(parse_scenario(scenario_text("none"), "<precedence>"))
    seen = set()
    for i in range(200):
        destination = destination_number("unstable_network", i)
        submission = Submission("qa", 1, "1000", destination, 0, 0, b"hi", 1, 1, i)
        outcome = pipeline.decide(submission, pipeline.started_at)
        seen.add((outcome.final_state.stat, outcome.sla_class.value, outcome.reason))
    assert seen == {("DELIVRD", "invalid_number", "unstable_network"),
                    ("UNDELIV", "invalid_number", "unstable_network")}


# The expectation follows the same precedence. Maintenance windows act by time and are not in its
# shares (a surprise one makes a scenario non-analytic); drop_bind after_pdus depends on the binds.
ANALYTIC = [f for f in FAULTS if "maintenance" not in f and f != "drop_bind"]


@pytest.mark.parametrize("fault", ANALYTIC)
@pytest.mark.parametrize("destination", [d for d in DESTINATIONS if d in STATES and d != "active"])
def test_the_expectation_gives_each_pair_the_class_of_the_precedence(destination, fault):
    # half to the destination's group, half to an active number: the rate needs valid sends
    result = analyse_expectation(parse_scenario(scenario_text(fault, {destination: 1, "active": 1}), "<p>"))
    want: dict[tuple[str, str], float] = {}
    for d in (destination, "active"):
        want[expected(d, fault)] = want.get(expected(d, fault), 0.0) + 0.5
    if want.get(("delivered", ""), 0) + sum(v for (c, _), v in want.items() if c == "definite_failure") == 0:
        assert not isinstance(result, Expectation)  # nothing reaches a valid number: no rate
        return
    assert isinstance(result, Expectation), result
    assert {k: round(v, 9) for k, v in result.shares.items()} == want


async def test_a_cancel_is_an_excluded_cause_that_never_hides_an_invalid_number(tmp_path):
    from simulator.carrier.smsc import Smsc
    from simulator.esme import Esme
    from simulator.ledger.reader import LedgerReader
    from simulator.ledger.writer import LedgerWriter
    from simulator.smpp.pdu import CancelSm

    from .conftest import FAST

    scenario = parse_scenario(scenario_text("none"), "<precedence>")
    scenario = scenario.model_copy(update={"carrier": scenario.carrier.model_copy(
        update={**FAST, "receipt_delay_ms": 5_000})})  # nothing is final before the cancel
    ledger = LedgerWriter(tmp_path / "ledger.sqlite", run_id="cancel")
    smsc = Smsc.from_scenario(scenario, ledger=ledger, housekeeping_interval=0.05)
    await smsc.start()
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    off = await esme.submit(destination_number("powered_off", 1))
    on = await esme.submit(destination_number("active", 1))
    for resp in (off, on):
        assert (await esme.request(CancelSm(message_id=resp.message_id, source_addr="1000"))).status == 0
    esme.close()
    await smsc.stop(grace=0.2)
    with LedgerReader(tmp_path / "ledger.sqlite") as reader:
        classes = {r.message_id: (r.sla_class, r.reason) for r in reader.records()}
    assert classes == {off.message_id: ("invalid_number", "powered_off"),
                       on.message_id: ("excluded", "cancelled_by_customer")}
