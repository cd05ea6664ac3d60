"""The `carrier:` section: the SMSC itself, where it listens, its accounts and their limits.

Owns: Carrier, Account, Throughput. Not here: how the limits act (simulator.faults.sections.throttle).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import (MAX_COUNT, MAX_DELAY_MS, MAX_RATE, MAX_SECONDS, MAX_SEED, CString, Duration, Model, Status,
                   duration_seconds)

BindType = Literal["transmitter", "receiver", "transceiver"]


class Throughput(Model):
    rate: float = Field(gt=0, le=MAX_RATE, description="messages (segments) per second")
    burst: int = Field(ge=1, le=MAX_COUNT, description="bucket size: how many may come at once")


class Account(Model):
    """An ESME account: who may bind, how, and how much it may send."""

    system_id: CString = Field(min_length=1, max_length=15)
    password: CString = Field(max_length=8)
    bind_types: list[BindType] = ["transmitter", "receiver", "transceiver"]
    max_binds: int = Field(default=8, ge=1, le=MAX_COUNT)
    throughput: Throughput | None = Field(default=None, description="token bucket for the account")
    bind_throughput: Throughput | None = Field(default=None, description="token bucket for each bind")
    window: int | None = Field(default=None, ge=1, le=MAX_COUNT,
                               description="unanswered submits per bind (RMSGQFUL)")
    daily_quota: int | None = Field(default=None, ge=1, le=MAX_SEED,
                                    description="segments per day (RTHROTTLED past it)")
    quota_day: str = Field(default="scenario", pattern=r"^(scenario|UTC|[+-]\d\d:\d\d)$",
                           description="days of the quota: 24 h from the scenario start, or midnight UTC / +08:00")
    throttle_status: Status = Field(default=0x58, description="status for rate and quota refusals")


class BindProtection(Model):
    """Against bind guessing: a connection is closed after `max_failures` refused binds, and an
    address that keeps failing has its binds slowed (a token bucket per IP address)."""

    enabled: bool = Field(default=True, strict=True)
    max_failures: int = Field(default=10, ge=1, le=MAX_COUNT,
                              description="refused binds on one connection before it is closed")
    peer_burst: int = Field(default=100, ge=1, le=MAX_COUNT,
                            description="refused binds from one IP address before its binds are slowed")
    peer_rate: float = Field(default=5.0, gt=0, le=MAX_RATE,
                             description="refused binds per second an address earns back")
    max_delay_s: float = Field(default=2.0, ge=0, le=60, description="the longest a bind from a slowed address waits (0: none is slowed)")
    max_peers: int = Field(default=10_000, ge=1, le=1_000_000,
                           description="addresses remembered (the longest-quiet forgotten first)")
    audit_interval_s: float = Field(default=10.0, gt=0, le=MAX_SECONDS,
                                    description="refused binds of one address, system_id and status: one audit "
                                                "row at once, then one row with the count per interval")


def _default_accounts() -> list[Account]:
    return [Account(system_id="qa", password="qa-pass")]


class Carrier(Model):
    """The SMSC itself: where it listens, its accounts, its windows and timers."""

    listen: str = "127.0.0.1:2775"
    control: str | None = Field(default="127.0.0.1:8775", description="HTTP control API host:port; null: off")
    system_id: CString = Field(default="carrier-sim", max_length=15)
    accounts: list[Account] = Field(default_factory=_default_accounts, min_length=1)
    receipt_delay_ms: float = Field(default=100, ge=0, le=MAX_DELAY_MS,
                                    description="default delay before a receipt")
    deliver_window: int = Field(default=100, ge=1, le=10_000, description="unanswered deliver_sm per bind")
    response_timeout_s: float = Field(default=10, gt=0, le=MAX_SECONDS,
                                      description="wait for a deliver_sm_resp")
    retry_delay_s: float = Field(default=1, gt=0, le=MAX_SECONDS,
                                 description="first retry of a refused deliver_sm")
    enquire_link_interval_s: float = Field(default=30, gt=0, le=MAX_SECONDS,
                                           description="idle time before we probe")
    bind_timeout_s: float = Field(default=30, gt=0, le=MAX_SECONDS,
                                  description="a connection must bind within this")
    receipt_ttl_s: float = Field(default=86_400, gt=0, le=30 * MAX_SECONDS,
                                 description="queued receipts expire after this")
    max_queued_per_account: int = Field(default=200_000, ge=1, le=MAX_COUNT)
    message_store_size: int = Field(default=2_000_000, ge=1, le=MAX_COUNT,
                                    description="messages kept for query_sm")
    long_short_message: Literal["accept", "reject"] = Field(
        default="accept",
        description="a short_message without UDH over one segment: accept (split, billed per segment)"
                    " or reject (ESME_RINVMSGLEN)")
    max_connections: int | None = Field(default=None, ge=1, le=MAX_COUNT,
                                        description="SMPP connections held at once; default: the open-files "
                                                    "limit less a reserve. Past it a connection is closed at once")
    max_faults: int = Field(default=64, ge=0, le=10_000,
                            description="faults at once (the scenario's and those added live)")
    uniform_bind_errors: bool = Field(default=False, strict=True,
                                      description="answer ESME_RBINDFAIL to every refused bind")
    bind_protection: BindProtection = Field(default_factory=BindProtection)
    default_validity: Duration = Field(
        default="48h", description="how long a message may wait for delivery when the ESME gives no"
                                   " validity_period (then it ends EXPIRED)")
    max_validity: Duration = Field(
        default="168h", description="the longest validity: a longer validity_period is clipped to it")

    @field_validator("listen", "control")
    @classmethod
    def _listen_is_host_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, _, port = value.rpartition(":")
        if not host or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
            raise ValueError("must be host:port")
        return value

    @model_validator(mode="after")
    def _unique_accounts(self) -> "Carrier":
        seen = [a.system_id for a in self.accounts]
        dupes = sorted({s for s in seen if seen.count(s) > 1})
        if dupes:
            raise ValueError(f"system_id must be unique, repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _validity_within_its_maximum(self) -> "Carrier":
        if duration_seconds(self.default_validity) > duration_seconds(self.max_validity):
            raise ValueError("default_validity must not be longer than max_validity")
        if duration_seconds(self.default_validity) <= 0:
            raise ValueError("default_validity must be longer than 0")
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])
