"""SmppUser: a Locust user that binds to an SMSC and sends the scenario's traffic through it.

Owns: the users' behaviour (bind and rebind, fill the window, stop submitting at the drain) and the
Locust request events, fired from gevent greenlets only: `bind_<kind>` (failures), `submit_sm`
(time to submit_sm_resp, failures named by command_status) and `receipt` (submit to final receipt,
failures named by the final state). A process whose binds all fail for a few seconds, none ever
succeeding, stops the run (BindWatch). Not here: the protocol (loadtests/client.py on
simulator/smpp), what to send (loadtests/traffic.py), the process's shared state, tally file and
drain (loadtests/process.py).
"""

from __future__ import annotations

import logging
import os
import time

import gevent
from locust import User, constant, constant_throughput, task
from locust.env import Environment
from locust.runners import WORKER_REPORT_INTERVAL, WorkerRunner

from simulator.scenario import Scenario
from simulator.smpp.constants import CommandId, CommandStatus, MessageState, RegisteredDelivery, status_name
from simulator.smpp.esme_session import BindKind
from simulator.smpp.pdu import Pdu
from simulator.smpp.receipt import is_intermediate, is_receipt, receipt_id_and_stat
from simulator.smpp.session import ProtocolViolation

from .client import BindRefused, GeventSmppClient, LinkDown, Sent
from .process import ProcessState
from .traffic import TrafficMix

log = logging.getLogger("carrier_sim.load")

REQUEST_TYPE = "SMPP"
SUBMIT_SM = "submit_sm"
RECEIPT = "receipt"
GENERIC_NACK = int(CommandId.generic_nack)
DELIVERED = MessageState.DELIVERED.stat  # the stat word of a successful final receipt


def parse_host(host: str | None, scenario: Scenario) -> tuple[str, int]:
    target = (host or scenario.carrier.listen).removeprefix("smpp://")
    name, _, port = target.rpartition(":")
    return name.strip("[]"), int(port)


def link_failure(exc: BaseException) -> str:
    """Why a connect or bind failed, in words: the bind_resp's status name, or what the socket said."""
    if isinstance(exc, BindRefused):
        return status_name(exc.status)
    if isinstance(exc, gevent.Timeout):
        return "no bind_resp in time"
    if isinstance(exc, TimeoutError):
        return "connection timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class BindWatch:
    """Per process: a load that cannot bind at all stops within seconds instead of retrying for the
    whole run. Once a bind succeeded, failures are link trouble (rebinds retry for ever)."""

    GIVE_UP_AFTER = 3.0  # seconds of failed binds, none ever successful in this process
    bound = False
    stopping = False
    first_failure: float | None = None
    attempts = 0

    @classmethod
    def failed(cls, attempt_started: float, exc: BaseException, environment: Environment) -> bool:
        """Count a failed bind attempt; True when the run is being stopped (this process never bound)."""
        cls.attempts += 1
        if cls.first_failure is None:
            cls.first_failure = attempt_started
        waited = time.monotonic() - cls.first_failure
        if cls.bound or cls.stopping or waited < cls.GIVE_UP_AFTER:
            return cls.stopping
        cls.stopping = True
        log.error("no bind succeeded in %.1f s (%d attempts, last: %s); stopping the run", waited, cls.attempts,
                  link_failure(exc))
        gevent.spawn(cls._stop_run, environment)
        return True

    @staticmethod
    def _stop_run(environment: Environment) -> None:
        """Quit as the run-time limit would (the `quitting` event writes the tally). A worker waits
        for one more report, so the master's tally has its bind failures."""
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            gevent.sleep(WORKER_REPORT_INTERVAL + 0.5)
        runner.quit()
        if environment.web_ui is not None:
            environment.web_ui.stop()


class SmppUser(User):
    """One ESME: binds (transceiver, or transmitter + receiver), submits, answers receipts."""

    abstract = False
    _pacing = staticmethod(constant(0))  # replaced per user by constant_throughput when the load is paced

    def wait_time(self) -> float:
        """Locust's wait between tasks: none, or the scenario's pacing (one message per task).
        A method, not an attribute set on the instance: Locust's wait functions take the user."""
        return self._pacing(self)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        scenario = ProcessState.load()
        load = scenario.load
        if load.rate_per_user:
            self._pacing = constant_throughput(load.rate_per_user)
        account_name = load.account or scenario.carrier.accounts[0].system_id
        account = next(a for a in scenario.carrier.accounts if a.system_id == account_name)
        self.system_id, self.password = account.system_id, account.password
        self.address = parse_host(self.host, scenario)
        self.window = load.window
        self.bind_mode = load.bind
        self.one_message_per_task = bool(load.rate_per_user)  # pacing counts tasks: one message each
        # a final receipt may come: time it
        self.want_receipts = bool(load.registered_delivery & RegisteredDelivery.RECEIPT_MASK)
        ProcessState.users += 1
        self.traffic = TrafficMix(scenario, seed_offset=ProcessState.users + os.getpid() * 1000)
        self.clients: list[GeventSmppClient] = []
        self.transmitter: GeventSmppClient | None = None
        self.fire = environment.events.request.fire

    # ------------------------------------------------------------------ link management
    def on_start(self) -> None:
        self._bind_until_bound()

    def _connect(self) -> None:
        self._close()
        kinds: list[BindKind] = (["transceiver"] if self.bind_mode == "transceiver"
                                 else ["transmitter", "receiver"])
        for kind in kinds:
            client = GeventSmppClient(*self.address, window=self.window, on_responses=self._on_responses,
                                      on_deliver=self._on_deliver)
            start = time.perf_counter()
            try:
                client.connect()
                client.bind(self.system_id, self.password, kind)
            except (BindRefused, OSError, LinkDown, gevent.Timeout) as exc:
                reason = link_failure(exc)
                ProcessState.tally.count("bind_failures", reason)
                self.fire(request_type=REQUEST_TYPE, name=f"bind_{kind}",
                          response_time=(time.perf_counter() - start) * 1000, response_length=0, exception=exc)
                client.close()
                if isinstance(exc, BindRefused):
                    raise
                raise LinkDown(f"cannot bind to {self.address[0]}:{self.address[1]}: {reason}") from exc
            self.clients.append(client)
            if kind != "receiver":
                self.transmitter = client

    def _close(self) -> None:
        for client in self.clients:
            client.close()
        self.clients = []
        self.transmitter = None

    def _ensure_link(self) -> GeventSmppClient | None:
        if self.transmitter is not None and self.transmitter.is_bound and all(c.is_bound for c in self.clients):
            return self.transmitter
        if self.clients:  # it was bound and the link went down
            ProcessState.tally.count("rebinds")
        return self._bind_until_bound()

    def _bind_until_bound(self) -> GeventSmppClient | None:
        """Bind, retrying with backoff; None once BindWatch stopped the run (this process never bound)."""
        backoff = 0.2
        while not BindWatch.stopping:
            attempt = time.monotonic()
            try:
                self._connect()
            except (LinkDown, BindRefused) as exc:
                if BindWatch.failed(attempt, exc, self.environment):
                    break
                gevent.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            else:
                BindWatch.bound = True
                return self.transmitter
        gevent.sleep(0.5)  # the runner is stopping the users; no busy loop meanwhile
        return None

    def on_stop(self) -> None:
        """Wait (at most 2 s) for the answers to submits still in flight, then unbind: a slow
        answer is still tallied, so the client and the ledger agree."""
        deadline = time.monotonic() + 2
        for client in self.clients:
            while client.outstanding and not client.closed and time.monotonic() < deadline:
                gevent.sleep(0.01)
            client.unbind(timeout=2)
        self.clients = []

    # ------------------------------------------------------------------ the task
    @task
    def send(self) -> None:
        """Fill the window: draw messages for the free slots and write them in one batch (one
        message per task when the scenario sets rate_per_user). The segments of a long message
        all go out in this task, waiting for the window as needed."""
        if not ProcessState.submitting():
            gevent.sleep(0.2)  # draining: no new submits, receipts keep coming in
            return
        client = self._ensure_link()
        if client is None:
            return
        traffic = self.traffic
        try:
            free = client.wait_for_window()
            frames = traffic.next_frames()
            if not self.one_message_per_task:
                while len(frames) < free:
                    frames += traffic.next_frames()
            tally = ProcessState.tally
            while True:
                batch = frames[:free]
                client.submit_frames(batch)
                tally.count_submitted(len(batch))
                frames = frames[free:]
                if not frames:
                    return
                free = client.wait_for_window()
        except LinkDown:
            return  # the next task re-binds; in-flight submits were reported as lost

    # ------------------------------------------------------------------ callbacks (reader greenlets)
    def _on_responses(self, answered: list[tuple[Pdu | ProtocolViolation | None, Sent]], now: float) -> None:
        """One Locust request event per submit, timed from the write of its batch to the read of
        its response; the tally takes the accepted ones in one go."""
        fire = self.fire
        accepted: list[str] = []
        submitted_at = ProcessState.submitted_at if self.want_receipts else None
        for response, (sent_at, _context) in answered:  # a Sent, unpacked
            elapsed_ms = (now - sent_at) * 1000
            if response is None:
                ProcessState.tally.submit_answered("LOST", None)
                fire(request_type=REQUEST_TYPE, name=SUBMIT_SM, response_time=elapsed_ms, response_length=0,
                     exception=LinkDown("link lost before the response"))
                continue
            status = response.status
            if type(response) is ProtocolViolation:
                status_text = f"malformed_response:{status_name(status)}"
            elif not status and response.command_id != GENERIC_NACK:
                message_id = response.message_id
                accepted.append(message_id)
                if submitted_at is not None:
                    submitted_at[message_id] = sent_at
                fire(request_type=REQUEST_TYPE, name=SUBMIT_SM, response_time=elapsed_ms,
                     response_length=len(message_id), exception=None)
                continue
            elif response.command_id == GENERIC_NACK:
                status_text = f"generic_nack:{status_name(status)}"
            else:
                status_text = status_name(status)
            ProcessState.tally.submit_answered(status_text, None)
            fire(request_type=REQUEST_TYPE, name=SUBMIT_SM, response_time=elapsed_ms, response_length=0,
                 exception=SubmitRefused(status_text))
        if accepted:
            ProcessState.tally.submits_accepted(accepted)

    def _on_deliver(self, pdu: Pdu, now: float) -> int:
        esm = pdu.esm_class
        if is_intermediate(esm):
            ProcessState.tally.count("intermediate")
            return CommandStatus.ESME_ROK
        if not is_receipt(esm):
            ProcessState.tally.count("mo")
            return CommandStatus.ESME_ROK
        message_id, stat = receipt_id_and_stat(pdu)
        ProcessState.tally.receipt(message_id, stat)
        sent = ProcessState.submitted_at.pop(message_id, None)
        if sent is not None:  # the submit went through this process: time the receipt
            self.fire(request_type=REQUEST_TYPE, name=RECEIPT, response_time=(now - sent) * 1000,
                      response_length=0, exception=None if stat == DELIVERED else ReceiptFailed(stat))
        return CommandStatus.ESME_ROK


class SubmitRefused(Exception):
    """A submit answered with a non-zero command_status; the name is the status."""


class ReceiptFailed(Exception):
    """A final receipt with a state other than DELIVRD; the name is the state."""
