"""validity_period and schedule_delivery_time (SMPP 3.4 section 7.1.1), end to end.

The time formats against tables written here and an independent formatter (hypothesis; relative
times against the test's own calendar); then real sockets: bad values refused with ESME_RINVSCHED
(0x61) / ESME_RINVEXPIRY (0x62), a message past its validity EXPIRED at its expiry time (receipt
and ledger), a scheduled message held until its time (query_sm ENROUTE, cancel_sm works on it).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.carrier.smsc import Smsc
from simulator.esme import Esme
from simulator.ledger.reader import LedgerReader
from simulator.ledger.writer import LedgerWriter
from simulator.scenario import parse_scenario
from simulator.smpp.constants import MessageState, Tag
from simulator.smpp.pdu import (BindTransceiver, CancelSm, DataSm, Pdu, QuerySm, ReplaceSm, SmeAddress,
                                SubmitMulti, SubmitSm, decode_pdu)
from simulator.smpp.receipt import parse_receipt
from simulator.smpp.times import SmppTimeError, parse_time

from .conftest import FAST, carrier

RINVSCHED, RINVEXPIRY = 0x61, 0x62  # SMPP 3.4 table 5-2
UTC = timezone.utc


def at(*fields: int) -> float:
    return datetime(*fields, tzinfo=UTC).timestamp()


# ------------------------------------------------------------------------------------------ the formats
NOW = at(2026, 11, 27, 15, 20, 0)  # the SMSC's "current time" for relative values

ABSOLUTE = [  # text, the UTC instant it names
    ("261127152000000+", at(2026, 11, 27, 15, 20, 0)),
    ("261127172000008+", at(2026, 11, 27, 15, 20, 0)),  # local time 2 h ahead of UTC
    ("261127132000008-", at(2026, 11, 27, 15, 20, 0)),  # 2 h behind
    ("261127211500022+", at(2026, 11, 27, 15, 45, 0)),  # +05:30 (22 quarter hours)
    ("261127152000500+", at(2026, 11, 27, 15, 20, 0) + 0.5),  # 5 tenths of a second
    ("270101000000048+", at(2026, 12, 31, 12, 0, 0)),  # +12:00, the largest offset, across a year
    ("240229235959900-", at(2024, 2, 29, 23, 59, 59) + 0.9),  # a leap day
    ("991231235959900+", at(2099, 12, 31, 23, 59, 59) + 0.9),  # YY is 20YY
]
RELATIVE = [  # text, the instant it names from NOW
    ("000000000002000R", NOW + 2),
    ("000000020000000R", NOW + 2 * 3600),
    ("000003000000000R", NOW + 72 * 3600),  # 3 days
    ("000000720000000R", NOW + 72 * 3600),  # 72 hours, as ESMEs write it
    ("000000000099000R", NOW + 99),
    ("000100000000000R", at(2026, 12, 27, 15, 20, 0)),  # one calendar month
    ("010000000000000R", at(2027, 11, 27, 15, 20, 0)),  # one year
    ("000000000000000R", NOW),
]
BAD = [
    "261327152000000+",  # month 13
    "260230152000000+",  # 30 February
    "261127252000000+",  # hour 25
    "261127156000000+",  # minute 60
    "261127152000049+",  # offset of 49 quarter hours
    "261127152000000 ",  # neither +, - nor R
    "26112715200000a+",  # a letter
    "\xb26112715200000+",  # '²' is a digit to str.isdigit, not to SMPP
    "000000020000001R",  # relative with tnn not 000
    "000000020000100R",
    "0000000200 0000R",
    "26112715200000+",  # 15 characters
]


@pytest.mark.parametrize(("text", "expected"), ABSOLUTE + RELATIVE)
def test_smpp_times_name_the_instant_the_spec_says(text, expected):
    assert parse_time(text, NOW) == pytest.approx(expected, abs=1e-6)


def test_an_empty_field_is_no_time_and_a_relative_month_keeps_to_the_calendar():
    assert parse_time("", NOW) is None
    jan31 = at(2026, 1, 31, 8, 0, 0)
    assert parse_time("000100000000000R", jan31) == at(2026, 2, 28, 8, 0, 0)  # clipped to the month's end
    assert parse_time("010000000000000R", at(2024, 2, 29)) == at(2025, 2, 28)


@pytest.mark.parametrize("text", BAD)
def test_a_value_that_is_not_an_smpp_time_is_refused(text):
    with pytest.raises(SmppTimeError):
        parse_time(text, NOW)


def format_absolute(utc: datetime, quarters: int, sign: str) -> str:
    """The test's own writer of 7.1.1's absolute format: local time, tenths, offset, direction."""
    local = utc + (1 if sign == "+" else -1) * timedelta(minutes=15 * quarters)
    return f"{local:%y%m%d%H%M%S}{local.microsecond // 100_000}{quarters:02d}{sign}"


instants = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30),
                        timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=d.microsecond // 100_000
                                                                        * 100_000))  # whole tenths


@settings(max_examples=400, deadline=None)
@given(instants, st.integers(0, 48), st.sampled_from("+-"))
def test_absolute_times_read_back_what_an_independent_formatter_wrote(utc, quarters, sign):
    text = format_absolute(utc, quarters, sign)  # local years stay within 2000-2099
    assert parse_time(text, NOW) == pytest.approx(utc.timestamp(), abs=1e-6)


def add_months(d: datetime, n: int) -> datetime:
    """The test's own calendar: n months on, the day clipped to the last of the month."""
    year, month = d.year + (d.month - 1 + n) // 12, (d.month - 1 + n) % 12 + 1
    first_of_next = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return d.replace(year=year, month=month, day=min(d.day, (first_of_next - timedelta(days=1)).day))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(0, 99), min_size=6, max_size=6), instants)
def test_relative_times_add_up_on_the_calendar(fields, now):
    years, months, days, hours, minutes, seconds = fields
    text = "".join(f"{n:02d}" for n in fields) + "000R"
    expected = add_months(now, 12 * years + months) + timedelta(days=days, hours=hours, minutes=minutes,
                                                                seconds=seconds)
    assert parse_time(text, now.timestamp()) == pytest.approx(expected.timestamp(), abs=1e-6)


# ------------------------------------------------------------------------------------------ on the wire
def relative(seconds: int) -> str:
    return f"0000000000{seconds:02d}000R"


def absolute_in(seconds: float, quarters: int = 32) -> str:
    """An absolute time `seconds` from now, written in UTC+08:00."""
    return format_absolute(datetime.now(UTC) + timedelta(seconds=seconds), quarters, "+")


async def test_bad_times_are_refused_with_their_status(make_smsc):
    smsc = await make_smsc()
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    cases = [
        ({"validity_period": "261327152000000+"}, RINVEXPIRY),  # month 13
        ({"validity_period": "000000000000000R"}, RINVEXPIRY),  # expires as it is submitted
        ({"validity_period": "200101000000000+"}, RINVEXPIRY),  # in the past (2020)
        ({"schedule_delivery_time": "000000020000001R"}, RINVSCHED),
        ({"schedule_delivery_time": "26112715200000x+"}, RINVSCHED),
        ({"schedule_delivery_time": relative(30), "validity_period": relative(10)}, RINVEXPIRY),  # ends first
    ]
    for fields, status in cases:
        resp = await esme.submit("8613800000001", **fields)
        assert resp.status == status, fields
    multi = await esme.request(SubmitMulti(source_addr="1000", short_message=b"hi",
                                           dest_address=[SmeAddress(1, 1, "8613800000001")],
                                           schedule_delivery_time="991399000000000+"))
    assert multi.status == RINVSCHED
    ttl0 = await esme.request(DataSm(source_addr="1000", destination_addr="8613800000001",
                                     tlvs={Tag.message_payload: b"hi", Tag.qos_time_to_live: bytes(4)}))
    assert ttl0.status == RINVEXPIRY
    assert await raw_submit_with_a_short_validity(smsc.port) == RINVEXPIRY
    ok = await esme.submit("8613800000001", schedule_delivery_time=absolute_in(-60),
                           validity_period=absolute_in(3600, quarters=0))  # a past schedule: at once
    assert ok.status == 0
    esme.close()


async def raw_submit_with_a_short_validity(port: int) -> int:
    """A submit_sm whose validity_period has 14 characters (our encoder refuses to write one): the
    command_status of its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def answer() -> Pdu:
        header = await reader.readexactly(16)
        return decode_pdu(header + await reader.readexactly(int.from_bytes(header[:4], "big") - 16))

    bind = BindTransceiver(sequence=1, system_id="qa", password="qa-pass", interface_version=0x34)
    writer.write(bind.encode())
    assert (await answer()).status == 0
    frame = SubmitSm(sequence=2, source_addr="1000", destination_addr="8613800000001", short_message=b"hi",
                     validity_period="261127152000000+").encode()
    frame = frame.replace(b"261127152000000+\0", b"2611271520000+\0")
    writer.write(len(frame).to_bytes(4, "big") + frame[4:])
    resp = await answer()
    writer.close()
    assert resp.sequence == 2
    return resp.status


async def test_replace_sm_refuses_bad_times_and_takes_good_ones(make_smsc):
    from .test_carrier import Scripted
    from simulator.faults.outcome import Outcome

    smsc = await make_smsc(decider=Scripted({}, Outcome(receipt_delay=0.5)))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    sent = await esme.submit("8613800000001", source_addr="Acme", registered_delivery=1,
                             validity_period=relative(20))
    for fields, status in [({"validity_period": "261127152000049+"}, RINVEXPIRY),
                           ({"schedule_delivery_time": "0000000000020000"}, RINVSCHED),
                           ({"schedule_delivery_time": relative(30)}, RINVSCHED)]:  # past its validity
        resp = await esme.request(ReplaceSm(message_id=sent.message_id, source_addr="Acme",
                                            short_message=b"x", **fields))
        assert resp.status == status, fields
    started = time.monotonic()
    resp = await esme.request(ReplaceSm(message_id=sent.message_id, source_addr="Acme",
                                        short_message=b"later", schedule_delivery_time=relative(2),
                                        validity_period=relative(30)))
    assert resp.status == 0
    receipt = parse_receipt((await esme.next_delivery(timeout=10)).short_message)
    took = time.monotonic() - started
    assert (receipt.message_id, receipt.state) == (sent.message_id, MessageState.DELIVERED)
    assert receipt.text == "later"
    assert 2.5 - 0.1 <= took <= 2.5 + 1.0  # rescheduled 2 s on, then its 0.5 s: not at 0.5 s
    esme.close()


async def start_ledgered(tmp_path: Path, text: str) -> Smsc:
    scenario = parse_scenario(text)
    scenario = scenario.model_copy(update={"carrier": scenario.carrier.model_copy(update=FAST)})
    ledger = LedgerWriter(tmp_path / "ledger.sqlite", run_id="run-1", scenario=scenario.name)
    smsc = Smsc.from_scenario(scenario, ledger=ledger, housekeeping_interval=0.05)
    await smsc.start()
    return smsc


SLOW_RECEIPTS = """
name: slow-receipts
seed: 3
numbers:
  default_state: active
  groups:
    off: {prefix: "8613300", state: powered_off}
faults:
  - {kind: latency, name: slow, receipt: {dist: fixed, ms: 4000}}
"""


async def test_a_message_past_its_validity_ends_expired_at_its_expiry(tmp_path):
    smsc = await start_ledgered(tmp_path, SLOW_RECEIPTS)
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    started = time.monotonic()
    short = await esme.submit("8613800000001", registered_delivery=1, validity_period=relative(2))
    at_two = await esme.submit("8613800000002", registered_delivery=1, validity_period=absolute_in(2.0))
    invalid = await esme.submit("8613300000001", registered_delivery=1, validity_period=relative(2))
    long = await esme.submit("8613800000003", registered_delivery=1, validity_period=relative(10))
    receipts = {}
    for _ in range(4):
        receipt = parse_receipt((await esme.next_delivery(timeout=10)).short_message)
        receipts[receipt.message_id] = (receipt.state, receipt.err, round(time.monotonic() - started, 1))
    esme.close()
    await smsc.stop(grace=0.2)
    for resp in (short, invalid):
        state, err, when = receipts[resp.message_id]
        assert state == MessageState.EXPIRED and 2.0 <= when <= 2.6, receipts
    assert receipts[short.message_id][1] == "000"  # nothing failed: it ran out of time
    assert receipts[invalid.message_id][1] == "027"  # the absent subscriber it was retried for
    state, _, when = receipts[at_two.message_id]  # absolute validity (tenths dropped): 1.9 to 2.0 s on
    assert state == MessageState.EXPIRED and 1.8 <= when <= 2.6
    state, _, when = receipts[long.message_id]
    assert state == MessageState.DELIVERED and 4.0 <= when <= 4.8
    with LedgerReader(tmp_path / "ledger.sqlite") as ledger:
        rows = {r.message_id: r for r in ledger.records()}
    expected = {  # final_state, error_code, sla_class, reason; done about 2 s (4 s) after the submit
        short.message_id: ("EXPIRED", "000", "definite_failure", "expired", 2.0),
        at_two.message_id: ("EXPIRED", "000", "definite_failure", "expired", 2.0),
        invalid.message_id: ("EXPIRED", "027", "invalid_number", "powered_off", 2.0),
        long.message_id: ("DELIVRD", "000", "delivered", "", 4.0),
    }
    for message_id, (state, err, sla_class, reason, after) in expected.items():
        row = rows[message_id]
        assert (row.final_state, row.error_code, row.sla_class, row.reason) == (state, err, sla_class, reason)
        assert after - 0.2 <= row.done_time - row.submit_time <= after + 0.4, (message_id, row)


async def test_the_carrier_default_validity_applies_a_longer_one_is_clipped_and_data_sm_has_a_ttl(make_smsc):
    from .test_carrier import Scripted
    from simulator.faults.outcome import Outcome

    smsc = await make_smsc(carrier(default_validity="1s", max_validity="2s"),
                           Scripted({}, Outcome(receipt_delay=4)))
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    started = time.monotonic()
    default = await esme.submit("8613800000001", registered_delivery=1)
    clipped = await esme.submit("8613800000002", registered_delivery=1, validity_period="000001000000000R")
    one_second = {Tag.message_payload: b"hi", Tag.qos_time_to_live: (1).to_bytes(4, "big")}
    ttl = await esme.request(DataSm(source_addr="1000", destination_addr="8613800000003",
                                    registered_delivery=1, tlvs=one_second))
    got = {}
    for _ in range(3):
        receipt = parse_receipt((await esme.next_delivery(timeout=10)).short_message)
        got[receipt.message_id] = (receipt.state, round(time.monotonic() - started, 1))
    assert got[default.message_id][0] == got[clipped.message_id][0] == MessageState.EXPIRED
    assert 1.0 <= got[default.message_id][1] <= 1.5
    assert 2.0 <= got[clipped.message_id][1] <= 2.5  # a day asked for, 2 s kept
    assert got[ttl.message_id][0] == MessageState.EXPIRED  # the data_sm's TTL
    assert 1.0 <= got[ttl.message_id][1] <= 1.5
    esme.close()


async def test_a_scheduled_message_is_held_until_its_time_and_can_be_cancelled(tmp_path):
    smsc = await start_ledgered(tmp_path, "name: scheduled\nseed: 1\n")  # receipts 20 ms after the start
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    started = time.monotonic()
    later = await esme.submit("8613800000001", registered_delivery=1, schedule_delivery_time=relative(2))
    absolute = await esme.submit("8613800000002", registered_delivery=1,
                                 schedule_delivery_time=absolute_in(2.5))
    dropped = await esme.submit("8613800000003", registered_delivery=1, schedule_delivery_time=relative(2))
    now = await esme.submit("8613800000004", registered_delivery=1)
    first = parse_receipt((await esme.next_delivery()).short_message)
    assert (first.message_id, first.state) == (now.message_id, MessageState.DELIVERED)
    assert time.monotonic() - started < 1
    query = await esme.request(QuerySm(message_id=later.message_id, source_addr="1000"))
    assert (query.status, query.message_state, query.final_date) == (0, MessageState.ENROUTE, "")
    assert (await esme.request(CancelSm(message_id=dropped.message_id, source_addr="1000"))).status == 0
    receipts = {}
    for _ in range(3):
        receipt = parse_receipt((await esme.next_delivery(timeout=10)).short_message)
        receipts[receipt.message_id] = (receipt.state, round(time.monotonic() - started, 1))
    esme.close()
    await smsc.stop(grace=0.2)
    assert receipts[dropped.message_id][0] == MessageState.DELETED and receipts[dropped.message_id][1] < 1.5
    state, when = receipts[later.message_id]
    assert state == MessageState.DELIVERED and 2.0 <= when <= 2.6
    state, when = receipts[absolute.message_id]  # tenths of a second kept: 2.4 to 2.5 s on
    assert state == MessageState.DELIVERED and 2.3 <= when <= 3.1
    with LedgerReader(tmp_path / "ledger.sqlite") as ledger:
        rows = {r.message_id: r for r in ledger.records()}
    assert rows[later.message_id].final_state == "DELIVRD"
    assert 2.0 <= rows[later.message_id].done_time - rows[later.message_id].submit_time <= 2.4
    cancelled = rows[dropped.message_id]
    assert (cancelled.final_state, cancelled.sla_class) == ("DELETED", "excluded")


def test_a_default_validity_longer_than_the_maximum_is_refused_by_the_scenario():
    with pytest.raises(ValueError, match="default_validity"):
        carrier(default_validity="200h")
    with pytest.raises(ValueError):
        carrier(default_validity="0s")
    assert (carrier().default_validity, carrier().max_validity) == ("48h", "168h")


# ------------------------------------------------------------------------------------------ the expectation
def test_the_expectation_says_when_validity_could_expire_messages():
    from simulator.metering.expectation import Expectation, NotAnalytic, analyse_expectation

    def analysed(carrier_yaml: str, window: str) -> Expectation | NotAnalytic:
        return analyse_expectation(parse_scenario(
            f"name: v\nseed: 1\ncarrier: {{{carrier_yaml}}}\nfaults:\n"
            f"  - {{kind: maintenance, name: held, start: 5s, duration: {window}, mode: hold_receipts}}\n"))

    plain = analysed("", "1h")  # the default 48 h validity outlasts the window: rate unchanged, 100 %
    assert isinstance(plain, Expectation) and plain.rate == pytest.approx(1.0)
    assert not any("default_validity" in a for a in plain.assumptions)
    short = analysed("default_validity: 2h", "1h")
    assert isinstance(short, Expectation) and short.rate == pytest.approx(1.0)
    assert any("default_validity (2h)" in a for a in short.assumptions)
    held = analysed("default_validity: 2h", "3h")  # held past their validity: they expire
    assert isinstance(held, NotAnalytic) and "held" in str(held)


@pytest.mark.parametrize(("before", "after"), [  # (class, reason, final state, err) before and after expiry
    (("delivered", "", "DELIVRD", "000"), ("definite_failure", "expired", "EXPIRED", "000")),
    (("invalid_number", "powered_off", "EXPIRED", "027"),
     ("invalid_number", "powered_off", "EXPIRED", "027")),
    (("invalid_number", "unstable_network", "DELIVRD", "000"),
     ("invalid_number", "unstable_network", "EXPIRED", "000")),
    (("excluded", "pre_notified_maintenance", "DELIVRD", "000"),
     ("excluded", "pre_notified_maintenance", "EXPIRED", "000")),
    (("definite_failure", "provider_failure", "UNDELIV", "034"),
     ("definite_failure", "provider_failure", "EXPIRED", "034")),
])
def test_an_expiry_keeps_to_the_class_precedence(before, after):
    from simulator.carrier.receipts import expired
    from simulator.faults.outcome import Outcome, SlaClass

    cls, reason, state, err = before
    outcome = expired(Outcome(sla_class=SlaClass(cls), reason=reason, error_code=err,
                              final_state=MessageState.from_stat(state)))
    assert (outcome.sla_class.value, outcome.reason, outcome.final_state.stat, outcome.error_code) == after


async def test_a_maintenance_hold_past_the_validity_expires_at_the_validity(tmp_path):
    smsc = await start_ledgered(tmp_path, "name: held\nseed: 1\nfaults:\n  - {kind: maintenance, name: held,"
                                " start: 0s, duration: 1h, mode: hold_receipts}\n")
    esme = await Esme.bound("127.0.0.1", smsc.port, "qa", "qa-pass")
    started = time.monotonic()
    sent = await esme.submit("8613800000001", registered_delivery=1, validity_period=relative(1))
    receipt = parse_receipt((await esme.next_delivery(timeout=10)).short_message)
    assert (receipt.message_id, receipt.state) == (sent.message_id, MessageState.EXPIRED)
    assert 1.0 <= time.monotonic() - started <= 1.6
    esme.close()
    await smsc.stop(grace=0.2)


def test_the_final_date_query_sm_writes_is_read_back_to_the_tenth():
    from simulator.smpp.times import format_absolute

    assert format_absolute(at(2026, 11, 27, 15, 20, 0) + 0.75) == "261127152000700+"  # tenths truncated, UTC
    assert format_absolute(at(2024, 2, 29, 23, 59, 59)) == "240229235959000+"
