"""The SMSC over real loopback sockets: binds, submits, receipts, store-and-forward, query/cancel/
replace, submit_multi, data_sm, MO, enquire_link and clean-up. Clients here use our own session."""

from __future__ import annotations

import asyncio
import struct

import pytest

from simulator.carrier.decider import DeciderDefaults
from simulator.esme import Esme, EsmeError
from simulator.faults.outcome import Outcome
from simulator.smpp.coding import parse_udh
from simulator.smpp.constants import CommandId, CommandStatus, EsmClass, MessageState, Tag
from simulator.smpp.pdu import (
    BindTransmitter,
    CancelSm,
    DataSm,
    DistributionList,
    EnquireLink,
    GenericNack,
    QuerySm,
    ReplaceSm,
    SmeAddress,
    SubmitMulti,
    SubmitSm,
)
from simulator.smpp.receipt import is_intermediate, is_receipt, parse_receipt, receipt_from_tlvs
from simulator.smpp.tlv import tlv_value

from .conftest import carrier
from .waiting import eventually

S = CommandStatus


class Scripted(DeciderDefaults):
    """A decider for tests: outcomes by destination prefix, else delivered quickly."""

    def __init__(self, rules: dict[str, Outcome], default: Outcome | None = None) -> None:
        self.rules = rules
        self.default = default or Outcome(receipt_delay=0.02)

    def decide(self, submission, now):
        for prefix, outcome in self.rules.items():
            if submission.destination.startswith(prefix):
                return outcome
        return self.default


async def no_delivery(smsc, esme: Esme, message_ids: list[str]) -> bool:
    """No deliver_sm about these messages is still to come, found by state and ordering, not by a
    quiet spell: each has its final state (a receipt is queued, without a ledger, as the state is
    reached), and once an enquire_link round trip is over (anything the SMSC wrote before its
    answer has arrived) nothing new has come and the account has nothing queued or unacknowledged."""
    await eventually(lambda: all(m.is_final for i in message_ids for m in smsc.store.get(i)),
                     what="the messages' final states")
    assert (await esme.request(EnquireLink())).status == 0
    return esme.delivered.empty() and smsc.accounts["qa"].router.backlog == 0


# ------------------------------------------------------------------------------------ binds
@pytest.mark.parametrize(
    "system_id,password,kind,status",
    [
        ("nobody", "x", "transceiver", S.ESME_RINVSYSID),
        ("qa", "wrong", "transceiver", S.ESME_RINVPASWD),
        ("tx-only", "pw", "receiver", S.ESME_RBINDFAIL),
    ],
)
async def test_bad_credentials_and_disallowed_bind_types_are_refused(smsc, system_id, password, kind, status):
    esme = await Esme.connect("127.0.0.1", smsc.port)
    with pytest.raises(EsmeError) as err:
        await esme.bind(system_id, password, kind)
    assert err.value.status == status
    # the connection survives a failed bind and can try again
    await esme.bind("qa", "qa-pass")
    esme.close()


async def test_binds_past_the_accounts_maximum_get_rbindfail(smsc, esme_factory):
    for _ in range(4):
        await esme_factory()
    extra = await Esme.connect("127.0.0.1", smsc.port)
    with pytest.raises(EsmeError) as err:
        await extra.bind("qa", "qa-pass")
    assert err.value.status == S.ESME_RBINDFAIL
    extra.close()


async def test_a_second_bind_on_the_same_connection_is_ralybnd(esme_factory):
    esme = await esme_factory()
    esme.write_raw(BindTransmitter(sequence=77, system_id="qa", password="qa-pass").encode())
    assert (await esme.request(EnquireLink())).status == 0  # the session is still alive
    assert [(p.sequence, p.command_id, p.status) for p in esme.unsolicited] == [
        (77, CommandId.bind_transmitter_resp, S.ESME_RALYBND)
    ]


async def test_submit_before_bind_is_rinvbndsts(smsc):
    esme = await Esme.connect("127.0.0.1", smsc.port)
    esme.write_raw(SubmitSm(sequence=5, destination_addr="8613800000001").encode())
    assert (await esme.request(EnquireLink())).status == 0
    assert [(p.sequence, p.status) for p in esme.unsolicited] == [(5, S.ESME_RINVBNDSTS)]
    esme.close()


# ------------------------------------------------------------------------------------ receipts
async def test_submit_gets_an_id_and_the_receipt_carries_the_same_id_in_text_and_tlvs(esme_factory):
    esme = await esme_factory()
    resp = await esme.submit("8613800000001", b"Your code is 1234", registered_delivery=1, source_addr="Acme")
    assert resp.status == 0 and resp.message_id
    deliver = await esme.next_delivery()
    assert is_receipt(deliver.esm_class)
    assert (deliver.source_addr, deliver.destination_addr) == ("8613800000001", "Acme")
    receipt = parse_receipt(deliver.short_message)
    assert receipt.message_id == resp.message_id
    assert receipt.state is MessageState.DELIVERED and receipt.err == "000"
    assert receipt.text == "Your code is 1234"
    assert receipt_from_tlvs(deliver.tlvs) == (resp.message_id, MessageState.DELIVERED, 0)


async def test_no_receipt_without_registered_delivery_and_none_for_success_when_failure_only(
        smsc, esme_factory):
    esme = await esme_factory()
    ids = []
    for flag in (0, 2):
        resp = await esme.submit("8613800000001", registered_delivery=flag)
        assert resp.status == 0
        ids.append(resp.message_id)
    assert await no_delivery(smsc, esme, ids)


async def test_failure_only_receipts_are_sent_for_failures(make_smsc):
    smsc = await make_smsc(decider=Scripted({"86139": Outcome(final_state=MessageState.UNDELIVERABLE,
                                                              error_code="069", receipt_delay=0.02)}))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    delivered = await esme.submit("8613800000001", registered_delivery=2)
    failed = await esme.submit("8613900000001", registered_delivery=2)
    receipt = parse_receipt((await esme.next_delivery()).short_message)
    assert (receipt.message_id, receipt.state, receipt.err) == (failed.message_id, MessageState.UNDELIVERABLE, "069")
    assert await no_delivery(smsc, esme, [delivered.message_id, failed.message_id])
    esme.close()


async def test_intermediate_notification_comes_before_the_final_receipt(esme_factory):
    esme = await esme_factory()
    resp = await esme.submit("8613800000001", registered_delivery=0x11)
    first, second = await esme.next_delivery(), await esme.next_delivery()
    assert is_intermediate(first.esm_class) and parse_receipt(first.short_message).state is MessageState.ENROUTE
    assert is_receipt(second.esm_class) and parse_receipt(second.short_message).state is MessageState.DELIVERED
    assert parse_receipt(second.short_message).message_id == resp.message_id


async def test_receipts_go_to_receivers_not_transmitters_and_are_spread_over_binds(esme_factory):
    tx = await esme_factory("transmitter")
    rx1, rx2 = await esme_factory("receiver"), await esme_factory("receiver")
    ids = {(await tx.submit("8613800000001", registered_delivery=1)).message_id for _ in range(10)}
    await eventually(lambda: rx1.delivered.qsize() + rx2.delivered.qsize() >= 10,
                     what="10 receipts at the receivers")
    got1 = [rx1.delivered.get_nowait() for _ in range(rx1.delivered.qsize())]
    got2 = [rx2.delivered.get_nowait() for _ in range(rx2.delivered.qsize())]
    assert sorted(parse_receipt(d.short_message).message_id for d in got1 + got2) == sorted(ids)
    assert len(got1) >= 3 and len(got2) >= 3  # round-robin shares the receipts
    assert tx.delivered.qsize() == 0


async def test_a_receiver_that_binds_after_the_sends_still_gets_every_receipt(smsc):
    tx = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "transmitter")
    ids = [(await tx.submit(f"86138000000{i:02d}", registered_delivery=1)).message_id for i in range(20)]
    router = smsc.accounts["qa"].router
    # every receipt is due and waiting in the store-and-forward queue
    await eventually(lambda: router.backlog >= 20, what="20 receipts in the store-and-forward queue")
    assert router.backlog == 20
    rx = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "receiver")
    got = [parse_receipt((await rx.next_delivery()).short_message).message_id for _ in range(20)]
    assert sorted(got) == sorted(ids)
    tx.close()
    rx.close()


async def test_queued_receipts_expire_after_their_ttl_and_are_counted(make_smsc):
    smsc = await make_smsc(carrier(receipt_ttl_s=0.1))
    tx = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "transmitter")
    sent = await tx.submit("8613800000001", registered_delivery=1)
    router = smsc.accounts["qa"].router
    await eventually(lambda: router.backlog == 1, what="the receipt queued for a receiver")
    [item] = router.queue
    # time is the subject: the TTL has run out on the SMSC's own clock (it expires when next looked at)
    await eventually(lambda: router.clock() >= item.expires, what="the queued receipt's 0.1 s TTL to pass")
    rx = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "receiver")
    assert await no_delivery(smsc, rx, [sent.message_id])
    assert router.stats.expired == 1
    tx.close()
    rx.close()


async def test_a_refused_deliver_sm_is_retried_later(smsc):
    answers = iter([S.ESME_RX_T_APPN, S.ESME_ROK])
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", on_deliver=lambda pdu: next(answers))
    resp = await esme.submit("8613800000001", registered_delivery=1)
    first, second = await esme.next_delivery(), await esme.next_delivery(2)
    assert parse_receipt(first.short_message).message_id == parse_receipt(second.short_message).message_id
    assert parse_receipt(second.short_message).message_id == resp.message_id
    assert first.sequence != second.sequence
    router = smsc.accounts["qa"].router
    assert (router.stats.refused, router.stats.acked) == (1, 1)
    esme.close()


async def test_an_unanswered_deliver_sm_is_retried_after_the_response_timeout(smsc):
    answers = iter([None, S.ESME_ROK])
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", on_deliver=lambda pdu: next(answers))
    await esme.submit("8613800000001", registered_delivery=1)
    first = await esme.next_delivery()
    second = await esme.next_delivery(3)
    assert first.short_message == second.short_message
    assert smsc.accounts["qa"].router.stats.timed_out == 1
    esme.close()


async def test_receipts_in_flight_on_a_dropped_bind_go_to_another_bind(smsc):
    silent = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "receiver", on_deliver=lambda pdu: None)
    tx = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "transmitter")
    ids = sorted([(await tx.submit("8613800000001", registered_delivery=1)).message_id for _ in range(3)])
    for _ in range(3):
        await silent.next_delivery()
    silent.close()  # abrupt: three receipts were never acknowledged
    await silent.wait_closed()
    rx = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass", "receiver")
    got = sorted([parse_receipt((await rx.next_delivery()).short_message).message_id for _ in range(3)])
    assert got == ids
    tx.close()
    rx.close()


# ------------------------------------------------------------------------------------ query/cancel/replace
async def test_query_sm_reports_enroute_then_delivered_with_a_final_date(make_smsc):
    smsc = await make_smsc(decider=Scripted({}, Outcome(receipt_delay=0.3)))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    resp = await esme.submit("8613800000001", source_addr="Acme")
    q = await esme.request(QuerySm(message_id=resp.message_id, source_addr="Acme"))
    assert (q.status, q.message_state, q.final_date) == (0, MessageState.ENROUTE, "")
    [message] = smsc.store.get(resp.message_id)
    await eventually(lambda: message.is_final, what="the message's final state (due 0.3 s after the submit)")
    q = await esme.request(QuerySm(message_id=resp.message_id, source_addr="Acme"))
    assert q.message_state == MessageState.DELIVERED and len(q.final_date) == 16
    unknown = await esme.request(QuerySm(message_id="does-not-exist", source_addr="Acme"))
    assert unknown.status == S.ESME_RINVMSGID
    esme.close()


async def test_cancel_sm_deletes_a_pending_message_and_refuses_a_final_one(make_smsc):
    smsc = await make_smsc(decider=Scripted({"1": Outcome(receipt_delay=0.02)}, Outcome(receipt_delay=5)))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    slow = await esme.submit("8613800000001", source_addr="Acme", registered_delivery=1)
    cancel = await esme.request(CancelSm(message_id=slow.message_id, source_addr="Acme"))
    assert cancel.status == 0
    receipt = parse_receipt((await esme.next_delivery()).short_message)
    assert (receipt.message_id, receipt.state) == (slow.message_id, MessageState.DELETED)
    again = await esme.request(CancelSm(message_id=slow.message_id, source_addr="Acme"))
    assert again.status == S.ESME_RCANCELFAIL
    esme.close()


async def test_cancel_sm_without_an_id_cancels_by_source_and_destination(make_smsc):
    smsc = await make_smsc(decider=Scripted({}, Outcome(receipt_delay=5)))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    ids = [(await esme.submit("861380000009", source_addr="Acme")).message_id for _ in range(3)]
    other = await esme.submit("861380000008", source_addr="Acme")
    cancel = await esme.request(CancelSm(source_addr="Acme", destination_addr="861380000009"))
    assert cancel.status == 0
    states = [smsc.store.get(i)[0].state for i in ids]
    assert states == [MessageState.DELETED] * 3
    assert smsc.store.get(other.message_id)[0].state is MessageState.ENROUTE
    esme.close()


async def test_replace_sm_changes_a_pending_message_and_refuses_a_final_one(make_smsc):
    smsc = await make_smsc(decider=Scripted({"1": Outcome(receipt_delay=0.01)}, Outcome(receipt_delay=0.4)))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    pending = await esme.submit("8613800000001", b"old text", source_addr="Acme", registered_delivery=1)
    replaced = await esme.request(ReplaceSm(message_id=pending.message_id, source_addr="Acme",
                                            short_message=b"new text"))
    assert replaced.status == 0
    receipt = parse_receipt((await esme.next_delivery()).short_message)
    assert receipt.text == "new text"
    done = await esme.request(ReplaceSm(message_id=pending.message_id, source_addr="Acme", short_message=b"x"))
    assert done.status == S.ESME_RREPLACEFAIL
    esme.close()


# ------------------------------------------------------------------------------------ submit_multi, data_sm
async def test_submit_multi_answers_per_destination(make_smsc):
    smsc = await make_smsc(decider=Scripted({"86139": Outcome(submit_status=S.ESME_RINVDSTADR)}))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    dests = [SmeAddress(1, 1, "8613800000001"), SmeAddress(1, 1, "8613900000001"), DistributionList("staff"),
             SmeAddress(1, 1, "8613800000002")]
    resp = await esme.request(SubmitMulti(source_addr="Acme", dest_address=dests, short_message=b"hi",
                                          registered_delivery=1))
    assert resp.status == 0 and resp.message_id
    assert {(u.addr, u.error_status) for u in resp.unsuccess_sme} == {
        ("8613900000001", S.ESME_RINVDSTADR), ("staff", S.ESME_RINVDLNAME)}
    receipts = [parse_receipt((await esme.next_delivery()).short_message) for _ in range(2)]
    assert {r.message_id for r in receipts} == {resp.message_id}
    esme.close()


async def test_data_sm_is_answered_with_an_id_and_receipted(esme_factory):
    esme = await esme_factory()
    resp = await esme.request(DataSm(source_addr="Acme", destination_addr="8613800000001", registered_delivery=1,
                                     tlvs={Tag.message_payload: b"payload text"}))
    assert resp.command_id == CommandId.data_sm_resp and resp.status == 0
    receipt = parse_receipt((await esme.next_delivery()).short_message)
    assert receipt.message_id == resp.message_id and receipt.text == "payload text"


async def test_short_message_and_message_payload_together_are_rinvmsglen(esme_factory):
    esme = await esme_factory()
    resp = await esme.submit("8613800000001", b"x", tlvs={Tag.message_payload: b"y"})
    assert resp.status == S.ESME_RINVMSGLEN


async def test_a_long_message_payload_counts_its_segments(smsc, esme_factory):
    esme = await esme_factory()
    resp = await esme.submit("8613800000001", b"", tlvs={Tag.message_payload: b"a" * 400})
    assert smsc.store.get(resp.message_id)[0].segments == 3


async def test_submit_with_an_empty_destination_is_rinvdstadr(esme_factory):
    esme = await esme_factory()
    assert (await esme.submit("")).status == S.ESME_RINVDSTADR


async def test_refused_and_unanswered_submits_follow_the_decider(make_smsc):
    smsc = await make_smsc(decider=Scripted({
        "1": Outcome(submit_status=S.ESME_RTHROTTLED),
        "2": Outcome(submit_status=0x4A1),
        "3": Outcome(respond=False),
        "4": Outcome(response_delay=0.2),
    }))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    assert (await esme.submit("1")).status == S.ESME_RTHROTTLED
    assert (await esme.submit("2")).status == 0x4A1
    # the SMSC answers in the order it reads, but not a submit it leaves unanswered or answers late:
    # an enquire_link sent after such a submit is answered before it (ordering, not timing)
    answered: list[int] = []
    unanswered = esme.send_submit("3")
    unanswered.add_done_callback(lambda f: answered.append(3))
    assert (await esme.request(EnquireLink())).status == 0
    assert not unanswered.done() and smsc.stats.unanswered == 1
    loop = asyncio.get_running_loop()
    start = loop.time()
    late = esme.send_submit("4")
    late.add_done_callback(lambda f: answered.append(4))
    probe = esme.send(EnquireLink())
    probe.add_done_callback(lambda f: answered.append(0))
    assert (await late).status == 0
    assert answered == [0, 4]  # the enquire_link sent after it was answered first
    # a lower bound: 0.2 s of response_delay can never come early (whatever the machine's speed)
    assert loop.time() - start >= 0.15
    assert not unanswered.done() and smsc.stats.unanswered == 1
    esme.close()


# ------------------------------------------------------------------------------------ MO
async def test_mo_messages_reach_a_bound_receiver_and_long_ones_come_in_udh_parts(smsc, esme_factory):
    rx = await esme_factory("receiver")
    assert smsc.inject_mo("qa", "8613800000001", "1000", "STOP") == 1
    mo = await rx.next_delivery()
    assert mo.short_message == b"STOP" and not is_receipt(mo.esm_class)
    assert (mo.source_addr, mo.destination_addr) == ("8613800000001", "1000")
    assert smsc.inject_mo("qa", "8613800000001", "1000", "Привет " * 20) == 3
    parts = [await rx.next_delivery() for _ in range(3)]
    assert all(p.esm_class & EsmClass.UDHI and p.data_coding == 8 for p in parts)
    infos = [parse_udh(p.short_message)[0] for p in parts]
    assert [i.seq for i in infos] == [1, 2, 3] and {i.total for i in infos} == {3}


# ------------------------------------------------------------------------------------ link health
async def test_enquire_link_is_answered(esme_factory):
    esme = await esme_factory()
    resp = await esme.request(EnquireLink())
    assert resp.command_id == CommandId.enquire_link_resp and resp.status == 0


async def test_an_idle_peer_is_probed_and_dropped_when_it_stops_answering(make_smsc):
    smsc = await make_smsc(carrier(enquire_link_interval_s=0.1, response_timeout_s=0.2))
    alive = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    dead = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    dead.answer_enquire_link = False
    await dead.wait_closed(3)
    assert smsc.stats.dead_peers == 1
    assert alive.transport is not None and alive.session.pdus_received >= 2  # probed, answered, kept
    alive.close()


async def test_a_connection_that_never_binds_is_closed(make_smsc):
    smsc = await make_smsc(carrier(bind_timeout_s=0.1))
    idle = await Esme.connect("127.0.0.1", smsc.port)
    await idle.wait_closed(3)


async def test_unbind_is_answered_and_the_connection_closes(smsc, esme_factory):
    esme = await esme_factory()
    await esme.unbind()
    await esme.wait_closed()
    await eventually(lambda: not smsc.connections, what="the SMSC to close the connection")
    assert not smsc.accounts["qa"].binds


async def test_malformed_pdus_get_nacks_and_the_session_survives(esme_factory):
    esme = await esme_factory()
    esme.write_raw(struct.pack(">IIII", 16, 0x00000777, 0, 999))  # unknown command
    bad = bytearray(SubmitSm(sequence=1000, destination_addr="1", short_message=b"x").encode())
    bad[-2] = 200  # sm_length beyond the body
    esme.write_raw(bytes(bad))
    assert (await esme.submit("8613800000001")).status == 0
    answers = {(p.sequence, p.command_id, p.status) for p in esme.unsolicited}
    assert answers == {
        (999, CommandId.generic_nack, S.ESME_RINVCMDID),
        (1000, CommandId.submit_sm_resp, S.ESME_RINVMSGLEN),
    }


async def test_a_hostile_command_length_gets_a_nack_and_the_connection_is_closed(smsc, esme_factory):
    esme = await esme_factory()
    esme.write_raw(struct.pack(">IIII", 0x7FFFFFFF, 4, 0, 5))
    await esme.wait_closed(3)
    assert [(p.command_id, p.status) for p in esme.unsolicited] == [(CommandId.generic_nack, S.ESME_RINVCMDLEN)]
    assert smsc.stats.protocol_violations == 1


async def test_stop_unbinds_every_esme(make_smsc):
    smsc = await make_smsc()
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    await smsc.stop(grace=1)
    await esme.wait_closed(3)
    assert esme.session.pdus_received >= 2  # bind_resp, then the SMSC's unbind


async def test_many_abrupt_disconnects_leave_no_connections_tasks_or_receivers_behind(smsc):
    before = len(asyncio.all_tasks())
    for _ in range(30):
        esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
        await esme.submit("8613800000001", registered_delivery=1)
        esme.transport.abort()
    router = smsc.accounts["qa"].router
    await eventually(lambda: not smsc.connections, what="the SMSC to see every connection gone")
    assert not smsc.accounts["qa"].binds and not router.receivers
    # every receipt (due 20 ms after its submit) delivered or kept for the next receiver
    await eventually(lambda: router.backlog + router.stats.acked >= 30, what="all 30 receipts generated")
    assert router.backlog + router.stats.acked == 30
    await eventually(lambda: len(asyncio.all_tasks()) <= before, what="the closed connections' tasks to end")
    assert router.backlog > 0


def test_generic_nack_is_a_response_pdu():
    assert GenericNack.is_response and tlv_value(Tag.message_state, 2) == b"\x02"


async def test_the_message_store_forgets_the_oldest_messages_past_its_capacity(make_smsc):
    smsc = await make_smsc(carrier(message_store_size=5))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    ids = [(await esme.submit("8613800000001")).message_id for _ in range(8)]
    assert smsc.store.forgotten == 3
    assert (await esme.request(QuerySm(message_id=ids[0]))).status == S.ESME_RINVMSGID
    assert (await esme.request(QuerySm(message_id=ids[-1]))).status == 0
    esme.close()
