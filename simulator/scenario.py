"""The scenario model: a validated description of a carrier and its bad day (YAML in scenarios/).

Models only, with their limits; loading a file and reporting errors with file, field and line is
done by load_scenario(). Nothing here opens sockets or decides outcomes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class Model(BaseModel):
    """Base of every scenario section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


BindType = Literal["transmitter", "receiver", "transceiver"]


class Throughput(Model):
    rate: float = Field(gt=0, description="messages (segments) per second")
    burst: int = Field(ge=1, description="bucket size: how many may come at once")


class Account(Model):
    """An ESME account: who may bind, how, and how often."""

    system_id: str = Field(min_length=1, max_length=15)
    password: str = Field(max_length=8)
    bind_types: list[BindType] = ["transmitter", "receiver", "transceiver"]
    max_binds: int = Field(default=8, ge=1)
    throughput: Throughput | None = None


def _default_accounts() -> list[Account]:
    return [Account(system_id="qa", password="qa-pass")]


class Carrier(Model):
    """The SMSC itself: where it listens, its accounts, its windows and timers."""

    listen: str = "127.0.0.1:2775"
    system_id: str = Field(default="carrier-sim", max_length=15)
    accounts: list[Account] = Field(default_factory=_default_accounts, min_length=1)
    receipt_delay_ms: float = Field(default=100, ge=0, description="default delay before a receipt")
    deliver_window: int = Field(default=10, ge=1, le=10_000, description="unanswered deliver_sm per bind")
    response_timeout_s: float = Field(default=10, gt=0, description="wait for a deliver_sm_resp")
    retry_delay_s: float = Field(default=1, gt=0, description="first retry of a refused deliver_sm")
    enquire_link_interval_s: float = Field(default=30, gt=0, description="idle time before we probe")
    bind_timeout_s: float = Field(default=30, gt=0, description="a connection must bind within this")
    receipt_ttl_s: float = Field(default=86_400, gt=0, description="queued receipts expire after this")
    max_queued_per_account: int = Field(default=200_000, ge=1)
    message_store_size: int = Field(default=2_000_000, ge=1, description="messages kept for query_sm")

    @field_validator("listen")
    @classmethod
    def _listen_is_host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"must be host:port, got {value!r}")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Scenario(Model):
    name: str = "default"
    seed: int = 0
    carrier: Carrier = Field(default_factory=Carrier)


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file, field and line."""


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ScenarioError("\n".join(lines)) from exc
