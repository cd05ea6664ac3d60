"""The Locust harness's fast paths say exactly what the codec says: pre-encoded submit_sm frames are
SubmitSm.encode()'s octets, and the receipt shortcut reads the same id and stat as parse_receipt."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from loadtests.traffic import TrafficMix
from simulator.scenario import load_scenario
from simulator.smpp.pdu import DeliverSm
from simulator.smpp.receipt import MessageState, Receipt, ReceiptParseError, parse_receipt, receipt_id_and_stat

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_next_frames_are_the_octets_of_the_submit_sm_that_next_draws(scenario):
    load = load_scenario(scenario)
    as_pdus, as_frames = TrafficMix(load, seed_offset=7), TrafficMix(load, seed_offset=7)
    for _ in range(500):
        message = as_pdus.next()
        for pdu in message.pdus:
            pdu.sequence = 0
        assert as_frames.next_frames() == [pdu.encode() for pdu in message.pdus]


def test_long_messages_are_cut_into_udh_segments_in_both_forms():
    scenario = load_scenario(SCENARIOS[0])
    load = scenario.model_copy(update={"load": scenario.load.model_copy(update={"long_messages": 1.0})})
    as_pdus, as_frames = TrafficMix(load), TrafficMix(load)
    message = as_pdus.next()
    assert len(message.pdus) > 1 and all(p.esm_class & 0x40 for p in message.pdus)
    for pdu in message.pdus:
        pdu.sequence = 0
    assert as_frames.next_frames() == [pdu.encode() for pdu in message.pdus]


def _expected(text: bytes) -> tuple[str, str]:
    try:
        receipt = parse_receipt(text)
    except ReceiptParseError:
        return "?", "UNPARSEABLE"
    return receipt.message_id, receipt.state.stat


@pytest.mark.parametrize("state", list(MessageState), ids=[s.name for s in MessageState])
@pytest.mark.parametrize("message_id", ["0000012345", "ab-12.x_Z", "a,b", "id:x"])
def test_the_receipt_shortcut_reads_what_parse_receipt_reads(state, message_id):
    for submit_date in (datetime(2026, 11, 22, 1, 2), None):
        text = Receipt(message_id, state, "000", submit_date, datetime(2026, 11, 22, 1, 3), 1, None,
                       "a:b id:9 stat:UNDELIV").to_text()
        data = text.encode() if isinstance(text, str) else text
        # what was written, whatever the text: field-like words in text: are not fields
        assert receipt_id_and_stat(DeliverSm(esm_class=4, short_message=data)) == _expected(data) == (
            message_id, state.stat)


@pytest.mark.parametrize("text,expected", [
    (b"ID:1 SUB:001 dlvrd:001 submit date:2401311200 done date:2401311201 stat:delivrd err:000",
     ("1", "DELIVRD")),
    (b"id:1 submit date:2401311200 done date:2401311201 stat:DELIVRD err:000", ("1", "DELIVRD")),
    (b"id:1 sub:001 dlvrd:001 submit date:2401311200 done date:2401311201 stat:DELIVERED err:000 text:x",
     ("1", "DELIVRD")),
    (b"id:77 stat:EXPIRED", ("77", "EXPIRED")),
    (b"garbage", ("?", "UNPARSEABLE")),
])
def test_other_receipt_shapes_go_to_parse_receipt(text, expected):
    assert receipt_id_and_stat(DeliverSm(esm_class=4, short_message=text)) == _expected(text) == expected
