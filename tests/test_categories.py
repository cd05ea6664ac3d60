"""Billing categories from what was sent (issue 12, item 6): the templates a scenario declares with
a category decide a message's category at the carrier, without a `rules:` section too; long messages
are billed at one price; a scenario that declares none says so in the report.

The expected categories are the harness's own (PlannedSend.category: the template it filled), or
written out here; the carrier never sees them."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

from loadtests.traffic import TrafficMix
from simulator.faults.outcome import LinkStats, Submission
from simulator.faults.pipeline import FaultPipeline
from simulator.ledger.reader import Record
from simulator.metering.report import build_report
from simulator.metering.text import render_text
from simulator.scenario import Sla, load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def decide_traffic(scenario, n: int) -> list[tuple[str, list[str]]]:
    """(the category the harness meant, the categories the carrier gave its parts) for n messages."""
    pipeline = FaultPipeline(scenario, clock=lambda: 0.0)
    pipeline.start(0.0)
    traffic = TrafficMix(scenario)
    link = LinkStats(0, "qa", "transceiver", 0.0)
    out = []
    for i in range(n):
        planned = traffic.next()
        got = []
        for pdu in planned.pdus:
            sub = Submission("qa", 0, pdu.source_addr, pdu.destination_addr, pdu.data_coding, pdu.esm_class,
                             pdu.short_message, 1, pdu.registered_delivery, i, link)
            got.append(pipeline.decide(sub, i / 100).category)
        out.append((planned.category, got))
    return out


def test_the_baseline_bills_each_message_by_the_category_of_the_template_it_was_sent_from():
    """baseline has no `rules:` section; its load declares a verification and a notification template."""
    results = decide_traffic(load_scenario(SCENARIOS / "baseline.yaml"), 3000)
    assert all(got == [meant] * len(got) for meant, got in results)  # long messages: every part too
    meant = Counter(m for m, _ in results)
    assert meant["verification"] > 1300 and meant["notification"] > 1300
    assert any(len(got) > 1 for _, got in results)  # long messages were among them


SCENARIO = """
name: cat
numbers: {groups: {active: {prefix: "8613800", state: active}}}
load:
  templates:
    - {text: "Your code is {code}", category: verification}
    - {text: "Big sale: {pct}% off everything", category: promotion}
sla:
  prices: {verification: 0.05, notification: 0.04, promotion: 0.03}
"""


def decide_text(scenario, text: str, account: str = "qa") -> str:
    pipeline = FaultPipeline(scenario, clock=lambda: 0.0)
    pipeline.start(0.0)
    sub = Submission(account, 0, "1000", "8613800000001", 0, 0, text.encode("ascii"), 1, 1, 0, None)
    return pipeline.decide(sub, 0.0).category


def test_a_text_following_no_declared_template_is_a_notification_and_is_counted():
    scenario = parse_scenario(SCENARIO)
    assert decide_text(scenario, "Your code is 123456") == "verification"
    assert decide_text(scenario, "Big sale: 30% off everything") == "promotion"
    assert decide_text(scenario, "hello there") == "notification"
    pipeline = FaultPipeline(scenario, clock=lambda: 0.0)
    sub = Submission("qa", 0, "1000", "86138", 0, 0, b"hello", 1, 1, 0, None)
    pipeline.decide(sub, 0.0)
    described = pipeline.by_name["categories"].describe()
    assert described["followed_no_template"] == 1 and described["categorised"] == {}


def test_the_rules_section_decides_for_the_accounts_it_covers():
    scenario = parse_scenario(SCENARIO + """
carrier:
  accounts: [{system_id: qa, password: pw}, {system_id: other, password: pw}]
rules:
  accounts:
    qa:
      templates: [{text: "Your code is {code}", category: promotion}]
""")
    assert decide_text(scenario, "Your code is 123456") == "promotion"  # the account's approved template
    assert decide_text(scenario, "Your code is 123456", account="other") == "verification"


def test_plain_string_templates_declare_no_category():
    scenario = parse_scenario('name: plain\nload: {templates: ["Your code is {code}"]}\n')
    pipeline = FaultPipeline(scenario, clock=lambda: 0.0)
    assert "categories" not in pipeline.by_name
    assert decide_text(scenario, "Your code is 123456") == ""  # the recorder writes "notification"


def rec(category: str, segments: int = 1) -> Record:
    return Record("run", "id", "qa", "8613800000001", category, segments, 1_795_000_000.0, 0, True,
                  "DELIVRD", "000", 1_795_000_001.0, "delivered", "")


def test_a_scenario_without_categories_says_so_in_the_report():
    plain = parse_scenario('name: plain\nload: {templates: ["Your code is {code}"]}\nsla: {prices: {notification: 0.04}}\n')
    report = build_report([rec("notification")] * 7, plain.sla, scenario=plain, generated_at=1_795_000_100.0)
    note = "qa {}: all 7 messages billed as notification: the scenario declares no categories".format(
        report["cycles"][0]["cycle"])
    assert note in report["warnings"] and note in render_text(report)
    assert report["sla"]["categories"] == {"declared": [], "by": "nothing: every message is a notification"}
    declared = parse_scenario(SCENARIO)
    report = build_report([rec("verification"), rec("notification", 2)], declared.sla, scenario=declared,
                          generated_at=1_795_000_100.0)
    assert not any("declares no categories" in w for w in report["warnings"])
    assert report["sla"]["categories"]["declared"] == ["promotion", "verification"]
    assert Decimal(report["cycles"][0]["billing"]["fee"]) == Decimal("0.05") + 2 * Decimal("0.04")
    # no scenario known (only sla terms): nothing said either way
    report = build_report([rec("notification")], Sla(), generated_at=1_795_000_100.0)
    assert report["sla"]["categories"] == {"declared": None, "by": "unknown: no scenario"}
