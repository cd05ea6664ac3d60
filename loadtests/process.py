"""One Locust process's part of a run: what its users share, its tally's way to the master, the drain.

Owns: ProcessState (the scenario, the tally, the submit times of messages awaiting a receipt, when
to stop submitting), the Locust event listeners that merge workers' tallies into the master's and
write the tally file, and the drain signal. The master (or the only process) writes the tally whole
(a temporary file, then a rename) when the load stops and again when Locust quits; a worker sends
its part to the master first. SIGUSR1 (loadtests/children.py, after Ctrl-C or SIGTERM, to every
Locust process) starts the drain at once: no more submits, the users stay bound and read receipts
until Locust is stopped. Not here: the users and their links (loadtests/user.py).
"""

from __future__ import annotations

import logging
import os
import signal
import time
import traceback
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.exception import RPCError
from locust.runners import MasterRunner, WorkerRunner

from simulator.scenario import Scenario, load_scenario

from .tally import Tally

log = logging.getLogger("carrier_sim.load")

ENV_SCENARIO = "CARRIER_SIM_SCENARIO"  # path of the scenario file
ENV_TALLY = "CARRIER_SIM_TALLY"  # where the (master's) merged tally is written at the end
ENV_SUBMIT_FOR = "CARRIER_SIM_SUBMIT_FOR"  # seconds of submitting; the rest of the run is the drain
DRAIN_SIGNAL = signal.SIGUSR1  # from loadtests/children.py (Load.stop_submitting): stop submitting now
TALLY_MESSAGE = "carrier_sim_tally"  # a worker's tally delta, sent to the master outside its stats reports
TALLY_REPORT_KEY = "carrier_sim_tally"  # the tally delta's key in a worker's stats report
DRAIN_REPORT_EVERY = 0.25  # seconds between a draining worker's tally deltas to the master


class ProcessState:
    """What the users of this process share: the scenario, the tally and the submit times of
    messages awaiting their receipt, and when to stop submitting."""

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

    @classmethod
    def submitting(cls) -> bool:
        return time.time() < cls.submit_until


# ---------------------------------------------------------------------- tally aggregation
@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        environment.events.worker_report.add_listener(lambda client_id, data: _merge_report(data))
        environment.runner.register_message(TALLY_MESSAGE, _merge_sent_tally)
    _drain_handler.append(gevent.signal_handler(DRAIN_SIGNAL, _stop_submitting, environment))


def _merge_report(data: dict[str, Any]) -> None:
    if TALLY_REPORT_KEY in data:
        ProcessState.tally.merge(data[TALLY_REPORT_KEY])


def _merge_sent_tally(environment: Environment, msg: Any, **_: Any) -> None:
    ProcessState.tally.merge(msg.data)


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data[TALLY_REPORT_KEY] = ProcessState.tally.take_delta()


def _send_tally(environment: Environment) -> None:
    """A worker's tally delta to the master now, not at its next stats report (every few seconds)."""
    try:
        environment.runner.send_message(TALLY_MESSAGE, ProcessState.tally.take_delta())
    except RPCError as exc:  # the master is gone: nothing to send to
        log.warning("could not send the tally to the master: %s", exc)


def _save_tally(environment: Environment) -> None:
    """The whole tally, on the master or the only process: a temporary file renamed over tally.json,
    so that loadtests/run.py, which reads it while Locust runs (--keep-ui), never reads half a file."""
    path = os.environ.get(ENV_TALLY)
    if path and not isinstance(environment.runner, WorkerRunner):
        temporary = f"{path}.tmp"
        ProcessState.tally.save(temporary)
        os.replace(temporary, path)


# ---------------------------------------------------------------------- the run's phases
_drain_handler: list[Any] = []  # the gevent signal handler, kept alive


def _stop_submitting(environment: Environment) -> None:
    """DRAIN_SIGNAL: the run was interrupted. Submit no more and keep reading receipts, as in the
    drain at the end of a run; a worker also sends its tally every DRAIN_REPORT_EVERY s, so the
    master's is whole when Locust is stopped."""
    first = not ProcessState.drain_requested
    ProcessState.drain_requested = True
    ProcessState.submit_until = min(ProcessState.submit_until, time.time())
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
    ProcessState.tally.user_error(type(exception).__name__, "".join(traceback.format_exception(exception)))


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    submit_for = os.environ.get(ENV_SUBMIT_FOR)
    if submit_for and not ProcessState.drain_requested:
        ProcessState.submit_until = time.time() + float(submit_for)


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
