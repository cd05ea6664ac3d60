"""Each ready scenario in scenarios/ produces the outcome mix its header comment promises.

The scenario's own traffic mix is fed through its fault pipeline (no sockets: the pipeline is
what decides); the end-to-end runs through `carrier-sim run` are in test_run.py.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from loadtests.traffic import TrafficMix
from simulator.faults.outcome import LinkStats, Submission
from simulator.faults.pipeline import FaultPipeline
from simulator.metering.compensation import compensation
from simulator.scenario import load_scenario
from simulator.smpp.constants import CommandStatus

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
S = CommandStatus


def dry_run(name: str, n: int = 4000, rate: float = 400.0, binds: int = 8) -> list:
    """n messages of the scenario's traffic at `rate` per second over `binds` binds: outcomes."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    pipeline = FaultPipeline(scenario, clock=lambda: 0.0)
    pipeline.start(0.0)
    traffic = TrafficMix(scenario)
    links = [LinkStats(i, "qa", "transceiver", 0.0) for i in range(binds)]
    results = []
    for i in range(n):
        message = traffic.next()
        now = i / rate
        for pdu in message.pdus:
            link = links[i % binds]
            link.pdus += 1
            sub = Submission("qa", link.bind_id, pdu.source_addr, pdu.destination_addr, pdu.data_coding,
                             pdu.esm_class, pdu.short_message, 1, pdu.registered_delivery, len(results), link)
            results.append((now, message.group, pipeline.decide(sub, now)))
    return results


def shares(results, key) -> Counter:
    counts = Counter(key(o) for _, _, o in results)
    return Counter({k: v / len(results) for k, v in counts.items()})


def rate(results) -> float:
    valid = [o for _, _, o in results if o.sla_class.value in ("delivered", "definite_failure")]
    return 1 - sum(o.sla_class.value == "definite_failure" for o in valid) / len(valid)


def test_baseline_delivers_everything():
    results = dry_run("baseline")
    assert shares(results, lambda o: (o.submit_status, o.sla_class.value)) == {(0, "delivered"): 1.0}


def test_invalid_numbers_are_left_out_and_the_rate_stays_whole():
    results = dry_run("invalid-numbers")
    reasons = shares(results, lambda o: o.reason)
    assert abs(reasons["nonexistent"] - 0.08) < 0.02 and abs(reasons["powered_off"] - 0.05) < 0.02
    assert {"out_of_service", "arrears", "sms_not_subscribed"} <= set(reasons)
    assert all(o.submit_status == S.ESME_RINVDSTADR for _, g, o in results if g == "nonexistent")
    assert rate(results) == 1.0


def test_blacklist_storm_refuses_listed_numbers_with_vendor_statuses():
    results = dry_run("blacklist-storm")
    by_group = {g: Counter((o.submit_status, o.reason) for _, gg, o in results if gg == g) for g in
                ("platform_listed", "carrier_listed", "opted_out")}
    assert set(by_group["carrier_listed"]) == {(0x402, "blacklist_carrier")}
    assert set(by_group["opted_out"]) == {(0x403, "opt_out")}
    listed = by_group["platform_listed"]  # a range in which every other number is on the file's list
    assert set(listed) == {(0x401, "blacklist_platform"), (0, "")}
    assert 0.4 < listed[(0x401, "blacklist_platform")] / sum(listed.values()) < 0.6
    assert rate(results) == 1.0


def test_throttled_carrier_lets_through_about_its_rate_and_excludes_the_rest():
    results = dry_run("throttled-carrier", n=4000, rate=800)  # 5 s offered at 800/s
    accepted = sum(o.submit_status == 0 for _, _, o in results)
    assert 300 * 5 + 100 - 50 <= accepted <= 300 * 5 + 100 + 10  # rate x time + burst
    throttled = [o for _, _, o in results if o.submit_status]
    assert {(o.submit_status, o.sla_class.value, o.reason) for o in throttled} == {
        (S.ESME_RTHROTTLED, "excluded", "platform_traffic_control")}
    assert rate(results) == 1.0


def test_maintenance_window_rejects_during_the_window_and_holds_receipts_in_the_next():
    results = dry_run("maintenance-window", n=2000, rate=100)  # 20 s of traffic
    for t, _, o in results:
        if 5 <= t < 9:
            assert (o.submit_status, o.reason) == (S.ESME_RSYSERR, "pre_notified_maintenance")
        elif 12 <= t < 15:
            assert o.submit_status == 0 and o.hold_until == 15
        else:
            assert o.submit_status == 0 and o.hold_until == 0
    assert rate(results) == 1.0


def test_flaky_network_fails_about_two_percent_and_duplicates_some_receipts():
    results = dry_run("flaky-network", n=10_000)
    assert abs(rate(results) - 0.98) < 0.006
    assert abs(sum(not o.respond for _, _, o in results) / len(results) - 0.01) < 0.004
    assert sum(o.duplicate_receipts for _, _, o in results) > 100
    assert sum(o.link_action == "drop" for _, _, o in results) > 10


def test_template_review_refuses_unapproved_and_prohibited_messages_and_bills_by_category():
    results = dry_run("template-review", n=5000)
    reasons = shares(results, lambda o: o.reason)
    assert abs(reasons["unapproved_signature"] - 0.1) < 0.02
    assert abs(reasons["unapproved_template"] - 0.1) < 0.02
    assert abs(reasons["illegal_content"] - 0.1) < 0.02
    categories = shares([r for r in results if r[2].submit_status == 0], lambda o: o.category)
    assert set(categories) == {"verification", "notification"}
    assert rate(results) == 1.0


def test_sla_breach_lands_in_the_thirty_percent_voucher_tier():
    results = dry_run("sla-breach", n=10_000)
    measured = rate(results)
    assert abs(measured - 0.88) < 0.012 and measured < 0.90
    assert shares(results, lambda o: o.reason)["nonexistent"] == pytest.approx(0.06, abs=0.01)
    # the tier and the voucher under the scenario's own SLA terms, against numbers written out here
    sla = load_scenario(SCENARIOS / "sla-breach.yaml").sla
    valid = [o for _, _, o in results if o.sla_class.value in ("delivered", "definite_failure")]
    exact_rate = Fraction(sum(o.sla_class.value == "delivered" for o in valid), len(valid))
    accepted = sum(o.submit_status == 0 for _, _, o in results)  # one segment each
    # no template section: every message is a notification, billed at the file's 0.040 a segment
    assert sla.prices["notification"] == 0.040
    fee = Decimal("0.040") * accepted
    comp = compensation(exact_rate, fee, sla.tiers)
    assert comp.tier is not None and (comp.tier.below, comp.tier.voucher) == (0.90, 0.30)
    assert comp.share == Decimal("0.3")
    assert comp.voucher == Decimal("0.3") * fee and not comp.capped


# The precedence of SLA classes (README, "SLA classes: one precedence"), written out: a number in a
# group whose state is not active, or on a blacklist, is an invalid number with this reason.
STATE_REASONS = {"nonexistent": "nonexistent", "out_of_service": "out_of_service",
                 "powered_off": "powered_off", "arrears": "arrears", "not_subscribed": "sms_not_subscribed",
                 "unreachable": "unreachable",
                 "unstable_network": "unstable_network"}


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.yaml")))
def test_every_message_to_an_invalid_number_is_an_invalid_number_in_every_ready_scenario(name):
    from simulator.faults.base import FaultEnv
    from simulator.faults.sections.blacklist import Blacklist

    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    blacklist = Blacklist.from_scenario(scenario, FaultEnv(scenario.seed, 0.1))
    pipeline = FaultPipeline(scenario, clock=lambda: 0.0)
    pipeline.start(0.0)
    traffic = TrafficMix(scenario)
    link = LinkStats(0, "qa", "transceiver", 0.0)
    checked = Counter()
    for i in range(3000):
        message = traffic.next()
        now = i / 150  # 20 s: maintenance-window's windows (5-9 s, 12-15 s) included
        group = scenario.numbers.groups.get(message.group)
        for pdu in message.pdus:
            link.pdus += 1
            sub = Submission("qa", 0, pdu.source_addr, pdu.destination_addr, pdu.data_coding, pdu.esm_class,
                             pdu.short_message, 1, pdu.registered_delivery, i, link)
            outcome = pipeline.decide(sub, now)
            listed = blacklist.match("qa", pdu.destination_addr) if blacklist is not None else None
            if listed is not None:
                want = ("invalid_number", listed.reason)
            elif group is not None and group.state != "active":
                want = ("invalid_number", STATE_REASONS[group.state])
            else:
                assert outcome.sla_class.value != "invalid_number", (pdu.destination_addr, outcome)
                continue
            assert (outcome.sla_class.value, outcome.reason) == want, (pdu.destination_addr, outcome)
            checked[want] += 1
    if name in ("invalid-numbers", "blacklist-storm", "sla-breach"):
        assert sum(checked.values()) > 150, checked  # 10-35 % of their sends go to invalid numbers
