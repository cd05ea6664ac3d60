"""Connection faults: no_response, generic_nack, stall, drop_bind, reset_mid_pdu, duplicate_receipt
and out_of_order_receipt, over real SMPP sessions with our Esme; then their probability, accounts,
SLA classes and seeded determinism at the pipeline level."""

from __future__ import annotations

import asyncio
import struct
import time

import pytest

from simulator.esme import Esme, EsmeError
from simulator.faults.base import seeded_random
from simulator.faults.outcome import LinkStats, Outcome, SlaClass, Submission
from simulator.faults.pipeline import FaultPipeline
from simulator.scenario import ScenarioError, parse_scenario
from simulator.smpp.constants import CommandId, CommandStatus, MessageState
from simulator.smpp.pdu import EnquireLink, SubmitSm
from simulator.smpp.receipt import parse_receipt

from .waiting import eventually

S = CommandStatus


def expected_hits(seed: int, name: str, probability: float, n: int) -> list[bool]:
    """What a fault's own seeded stream decides for its first n draws (one draw per message)."""
    rng = seeded_random(seed, "fault", name)
    return [rng.random() < probability for _ in range(n)]


def submit_pdu(i: int, **fields) -> SubmitSm:
    fields.setdefault("source_addr", "1000")
    return SubmitSm(destination_addr=f"86138{i:08d}", short_message=b"hello", **fields)


async def no_delivery(smsc, esme: Esme) -> bool:
    """Nothing more is on its way to `esme`, found by state and ordering, not by a quiet spell: every
    message the SMSC holds has its final state (its receipts are queued then: no ledger here), and
    after an enquire_link round trip (what the SMSC wrote before its answer has arrived) nothing new
    has come and the account has nothing queued, unacknowledged or waiting for a retry."""
    await eventually(lambda: not smsc.store.pending(), what="every message's final state")
    assert (await esme.request(EnquireLink(), timeout=1)).status == 0
    return esme.delivered.empty() and smsc.accounts["qa"].router.backlog == 0


# ==================================================================================== no_response
async def test_no_response_fault_leaves_the_submit_unanswered_and_the_session_usable(scenario_smsc):
    seed, n = 5, 6
    hits = expected_hits(seed, "no_response", 0.5, n)
    assert hits[0] and not all(hits[1:]), "the seed must give an unanswered submit followed by answered ones"
    smsc = await scenario_smsc(f"seed: {seed}\nfaults:\n  - {{kind: no_response, probability: 0.5}}\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    futures = [esme.send(submit_pdu(i, registered_delivery=1)) for i in range(n)]
    # the bind is still up and answering; the SMSC answers in the order it reads, so once an
    # enquire_link sent after the submits is answered, every submit it answers has been answered
    assert (await esme.request(EnquireLink(), timeout=1)).status == 0
    assert [not f.done() for f in futures] == hits  # unanswered: the client's request would time out
    answered = [f.result() for f in futures if f.done()]
    assert all(r.status == 0 and r.message_id for r in answered)
    # only answered messages exist for the carrier: they get receipts, the unanswered never got an id
    receipts = [parse_receipt((await esme.next_delivery(1)).short_message).message_id for _ in answered]
    assert sorted(receipts) == sorted(r.message_id for r in answered)
    assert await no_delivery(smsc, esme)
    assert (smsc.stats.unanswered, smsc.stats.accepted) == (sum(hits), n - sum(hits))
    esme.close()


# ==================================================================================== generic_nack
async def test_generic_nack_fault_answers_the_submit_with_generic_nack_and_refuses_the_message(scenario_smsc):
    smsc = await scenario_smsc(
        """
carrier:
  accounts:
    - {system_id: qa, password: qa-pass}
    - {system_id: other, password: pw}
faults:
  - {kind: generic_nack, accounts: [qa]}
  - {kind: generic_nack, name: queue-full-nack, status: 0x14, accounts: [nobody]}
"""
    )
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    pdu = submit_pdu(1, registered_delivery=1)
    resp = await asyncio.wait_for(esme.send(pdu), 1)
    assert resp.command_id == CommandId.generic_nack
    assert (resp.sequence, resp.status) == (pdu.sequence, S.ESME_RSYSERR)
    assert await no_delivery(smsc, esme)  # refused: no id, no receipt
    assert (smsc.stats.refused, smsc.stats.accepted) == (1, 0)
    # another account's submits are answered as usual
    other = await Esme.bound("127.0.0.1", smsc.port, "other", "pw")
    ok = await other.submit("8613800000001")
    assert ok.command_id == CommandId.submit_sm_resp and ok.status == 0 and ok.message_id
    esme.close()
    other.close()


async def test_generic_nack_fault_sends_the_status_the_scenario_gives(scenario_smsc):
    smsc = await scenario_smsc("faults:\n  - {kind: generic_nack, status: 0x14}\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    resp = await asyncio.wait_for(esme.send(submit_pdu(1)), 1)
    assert (resp.command_id, resp.status) == (CommandId.generic_nack, S.ESME_RMSGQFUL)
    esme.close()


# ==================================================================================== stall
def answered_in_order(esme: Esme, requests: dict[str, object]) -> tuple[list[str], dict[str, asyncio.Future]]:
    """Send the requests in this order; the list fills with their names as their answers arrive."""
    order: list[str] = []
    futures = {}
    for name, pdu in requests.items():
        futures[name] = esme.send(pdu)
        futures[name].add_done_callback(lambda _, name=name: order.append(name))
    return order, futures


async def test_stalled_responses_all_arrive_at_the_stall_end_and_later_ones_are_prompt(scenario_smsc):
    smsc = await scenario_smsc("faults:\n  - {kind: stall, start_s: 0, end_s: 0.6}\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    # scenario time 0 is now (the SMSC's clock is time.monotonic): the window opens as the submits go
    # out, however long the start and the bind took on a loaded machine
    start = smsc.decider.started_at = time.monotonic()
    order, futures = answered_in_order(esme, {"s0": submit_pdu(0), "s1": submit_pdu(1), "s2": submit_pdu(2),
                                              "enquire_link": EnquireLink()})
    arrivals: list[float] = []
    for name in ("s0", "s1", "s2"):
        futures[name].add_done_callback(lambda _: arrivals.append(time.monotonic() - start))
    responses = await asyncio.wait_for(asyncio.gather(*(futures[n] for n in ("s0", "s1", "s2"))), 2)
    assert all(r.status == 0 and r.message_id for r in responses)
    # held, not answered in turn: the enquire_link sent after them was answered first
    assert order == ["enquire_link", "s0", "s1", "s2"]
    # a lower bound, about correctness (a held response can never come early): not before the stall ends
    assert len(arrivals) == 3 and all(t >= 0.59 for t in arrivals), arrivals
    # each held to the window end exactly, by the SMSC's own clock
    for resp in responses:
        [message] = smsc.store.get(resp.message_id)
        assert message.submit_time + message.outcome.response_delay == pytest.approx(start + 0.6, abs=1e-6)
    # the stall is over: a submit is answered in turn, before an enquire_link sent after it
    order, futures = answered_in_order(esme, {"late": submit_pdu(9), "enquire_link": EnquireLink()})
    late = await asyncio.wait_for(futures["late"], 2)
    await asyncio.wait_for(futures["enquire_link"], 2)
    assert late.status == 0 and order == ["late", "enquire_link"]
    assert smsc.store.get(late.message_id)[0].outcome.response_delay == 0
    esme.close()


# ==================================================================================== drop_bind
async def test_drop_bind_after_pdus_answers_then_closes_the_connection_and_a_rebind_works(scenario_smsc):
    smsc = await scenario_smsc("faults:\n  - {kind: drop_bind, after_pdus: 3}\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")  # PDU 1: the bind
    assert (await esme.submit("8613800000001")).status == 0  # PDU 2
    last = await esme.submit("8613800000002")  # PDU 3: answered, then the carrier closes
    assert last.status == 0 and last.message_id
    await esme.wait_closed(1)
    assert smsc.stats.dropped_links == 1
    again = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")  # a new bind counts afresh
    assert (await again.submit("8613800000003")).status == 0
    assert not again.closed.done()
    again.close()


async def test_drop_bind_every_s_drops_a_bind_once_it_is_that_old(scenario_smsc):
    smsc = await scenario_smsc("faults:\n  - {kind: drop_bind, every_s: 0.3}\n")
    checks: list[tuple[float, str | None]] = []  # (the bind's age, the decision) at each link check
    decide_link = smsc.decider.decide_link

    def recorded(link, now):
        decision = decide_link(link, now)
        checks.append((now - link.opened_at, decision))
        return decision

    smsc.decider.decide_link = recorded
    binding = time.monotonic()  # before the SMSC opened the bind: what is measured from here is older
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    assert (await esme.submit("8613800000001")).status == 0
    await esme.wait_closed(5)
    age = time.monotonic() - binding
    assert age >= 0.3, age  # a lower bound, about correctness: never dropped younger than every_s
    # dropped by the first housekeeping check (every 0.05 s in tests) that found it 0.3 s old, not a later one
    assert [decision for _, decision in checks].count("drop") == 1 and checks[-1][1] == "drop", checks
    assert all(a < 0.3 for a, _ in checks[:-1]) and checks[-1][0] >= 0.3, checks
    again = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    assert (await again.submit("8613800000002")).status == 0
    again.close()


# ==================================================================================== reset_mid_pdu
async def test_reset_mid_pdu_cuts_the_response_resets_the_link_and_the_receipt_comes_on_a_new_bind(scenario_smsc):
    smsc = await scenario_smsc("faults:\n  - {kind: reset_mid_pdu, after_pdus: 3}\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    first = await esme.submit("8613800000001")  # PDU 2: answered
    assert first.status == 0
    cut = esme.send(submit_pdu(2, registered_delivery=1))  # PDU 3: its response is cut
    with pytest.raises(EsmeError):
        await asyncio.wait_for(cut, 1)
    await esme.wait_closed(1)
    partial = bytes(esme.session._buffer)  # what arrived of the response before the reset
    length, command_id = struct.unpack(">II", partial[:8])
    assert command_id == CommandId.submit_sm_resp and 8 <= len(partial) < length
    assert smsc.stats.dropped_links == 1
    # the carrier had accepted the message: its receipt comes on the next bind, with an id the
    # client never saw (as with real carriers)
    assert smsc.stats.accepted == 2
    rx = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "receiver")
    receipt = parse_receipt((await rx.next_delivery(2)).short_message)
    assert receipt.state is MessageState.DELIVERED and receipt.message_id != first.message_id
    assert smsc.store.get(receipt.message_id)[0].destination == "8613800000002"
    rx.close()


# ==================================================================================== receipts
async def test_duplicate_receipt_fault_sends_the_final_receipt_again_with_the_same_id(scenario_smsc):
    smsc = await scenario_smsc("faults:\n  - {kind: duplicate_receipt, copies: 2}\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    resp = await esme.submit("8613800000001", registered_delivery=1)
    copies = [parse_receipt((await esme.next_delivery(1)).short_message) for _ in range(3)]
    assert {(r.message_id, r.state) for r in copies} == {(resp.message_id, MessageState.DELIVERED)}
    assert await no_delivery(smsc, esme)
    esme.close()


async def test_out_of_order_receipt_fault_makes_receipts_arrive_in_another_order_than_submitted(scenario_smsc):
    seed, n = 2, 6
    held = expected_hits(seed, "out_of_order_receipt", 0.5, n)
    assert any(held) and not all(held)
    smsc = await scenario_smsc(
        f"seed: {seed}\nfaults:\n  - {{kind: out_of_order_receipt, probability: 0.5, extra_delay_ms: 300}}\n"
    )
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    ids = [(await esme.submit(f"86138{i:08d}", registered_delivery=1)).message_id for i in range(n)]
    got = [parse_receipt((await esme.next_delivery(2)).short_message).message_id for _ in range(n)]
    assert got != ids and sorted(got) == sorted(ids)
    # the held-back receipts come last, each group in submit order
    assert got == [i for i, h in zip(ids, held) if not h] + [i for i, h in zip(ids, held) if h]
    esme.close()


# ==================================================================================== pipeline level
class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def pipeline(faults_yaml: str, seed: int = 7, clock: FakeClock | None = None) -> FaultPipeline:
    scenario = parse_scenario(f"seed: {seed}\nfaults:\n{faults_yaml}", "<test>")
    return FaultPipeline(scenario, clock=clock or FakeClock())


def submissions(n: int, account: str = "qa", pdus: int = 10) -> list[Submission]:
    link = LinkStats(1, account, "transceiver", 0.0)
    link.pdus = pdus
    return [Submission(account, 1, "1000", f"86138{i:08d}", 0, 0, b"hi", 1, 1, i, link) for i in range(n)]


def hit(kind: str, outcome: Outcome) -> bool:
    return {
        "no_response": not outcome.respond,
        "generic_nack": outcome.link_action == "nack",
        "drop_bind": outcome.link_action == "drop",
        "reset_mid_pdu": outcome.link_action == "reset_mid_pdu",
        "stall": outcome.response_delay > 0,
        "duplicate_receipt": outcome.duplicate_receipts > 0,
        "out_of_order_receipt": outcome.receipt_delay > 1,
    }[kind]


KINDS = {
    "no_response": "{kind: no_response, probability: 0.3}",
    "generic_nack": "{kind: generic_nack, probability: 0.3}",
    "drop_bind": "{kind: drop_bind, after_pdus: 5, probability: 0.3}",
    "reset_mid_pdu": "{kind: reset_mid_pdu, probability: 0.3}",
    "stall": "{kind: stall, end_s: 100, probability: 0.3}",
    "duplicate_receipt": "{kind: duplicate_receipt, probability: 0.3}",
    "out_of_order_receipt": "{kind: out_of_order_receipt, probability: 0.3, extra_delay_ms: 5000}",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_link_faults_hit_their_probability_and_repeat_exactly_with_the_same_seed(kind):
    def run(seed: int) -> list[bool]:
        p = pipeline(f"  - {KINDS[kind]}\n", seed)
        pattern = [hit(kind, p.decide(s, p.clock())) for s in submissions(2000)]
        assert p.by_name[kind].hits == sum(pattern)
        return pattern

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first != other
    assert 520 <= sum(first) <= 680  # 2000 x 0.3, well within 99.9 %
    assert first == expected_hits(7, kind, 0.3, 2000)  # one draw per message, from the fault's own stream


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_link_faults_leave_accounts_they_do_not_name_alone(kind):
    spec = KINDS[kind].replace("probability: 0.3", "accounts: [qa]")
    p = pipeline(f"  - {spec}\n")
    assert all(hit(kind, p.decide(s, p.clock())) for s in submissions(20, "qa"))
    assert not any(hit(kind, p.decide(s, p.clock())) for s in submissions(20, "other"))


def test_no_response_and_generic_nack_are_definite_failures_without_an_id_unless_the_scenario_says_otherwise():
    p = pipeline("  - {kind: no_response}\n")
    outcome = p.decide(submissions(1)[0], p.clock())
    assert (outcome.respond, outcome.sla_class, outcome.reason) == (False, SlaClass.DEFINITE_FAILURE, "no_response")
    assert outcome.submit_status  # never given an id: the carrier keeps no message
    p = pipeline("  - {kind: generic_nack}\n")
    outcome = p.decide(submissions(1)[0], p.clock())
    assert (outcome.link_action, outcome.submit_status) == ("nack", S.ESME_RSYSERR)
    assert (outcome.sla_class, outcome.reason) == (SlaClass.DEFINITE_FAILURE, "generic_nack")
    p = pipeline("  - {kind: no_response, sla: {class: excluded, reason: third_party_network}}\n")
    outcome = p.decide(submissions(1)[0], p.clock())
    assert (outcome.sla_class, outcome.reason) == (SlaClass.EXCLUDED, "third_party_network")


def test_an_earlier_verdict_stands_when_a_link_fault_hides_the_response():
    p = pipeline("  - {kind: no_response}\n  - {kind: generic_nack}\n")
    fault = p.by_name["no_response"]
    outcome = Outcome(submit_status=S.ESME_RINVDSTADR, sla_class=SlaClass.INVALID_NUMBER, reason="nonexistent")
    fault.apply(submissions(1)[0], outcome, 0.0)
    assert (outcome.respond, outcome.submit_status) == (False, S.ESME_RINVDSTADR)
    assert (outcome.sla_class, outcome.reason) == (SlaClass.INVALID_NUMBER, "nonexistent")
    # the first link fault in the scenario settles the response: the nack does not apply on top
    outcome = p.decide(submissions(1)[0], p.clock())
    assert (outcome.respond, outcome.link_action, outcome.reason) == (False, "", "no_response")


def test_link_only_faults_keep_the_message_accepted_and_its_sla_class():
    for spec in ("{kind: reset_mid_pdu}", "{kind: drop_bind, after_pdus: 1}", "{kind: stall, end_s: 5}",
                 "{kind: duplicate_receipt}", "{kind: out_of_order_receipt}"):
        p = pipeline(f"  - {spec}\n")
        outcome = p.decide(submissions(1)[0], p.clock())
        assert (outcome.submit_status, outcome.sla_class, outcome.respond) == (0, SlaClass.DELIVERED, True), spec


def test_drop_bind_and_reset_count_pdus_on_the_bind_including_the_bind_request():
    p = pipeline("  - {kind: drop_bind, after_pdus: 3}\n")
    assert [p.decide(s, p.clock()).link_action for s in submissions(1, pdus=2)] == [""]
    assert [p.decide(s, p.clock()).link_action for s in submissions(1, pdus=3)] == ["drop"]
    p = pipeline("  - {kind: reset_mid_pdu, after_pdus: 3}\n")
    assert [p.decide(s, p.clock()).link_action for s in submissions(2, pdus=2)] == ["", ""]
    assert [p.decide(s, p.clock()).link_action for s in submissions(1, pdus=4)] == ["reset_mid_pdu"]


def test_stall_windows_repeat_every_every_s_for_for_s_and_responses_go_out_at_the_window_end():
    clock = FakeClock(500.0)
    p = pipeline("  - {kind: latency, submit_resp: {dist: fixed, ms: 50}}\n"
                 "  - {kind: stall, start_s: 10, every_s: 10, for_s: 2, end_s: 35}\n", clock=clock)
    p.start()

    def delay_at(t: float) -> float:
        clock.now = 500.0 + t
        return round(p.decide(submissions(1)[0], clock()).response_delay, 6)

    assert delay_at(5) == 0.05  # before the first window: latency only
    assert delay_at(10.5) == 1.5  # inside [10, 12): held to 12
    assert delay_at(11.99) == 0.05  # held to 12, but latency was already later
    assert delay_at(12.5) == 0.05  # between windows
    assert delay_at(21) == 1.0  # [20, 22)
    assert delay_at(30.25) == 1.75  # [30, 32)
    assert delay_at(40.5) == 0.05  # the schedule ended at 35


def test_drop_bind_by_age_is_decided_in_scenario_time_once_each_time_the_bind_gets_every_s_older():
    clock = FakeClock(100.0)
    p = pipeline("  - {kind: drop_bind, every_s: 2}\n", clock=clock)
    p.start()  # scenario time 0 is clock 100
    link = LinkStats(9, "qa", "transceiver", opened_at=103.0)  # bound at scenario second 3

    def check(at: float) -> str | None:
        clock.now = at
        return p.decide_link(link, clock())

    assert [check(104.9), check(105.0), check(105.5), check(107.1)] == [None, "drop", None, "drop"]
    assert p.by_name["drop_bind"].hits == 2
    other = LinkStats(10, "other", "transceiver", opened_at=100.0)
    p = pipeline("  - {kind: drop_bind, every_s: 2, accounts: [qa]}\n", clock=clock)
    assert p.decide_link(other, clock()) is None


@pytest.mark.parametrize(
    "spec",
    [
        "{kind: stall}",
        "{kind: stall, every_s: 5}",
        "{kind: stall, every_s: 5, for_s: 5}",
        "{kind: stall, start_s: 5, end_s: 5}",
        "{kind: drop_bind}",
        "{kind: drop_bind, after_pdus: 0}",
        "{kind: duplicate_receipt, copies: 0}",
        "{kind: generic_nack, status: 0}",
        "{kind: no_response, probability: 1.5}",
    ],
)
def test_link_fault_parameters_that_make_no_sense_are_refused(spec):
    with pytest.raises(ScenarioError):
        pipeline(f"  - {spec}\n")


async def test_nothing_follows_the_cut_even_when_submits_were_pipelined_behind_it(scenario_smsc):
    smsc = await scenario_smsc("faults:\n  - {kind: reset_mid_pdu, after_pdus: 2}\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    # three submits in one write: the first one's response is cut, the others must not be written
    esme.write_raw(b"".join(submit_pdu(i, sequence=100 + i).encode() for i in range(3)))
    await esme.wait_closed(1)
    partial = bytes(esme.session._buffer)
    length, command_id = struct.unpack(">II", partial[:8])
    assert command_id == CommandId.submit_sm_resp and 8 <= len(partial) < length
    assert esme.unsolicited == [] and esme.violations == []


async def test_link_faults_act_on_the_single_response_of_a_submit_multi(scenario_smsc):
    from simulator.smpp.pdu import SmeAddress, SubmitMulti

    smsc = await scenario_smsc("name: multi-nack\nfaults:\n  - {kind: generic_nack, probability: 1, status: 0x08}\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    resp = await esme.request(SubmitMulti(source_addr="Acme", short_message=b"hi",
                                          dest_address=[SmeAddress(1, 1, "8613800000001"), SmeAddress(1, 1, "8613800000002")]))
    assert resp.command_id == CommandId.generic_nack and resp.status == 0x08
    assert (await esme.request(EnquireLink())).status == 0  # the bind stays up
    esme.close()
