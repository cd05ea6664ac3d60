"""The benchmark's SMPP load generator: N transceiver binds, W outstanding submit_sm each, for a fixed time.

Built to cost as little CPU per message as Python allows, so that on a small machine it does not
starve the server it measures: the binds use our own session (simulator.smpp.session), but the hot
path never decodes a PDU. One submit_sm is encoded once; each send copies it and patches the
sequence number with struct.pack_into; responses are read by unpacking only the 16-octet header
(simulator.smpp.pdu.HEADER); deliver_sm (receipts) are answered with a pre-encoded deliver_sm_resp
with the sequence patched in. It must never send anywhere but the loopback address it is given.

Run as a script (bench/run.py does): it prints one JSON object (counts, a latency histogram, its
own CPU time) on stdout. Several of these processes can share one measurement window (--start-at).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import resource
import selectors
import socket
import struct
import sys
import time

from simulator.smpp.constants import CommandId, CommandStatus
from simulator.smpp.pdu import HEADER, BindTransceiver, DeliverSmResp, EnquireLinkResp, SubmitSm, Unbind
from simulator.smpp.session import Role, SmppSession

SUBMIT_SM_RESP = int(CommandId.submit_sm_resp)
DELIVER_SM = int(CommandId.deliver_sm)
ENQUIRE_LINK = int(CommandId.enquire_link)
GENERIC_NACK = int(CommandId.generic_nack)
UNBIND_RESP = int(CommandId.unbind_resp)
HEADER_SIZE = HEADER.size  # 16
SEQ = struct.Struct(">I")  # command_length, command_id, command_status, sequence_number: seq at +12
SEQ_OFFSET = 12

# Latency histogram: 10 us buckets up to 2 s; the last bucket holds everything slower.
BUCKET_S = 10e-6
BUCKETS = 200_000
RING = 1 << 16  # send times by sequence & (RING - 1); the window must stay far below this

TEXT = b"Acme: your verification code is 482913. It expires in 5 minutes. Do not share it."


def submit_template(registered_delivery: int) -> bytes:
    """The one submit_sm every send copies (sequence 0, patched per send)."""
    return SubmitSm(
        sequence=0,
        source_addr_ton=5,
        source_addr_npi=0,
        source_addr="Acme",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="8613800138000",
        registered_delivery=registered_delivery,
        short_message=TEXT,
    ).encode()


class Bind:
    """One transceiver bind: its socket, unparsed input, unsent output and its send times."""

    __slots__ = ("outstanding", "pending", "rest", "sent_at", "seq", "sock", "want_write")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rest = b""
        self.pending = bytearray()
        self.seq = 0
        self.sent_at = [0.0] * RING
        self.outstanding = 0
        self.want_write = False


def connect_and_bind(host: str, port: int, system_id: str, password: str, timeout: float) -> Bind:
    """Connect and bind_transceiver with our sans-IO session (blocking, before the load starts)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    session = SmppSession(Role.ESME)
    session.send(
        BindTransceiver(system_id=system_id, password=password, system_type="BENCH", interface_version=0x34)
    )
    sock.sendall(session.data_to_send())
    deadline = time.monotonic() + timeout
    while not session.is_bound:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no bind_transceiver_resp from {host}:{port} within {timeout}s")
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"{host}:{port} closed the connection during the bind")
        for event in session.receive_data(data):
            if getattr(event, "command_id", None) == CommandId.bind_transceiver_resp and event.status:
                raise ConnectionError(f"bind refused by {host}:{port}: {CommandStatus(event.status).name}")
    bind = Bind(sock)
    bind.seq = session.next_sequence()  # continue the session's numbering
    # Anything that came right behind the bind response is parsed by the load loop.
    bind.rest = session.unread  # leftover octets of an unfinished frame
    sock.setblocking(False)
    return bind


def run(args: argparse.Namespace) -> dict:
    host = args.host
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"loadgen: refusing to send to {host}: loopback only")
    binds = [
        connect_and_bind(host, args.port, args.system_id, args.password, timeout=10.0)
        for _ in range(args.binds)
    ]
    template = submit_template(args.registered_delivery)
    tlen = len(template)
    dresp = DeliverSmResp(sequence=0).encode()
    elresp = EnquireLinkResp(sequence=0).encode()
    window = args.window
    if window >= RING // 2:
        raise SystemExit(f"loadgen: window {window} too large (max {RING // 2 - 1})")
    mask = RING - 1
    sample = max(1, args.latency_sample)

    # The shared schedule, in wall-clock time so that several processes agree on it. With --sync,
    # say "bound" and read the start time from stdin (run.py starts all loadgens together).
    if args.sync:
        sys.stdout.write("bound\n")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line.strip():
            raise ConnectionError("no start time on stdin")
        start_wall = float(line)
    else:
        start_wall = args.start_at if args.start_at else time.time()
    delay = start_wall - time.time()
    if delay > 0:
        time.sleep(delay)
    perf = time.perf_counter
    t_start = perf()
    t_meas0 = t_start + args.warmup
    t_meas1 = t_meas0 + args.duration
    t_stop_send = t_meas1
    t_hard_end = t_meas1 + args.drain

    hist = [0] * BUCKETS
    last_bucket = BUCKETS - 1
    inv_bucket = 1.0 / BUCKET_S
    submits_sent = 0
    max_submits = args.max_submits
    resp_ok = resp_err = nacks = 0  # in the measurement window
    resp_total = 0  # all responses, any time
    receipts = 0  # deliver_sm in the measurement window
    receipts_total = 0
    cpu0 = cpu1 = None
    sampled = 0

    pack_into = SEQ.pack_into
    unpack_from = HEADER.unpack_from
    sel = selectors.DefaultSelector()
    EV_R, EV_W = selectors.EVENT_READ, selectors.EVENT_READ | selectors.EVENT_WRITE
    for b in binds:
        sel.register(b.sock, EV_R, b)

    def send(b: Bind, k: int, extra: bytes | bytearray, now: float) -> None:
        """Queue k fresh submits (plus `extra`) on bind b and write what the socket takes."""
        nonlocal submits_sent
        if k:
            out = bytearray(template * k)
            seq = b.seq
            sent_at = b.sent_at
            off = SEQ_OFFSET
            for _ in range(k):
                pack_into(out, off, seq)
                sent_at[seq & mask] = now
                seq = seq + 1 if seq < 0x7FFFFFFF else 1
                off += tlen
            b.seq = seq
            b.outstanding += k
            submits_sent += k
            if extra:
                out += extra
        else:
            out = extra
        if b.pending:
            b.pending += out
            out = b.pending
        try:
            n = b.sock.send(out)
        except BlockingIOError:
            n = 0
        except OSError:
            if now < t_meas1:
                raise
            b.pending = bytearray()  # the server dropped us after the window: its recv will see EOF
            return
        if n < len(out):
            b.pending = bytearray(out[n:])
            if not b.want_write:
                b.want_write = True
                sel.modify(b.sock, EV_W, b)
        else:
            b.pending = bytearray()
            if b.want_write:
                b.want_write = False
                sel.modify(b.sock, EV_R, b)

    now = perf()
    for b in binds:  # fill every window
        k = min(window, max_submits - submits_sent)
        send(b, k, b"", now)

    sending = True
    closed_after = 0  # binds the server closed after the measurement window
    binds_open = list(binds)
    while True:
        now = perf()
        if now >= t_hard_end:
            break
        if sending and now >= t_stop_send:
            sending = False
        if cpu0 is None and now >= t_meas0:
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        if cpu1 is None and now >= t_meas1:
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        if not binds_open or not sending and not any(b.outstanding for b in binds) and now >= t_meas1 + 0.1:
            break  # every submit answered and receipts had a moment to arrive
        events = sel.select(0.05)
        now = perf()
        in_window = t_meas0 <= now < t_meas1
        for key, mask_ev in events:
            b = key.data
            if mask_ev & selectors.EVENT_WRITE and b.pending:
                send(b, 0, b"", now)
            if not mask_ev & selectors.EVENT_READ:
                continue
            try:
                data = b.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                if now < t_meas1:
                    raise ConnectionError(f"the server closed bind {binds.index(b)} during the measurement")
                closed_after += 1  # after the window: the numbers stand, say so in the result
                sel.unregister(b.sock)
                b.sock.close()
                b.outstanding = 0
                binds_open.remove(b)
                continue
            if b.rest:
                data = b.rest + data
            pos = 0
            end = len(data)
            got = 0
            answers = bytearray()
            sent_at = b.sent_at
            while end - pos >= HEADER_SIZE:
                length, cid, status, seq = unpack_from(data, pos)
                if end - pos < length:
                    break
                if length < HEADER_SIZE:
                    raise ConnectionError(f"impossible command_length {length} from the server")
                pos += length
                if cid == SUBMIT_SM_RESP:
                    got += 1
                    if in_window:
                        if status:
                            resp_err += 1
                        else:
                            resp_ok += 1
                        sampled += 1
                        if sampled == sample:
                            sampled = 0
                            i = int((now - sent_at[seq & mask]) * inv_bucket)
                            hist[i if i < last_bucket else last_bucket] += 1  # noqa: FURB136 - no call
                elif cid == DELIVER_SM:
                    receipts_total += 1
                    if in_window:
                        receipts += 1
                    r = len(answers)
                    answers += dresp
                    pack_into(answers, r + SEQ_OFFSET, seq)
                elif cid == GENERIC_NACK:
                    got += 1  # a nack of one of our submits frees its slot too
                    if in_window:
                        nacks += 1
                elif cid == ENQUIRE_LINK:
                    r = len(answers)
                    answers += elresp
                    pack_into(answers, r + SEQ_OFFSET, seq)
            b.rest = data[pos:] if pos < end else b""
            if got:
                b.outstanding -= got
                resp_total += got
            k = 0
            if sending and got:
                k = max(min(got, max_submits - submits_sent), 0)
            if k or answers:
                send(b, k, answers, now)

    end_now = perf()
    if cpu0 is None:
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    if cpu1 is None:
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    # Unbind politely, but do not wait long (smpp34 usually drops the unbind_resp).
    unbind = Unbind(sequence=0x7FFFFFF0).encode()
    for b in binds_open:
        try:
            b.sock.setblocking(True)
            b.sock.settimeout(0.3)
            b.sock.sendall(unbind)
        except OSError:
            pass
    for b in binds_open:
        try:
            b.sock.recv(65536)
        except OSError:
            pass
        b.sock.close()
    sel.close()
    return {
        "binds": args.binds,
        "window": window,
        "duration": args.duration,
        "submits_sent": submits_sent,
        "responses_total": resp_total,
        "resp_ok": resp_ok,
        "resp_err": resp_err,
        "nacks": nacks,
        "receipts": receipts,
        "receipts_total": receipts_total,
        "unanswered_at_end": sum(b.outstanding for b in binds),
        "closed_by_server_after_window": closed_after,
        "latency_sample": sample,
        "latency_bucket_s": BUCKET_S,
        "latency_hist": {str(i): n for i, n in enumerate(hist) if n},
        "cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
        "elapsed_s": end_now - t_start,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--system-id", default="qa")
    p.add_argument("--password", default="qa-pass")
    p.add_argument("--binds", type=int, default=4, help="transceiver binds (default 4)")
    p.add_argument("--window", type=int, default=100, help="outstanding submit_sm per bind (default 100)")
    p.add_argument("--registered-delivery", type=int, default=0, choices=range(256), metavar="0-255")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds before the measurement window")
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    p.add_argument("--drain", type=float, default=1.0, help="at most this long after the window for answers")
    p.add_argument("--max-submits", type=int, default=5_000_000, help="hard cap on submits sent (all binds)")
    p.add_argument("--latency-sample", type=int, default=1, help="time 1 of every N responses (1 = all)")
    p.add_argument(
        "--start-at", type=float, default=0.0, help="wall-clock time (time.time()) to start sending"
    )
    p.add_argument(
        "--sync", action="store_true", help='after binding print "bound", read the start time from stdin'
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except (OSError, TimeoutError) as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
