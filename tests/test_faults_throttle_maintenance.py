"""Throttling (token buckets, windows, daily quotas), the `throttle` fault and maintenance windows.

What an ESME sees over real SMPP sessions (statuses, refused binds, dropped links, held receipts),
and the exact arithmetic and SLA classes through the FaultPipeline on a fake clock. Scenario time
is moved forward by shifting the pipeline's start, never by sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest

from simulator.esme import Esme, EsmeError
from simulator.faults.outcome import LinkStats, Outcome, SlaClass, Submission
from simulator.faults.pipeline import FaultPipeline
from simulator.scenario import ScenarioError, parse_scenario
from simulator.smpp.constants import CommandStatus, Tag
from simulator.smpp.pdu import SubmitSm
from simulator.smpp.receipt import is_receipt, parse_receipt

S = CommandStatus
_index = itertools.count()


def account(limits: str, **extra: str) -> str:
    """A scenario whose one account `qa` has the given limits (YAML flow-mapping body)."""
    faults = extra.get("faults", "")
    return f"""
carrier:
  accounts:
    - {{system_id: qa, password: qa-pass, {limits}}}
    - {{system_id: free, password: pw}}
{faults}
"""


def pipeline(yaml_text: str, started_wall: float | None = None) -> FaultPipeline:
    p = FaultPipeline(parse_scenario(yaml_text), clock=lambda: 0.0)
    p.start(0.0)
    if started_wall is not None:
        p.env.started_wall = started_wall
    return p


def submit(p: FaultPipeline, now: float, segments: int = 1, bind: int = 1, outstanding: int = 0,
           system_id: str = "qa") -> Outcome:
    link = LinkStats(bind, system_id, "transceiver", 0.0)
    link.outstanding = outstanding
    submission = Submission(system_id, bind, "1000", "8613800000001", 0, 0, b"hi", segments, 1, next(_index), link)
    return p.decide(submission, now)


def statuses(p: FaultPipeline, now: float, n: int, **kwargs) -> list[int]:
    return [submit(p, now, **kwargs).submit_status for _ in range(n)]


def advance(smsc, seconds: float) -> None:
    """Move the SMSC's scenario clock forward (the pipeline's start goes back), without sleeping."""
    smsc.decider.started_at -= seconds


async def bound(smsc, system_id: str = "qa", password: str = "qa-pass", kind: str = "transceiver") -> Esme:
    return await Esme.bound("127.0.0.1", smsc.port, system_id, password, kind)


async def submit_statuses(esme: Esme, n: int, **fields) -> list[int]:
    return [(await esme.submit("8613800000001", **fields)).status for _ in range(n)]


def assert_excluded(outcome: Outcome, status: int, reason: str, by: str = "throttling") -> None:
    assert (outcome.submit_status, outcome.sla_class, outcome.reason, outcome.decided_by) == (
        status, SlaClass.EXCLUDED, reason, by)


# ================================================================================ over SMPP: throttling
async def test_bind_throughput_beyond_burst_is_answered_esme_rthrottled(scenario_smsc):
    smsc = await scenario_smsc(account("bind_throughput: {rate: 0.01, burst: 3}"))
    first = await bound(smsc)
    assert await submit_statuses(first, 5) == [0, 0, 0, S.ESME_RTHROTTLED, S.ESME_RTHROTTLED]
    second = await bound(smsc)  # another bind of the same account has a bucket of its own
    assert await submit_statuses(second, 4) == [0, 0, 0, S.ESME_RTHROTTLED]
    first.close()
    second.close()


async def test_account_throughput_is_shared_by_its_binds_and_refused_with_its_throttle_status(scenario_smsc):
    smsc = await scenario_smsc(account("throughput: {rate: 0.01, burst: 4}, throttle_status: 0x401"))
    a, b = await bound(smsc), await bound(smsc, kind="transmitter")
    assert await submit_statuses(a, 2) + await submit_statuses(b, 3) == [0, 0, 0, 0, 0x401]
    assert await submit_statuses(a, 1) == [0x401]
    other = await bound(smsc, "free", "pw")  # accounts without limits are never throttled
    assert await submit_statuses(other, 10) == [0] * 10
    for esme in (a, b, other):
        esme.close()


async def test_a_long_message_takes_one_token_per_segment(scenario_smsc):
    smsc = await scenario_smsc(account("bind_throughput: {rate: 0.01, burst: 3}"))
    esme = await bound(smsc)
    long = {"text": b"", "tlvs": {Tag.message_payload: b"a" * 300}}  # 2 GSM segments
    assert await submit_statuses(esme, 2, **long) == [0, S.ESME_RTHROTTLED]
    assert await submit_statuses(esme, 2) == [0, S.ESME_RTHROTTLED]
    esme.close()


async def test_submits_beyond_the_window_are_answered_esme_rmsgqful(scenario_smsc):
    smsc = await scenario_smsc(account("window: 2", faults="""
faults:
  - {kind: latency, submit_resp: {dist: fixed, ms: 150}}
"""))
    esme = await bound(smsc)
    pending = [esme.send(SubmitSm(source_addr="1000", destination_addr="8613800000001", short_message=b"hi"))
               for _ in range(3)]
    assert [r.status for r in await asyncio.gather(*pending)] == [0, 0, S.ESME_RMSGQFUL]
    assert await submit_statuses(esme, 1) == [0]  # answered submits free the window again
    esme.close()


async def test_daily_quota_is_answered_esme_rthrottled_until_the_next_scenario_day(scenario_smsc):
    smsc = await scenario_smsc(account("daily_quota: 3"))
    esme = await bound(smsc)
    assert await submit_statuses(esme, 4) == [0, 0, 0, S.ESME_RTHROTTLED]
    advance(smsc, 86_400)
    assert await submit_statuses(esme, 4) == [0, 0, 0, S.ESME_RTHROTTLED]
    esme.close()


async def test_the_throttle_fault_answers_its_status_during_its_window_only(scenario_smsc):
    smsc = await scenario_smsc("""
faults:
  - {kind: throttle, status: 0x58, window: {start_s: 0, end_s: 60}}
""")
    esme = await bound(smsc)
    assert await submit_statuses(esme, 3) == [S.ESME_RTHROTTLED] * 3
    advance(smsc, 60)
    assert await submit_statuses(esme, 3) == [0] * 3
    esme.close()


# ================================================================================ over SMPP: maintenance
async def test_maintenance_refuse_binds_drops_bound_links_and_refuses_new_binds(scenario_smsc):
    smsc = await scenario_smsc("""
faults:
  - {kind: maintenance, start: 10s, duration: 1h, mode: refuse_binds}
""")
    esme = await bound(smsc)
    assert await submit_statuses(esme, 1) == [0]
    advance(smsc, 10)
    await esme.wait_closed(timeout=2)  # dropped at the next link check
    assert smsc.stats.dropped_links == 1
    late = await Esme.connect("127.0.0.1", smsc.port)
    with pytest.raises(EsmeError) as refused:
        await late.bind("qa", "qa-pass")
    assert refused.value.status == S.ESME_RBINDFAIL
    advance(smsc, 3600)  # the window is over: binds are welcome again
    await late.bind("qa", "qa-pass")
    late.close()


async def test_maintenance_reject_submits_at_a_wall_clock_time_answers_esme_rsyserr(scenario_smsc):
    opened = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    smsc = await scenario_smsc(f"""
faults:
  - {{kind: maintenance, at: "{opened}", duration: 1h, mode: reject_submits}}
""")
    esme = await bound(smsc)
    assert await submit_statuses(esme, 2) == [S.ESME_RSYSERR] * 2
    advance(smsc, 3600)
    assert await submit_statuses(esme, 1) == [0]
    esme.close()


async def test_maintenance_hold_receipts_delays_receipts_until_the_window_ends(scenario_smsc):
    smsc = await scenario_smsc("""
faults:
  - {kind: maintenance, start: 10s, duration: 250ms, mode: hold_receipts}
""")
    esme = await bound(smsc)
    before = await esme.submit("8613800000001", registered_delivery=1)
    assert parse_receipt((await esme.next_delivery(1)).short_message).message_id == before.message_id
    advance(smsc, 10)
    held = await esme.submit("8613800000001", registered_delivery=1)
    assert held.status == 0  # accepted: only its final state waits
    window_end = smsc.scenario_start + 10.25
    [message] = smsc.store.get(held.message_id)
    assert not message.is_final and esme.delivered.empty()
    deliver = await esme.next_delivery(1)
    # lower bounds, about correctness (a held receipt can never come early; without the hold it would
    # be final 20 ms after the submit): the final state is reached no sooner than the window end on
    # the SMSC's clock (time.monotonic), and the receipt arrives after that (1 us: float rounding)
    assert message.done_time >= window_end - 1e-6
    assert time.monotonic() >= window_end - 1e-6
    assert is_receipt(deliver.esm_class) and parse_receipt(deliver.short_message).message_id == held.message_id
    assert (message.outcome.hold_until, message.outcome.sla_class) == (10.25, SlaClass.DELIVERED)
    esme.close()


# ================================================================================ token buckets, exactly
def test_account_bucket_admits_the_burst_then_refills_at_rate_up_to_the_burst():
    p = pipeline(account("throughput: {rate: 2, burst: 3}"))
    assert statuses(p, 0.0, 4) == [0, 0, 0, S.ESME_RTHROTTLED]
    assert statuses(p, 0.5, 2) == [0, S.ESME_RTHROTTLED]  # 0.5 s at 2/s: one token
    assert statuses(p, 1.0, 2) == [0, S.ESME_RTHROTTLED]
    assert statuses(p, 100.0, 4) == [0, 0, 0, S.ESME_RTHROTTLED]  # idle time fills up to the burst only
    assert_excluded(submit(p, 100.0), S.ESME_RTHROTTLED, "platform_traffic_control")


def test_a_refused_submit_takes_no_tokens():
    p = pipeline(account("throughput: {rate: 1, burst: 1}"))
    assert statuses(p, 0.0, 1) == [0]
    for tenth in range(1, 10):
        assert statuses(p, tenth / 10, 1) == [S.ESME_RTHROTTLED]
    assert statuses(p, 1.0, 2) == [0, S.ESME_RTHROTTLED]


def test_long_messages_take_one_token_per_segment():
    p = pipeline(account("throughput: {rate: 0.001, burst: 5}"))
    assert [submit(p, 0.0, segments=n).submit_status for n in (3, 3, 2, 1)] == [0, S.ESME_RTHROTTLED, 0,
                                                                                 S.ESME_RTHROTTLED]


def test_a_message_longer_than_the_burst_passes_on_a_full_bucket_and_leaves_it_in_debt():
    p = pipeline(account("throughput: {rate: 1, burst: 2}"))
    assert submit(p, 0.0, segments=4).submit_status == 0  # 2 - 4 = -2 tokens
    assert statuses(p, 1.0, 1) == [S.ESME_RTHROTTLED]  # -1
    assert statuses(p, 3.0, 2) == [0, S.ESME_RTHROTTLED]  # 1, then 0


def test_each_bind_has_its_own_bucket_and_the_account_bucket_is_shared():
    p = pipeline(account("bind_throughput: {rate: 0.001, burst: 2}, throughput: {rate: 0.001, burst: 3}"))
    assert statuses(p, 0.0, 3, bind=1) == [0, 0, S.ESME_RTHROTTLED]  # the bind's bucket is empty
    assert statuses(p, 0.0, 2, bind=2) == [0, S.ESME_RTHROTTLED]  # bind 2 has 1 left, the account 0
    assert p.by_name["throttling"].describe()["refused"] == {
        "window": 0, "bind_throughput": 1, "throughput": 1, "daily_quota": 0}
    assert statuses(p, 0.0, 3, system_id="free") == [0, 0, 0]


def test_a_full_window_is_answered_rmsgqful_whatever_the_throttle_status_and_takes_no_tokens():
    p = pipeline(account("window: 2, throughput: {rate: 0.001, burst: 1}, throttle_status: 0x401"))
    assert_excluded(submit(p, 0.0, outstanding=2), S.ESME_RMSGQFUL, "platform_traffic_control")
    assert statuses(p, 0.0, 2, outstanding=1) == [0, 0x401]


# ================================================================================ daily quota
def test_daily_quota_counts_segments_and_resets_at_the_scenario_day_boundary():
    p = pipeline(account("daily_quota: 5"))
    assert [submit(p, t, segments=n).submit_status for t, n in ((0.0, 3), (10.0, 2), (86_399.9, 1))] == [
        0, 0, S.ESME_RTHROTTLED]
    assert_excluded(submit(p, 86_399.9), S.ESME_RTHROTTLED, "unnotified_high_concurrency")
    assert submit(p, 86_400.0, segments=5).submit_status == 0
    assert statuses(p, 86_400.0, 1) == [S.ESME_RTHROTTLED]


@pytest.mark.parametrize("quota_day,start", [("UTC", "2026-01-01T23:59:00+00:00"),
                                             ("+08:00", "2026-01-01T15:59:00+00:00")])
def test_quota_days_can_turn_at_midnight_utc_or_at_a_utc_offset(quota_day, start):
    p = pipeline(account(f"daily_quota: 1, quota_day: '{quota_day}'"),
                 started_wall=datetime.fromisoformat(start).timestamp())
    assert statuses(p, 0.0, 1) + statuses(p, 59.9, 1) == [0, S.ESME_RTHROTTLED]
    assert statuses(p, 60.0, 2) == [0, S.ESME_RTHROTTLED]  # midnight: a new day


def test_scenarios_without_limits_have_no_throttling_section():
    p = pipeline("name: plain")
    assert "throttling" not in p.by_name
    assert statuses(p, 0.0, 1000) == [0] * 1000


# ================================================================================ the throttle fault
def test_the_throttle_fault_refuses_its_probability_as_carrier_control_repeatably():
    scenario = "seed: 11\nfaults:\n  - {kind: throttle, probability: 0.25}\n"
    runs = [[submit(p, 0.0) for _ in range(4000)] for p in (pipeline(scenario), pipeline(scenario))]
    assert [o.submit_status for o in runs[0]] == [o.submit_status for o in runs[1]]
    refused = [o for o in runs[0] if o.submit_status]
    assert abs(len(refused) / 4000 - 0.25) < 0.035  # ~5 sigma
    assert {(o.submit_status, o.sla_class, o.reason, o.decided_by) for o in refused} == {
        (S.ESME_RTHROTTLED, SlaClass.EXCLUDED, "carrier_control", "throttle")}


def test_the_throttle_fault_acts_only_inside_its_window_and_answers_its_status():
    p = pipeline("faults:\n  - {kind: throttle, status: 0x14, window: {start_s: 10, end_s: 20}}\n")
    assert [submit(p, t).submit_status for t in (9.99, 10.0, 19.99, 20.0)] == [0, 0x14, 0x14, 0]


# ================================================================================ maintenance
def maintenance(params: str, started_wall: float | None = None) -> FaultPipeline:
    return pipeline(f"faults:\n  - {{kind: maintenance, {params}}}\n", started_wall)


def test_maintenance_windows_open_at_start_last_their_duration_and_repeat_every():
    p = maintenance("start: 2m, duration: 30s, every: 1h")
    times = (119.9, 120.0, 149.9, 150.0, 3719.9, 3720.0, 3749.9, 3750.0)
    assert [submit(p, t).submit_status for t in times] == [0, 8, 8, 0, 0, 8, 8, 0]


@pytest.mark.parametrize("pre_notified,sla_class,reason", [
    (True, SlaClass.EXCLUDED, "pre_notified_maintenance"),
    (False, SlaClass.DEFINITE_FAILURE, "maintenance"),
])
def test_submits_rejected_in_maintenance_are_excluded_only_when_pre_notified(pre_notified, sla_class, reason):
    p = maintenance(f"start: 30s, duration: 10s, pre_notified: {str(pre_notified).lower()}, submit_status: 0x45")
    outcome = submit(p, 35.0)
    assert (outcome.submit_status, outcome.sla_class, outcome.reason, outcome.decided_by) == (
        S.ESME_RSUBMITFAIL, sla_class, reason, "maintenance")


def test_held_receipts_wait_for_the_window_end_and_keep_their_sla_class():
    p = maintenance("start: 30s, duration: 10s, mode: hold_receipts, pre_notified: false")
    held, after = submit(p, 35.0), submit(p, 40.0)
    assert (held.submit_status, held.hold_until, held.sla_class) == (0, 40.0, SlaClass.DELIVERED)
    assert after.hold_until == 0.0


def test_refuse_binds_refuses_binds_drops_links_and_rejects_stray_submits_in_the_window():
    p = maintenance("start: 30s, duration: 10s, mode: refuse_binds, bind_status: 0x0F")
    link = LinkStats(1, "qa", "transceiver", 0.0)
    assert [p.decide_bind("qa", "transceiver", t) for t in (29.9, 30.0, 39.9, 40.0)] == [0, 0x0F, 0x0F, 0]
    assert [p.decide_link(link, t) for t in (29.9, 30.0, 40.0)] == [None, "drop", None]
    stray = submit(p, 30.0)
    assert (stray.submit_status, stray.sla_class, stray.reason) == (S.ESME_RSYSERR, SlaClass.DEFINITE_FAILURE,
                                                                    "maintenance")


@pytest.mark.parametrize("at", ["2026-11-22T02:00:00Z", "2026-11-22T10:00:00+08:00"])
def test_a_wall_clock_window_is_placed_by_the_wall_time_of_the_scenario_start(at):
    started = datetime(2026, 11, 22, 1, 59, tzinfo=UTC).timestamp()  # scenario time 0 is 01:59Z
    p = maintenance(f"at: '{at}', duration: 10m, every: 1d", started_wall=started)
    times = (59.9, 60.0, 659.9, 660.0, 86_459.9, 86_460.0)
    assert [submit(p, t).submit_status for t in times] == [0, 8, 8, 0, 0, 8]


def test_a_wall_clock_window_already_open_at_the_start_is_in_force():
    started = datetime(2026, 11, 22, 2, 5, tzinfo=UTC).timestamp()
    p = maintenance("at: 2026-11-22T02:00:00Z, duration: 10m, mode: hold_receipts", started_wall=started)
    assert submit(p, 0.0).hold_until == pytest.approx(300.0)


def test_maintenance_can_be_announced_while_running():
    p = maintenance("start: 0s, duration: 1h")
    assert submit(p, 1.0).sla_class is SlaClass.DEFINITE_FAILURE
    p.change("maintenance", {"pre_notified": True})
    assert submit(p, 2.0).reason == "pre_notified_maintenance"


def test_admission_throttling_decides_before_maintenance_and_takes_the_message():
    p = pipeline(account("throughput: {rate: 0.001, burst: 1}",
                         faults="faults:\n  - {kind: maintenance, start: 0s, duration: 1h, pre_notified: true}"))
    assert submit(p, 1.0).reason == "pre_notified_maintenance"  # admitted by the bucket, then rejected
    assert_excluded(submit(p, 1.0), S.ESME_RTHROTTLED, "platform_traffic_control")


@pytest.mark.parametrize("params,problem", [
    ("duration: 10s", "give exactly one of start"),
    ("start: 1s, at: '2026-11-22T02:00:00Z', duration: 10s", "give exactly one of start"),
    ("start: soon, duration: 10s", "faults[0].start: must be a duration like 30s"),
    ("at: '2026-11-22T02:00:00', duration: 10s", "faults[0].at: Input should have timezone info"),
    ("start: 0s, duration: 0s", "duration must be more than 0"),
    ("start: 0s, duration: 10m, every: 5m", "every must be longer than duration"),
    ("start: 0s, duration: 1m, mode: sleep", "faults[0].mode"),
])
def test_bad_maintenance_windows_are_refused_with_the_field_and_the_problem(params, problem):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(f"faults:\n  - {{kind: maintenance, {params}}}\n")
    assert problem in str(err.value)
