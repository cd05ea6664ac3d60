"""Shared fixtures: a real SMSC on a free loopback port, and ESMEs bound to it over real sockets.
And MissingEvidence: skipped tests are listed by reason at the end of the run (they fail it in CI)."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from simulator.carrier.smsc import Smsc
from simulator.esme import Esme
from simulator.scenario import Account, Carrier

FAST = dict(
    listen="127.0.0.1:0",
    receipt_delay_ms=20,
    response_timeout_s=0.5,
    retry_delay_s=0.1,
    enquire_link_interval_s=30,
    bind_timeout_s=30,
)


def carrier(**overrides) -> Carrier:
    settings = dict(FAST)
    settings.setdefault(
        "accounts",
        [
            Account(system_id="qa", password="qa-pass", max_binds=4),
            Account(system_id="tx-only", password="pw", bind_types=["transmitter"]),
        ],
    )
    settings.update(overrides)
    return Carrier(**settings)


@pytest.fixture
async def run_smsc():
    """Start SMSCs for a test and stop them all afterwards."""
    started: list[Smsc] = []

    async def run(smsc: Smsc) -> Smsc:
        await smsc.start()
        started.append(smsc)
        return smsc

    yield run
    for smsc in started:
        await smsc.stop(grace=0.2)


@pytest.fixture
def make_smsc(run_smsc):
    """Start an SMSC with a carrier configuration (default: two accounts, fast timers) and a decider."""

    async def make(config: Carrier | None = None, decider=None, **kwargs) -> Smsc:
        return await run_smsc(Smsc(config or carrier(), decider, housekeeping_interval=0.05, **kwargs))

    return make


@pytest.fixture
async def smsc(make_smsc) -> Smsc:
    return await make_smsc()


@pytest.fixture
async def esme_factory(smsc):
    made: list[Esme] = []

    async def make(kind: str = "transceiver", system_id: str = "qa", password: str = "qa-pass", **kwargs) -> Esme:
        esme = await Esme.bound("127.0.0.1", smsc.port, system_id, password, kind, **kwargs)
        made.append(esme)
        return esme

    yield make
    for esme in made:
        esme.close()


@pytest.fixture
def scenario_smsc(run_smsc):
    """Start an SMSC playing a scenario given as YAML text (fast timers, a free loopback port)."""
    from simulator.scenario import parse_scenario

    async def make(yaml_text: str, **kwargs) -> Smsc:
        scenario = parse_scenario(yaml_text, "<test scenario>")
        scenario = scenario.model_copy(update={"carrier": scenario.carrier.model_copy(update=FAST)})
        return await run_smsc(Smsc.from_scenario(scenario, housekeeping_interval=0.05, **kwargs))

    return make


@pytest.fixture
def mqtt_broker(tmp_path):
    """A real mosquitto on a free loopback port (generated configuration in tmp_path), stopped afterwards.
    `.stop()` and `.start()` restart it on the same port."""
    from simulator.events.broker import INSTALL_HINT, LocalBroker, find_mosquitto

    if find_mosquitto() is None:
        if os.environ.get("CI"):
            pytest.fail(f"mosquitto is missing in CI ({INSTALL_HINT})")
        pytest.skip(f"mosquitto is not installed ({INSTALL_HINT})")
    broker = LocalBroker(workdir=tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.close()


# ------------------------------------------------------------------------------------------- skips
class MissingEvidence:
    """A skipped test checked nothing: the run ends with what was skipped and why, grouped by reason,
    just before pytest's closing "N passed, M skipped" line (which stays the last line). With CI set,
    a run that skipped anything fails (exit 1): CI installs everything the tests need (.ci/run)."""

    def __init__(self) -> None:
        self.reasons: Counter[str] = Counter()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:  # a whole module skipped (pytest.importorskip at its top)
            self.reasons["a whole test file: " + _skip_reason(report)] += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):  # an expected failure is not a skip
            self.reasons[_skip_reason(report)] += 1

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.reasons and os.environ.get("CI") and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: after pytest's own summary sections
    def pytest_terminal_summary(self, terminalreporter):
        result = yield
        total = sum(self.reasons.values())
        if total:
            write = terminalreporter.write_line
            ci = " (CI: this fails the run)" if os.environ.get("CI") else ""
            write(f"EVIDENCE MISSING: {total} tests skipped{ci}; a skipped test checked nothing. By reason:",
                  yellow=True, bold=True)
            for reason, n in self.reasons.most_common():
                write(f"  {n:>4}  {reason}", yellow=True)
        return result


def _skip_reason(report) -> str:
    """The reason given to pytest.skip / importorskip, with how to get what a failed import missed."""
    longrepr = report.longrepr
    reason = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr).removeprefix("Skipped: ")
    if reason.startswith("could not import '"):
        reason += " -> pip install -e '.[test,mqtt]' (make setup does)"
    return reason


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(MissingEvidence(), "carrier-sim-missing-evidence")
