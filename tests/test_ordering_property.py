"""Response before notification, as a property over the carrier's timers (issue 12).

tests/test_invariants.py checks the invariant on fixed workloads (5,000 messages per durability
mode). Here hypothesis draws the timings that decide the race between a submit_sm_resp and the
deliver_sm about its message: how long the response is delayed (a latency fault, fixed or
uniform), how soon the final state and its receipt are due, whether the intermediate notification
is asked for, how many submits are pipelined and whether the ledger is on. Whatever the draw, in
the raw byte stream of a real socket no deliver_sm comes before the submit_sm_resp that gave its id,
and every submit gets its response and its receipts (the work happened: nothing is vacuous).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.carrier.smsc import Smsc
from simulator.ledger.writer import LedgerWriter
from simulator.scenario import parse_scenario
from simulator.smpp.constants import CommandId as C

from .conftest import FAST
from .test_invariants import RawLink, notifications_before_their_response

SCENARIO = """
name: ordering
seed: {seed}
faults:
  - kind: latency
    submit_resp: {submit_resp}
    receipt: {receipt}
"""

delays = st.one_of(
    st.integers(0, 40).map(lambda ms: f"{{dist: fixed, ms: {ms}}}"),
    st.tuples(st.integers(0, 20), st.integers(0, 40)).map(
        lambda t: f"{{dist: uniform, min_ms: {min(t)}, max_ms: {max(t)}}}"),
)


async def play(path: Path | None, seed: int, submit_resp: str, receipt: str, registered_delivery: int,
               messages: int) -> tuple[list[str], int, int]:
    scenario = parse_scenario(SCENARIO.format(seed=seed, submit_resp=submit_resp, receipt=receipt),
                              "<ordering>")
    scenario = scenario.model_copy(update={"carrier": scenario.carrier.model_copy(update=FAST)})
    ledger = LedgerWriter(path, run_id="ordering", durability="commit") if path is not None else None
    smsc = Smsc.from_scenario(scenario, ledger=ledger, housekeeping_interval=0.05)
    await smsc.start()
    try:
        link = await RawLink.bound(smsc.port)
        for i in range(messages):  # pipelined: responses, timers and receipts interleave
            link.submit(i, registered_delivery)
        per_message = 2 if registered_delivery & 0x10 else 1
        await link.wait_for(lambda: len(link.responses()) == messages
                            and len(link.deliveries()) == per_message * messages,
                            f"{messages} responses and {per_message * messages} deliver_sm", timeout=20)
        await link.close()
        statuses = {p.status for p in link.received if p.command_id == C.submit_sm_resp}
        assert statuses == {0}, statuses
        return notifications_before_their_response(link.received), len(link.responses()), len(link.deliveries())
    finally:
        await smsc.stop(grace=0.2)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), submit_resp=delays, receipt=delays,
       registered_delivery=st.sampled_from([0x01, 0x11]), messages=st.integers(1, 40), ledger=st.booleans())
def test_no_deliver_sm_overtakes_its_submit_sm_resp_whatever_the_timers_draw(
        tmp_path_factory, seed, submit_resp, receipt, registered_delivery, messages, ledger):
    path = tmp_path_factory.mktemp("ordering") / "l.sqlite" if ledger else None
    early, responses, deliveries = asyncio.run(
        play(path, seed, submit_resp, receipt, registered_delivery, messages))
    assert responses == messages and deliveries >= messages  # the race was run
    assert early == [], f"{len(early)} deliver_sm before the submit_sm_resp of their id, first: {early[:3]}"
