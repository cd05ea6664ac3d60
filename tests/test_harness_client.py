"""The harness's SMPP client (loadtests/client.py, gevent) on its error paths, over real sockets on
127.0.0.1: a refused bind, a link closed during the bind, a connection refused; a full window (a
timed wait that gives up, a submit that does not fit, a waiter woken by the response that frees a
slot); malformed responses (a wrongly-sized submit_sm_resp, an unknown response, a garbage header);
a write to a reset link; a dropped link and the bind that replaces it.

loadtests.client imports gevent, which the test process must never import (tests/test_invariants.py):
each case runs in a subprocess, a script written to tmp_path that imports it, drives one case and
prints what the client saw as JSON. The SMSC is served by the test's own event loop: the real
simulator (the `smsc` fixture) or RawSmsc, a few lines that answer each PDU as the case asks and
record everything the client sent, so the test sees both ends.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.smpp.constants import CommandId, CommandStatus
from simulator.smpp.pdu import HEADER, EnquireLink, GenericNack, Pdu, Unbind
from simulator.smpp.session import BINDS, BindState, ProtocolViolation, Role, SmppSession

C, S = CommandId, CommandStatus
CASE_TIMEOUT = 60.0  # a whole subprocess case, gevent import included (slower under coverage)

# The script a case runs in. Every wait in it has a deadline; it prints one JSON line.
CLIENT_SCRIPT = r'''
import json
import select
import sys
import time

import gevent

from loadtests.client import BindRefused, GeventSmppClient, LinkDown
from simulator.smpp.pdu import EnquireLink, SubmitSm
from simulator.smpp.session import ProtocolViolation

case, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
answered = []  # what on_responses reported, in order


def on_responses(batch, now):
    for response, (sent, context) in batch:
        if response is None:
            answered.append({"context": context, "kind": "lost"})
        elif type(response) is ProtocolViolation:
            answered.append({"context": context, "kind": "violation", "status": response.status,
                             "fatal": response.fatal})
        else:
            answered.append({"context": context, "kind": response.name, "status": response.status,
                             "message_id": getattr(response, "message_id", None)})


def frame(destination):
    return SubmitSm(source_addr="1000", destination_addr=destination, short_message=b"hi").encode()


def client(window=10):
    c = GeventSmppClient(host, port, window=window, on_responses=on_responses)
    c.connect()
    return c


def until(condition, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        gevent.sleep(0.005)


def raises(call):
    """The exception `call` raises, as [type, message]; None if it returns."""
    try:
        call()
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return None


def bind_failures():
    out = {}
    c = client()
    try:
        c.bind("qa", "wrong")
    except BindRefused as exc:
        out["refused"] = [exc.status, str(exc)]
    out["refused_bound"] = c.is_bound
    out["submit_unbound"] = raises(lambda: c.submit_frames([frame("8613800000001")]))
    c.close()
    out["submit_closed"] = raises(lambda: c.submit_frames([frame("8613800000001")]))
    out["request_closed"] = raises(lambda: c.enquire_link())
    out["window_closed"] = raises(lambda: c.wait_for_window())
    c2 = client()
    out["bound_after_refusal"] = c2.bind("qa", "qa-pass").status == 0 and c2.is_bound
    c2.unbind()
    return out


def bind_dropped():
    c = client()
    out = {"bind": raises(lambda: c.bind("qa", "qa-pass")), "closed": c.closed}
    refused_port = int(sys.argv[4])
    out["connect"] = raises(lambda: GeventSmppClient(host, refused_port).connect())
    return out


def window():
    c = client(window=3)
    c.bind("qa", "qa-pass")
    out = {"free_at_start": c.wait_for_window()}
    c.submit_frames([frame(f"861380000000{i}") for i in range(3)], context="first")
    out["outstanding"] = c.outstanding
    out["free_when_full"] = c.wait_for_window(timeout=0.05)
    out["submit_when_full"] = c.submit(SubmitSm(destination_addr="8613800000009", short_message=b"x"),
                                       timeout=0.05)
    out["overflow"] = raises(lambda: c.submit_frames([frame("8613800000009")]))
    waiter = gevent.spawn(c.wait_for_window)  # blocks until a response frees a slot
    gevent.sleep(0)
    out["waiter_blocked"] = not waiter.ready()
    c.enquire_link()  # the SMSC answers the held submits first, then this
    out["waiter_woke_with"] = waiter.get(timeout=5)
    out["outstanding_after"] = c.outstanding
    out["submit_with_room"] = c.submit(SubmitSm(destination_addr="8613800000005", short_message=b"x"),
                                       context="second", timeout=5)
    c.enquire_link()  # and the fourth
    c.unbind()
    out["closed_after_unbind"] = c.closed
    return out


def malformed():
    c = client(window=5)
    c.bind("qa", "qa-pass")
    c.submit_frames([frame(f"86138000000{n}") for n in ("01", "02", "03")], context="three")
    c.enquire_link()  # the three answers came first
    out = {"violations_after_three": c.violations, "bound_after_three": c.is_bound}
    c.submit_frames([frame("8613800000004"), frame("8613800000005")], context="garbage")
    until(lambda: c.closed, "the link to close")
    out["violations"] = c.violations
    out["closed"] = c.closed
    out["submit_after"] = raises(lambda: c.submit_frames([frame("8613800000001")]))
    return out


def reset():
    c = client(window=5)
    c.bind("qa", "qa-pass")
    c.submit_frames([frame("8613800000009")], context="reset by the SMSC")
    # wait for the reset without yielding to gevent's hub: the reader greenlet must not see it first,
    # so that the next write is the one that finds the link gone
    readable, _, _ = select.select([c.sock.fileno()], [], [], 10)
    out = {"reset_arrived": bool(readable), "closed_before_write": c.closed}
    out["write"] = raises(lambda: c.submit_frames([frame("8613800000001")], context="written after the reset"))
    out["closed"] = c.closed
    out["window"] = raises(lambda: c.wait_for_window())
    out["request"] = raises(lambda: c.enquire_link())
    return out


def drop_and_rebind():
    c = client(window=5)
    c.bind("qa", "qa-pass")
    c.submit_frames([frame("8613800000007"), frame("8613800000001")], context="on the dropped link")
    until(lambda: c.closed, "the dropped link to close")
    out = {"bound_after_drop": c.is_bound, "submit_after_drop": raises(lambda: c.submit_frames([frame("1")]))}
    c2 = client(window=5)
    out["rebind_status"] = c2.bind("qa", "qa-pass").status
    c2.submit_frames([frame("8613800000001")], context="after the rebind")
    until(lambda: len(answered) == 3, "the answer on the new link")
    c2.unbind()
    return out


def smsc_requests():
    c = client(window=5)
    c.bind("qa", "qa-pass")
    c.submit_frames([frame("8613800000008")], context="after an enquire_link")
    until(lambda: len(answered) == 1, "the answer behind the SMSC's enquire_link")
    out = {"bound_after_enquire_link": c.is_bound}
    c.submit_frames([frame("8613800000006")], context="before an unbind")
    until(lambda: c.closed, "the SMSC's unbind to close the link")
    out["state_after_unbind"] = c.session.state.value
    c2 = client(window=5)
    c2.bind("qa", "qa-pass")
    out["unanswered_unbind"] = raises(lambda: c2.unbind(timeout=0.2))
    out["closed_after_unanswered_unbind"] = c2.closed
    return out


out = globals()[case]()
out["answered"] = answered
print(json.dumps(out))
'''


async def run_case(tmp_path: Path, case: str, port: int, *extra: str) -> dict[str, Any]:
    """Run one case of CLIENT_SCRIPT against 127.0.0.1:port; its JSON (the script must exit 0)."""
    script = tmp_path / "client_case.py"
    script.write_text(CLIENT_SCRIPT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), case, "127.0.0.1", str(port), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=tmp_path)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CASE_TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    return json.loads(out.decode().strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ a raw SMSC
class Link:
    """One client connection at RawSmsc: its session (framing, bind state) and raw writes."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.session = SmppSession(Role.SMSC)
        self.held: list[Pdu] = []  # submit_sm not answered yet
        self.next_id = 0

    def send(self, pdu: Pdu) -> None:
        self.session.send(pdu)
        self.writer.write(self.session.data_to_send())

    def accept(self, submit: Pdu, status: int = 0) -> None:
        self.next_id += 1
        self.send(submit.response(status=status, message_id=f"m{self.next_id}"))

    def write_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def reset(self) -> None:
        """Abort with an RST (SO_LINGER 0), as a crashed peer or a middlebox does."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


SubmitHandler = Callable[[Link, Pdu], None]


class RawSmsc:
    """An SMSC of a few lines on a free loopback port. Binds are answered with `bind_status` (None:
    the link is closed instead); each submit_sm goes to `on_submit` (default: accepted); an
    enquire_link first answers every held submit_sm (accepted), then itself; an unbind is answered
    and closes the link (unless not `answer_unbind`). Everything the clients sent is in `received`,
    in order."""

    def __init__(self, on_submit: SubmitHandler | None = None, bind_status: int | None = 0,
                 answer_unbind: bool = True) -> None:
        self.on_submit = on_submit or (lambda link, pdu: link.accept(pdu))
        self.bind_status = bind_status
        self.answer_unbind = answer_unbind
        self.links: list[Link] = []
        self.received: list[Pdu | ProtocolViolation] = []
        self.bound = 0
        self._changed = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> RawSmsc:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for link in self.links:
            link.writer.transport.abort()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = Link(writer)
        self.links.append(link)
        try:
            while data := await reader.read(1 << 16):
                for event in link.session.receive_data(data):
                    self.received.append(event)
                    self._changed.set()
                    if not self._handle(link, event):
                        return
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _handle(self, link: Link, event: Pdu | ProtocolViolation) -> bool:
        """Answer one PDU; False when the link is to be closed."""
        if isinstance(event, ProtocolViolation):
            return True
        command_id = event.command_id
        if command_id in BINDS:
            if self.bind_status is None:
                return False
            link.send(event.response(status=self.bind_status, system_id="raw"))
            self.bound += self.bind_status == 0
            link.session.receive_data(b"")
        elif command_id == C.submit_sm:
            self.on_submit(link, event)
            return not link.writer.transport.is_closing()
        elif command_id == C.enquire_link:
            held, link.held = link.held, []
            for submit in held:
                link.accept(submit)
            link.send(event.response())
        elif command_id == C.unbind and self.answer_unbind:
            link.send(event.response())
            return False
        return True

    async def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None

    def nacks(self) -> list[tuple[int, int]]:
        """(command_status, sequence) of every generic_nack the clients sent."""
        return [(p.status, p.sequence) for p in self.received if isinstance(p, GenericNack)]

    def submits(self) -> list[Pdu]:
        return [p for p in self.received if not isinstance(p, ProtocolViolation) and p.command_id == C.submit_sm]


def by_destination(**actions: Callable[[Link, Pdu], None]) -> SubmitHandler:
    """on_submit choosing the answer by the destination's last digit (`d1=...`); others accepted."""

    def on_submit(link: Link, pdu: Pdu) -> None:
        action = actions.get(f"d{pdu.destination_addr[-1]}")
        (action or (lambda lk, p: lk.accept(p)))(link, pdu)

    return on_submit


def hold(link: Link, pdu: Pdu) -> None:
    link.held.append(pdu)


# ------------------------------------------------------------------------------------ the cases
async def test_a_refused_bind_raises_bind_refused_with_the_status_and_leaves_the_client_unbound(smsc, tmp_path):
    """Against the real simulator: a wrong password is ESME_RINVPASWD; the client stays unbound and
    refuses to submit; closed, it refuses everything with LinkDown; a later bind still works."""
    out = await run_case(tmp_path, "bind_failures", smsc.port)
    assert out["refused"] == [S.ESME_RINVPASWD, "bind refused: ESME_RINVPASWD"]
    assert out["refused_bound"] is False
    assert out["submit_unbound"] == ["LinkDown", "cannot submit in bind state open"]
    assert out["submit_closed"] == ["LinkDown", "not connected"]
    assert out["request_closed"] == ["LinkDown", "not connected"]
    assert out["window_closed"] == ["LinkDown", "link closed"]
    assert out["bound_after_refusal"] is True
    assert out["answered"] == []  # nothing was ever submitted
    assert smsc.stats.bind_failures == 1 and smsc.stats.binds == 1


async def test_a_link_closed_during_the_bind_and_a_refused_connection_are_errors_not_hangs(tmp_path):
    unused = socket.socket()  # bound, never listening: connecting to it is refused
    unused.bind(("127.0.0.1", 0))
    try:
        async with RawSmsc(bind_status=None) as raw:
            out = await run_case(tmp_path, "bind_dropped", raw.port, str(unused.getsockname()[1]))
    finally:
        unused.close()
    assert out["bind"] == ["LinkDown", "link closed while waiting for bind_transceiver_resp"]
    assert out["closed"] is True
    assert out["connect"][0] == "ConnectionRefusedError"
    assert [p.command_id for p in raw.received] == [C.bind_transceiver]


async def test_a_full_window_holds_submits_back_until_a_response_frees_a_slot(tmp_path):
    async with RawSmsc(on_submit=hold) as raw:
        out = await run_case(tmp_path, "window", raw.port)
    assert out["free_at_start"] == 3
    assert out["outstanding"] == 3
    assert out["free_when_full"] == 0  # the timed wait gave up
    assert out["submit_when_full"] is False  # and so did submit(timeout=...), writing nothing
    assert out["overflow"] == ["ValueError", "1 frames do not fit the window (3 outstanding)"]
    assert out["waiter_blocked"] is True
    assert 1 <= out["waiter_woke_with"] <= 3  # woken by the first response read (the rest may follow)
    assert out["outstanding_after"] == 0
    assert out["submit_with_room"] is True
    assert out["closed_after_unbind"] is True
    assert [(a["context"], a["kind"], a["message_id"]) for a in out["answered"]] == [
        ("first", "submit_sm_resp", "m1"), ("first", "submit_sm_resp", "m2"), ("first", "submit_sm_resp", "m3"),
        ("second", "submit_sm_resp", "m4")]
    # only four submits reached the SMSC: the refused ones were never written
    assert [p.destination_addr for p in raw.submits()] == [
        "8613800000000", "8613800000001", "8613800000002", "8613800000005"]
    assert [p.sequence for p in raw.submits()] == [2, 3, 4, 6]  # 1: the bind, 5: an enquire_link


def wrongly_sized(link: Link, pdu: Pdu) -> None:
    """A submit_sm_resp whose 4-octet body has no NUL: its message_id overruns the PDU."""
    link.write_raw(HEADER.pack(20, C.submit_sm_resp, 0, pdu.sequence) + b"abcd")


def unknown_response(link: Link, pdu: Pdu) -> None:
    link.write_raw(HEADER.pack(16, 0x800000FF, 0, pdu.sequence))


def garbage_header(link: Link, pdu: Pdu) -> None:
    """command_length 5: no PDU is that short; the stream cannot be framed past it."""
    link.write_raw(HEADER.pack(5, C.submit_sm_resp, 0, pdu.sequence) + b"\xff" * 12)


async def test_malformed_responses_free_their_slot_are_reported_and_nacked(tmp_path):
    """A wrongly-sized submit_sm_resp and an unknown response each answer their submit as a
    violation (the link stays up; the unknown one is nacked); a garbage header cannot be framed past:
    its submit is a fatal violation, the client nacks it (ESME_RINVCMDLEN), closes the link, and the
    submit behind it is reported lost."""
    on_submit = by_destination(d2=wrongly_sized, d3=unknown_response, d4=garbage_header, d5=hold)
    async with RawSmsc(on_submit=on_submit) as raw:
        out = await run_case(tmp_path, "malformed", raw.port)
        await raw.wait_for(lambda: len(raw.nacks()) == 2, "the client's two generic_nacks")
    assert out["violations_after_three"] == 2 and out["bound_after_three"] is True
    three, garbage = out["answered"][:3], out["answered"][3:]
    assert [(a["kind"], a.get("status")) for a in three] == [
        ("submit_sm_resp", 0), ("violation", S.ESME_RINVMSGID), ("violation", S.ESME_RINVCMDID)]
    assert [(a["context"], a["kind"], a.get("fatal")) for a in garbage] == [
        ("garbage", "violation", True), ("garbage", "lost", None)]
    assert out["violations"] == 3 and out["closed"] is True
    assert out["submit_after"] == ["LinkDown", "not connected"]
    submits = {p.destination_addr[-1]: p.sequence for p in raw.submits()}
    assert raw.nacks() == [(S.ESME_RINVCMDID, submits["3"]), (S.ESME_RINVCMDLEN, submits["4"])]


async def test_a_write_to_a_reset_link_raises_link_down_and_reports_every_in_flight_submit_lost(tmp_path):
    async with RawSmsc(on_submit=by_destination(d9=lambda link, pdu: link.reset())) as raw:
        out = await run_case(tmp_path, "reset", raw.port)
    assert out["reset_arrived"] is True and out["closed_before_write"] is False
    kind, message = out["write"]
    assert kind == "LinkDown" and message.startswith(("[Errno 104]", "[Errno 32]")), message
    assert out["closed"] is True
    assert out["window"] == ["LinkDown", "link closed"]
    assert out["request"] == ["LinkDown", "not connected"]
    assert sorted((a["context"], a["kind"]) for a in out["answered"]) == [
        ("reset by the SMSC", "lost"), ("written after the reset", "lost")]


async def test_a_dropped_link_reports_its_submits_lost_and_a_new_bind_carries_on(tmp_path):
    def drop(link: Link, pdu: Pdu) -> None:
        link.writer.close()

    async with RawSmsc(on_submit=by_destination(d7=drop)) as raw:
        out = await run_case(tmp_path, "drop_and_rebind", raw.port)
    assert out["bound_after_drop"] is False
    assert out["submit_after_drop"] == ["LinkDown", "not connected"]
    assert out["rebind_status"] == 0
    assert [(a["context"], a["kind"]) for a in out["answered"]] == [
        ("on the dropped link", "lost"), ("on the dropped link", "lost"), ("after the rebind", "submit_sm_resp")]
    assert len(raw.links) == 2 and raw.bound == 2


async def test_the_client_answers_the_smscs_enquire_link_and_unbind_and_gives_up_an_unanswered_unbind(tmp_path):
    """The reader answers what the SMSC asks (enquire_link; unbind, as `serve` does to every ESME
    when it stops): the link stays bound after the first and is closed after the second, with the
    submit in flight reported lost. An unbind the SMSC never answers is given up after its timeout,
    and the client is closed all the same."""
    def enquire(link: Link, pdu: Pdu) -> None:
        link.send(EnquireLink())
        link.accept(pdu)

    def unbind(link: Link, pdu: Pdu) -> None:
        link.send(Unbind())  # and the submit is never answered

    async with RawSmsc(on_submit=by_destination(d8=enquire, d6=unbind), answer_unbind=False) as raw:
        out = await run_case(tmp_path, "smsc_requests", raw.port)
        await raw.wait_for(lambda: sum(p.command_id == C.unbind for p in raw.received) == 1,
                           "the second client's unbind")
    assert out["bound_after_enquire_link"] is True
    assert out["state_after_unbind"] == "closed"
    assert [(a["context"], a["kind"]) for a in out["answered"]] == [
        ("after an enquire_link", "submit_sm_resp"), ("before an unbind", "lost")]
    first = raw.links[0].session
    assert first.state is BindState.CLOSED  # the client's unbind_resp closed it at the SMSC's end too
    answers = [(p.command_id, p.sequence) for p in raw.received
               if not isinstance(p, ProtocolViolation) and p.command_id in (C.enquire_link_resp, C.unbind_resp)]
    assert answers == [(C.enquire_link_resp, 1), (C.unbind_resp, 2)]  # the SMSC's own sequence numbers
    assert out["unanswered_unbind"] is None  # unbind() does not raise when its answer never comes
    assert out["closed_after_unanswered_unbind"] is True
