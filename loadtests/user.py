"""SmppUser: a Locust user that binds to an SMSC and sends the scenario's traffic through it.

Fires Locust request events from gevent greenlets only: `submit_sm` (time to submit_sm_resp,
failures named by command_status) and `receipt` (submit to final receipt, failures named by the
final state). Stops submitting when the drain starts and keeps collecting receipts until stopped.
A process whose binds all fail for a few seconds, none ever succeeding, stops the run (BindWatch).

Also owns the tally file: the master (or the only process) writes it whole (a temporary file, then
a rename) when the load stops and again when Locust quits; a worker sends its part to the master
first. SIGUSR1 (loadtests/run.py, after Ctrl-C or SIGTERM, to every Locust process) starts the
drain at once: no more submits, the users stay bound and read receipts until Locust is stopped.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import traceback
from typing import Any

import gevent
from locust import User, constant, constant_throughput, events, task
from locust.env import Environment
from locust.exception import RPCError
from locust.runners import WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from simulator.scenario import Scenario, load_scenario
from simulator.smpp.constants import CommandStatus, status_name
from simulator.smpp.pdu import Pdu
from simulator.smpp.receipt import is_intermediate, is_receipt, receipt_id_and_stat
from simulator.smpp.session import ProtocolViolation

from .client import BindRefused, GeventSmppClient, LinkDown, Sent
from .tally import Tally
from .traffic import TrafficMix

log = logging.getLogger("carrier_sim.load")

ENV_SCENARIO = "CARRIER_SIM_SCENARIO"  # path of the scenario file
ENV_TALLY = "CARRIER_SIM_TALLY"  # where the (master's) merged tally is written at the end
ENV_SUBMIT_FOR = "CARRIER_SIM_SUBMIT_FOR"  # seconds of submitting; the rest of the run is the drain
DRAIN_SIGNAL = signal.SIGUSR1  # from loadtests/children.py (Load.stop_submitting): stop submitting now
TALLY_MESSAGE = "carrier_sim_tally"  # a worker's tally delta, sent to the master outside its stats reports
DRAIN_REPORT_EVERY = 0.25  # seconds between a draining worker's tally deltas to the master
REQUEST_TYPE = "SMPP"
SUBMIT_SM = "submit_sm"
GENERIC_NACK = 0x80000000


class Shared:
    """Per-process state the users share: the tally and the submit times of pending messages."""

    scenario: Scenario | None = None
    tally = Tally()
    submitted_at: dict[str, float] = {}  # message_id -> perf_counter at submit
    submit_until: float = float("inf")  # time.time() after which users stop submitting
    drain_requested = False  # DRAIN_SIGNAL came: submit no more, whatever test_start says
    users = 0

    @classmethod
    def load(cls) -> Scenario:
        if cls.scenario is None:
            path = os.environ.get(ENV_SCENARIO)
            cls.scenario = load_scenario(path) if path else Scenario()
        return cls.scenario


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
        scenario = Shared.load()
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
        self.want_receipts = bool(load.registered_delivery & 0x03)  # a final receipt may come: time it
        Shared.users += 1
        self.traffic = TrafficMix(scenario, seed_offset=Shared.users + os.getpid() * 1000)
        self.clients: list[GeventSmppClient] = []
        self.transmitter: GeventSmppClient | None = None
        self.fire = environment.events.request.fire

    # ------------------------------------------------------------------ link management
    def on_start(self) -> None:
        self._bind_until_bound()

    def _connect(self) -> None:
        self._close()
        kinds = ["transceiver"] if self.bind_mode == "transceiver" else ["transmitter", "receiver"]
        for kind in kinds:
            client = GeventSmppClient(*self.address, window=self.window, on_responses=self._on_responses,
                                      on_deliver=self._on_deliver)
            start = time.perf_counter()
            try:
                client.connect()
                client.bind(self.system_id, self.password, kind)
            except (BindRefused, OSError, LinkDown, gevent.Timeout) as exc:
                reason = link_failure(exc)
                Shared.tally.count("bind_failures", reason)
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
            Shared.tally.count("rebinds")
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
        if time.time() >= Shared.submit_until:
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
            tally = Shared.tally
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
        submitted_at = Shared.submitted_at if self.want_receipts else None
        for response, (sent, _context) in answered:
            elapsed_ms = (now - sent) * 1000
            if response is None:
                Shared.tally.submit_answered("LOST", None)
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
                    submitted_at[message_id] = sent
                fire(request_type=REQUEST_TYPE, name=SUBMIT_SM, response_time=elapsed_ms,
                     response_length=len(message_id), exception=None)
                continue
            elif response.command_id == GENERIC_NACK:
                status_text = f"generic_nack:{status_name(status)}"
            else:
                status_text = status_name(status)
            Shared.tally.submit_answered(status_text, None)
            fire(request_type=REQUEST_TYPE, name=SUBMIT_SM, response_time=elapsed_ms, response_length=0,
                 exception=SubmitRefused(status_text))
        if accepted:
            Shared.tally.submits_accepted(accepted)

    def _on_deliver(self, pdu: Pdu, now: float) -> int:
        esm = pdu.esm_class
        if is_intermediate(esm):
            Shared.tally.count("intermediate")
            return CommandStatus.ESME_ROK
        if not is_receipt(esm):
            Shared.tally.count("mo")
            return CommandStatus.ESME_ROK
        message_id, stat = receipt_id_and_stat(pdu)
        Shared.tally.receipt(message_id, stat)
        sent = Shared.submitted_at.pop(message_id, None)
        if sent is not None:  # the submit went through this process: time the receipt
            self.fire(request_type=REQUEST_TYPE, name="receipt", response_time=(now - sent) * 1000,
                      response_length=0, exception=None if stat == "DELIVRD" else ReceiptFailed(stat))
        return CommandStatus.ESME_ROK


class SubmitRefused(Exception):
    """A submit answered with a non-zero command_status; the name is the status."""


class ReceiptFailed(Exception):
    """A final receipt with a state other than DELIVRD; the name is the state."""


# ---------------------------------------------------------------------- tally aggregation
@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        environment.events.worker_report.add_listener(lambda client_id, data: _merge_report(data))
        environment.runner.register_message(TALLY_MESSAGE, _merge_sent_tally)
    _drain_handler.append(gevent.signal_handler(DRAIN_SIGNAL, _stop_submitting, environment))


def _merge_report(data: dict[str, Any]) -> None:
    if "carrier_sim_tally" in data:
        Shared.tally.merge(data["carrier_sim_tally"])


def _merge_sent_tally(environment: Environment, msg: Any, **_: Any) -> None:
    Shared.tally.merge(msg.data)


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["carrier_sim_tally"] = Shared.tally.take_delta()


def _send_tally(environment: Environment) -> None:
    """A worker's tally delta to the master now, not at its next stats report (every few seconds)."""
    try:
        environment.runner.send_message(TALLY_MESSAGE, Shared.tally.take_delta())
    except RPCError as exc:  # the master is gone: nothing to send to
        log.warning("could not send the tally to the master: %s", exc)


def _save_tally(environment: Environment) -> None:
    """The whole tally, on the master or the only process: a temporary file renamed over tally.json,
    so that loadtests/run.py, which reads it while Locust runs (--keep-ui), never reads half a file."""
    path = os.environ.get(ENV_TALLY)
    if path and not isinstance(environment.runner, WorkerRunner):
        temporary = f"{path}.tmp"
        Shared.tally.save(temporary)
        os.replace(temporary, path)


# ---------------------------------------------------------------------- the run's phases
_drain_handler: list[Any] = []  # the gevent signal handler, kept alive


def _stop_submitting(environment: Environment) -> None:
    """DRAIN_SIGNAL: the run was interrupted. Submit no more and keep reading receipts, as in the
    drain at the end of a run; a worker also sends its tally every DRAIN_REPORT_EVERY s, so the
    master's is whole when Locust is stopped."""
    first = not Shared.drain_requested
    Shared.drain_requested = True
    Shared.submit_until = min(Shared.submit_until, time.time())
    if first and isinstance(environment.runner, WorkerRunner):
        gevent.spawn(_report_while_draining, environment)


def _report_while_draining(environment: Environment) -> None:
    while True:
        gevent.sleep(DRAIN_REPORT_EVERY)
        _send_tally(environment)


@events.user_error.add_listener
def _on_user_error(user_instance: Any, exception: BaseException, tb: Any, **_: Any) -> None:
    """A user's task raised: the run cannot be trusted (exit 4). Counted by exception type, the
    first traceback kept for the terminal."""
    Shared.tally.user_error(type(exception).__name__, "".join(traceback.format_exception(exception)))


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    submit_for = os.environ.get(ENV_SUBMIT_FOR)
    if submit_for and not Shared.drain_requested:
        Shared.submit_until = time.time() + float(submit_for)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    """The load stopped (the run's end, BindWatch, or the web UI's stop): the master or the only
    process writes the tally at once (with --keep-ui Locust stays up, and the run reports on it); a
    worker hands its last part to the master, which stops only once every worker said it stopped."""
    if isinstance(environment.runner, WorkerRunner):
        _send_tally(environment)
    else:
        _save_tally(environment)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_: Any) -> None:
    _save_tally(environment)
