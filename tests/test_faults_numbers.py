"""The number plan and the blacklists: what each subscriber state and each list does to a message,
seen over real SMPP sessions (submit status, receipt stat/err) and in the SLA class recorded."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from simulator.esme import Esme
from simulator.faults.outcome import Outcome, SlaClass, Submission
from simulator.faults.pipeline import FaultPipeline
from simulator.scenario import number_key, read_number_file
from simulator.scenario import ScenarioError, load_scenario, parse_scenario
from simulator.smpp.constants import CommandStatus, MessageState
from simulator.smpp.receipt import parse_receipt

S = CommandStatus

# one group per subscriber state, by prefix
STATES = """
name: number-plan
seed: {seed}
numbers:
  default_state: {default}
  groups:
    active:           {{prefix: "8613000", state: active}}
    nonexistent:      {{prefix: "8613100", state: nonexistent}}
    out_of_service:   {{prefix: "8613200", state: out_of_service}}
    powered_off:      {{prefix: "8613300", state: powered_off}}
    arrears:          {{prefix: "8613400", state: arrears}}
    not_subscribed:   {{prefix: "8613500", state: not_subscribed}}
    unreachable:      {{prefix: "8613600", state: unreachable}}
    unstable_network: {{prefix: "8613700", state: unstable_network}}
"""
PREFIX = {
    "active": "8613000", "nonexistent": "8613100", "out_of_service": "8613200",
    "powered_off": "8613300", "arrears": "8613400", "not_subscribed": "8613500",
    "unreachable": "8613600", "unstable_network": "8613700",
}  # fmt: skip


def states_scenario(seed: int = 11, default: str = "active") -> str:
    return STATES.format(seed=seed, default=default)


def number(state: str, i: int = 1) -> str:
    return f"{PREFIX[state]}{i:06d}"


def submission(destination: str, account: str = "qa", index: int = 0) -> Submission:
    return Submission(account, 1, "1000", destination, 0, 0, b"hello", 1, 1, index)


def pipeline(yaml_text: str) -> FaultPipeline:
    return FaultPipeline(parse_scenario(yaml_text, "<test scenario>"))


def decide(p: FaultPipeline, destination: str, account: str = "qa") -> Outcome:
    return p.decide(submission(destination, account), p.started_at)


def within_binomial(count: int, n: int, p: float, z: float = 4.5) -> bool:
    """count is a plausible Binomial(n, p) draw (z standard deviations: flaky about 1 in 150,000)."""
    return abs(count - n * p) <= z * math.sqrt(n * p * (1 - p))


async def send_and_receipt(smsc, destination: str, system_id: str = "qa", password: str = "qa-pass"):
    """Submit over a real session; (submit_sm_resp, receipt or None, stored Outcome or None)."""
    esme = await Esme.bound("127.0.0.1", smsc.port, system_id, password)
    try:
        resp = await esme.submit(destination, b"Your code is 1234", registered_delivery=1)
        if resp.status:
            return resp, None, None
        deliver = await esme.next_delivery(timeout=5)
        receipt = parse_receipt(deliver.short_message)
        assert receipt.message_id == resp.message_id
        return resp, receipt, smsc.store.get(resp.message_id)[0].outcome
    finally:
        esme.close()


# ==================================================================================== subscriber states
@pytest.mark.parametrize(
    "state,stat,err,sla_class,reason",
    [
        ("active", "DELIVRD", "000", SlaClass.DELIVERED, ""),
        ("out_of_service", "UNDELIV", "001", SlaClass.INVALID_NUMBER, "out_of_service"),
        ("powered_off", "EXPIRED", "027", SlaClass.INVALID_NUMBER, "powered_off"),
        ("arrears", "UNDELIV", "013", SlaClass.INVALID_NUMBER, "arrears"),
        ("not_subscribed", "UNDELIV", "011", SlaClass.INVALID_NUMBER, "sms_not_subscribed"),
        ("unreachable", "EXPIRED", "027", SlaClass.INVALID_NUMBER, "unreachable"),
    ],
)
async def test_each_subscriber_state_shows_in_the_receipt_and_is_classed_as_the_sla_says(
    scenario_smsc, state, stat, err, sla_class, reason
):
    smsc = await scenario_smsc(states_scenario())
    resp, receipt, outcome = await send_and_receipt(smsc, number(state))
    assert resp.status == 0 and resp.message_id
    assert (receipt.state.stat, receipt.err) == (stat, err)
    assert (outcome.sla_class, outcome.reason) == (sla_class, reason)
    if sla_class is SlaClass.INVALID_NUMBER:
        assert outcome.decided_by == "numbers"


async def test_a_nonexistent_number_is_refused_at_submit_and_left_out_of_the_denominator(scenario_smsc):
    smsc = await scenario_smsc(states_scenario())
    resp, receipt, _ = await send_and_receipt(smsc, number("nonexistent"))
    assert resp.status == S.ESME_RINVDSTADR and receipt is None
    outcome = decide(pipeline(states_scenario()), number("nonexistent"))
    assert outcome.submit_status == S.ESME_RINVDSTADR
    assert (outcome.sla_class, outcome.reason, outcome.decided_by) == (
        SlaClass.INVALID_NUMBER,
        "nonexistent",
        "numbers",
    )


async def test_a_powered_off_phone_expires_after_an_active_phone_is_delivered(scenario_smsc):
    smsc = await scenario_smsc(states_scenario())
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    off = await esme.submit(number("powered_off"), registered_delivery=1)
    on = await esme.submit(number("active"), registered_delivery=1)
    first = parse_receipt((await esme.next_delivery()).short_message)
    second = parse_receipt((await esme.next_delivery()).short_message)
    esme.close()
    assert (first.message_id, first.state) == (on.message_id, MessageState.DELIVERED)
    assert (second.message_id, second.state, second.err) == (off.message_id, MessageState.EXPIRED, "027")


async def test_unstable_network_delivers_most_and_every_message_to_it_is_on_the_users_side(scenario_smsc):
    smsc = await scenario_smsc(states_scenario())
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    n = 120
    for i in range(n):
        assert (await esme.submit(number("unstable_network", i), registered_delivery=1)).status == 0
    seen: dict[tuple[str, str], int] = {}
    for _ in range(n):
        receipt = parse_receipt((await esme.next_delivery()).short_message)
        outcome = smsc.store.get(receipt.message_id)[0].outcome
        key = (receipt.state.stat, receipt.err)
        seen[key] = seen.get(key, 0) + 1
        assert key in {("DELIVRD", "000"), ("UNDELIV", "034")}
        # one number, one class: reached or not, an unstable network is a user-side cause (SLA 3.1(2))
        assert (outcome.sla_class, outcome.reason) == (SlaClass.INVALID_NUMBER, "unstable_network")
    esme.close()
    assert set(seen) == {("DELIVRD", "000"), ("UNDELIV", "034")}
    assert within_binomial(seen[("UNDELIV", "034")], n, 0.30)


async def test_numbers_in_no_group_have_the_default_state(scenario_smsc):
    smsc = await scenario_smsc(states_scenario(default="unreachable"))
    resp, receipt, outcome = await send_and_receipt(smsc, "4479000000001")
    assert resp.status == 0
    assert (receipt.state, receipt.err) == (MessageState.EXPIRED, "027")
    assert (outcome.sla_class, outcome.reason) == (SlaClass.INVALID_NUMBER, "unreachable")
    assert (
        decide(pipeline(states_scenario(default="unreachable")), number("active")).sla_class
        is SlaClass.DELIVERED
    )


# ==================================================================================== which group
GROUPS = """
numbers:
  groups:
    china:      {prefix: "+86", state: active}
    block:      {prefix: "86138", state: arrears}
    sub_block:  {prefix: "8613800", state: nonexistent}
    deep:       {prefix: "861380012", state: powered_off}
    wide:       {range: ["8613900000000", "8613900000999"], state: unreachable}
    narrow:     {range: ["8613900000010", "8613900000020"], state: not_subscribed}
    vip:        {numbers: ["+86 139 0000 0015", "0086-138-0000-0001"], state: out_of_service}
"""


def test_the_longest_prefix_wins():
    plan = pipeline(GROUPS).by_name["numbers"]
    assert plan.group_of("8613712345678") == "china"
    assert plan.group_of("8613812345678") == "block"
    assert plan.group_of("8613800345678") == "sub_block"
    assert plan.group_of("8613800125678") == "deep"
    assert plan.group_of("4479000000001") is None
    assert decide(pipeline(GROUPS), "8613800125678").reason == "powered_off"
    assert decide(pipeline(GROUPS), "8613812345678").reason == "arrears"


def test_ranges_are_inclusive_at_both_ends():
    plan = pipeline(GROUPS).by_name["numbers"]
    assert [plan.group_of(f"86139000000{n:02d}") for n in (9, 10, 11, 19, 20, 21)] == [
        "wide", "narrow", "narrow", "narrow", "narrow", "wide"
    ]  # fmt: skip
    assert plan.group_of("8613900000000") == plan.group_of("8613900000999") == "wide"
    assert plan.group_of("8613900001000") == "china"  # past the range: back to the prefixes
    assert plan.group_of("86139000000100") == "china"  # a longer number is not in a 13-digit range


def test_a_listed_number_beats_a_range_and_a_range_beats_a_prefix():
    plan = pipeline(GROUPS).by_name["numbers"]
    assert plan.group_of("8613900000015") == "vip"  # inside `narrow`
    assert plan.group_of("8613800000001") == "vip"  # inside `sub_block`
    assert plan.group_of("8613900000500") == "wide"  # inside the prefix `china`


def test_destinations_match_however_they_are_written():
    plan = pipeline(GROUPS).by_name["numbers"]
    for written in ("8613800125678", "+8613800125678", "008613800125678", "+86 138-0012-5678"):
        assert plan.state_of(written) == "powered_off", written


@pytest.mark.parametrize(
    "groups,problem",
    [
        (
            'a: {prefix: "86138"}\n    b: {prefix: "+86138", state: arrears}',
            "a and b both claim prefix '86138'",
        ),
        ('a: {range: ["100", "200"]}\n    b: {range: ["150", "250"], state: arrears}', "partly overlap"),
        ('a: {numbers: ["8613800000001"]}\n    b: {numbers: ["+8613800000001"]}', "both claim number"),
    ],
)
def test_an_ambiguous_number_plan_is_refused_with_the_groups_named(groups, problem):
    with pytest.raises(ScenarioError, match=problem):
        pipeline(f"numbers:\n  groups:\n    {groups}\n")


def test_an_empty_number_plan_adds_no_fault():
    assert "numbers" not in pipeline("name: empty\n").by_name
    assert "numbers" in pipeline("numbers: {default_state: powered_off}\n").by_name


# ==================================================================================== mixes and seeds
MIX = """
seed: {seed}
numbers:
  groups:
    flaky:        {{prefix: "86137", state: unstable_network}}
    switched_off: {{prefix: "86133", state: powered_off}}
    fine:         {{prefix: "86130", state: active}}
  states:
    powered_off:
      - {{share: 0.5, receipt_state: EXPIRED, err: "027", delay_ms: 5000}}
      - {{share: 0.3, receipt_state: DELIVRD}}
      - {{share: 0.2, submit_status: 0x45}}
    active:
      - {{share: 0.9, receipt_state: DELIVRD}}
      - {{share: 0.1, receipt_state: UNDELIV, err: "069"}}
"""


def outcomes(seed: int, prefix: str, n: int) -> list[tuple]:
    p = pipeline(MIX.format(seed=seed))
    return [
        (o.submit_status, o.final_state, o.error_code, o.sla_class, o.reason, o.receipt_delay)
        for o in (decide(p, f"{prefix}{i:08d}") for i in range(n))
    ]


def test_a_state_mix_follows_its_shares_over_many_draws():
    n = 20_000
    results = outcomes(3, "86133", n)
    expired = [r for r in results if r[1] is MessageState.EXPIRED]
    delivered = [r for r in results if r[0] == 0 and r[1] is MessageState.DELIVERED]
    refused = [r for r in results if r[0] == 0x45]
    assert len(expired) + len(delivered) + len(refused) == n
    assert within_binomial(len(expired), n, 0.5)
    assert within_binomial(len(delivered), n, 0.3)
    assert within_binomial(len(refused), n, 0.2)
    assert {r[2:] for r in expired} == {("027", SlaClass.INVALID_NUMBER, "powered_off", 5.0)}
    assert {r[3:5] for r in refused} == {(SlaClass.INVALID_NUMBER, "powered_off")}
    # a powered_off number that a message reached is still an invalid number
    assert {r[3:5] for r in delivered} == {(SlaClass.INVALID_NUMBER, "powered_off")}


def test_the_built_in_unstable_network_fails_thirty_percent():
    n = 20_000
    failed = [r for r in outcomes(3, "86137", n) if r[1] is MessageState.UNDELIVERABLE]
    assert within_binomial(len(failed), n, 0.30)
    assert {r[2:5] for r in failed} == {("034", SlaClass.INVALID_NUMBER, "unstable_network")}


def test_failures_of_an_overridden_active_state_are_the_providers():
    failed = [r for r in outcomes(3, "86130", 5_000) if r[1] is MessageState.UNDELIVERABLE]
    assert within_binomial(len(failed), 5_000, 0.1)
    assert {r[2:5] for r in failed} == {("069", SlaClass.DEFINITE_FAILURE, "numbers")}


def test_the_same_seed_gives_the_same_outcomes_and_another_seed_different_ones():
    assert outcomes(7, "86137", 2_000) == outcomes(7, "86137", 2_000)
    assert outcomes(7, "86137", 2_000) != outcomes(8, "86137", 2_000)
    assert outcomes(7, "86133", 2_000) == outcomes(7, "86133", 2_000)
    assert outcomes(7, "86133", 2_000) != outcomes(8, "86133", 2_000)


def test_a_message_already_settled_by_an_earlier_stage_is_left_alone():
    p = pipeline(MIX.format(seed=1) + "blacklists:\n  platform: {numbers: ['8613300000001']}\n")
    outcome = decide(p, "8613300000001")
    assert (outcome.submit_status, outcome.reason, outcome.decided_by) == (
        0x401,
        "blacklist_platform",
        "blacklists",
    )
    assert outcome.final_state is MessageState.DELIVERED  # the number plan did not add a receipt failure


# ==================================================================================== blacklists
LISTS = """
carrier:
  accounts:
    - {{system_id: qa, password: qa-pass}}
    - {{system_id: shop, password: shop-pw}}
numbers:
  groups:
    gone: {{prefix: "86131", state: nonexistent}}
blacklists:
  platform: {{numbers: ["+8613800000001", "8613100000009"]}}
  carrier:  {{file: "{carrier_file}"}}
  accounts:
    shop: {{numbers: ["8613800000003"]}}
"""


@pytest.fixture
def lists_yaml(tmp_path: Path) -> str:
    listed = tmp_path / "carrier.txt"
    listed.write_text("# carrier blacklist\n8613800000002\n", encoding="utf-8")
    return LISTS.format(carrier_file=listed)


@pytest.mark.parametrize(
    "destination,account,status,reason",
    [
        ("8613800000001", "qa", 0x401, "blacklist_platform"),
        ("8613800000002", "qa", 0x402, "blacklist_carrier"),
        ("8613800000003", "shop", 0x403, "opt_out"),
    ],
)
async def test_blacklisted_number_is_left_out_of_the_denominator(
    scenario_smsc, lists_yaml, destination, account, status, reason
):
    smsc = await scenario_smsc(lists_yaml)
    password = {"qa": "qa-pass", "shop": "shop-pw"}[account]
    resp, _, _ = await send_and_receipt(smsc, destination, account, password)
    assert resp.status == status
    outcome = decide(pipeline(lists_yaml), destination, account)
    assert outcome.submit_status == status
    assert (outcome.sla_class, outcome.reason, outcome.decided_by) == (
        SlaClass.INVALID_NUMBER,
        reason,
        "blacklists",
    )


async def test_an_opt_out_applies_to_its_own_account_only(scenario_smsc, lists_yaml):
    smsc = await scenario_smsc(lists_yaml)
    resp, receipt, outcome = await send_and_receipt(smsc, "8613800000003", "qa", "qa-pass")
    assert resp.status == 0 and receipt.state is MessageState.DELIVERED
    assert outcome.sla_class is SlaClass.DELIVERED


async def test_a_number_on_no_list_is_delivered(scenario_smsc, lists_yaml):
    smsc = await scenario_smsc(lists_yaml)
    resp, receipt, outcome = await send_and_receipt(smsc, "8613800000004", "shop", "shop-pw")
    assert resp.status == 0 and (receipt.state, receipt.err) == (MessageState.DELIVERED, "000")
    assert outcome.sla_class is SlaClass.DELIVERED


def test_a_blacklist_is_checked_before_the_number_plan(lists_yaml):
    outcome = decide(
        pipeline(lists_yaml), "8613100000009"
    )  # in `gone` (nonexistent) and on the platform list
    assert (outcome.submit_status, outcome.reason) == (0x401, "blacklist_platform")
    assert decide(pipeline(lists_yaml), "8613100000008").reason == "nonexistent"


async def test_a_list_can_refuse_with_its_own_status(scenario_smsc):
    text = "blacklists:\n  carrier: {numbers: ['8613800000002'], status: 0x45}\n"
    smsc = await scenario_smsc(text)
    resp, _, _ = await send_and_receipt(smsc, "8613800000002")
    assert resp.status == S.ESME_RSUBMITFAIL
    assert decide(pipeline(text), "8613800000002").reason == "blacklist_carrier"


def test_a_blacklist_file_ignores_blank_lines_and_comments(tmp_path: Path):
    listed = tmp_path / "platform.txt"
    listed.write_bytes(
        b"\xef\xbb\xbf# platform blacklist, exported 2024-05-01\n"
        b"\n"
        b"8613800000001\n"
        b"   +86 138 0000 0002   # complained twice\r\n"
        b"0086-138-0000-0003\n"
        b"\t\n"
        b"# 8613800000004 was removed\n"
        b"8613800000005"  # no final newline
    )
    keys = read_number_file(listed)
    assert keys == {number_key(f"861380000000{i}") for i in (1, 2, 3, 5)}
    p = pipeline(f"blacklists:\n  platform: {{file: '{listed}'}}\n")
    assert [decide(p, f"861380000000{i}").submit_status for i in range(1, 6)] == [
        0x401,
        0x401,
        0x401,
        0,
        0x401,
    ]


def test_a_bad_line_in_a_blacklist_file_is_an_error_naming_the_file_and_line(tmp_path: Path):
    listed = tmp_path / "carrier.txt"
    listed.write_text("# carrier list\n8613800000001\n\n86138000000O2\n8613800000003\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        pipeline(f"blacklists:\n  carrier: {{file: '{listed}'}}\n")
    message = str(err.value)
    assert f"{listed}:4:" in message
    assert "blacklists.carrier" in message and "86138000000O2" in message


def test_a_missing_blacklist_file_is_an_error_naming_the_file(tmp_path: Path):
    missing = tmp_path / "nowhere.txt"
    with pytest.raises(ScenarioError, match=f"{missing}: blacklists.platform: cannot read"):
        pipeline(f"blacklists:\n  platform: {{file: '{missing}'}}\n")


def test_a_bad_inline_number_is_an_error_naming_the_field():
    with pytest.raises(
        ScenarioError, match=r"blacklists.accounts.qa.numbers\[1\]: not a phone number: 'call me'"
    ):
        pipeline("blacklists:\n  accounts:\n    qa: {numbers: ['8613800000001', 'call me']}\n")


def test_a_blacklist_file_is_found_next_to_its_scenario(tmp_path: Path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "platform.txt").write_text("8613800000001\n", encoding="utf-8")
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text("blacklists:\n  platform: {file: lists/platform.txt}\n", encoding="utf-8")
    p = FaultPipeline(load_scenario(scenario_file))
    assert decide(p, "8613800000001").reason == "blacklist_platform"


def test_numbers_with_leading_zeros_are_not_confused_with_shorter_ones():
    p = pipeline("blacklists:\n  platform: {numbers: ['013800000001']}\n")
    assert decide(p, "013800000001").submit_status == 0x401
    assert decide(p, "13800000001").submit_status == 0


def test_a_million_number_blacklist_file_loads(tmp_path: Path):
    listed = tmp_path / "million.txt"
    with listed.open("w", encoding="utf-8") as f:
        f.write("# a million numbers\n")
        f.write("\n".join(f"86139{i:08d}" for i in range(1_000_000)))
        f.write("\n")
    started = time.perf_counter()
    p = pipeline(f"blacklists:\n  platform: {{file: '{listed}'}}\n")
    print(
        f"loaded 1,000,000 numbers in {time.perf_counter() - started:.2f} s"
    )  # speed: bench/blacklist_load.py
    blacklist = p.by_name["blacklists"]
    assert blacklist.describe()["lists"] == {"blacklists.platform": 1_000_000}
    assert decide(p, "8613900000000").reason == "blacklist_platform"
    assert decide(p, "8613900999999").reason == "blacklist_platform"
    assert decide(p, "8613901000000").submit_status == 0
