"""Shared fixtures: a real SMSC on a free loopback port, and ESMEs bound to it over real sockets."""

from __future__ import annotations

import os

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
