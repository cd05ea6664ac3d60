"""Focused tests for two of the ten mutations of issue 10 that only one incidental test killed.

Every one of the ten is killed by a fast test (docs/mutation.md, "The ten mutations of issue 10",
has the table). Two were killed by a single test written for something else:

- "swap the default compensation tiers' vouchers" only by tests/test_report.py's report of a whole
  run (its 30 % voucher); here the defaults are read from a scenario that states no tiers and
  priced at both sides of each boundary;
- "one duplicate receipt too few" only by a wait in tests/test_faults_link.py running out (the
  last copy never came); here the receipts each message gets over a real SMPP session are counted
  once nothing more is on its way, for several numbers of copies, next to an account the fault
  does not name.

The expected numbers are written out by hand, not computed with the code under test.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from fractions import Fraction

import pytest

from simulator.esme import Esme
from simulator.metering.compensation import compensation
from simulator.metering.meter import SlaFigures
from simulator.scenario import parse_scenario
from simulator.smpp.constants import MessageState
from simulator.smpp.pdu import EnquireLink
from simulator.smpp.receipt import parse_receipt

from .waiting import eventually

# ============================================================================= the default tiers
FEE = Decimal("200.00")


def default_tiers():
    """The tiers of a scenario that states none (the SLA's defaults, as a user gets them)."""
    return parse_scenario("name: no-tiers-stated\n").sla.tiers


def test_the_default_tiers_are_ten_percent_below_95_and_thirty_percent_below_90():
    assert sorted((t.below, t.voucher) for t in default_tiers()) == [(0.90, 0.30), (0.95, 0.10)]


@pytest.mark.parametrize(
    ("rate", "voucher"),
    [
        (Fraction(1), Decimal(0)),
        (Fraction(96, 100), Decimal(0)),
        (Fraction(95, 100), Decimal(0)),  # at the target: no tier (a tier applies strictly below)
        (Fraction(9499, 10000), Decimal(20)),  # 10 % of 200
        (Fraction(91, 100), Decimal(20)),
        (Fraction(90, 100), Decimal(20)),  # at 90 %: still the 10 % tier
        (Fraction(8999, 10000), Decimal(60)),  # 30 % of 200
        (Fraction(1, 2), Decimal(60)),
        (Fraction(0), Decimal(60)),
    ],
)
def test_the_default_tiers_pay_their_share_of_the_fee_on_each_side_of_each_boundary(rate, voucher):
    result = compensation(rate, FEE, default_tiers())
    assert result.voucher == voucher
    assert result.capped is False


def test_a_cycle_metered_at_94_percent_earns_the_ten_percent_voucher_and_at_85_percent_the_thirty():
    tiers = default_tiers()
    at_94 = SlaFigures()
    at_94.add("delivered", "", 94)
    at_94.add("definite_failure", "provider_failure", 6)
    at_94.add("pending", "", 50)  # neither counted as delivered nor failed
    assert compensation(at_94.exact_rate, FEE, tiers).voucher == Decimal(20)
    at_85 = SlaFigures()
    at_85.add("delivered", "", 17)
    at_85.add("definite_failure", "provider_failure", 3)
    at_85.add("excluded", "traffic_control", 80)  # left out of the rate
    assert compensation(at_85.exact_rate, FEE, tiers).voucher == Decimal(60)


# ============================================================================= duplicate receipts
PER_ACCOUNT = 4


async def nothing_more_on_its_way(smsc, esmes: dict[str, Esme]) -> None:
    """Every message has its final state (with no ledger its receipts are queued at once then),
    every account's router has nothing queued, in flight or waiting for a retry (each receipt was
    acknowledged, so it reached its client), and an enquire_link round trip per bind follows it."""
    await eventually(
        lambda: not smsc.store.pending() and all(smsc.accounts[a].router.backlog == 0 for a in esmes),
        what="every message final and every receipt acknowledged",
    )
    for esme in esmes.values():
        assert (await esme.request(EnquireLink(), timeout=5)).status == 0


def receipts_per_id(esme: Esme) -> Counter[str]:
    seen: Counter[str] = Counter()
    while not esme.delivered.empty():
        receipt = parse_receipt(esme.delivered.get_nowait().short_message)
        assert receipt.state == MessageState.DELIVERED
        seen[receipt.message_id] += 1
    return seen


@pytest.mark.parametrize(("copies", "receipts_each"), [(1, 2), (2, 3), (5, 6)])
async def test_a_duplicated_receipt_arrives_once_plus_its_copies_and_other_accounts_get_one(
    scenario_smsc, copies, receipts_each
):
    smsc = await scenario_smsc(
        "carrier: {receipt_delay_ms: 0, accounts: [{system_id: qa, password: qa-pass},"
        " {system_id: plain, password: pw}]}\n"
        f"faults:\n  - {{kind: duplicate_receipt, copies: {copies}, accounts: [qa]}}\n"
    )
    esmes = {
        "qa": await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass"),
        "plain": await Esme.bound("127.0.0.1", smsc.port, "plain", "pw"),
    }
    ids: dict[str, list[str]] = {}
    for account, esme in esmes.items():
        responses = [await esme.submit(f"86138{i:08d}", registered_delivery=1) for i in range(PER_ACCOUNT)]
        assert [r.status for r in responses] == [0] * PER_ACCOUNT
        ids[account] = [r.message_id for r in responses]
    await nothing_more_on_its_way(smsc, esmes)
    assert receipts_per_id(esmes["qa"]) == {i: receipts_each for i in ids["qa"]}
    assert receipts_per_id(esmes["plain"]) == {i: 1 for i in ids["plain"]}
    for esme in esmes.values():
        esme.close()
