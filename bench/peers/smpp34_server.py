"""Benchmark peer: a minimal SMSC on the server side of the PyPI package ``smpp34``.

This is NOT carrier-sim code. ``make bench`` starts it next to our simulator to
compare submit_sm throughput against an independent SMPP 3.4 server
(smpp34 1.5.0: Rust/tokio core, Python crosses the GIL once per message).

Behaviour:
  * listens on 127.0.0.1:PORT (``--port``, ``--host``);
  * accepts any bind (smpp34's Python server has no hook to refuse one);
  * answers every submit_sm with ESME_ROK and a unique message_id
    (a per-process hex counter);
  * enquire_link, unbind and the session timers are answered by the smpp34 core;
  * with ``--receipts``: for each submit_sm whose registered_delivery has bit 0
    set, sends one delivery receipt (deliver_sm, esm_class 0x04, Appendix B
    text ``stat:DELIVRD`` plus receipted_message_id and message_state TLVs) back
    over the same session, provided that session can receive (TRX or RX bind);
  * runs ``--consumers`` (default 64) concurrent ``Server.next()`` loops: each
    event is a Python<->tokio thread hand-off, and overlapping them gives about
    1.5-2x the single-loop rate on a 2-core machine (``--consumers 1`` is the
    loop from smpp34's own examples);
  * prints ``ready`` (flushed) on stdout once the listening socket accepts;
  * runs until SIGTERM or SIGINT, then stops the listener and exits 0.

Limitations of smpp34 1.5.0's server side (nothing this script can change):
  * no bind hook: every bind is accepted, none can be refused;
  * after an unbind the core usually closes the socket without an unbind_resp
    (here 6 of 60 unbinds got one, over TX, RX and TRX binds);
  * a submit_sm on a receiver bind gets generic_nack ESME_RINVCMDID (0x03),
    not ESME_RINVBNDSTS (0x04);
  * submit_sm_resp order does not follow request order (allowed by SMPP).

Usage:  .venv/bin/python bench/peers/smpp34_server.py --port 2776 [--receipts]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import sys
import time

import smpp34

MESSAGE_STATE_DELIVERED = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--receipts",
        action="store_true",
        help="send a DELIVRD deliver_sm for each submit_sm with registered_delivery & 1",
    )
    parser.add_argument("--system-id", default="SMPP34PEER")
    parser.add_argument(
        "--consumers",
        type=int,
        default=64,
        help="concurrent Server.next() consumers (1 = the documented single loop; default 64)",
    )
    return parser.parse_args(argv)


def receipt_text(message_id: str, short_message: bytes) -> bytes:
    stamp = time.strftime("%y%m%d%H%M", time.gmtime())
    text = short_message[:20].decode("latin-1")
    return (
        f"id:{message_id} sub:001 dlvrd:001 submit date:{stamp} done date:{stamp} "
        f"stat:DELIVRD err:000 text:{text}"
    ).encode("latin-1")


def receipt_for(event: smpp34.SubmitSmEvent, message_id: str) -> dict[str, object]:
    """deliver_sm keyword arguments for a DELIVRD receipt of ``event``."""
    return {
        "destination_addr": event.source_addr,  # back to the original sender
        "short_message": receipt_text(message_id, event.short_message),
        "source_addr": event.destination_addr,
        "source_addr_ton": event.dest_addr_ton,
        "source_addr_npi": event.dest_addr_npi,
        "dest_addr_ton": event.source_addr_ton,
        "dest_addr_npi": event.source_addr_npi,
        "esm_class": 0x04,
        "tlvs": [
            smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, message_id.encode("ascii") + b"\x00"),
            smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([MESSAGE_STATE_DELIVERED])),
        ],
    }


async def send_receipt(esme: smpp34.Esme, receipt: dict[str, object]) -> None:
    try:
        await esme.deliver_sm(**receipt)
    except Exception:  # session gone, response timeout, ...: a lost receipt, not a crash
        pass


async def serve(args: argparse.Namespace) -> None:
    server = smpp34.Server(args.host, args.port, system_id=args.system_id)
    await server.start()  # returns once the socket accepts; raises SmppError on failure
    print("ready", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    message_ids = itertools.count(1)
    sessions: dict[str, smpp34.Esme] = {}
    # With several consumers, a submit_sm can be handled before the Esme event of
    # its own session: park its receipt until that Esme event arrives.
    early_receipts: dict[str, list[dict[str, object]]] = {}
    pending: set[asyncio.Task[None]] = set()

    def spawn_receipt(esme: smpp34.Esme, receipt: dict[str, object]) -> None:
        task = asyncio.create_task(send_receipt(esme, receipt))
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def consume() -> None:
        receipts = args.receipts
        while True:
            event = await server.next()
            if isinstance(event, smpp34.SubmitSmEvent):
                message_id = format(next(message_ids), "x")
                event.accept(message_id)
                if receipts and event.registered_delivery & 1:
                    receipt = receipt_for(event, message_id)
                    esme = sessions.get(event.session_id)
                    if esme is None:
                        early_receipts.setdefault(event.session_id, []).append(receipt)
                    elif esme.can_receive:
                        spawn_receipt(esme, receipt)
            elif isinstance(event, smpp34.Esme):
                sessions[event.session_id] = event
                for receipt in early_receipts.pop(event.session_id, ()):
                    if event.can_receive:
                        spawn_receipt(event, receipt)
            elif isinstance(event, smpp34.Unbound):
                sessions.pop(event.session_id, None)
                early_receipts.pop(event.session_id, None)

    # Several concurrent next() callers: each event costs a Python<->tokio thread
    # hand-off, and overlapping them roughly doubles throughput on 2 cores.
    consumers = [asyncio.create_task(consume()) for _ in range(args.consumers)]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({stopper, *consumers}, return_when=asyncio.FIRST_COMPLETED)
    for task in (stopper, *consumers, *pending):
        task.cancel()
    await server.stop()
    for task in done:
        if task is not stopper and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except smpp34.SmppError as exc:  # e.g. the port is taken
        print(f"smpp34_server.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    # Leave without interpreter finalization: smpp34 1.5.0's tokio threads can
    # still call into Python while it finalizes (seen: SIGSEGV, or an abort in
    # PyGILState_Release, when SIGTERM arrives with deliver_sm in flight).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
