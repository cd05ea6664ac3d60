"""SLA metering: success rate, left-out messages, service cycles, compensation, billing, reports.

Pure functions over ledger Records (simulator.ledger.reader.Record), plus the readers and
renderers of reports. It reads the ledger only: it never imports simulator.carrier.
"""

from __future__ import annotations

from .billing import Bill, bill
from .compensation import ClaimWindow, Compensation, claim_window, compensation, voucher_tier
from .cycles import ServiceCycle, cycle_key, parse_timezone, service_cycle
from .expectation import Expectation, NotAnalytic, analyse_expectation, expected_success_rate
from .intervals import binomial_interval
from .meter import CycleMeter, SlaFigures, meter, sla_figures

__all__ = [
    "Bill",
    "ClaimWindow",
    "Compensation",
    "CycleMeter",
    "Expectation",
    "NotAnalytic",
    "ServiceCycle",
    "SlaFigures",
    "analyse_expectation",
    "bill",
    "binomial_interval",
    "claim_window",
    "compensation",
    "cycle_key",
    "expected_success_rate",
    "meter",
    "parse_timezone",
    "service_cycle",
    "sla_figures",
    "voucher_tier",
]
