"""The sans-IO ESME (simulator/smpp/esme_session.py), its Window and the precompiled submit_sm, checked
against octets written by hand from the SMPP 3.4 tables (sections 4.1, 4.4, 4.6, 4.11), not against
our own encoder: what an ESME sends, how it numbers and matches, and what it answers by itself."""

from __future__ import annotations

import asyncio

import pytest

from simulator.esme import Esme, EsmeError
from simulator.smpp.errors import PduEncodeError, SessionError
from simulator.smpp.pdu import EnquireLink
from simulator.smpp.esme_session import BindRefused, EsmeSession
from simulator.smpp.session import BindState, ProtocolViolation
from simulator.smpp.submit_template import SubmitTemplate
from simulator.smpp.window import Window, WindowFull

H = bytes.fromhex


def bound(window: int | None = 10) -> EsmeSession:
    esme: EsmeSession = EsmeSession(window)
    esme.request(esme.bind_pdu("transceiver", "qa", "pw"), "bind")
    esme.data_to_send()
    # bind_transceiver_resp, sequence 1, system_id "smsc"
    incoming = esme.receive_data(H("00000015" "80000009" "00000000" "00000001") + b"smsc\0")
    assert [(r.command_id, w) for r, w in incoming.replies] == [(0x80000009, "bind")]
    return esme


def test_a_bind_is_the_spec_octets_and_its_response_binds():
    esme: EsmeSession = EsmeSession()
    assert esme.request(esme.bind_pdu("transceiver", "qa", "pw"), "waiter") == 1
    # system_id, password, system_type (empty), interface_version 0x34, addr_ton, addr_npi, address_range
    assert esme.data_to_send() == (H("0000001B" "00000009" "00000000" "00000001")
                                   + b"qa\0pw\0\0" + H("34000000"))
    assert not esme.is_bound
    incoming = esme.receive_data(H("00000015" "80000009" "00000000" "00000001") + b"smsc\0")
    (response, waiter), = incoming.replies
    assert waiter == "waiter" and esme.check_bind(response) is response
    assert esme.is_bound and esme.can_transmit and esme.session.state is BindState.BOUND_TRX


def test_a_refused_bind_raises_bind_refused_and_leaves_the_link_unbound():
    esme: EsmeSession = EsmeSession()
    esme.request(esme.bind_pdu("transmitter", "qa", "nope"), "w")
    assert esme.data_to_send()[4:8] == H("00000002")
    (response, _), = esme.receive_data(H("00000010" "80000002" "0000000E" "00000001")).replies
    with pytest.raises(BindRefused) as refused:
        esme.check_bind(response)
    assert (refused.value.status, str(refused.value)) == (0x0E, "bind refused: ESME_RINVPASWD")
    assert not esme.is_bound
    with pytest.raises(SessionError, match="cannot submit in bind state open"):
        esme.send_frames([SubmitTemplate("1000").frame(b"123", b"x")], "t")


def test_frames_are_numbered_in_order_and_answered_by_sequence_in_any_order():
    esme = bound(window=3)
    template = SubmitTemplate("1000")
    frames = [template.frame(b"123", b"a"), template.frame(b"4567", b"bc")]
    out = esme.send_frames(frames, "batch")
    first = len(frames[0])
    assert out[12:16] == H("00000002") and out[first + 12 : first + 16] == H("00000003")
    assert out[:12] == frames[0][:12] and out[first + 16 :] == frames[1][16:]
    assert esme.outstanding == 2
    with pytest.raises(ValueError, match=r"2 frames do not fit the window \(2 outstanding\)"):
        esme.send_frames(frames, "too many")
    # submit_sm_resp for 3, then for 2 (message ids "m3", "m2")
    incoming = esme.receive_data(H("00000013" "80000004" "00000000" "00000003") + b"m3\0"
                                 + H("00000013" "80000004" "00000000" "00000002") + b"m2\0")
    assert [(r.sequence, r.message_id, carried) for r, carried in incoming.answered] == [
        (3, "m3", "batch"), (2, "m2", "batch")]
    assert esme.outstanding == 0 and not incoming.replies and not incoming.answers_queued


def test_a_malformed_response_still_answers_its_submit_and_a_stray_one_is_unsolicited():
    esme = bound()
    esme.send_frames([SubmitTemplate("1000").frame(b"123", b"a")], "only")
    # a submit_sm_resp whose 4-octet body has no NUL, then a generic_nack for a sequence never sent
    incoming = esme.receive_data(H("00000014" "80000004" "00000000" "00000002") + b"abcd"
                                 + H("00000010" "80000000" "00000003" "00000063"))
    (violation, carried), = incoming.answered
    assert type(violation) is ProtocolViolation and carried == "only" and incoming.violations == [violation]
    assert [(p.command_id, p.sequence) for p in incoming.unsolicited] == [(0x80000000, 0x63)]
    assert esme.outstanding == 0


def test_the_smscs_enquire_link_and_unbind_are_answered_here_and_deliveries_handed_up():
    esme = bound()
    incoming = esme.receive_data(H("00000010" "00000015" "00000000" "00000007"))
    assert incoming.answers_queued and esme.data_to_send() == H("00000010" "80000015" "00000000" "00000007")
    esme.answer_enquire_link = False
    assert not esme.receive_data(H("00000010" "00000015" "00000000" "00000008")).answers_queued
    assert esme.data_to_send() == b""
    # deliver_sm, sequence 9: empty service_type, source 0/0 "1", dest 0/0 "2", esm_class 0x04 ... "hi"
    deliver = (b"\0" + H("0000") + b"1\0" + H("0000") + b"2\0" + H("040000") + b"\0\0"
               + H("0000000002") + b"hi")
    incoming = esme.receive_data(H(f"{16 + len(deliver):08X}" "00000005" "00000000" "00000009") + deliver)
    (pdu,) = incoming.deliveries
    assert (pdu.esm_class, pdu.short_message) == (4, b"hi")
    esme.answer(pdu, 0)
    assert esme.data_to_send() == H("00000011" "80000005" "00000000" "00000009") + b"\0"
    incoming = esme.receive_data(H("00000010" "00000006" "00000000" "0000000A"))
    assert incoming.answers_queued and esme.data_to_send() == H("00000010" "80000006" "00000000" "0000000A")
    assert esme.session.state is BindState.CLOSED


def test_a_lost_link_empties_both_windows():
    esme = bound()
    esme.send_frames([SubmitTemplate("1000").frame(b"1", b"a")] * 2, "sent at t")
    esme.request(EnquireLink(), "enquirer")
    assert esme.fail_all() == (["sent at t", "sent at t"], ["enquirer"])
    assert esme.outstanding == 0 and esme.fail_all() == ([], [])


def test_the_window_refuses_a_full_window_and_a_sequence_in_flight():
    window: Window[str] = Window(2)
    window.open(1, "a")
    with pytest.raises(WindowFull):
        window.open(1, "again")
    with window.slot(2, "b") as waiter:
        assert waiter == "b" and window.free == 0 and len(window) == 2
        with pytest.raises(WindowFull):
            window.open(3, "c")
    assert window.free == 1 and window.close(2) is None and window.close(1) == "a"
    with pytest.raises(ValueError):  # None is what close() answers for a sequence not in flight
        window.open(5, None)  # type: ignore[arg-type]
    unlimited: Window[int] = Window()
    for n in range(1000):
        unlimited.open(n, n)
    assert unlimited.fail_all() == list(range(1000)) and len(unlimited) == 0


def test_the_submit_template_gives_the_spec_octets():
    frame = SubmitTemplate("1000", registered_delivery=1).frame(b"123", b"hi")
    body = (b"\0" + H("0000") + b"1000\0" + H("0000") + b"123\0"  # service_type, source, destination
            + H("000000") + b"\0\0"  # esm_class, protocol_id, priority_flag, schedule, validity
            + H("01000000") + H("02") + b"hi")  # registered_delivery .. sm_default_msg_id, sm_length
    assert frame == H(f"{16 + len(body):08X}" "00000004" "00000000" "00000000") + body
    template = SubmitTemplate("1000")
    with pytest.raises(PduEncodeError, match="destination_addr"):
        template.frame(b"1" * 21, b"x")
    with pytest.raises(PduEncodeError, match="destination_addr"):
        template.frame(b"1\x002", b"x")
    with pytest.raises(PduEncodeError, match="254"):
        template.frame(b"1", b"x" * 255)
    assert len(template.frame(b"1" * 20, b"x" * 254)) == 16 + 1 + 2 + 5 + 2 + 21 + 9 + 1 + 254


async def test_the_asyncio_shell_iterates_its_deliveries_until_the_link_is_lost(smsc):
    """The asyncio Esme on a real SMSC: its receipts come through `esme.deliveries` in order, and
    the iteration ends in EsmeError once the link is gone; `async with` unbinds at the end."""
    async with await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass") as esme:
        ids = [(await esme.submit(f"861380000000{i}", registered_delivery=1)).message_id for i in range(3)]
        seen = []
        async for deliver in esme.deliveries:
            seen.append(deliver.short_message.split(b" ")[0])
            if len(seen) == 3:
                break
        assert sorted(seen) == sorted(f"id:{i}".encode() for i in ids)
    assert esme.transport is None or esme.transport.is_closing()
    await esme.wait_closed()
    with pytest.raises(EsmeError, match="link lost"):
        async for _ in esme.deliveries:
            pass
    waiting = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    asyncio.get_running_loop().call_later(0.05, waiting.close)  # the link drops while it waits
    with pytest.raises(EsmeError, match="link lost"):
        async for _ in waiting.deliveries:
            pass
