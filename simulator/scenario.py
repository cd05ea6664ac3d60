"""The scenario model: a validated description of a carrier and its bad day (YAML in scenarios/).

Models with their limits, and load_scenario(), which refuses a bad file before anything starts
with the file, the line, the field path and what was expected. Nothing here opens sockets or
decides outcomes; fault kinds bring their own parameter models (simulator.faults).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulator.faults.registry import FAULT_KINDS, load_kinds

load_kinds()


class Model(BaseModel):
    """Base of every scenario section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ==================================================================================== carrier
BindType = Literal["transmitter", "receiver", "transceiver"]


class Throughput(Model):
    rate: float = Field(gt=0, description="messages (segments) per second")
    burst: int = Field(ge=1, description="bucket size: how many may come at once")


class Account(Model):
    """An ESME account: who may bind, how, and how much it may send."""

    system_id: str = Field(min_length=1, max_length=15)
    password: str = Field(max_length=8)
    bind_types: list[BindType] = ["transmitter", "receiver", "transceiver"]
    max_binds: int = Field(default=8, ge=1)
    throughput: Throughput | None = Field(default=None, description="token bucket for the account")
    bind_throughput: Throughput | None = Field(default=None, description="token bucket for each bind")
    window: int | None = Field(default=None, ge=1, description="unanswered submits per bind (RMSGQFUL)")
    daily_quota: int | None = Field(default=None, ge=1, description="segments per day (RTHROTTLED past it)")
    quota_day: str = Field(default="scenario", pattern=r"^(scenario|UTC|[+-]\d\d:\d\d)$",
                           description="days of the quota: 24 h from the scenario start, or midnight UTC / +08:00")
    throttle_status: int = Field(default=0x58, description="status for rate and quota refusals")


def _default_accounts() -> list[Account]:
    return [Account(system_id="qa", password="qa-pass")]


class Carrier(Model):
    """The SMSC itself: where it listens, its accounts, its windows and timers."""

    listen: str = "127.0.0.1:2775"
    control: str | None = Field(default="127.0.0.1:8775", description="HTTP control API host:port; null: off")
    system_id: str = Field(default="carrier-sim", max_length=15)
    accounts: list[Account] = Field(default_factory=_default_accounts, min_length=1)
    receipt_delay_ms: float = Field(default=100, ge=0, description="default delay before a receipt")
    deliver_window: int = Field(default=100, ge=1, le=10_000, description="unanswered deliver_sm per bind")
    response_timeout_s: float = Field(default=10, gt=0, description="wait for a deliver_sm_resp")
    retry_delay_s: float = Field(default=1, gt=0, description="first retry of a refused deliver_sm")
    enquire_link_interval_s: float = Field(default=30, gt=0, description="idle time before we probe")
    bind_timeout_s: float = Field(default=30, gt=0, description="a connection must bind within this")
    receipt_ttl_s: float = Field(default=86_400, gt=0, description="queued receipts expire after this")
    max_queued_per_account: int = Field(default=200_000, ge=1)
    message_store_size: int = Field(default=2_000_000, ge=1, description="messages kept for query_sm")

    @field_validator("listen", "control")
    @classmethod
    def _listen_is_host_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"must be host:port, got {value!r}")
        return value

    @model_validator(mode="after")
    def _unique_accounts(self) -> "Carrier":
        seen = [a.system_id for a in self.accounts]
        dupes = sorted({s for s in seen if seen.count(s) > 1})
        if dupes:
            raise ValueError(f"system_id must be unique, repeated: {', '.join(dupes)}")
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


# ==================================================================================== numbers
SubscriberStateName = Literal[
    "active",
    "nonexistent",
    "out_of_service",
    "powered_off",
    "arrears",
    "not_subscribed",
    "unreachable",
    "unstable_network",
]


class NumberGroup(Model):
    """Numbers sharing a subscriber state: by prefix, or by an inclusive range, or listed."""

    prefix: str | None = Field(default=None, pattern=r"^\+?[0-9]+$")
    range: tuple[str, str] | None = Field(default=None, description="[first, last], inclusive")
    numbers: list[str] | None = None
    state: SubscriberStateName = "active"
    length: int = Field(default=13, ge=3, le=20, description="digits of generated numbers (load)")

    @model_validator(mode="after")
    def _one_selector(self) -> "NumberGroup":
        given = [k for k in ("prefix", "range", "numbers") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of prefix, range or numbers")
        if self.range is not None:
            lo, hi = (normalize_number(x) for x in self.range)
            if not lo.isdigit() or not hi.isdigit() or int(lo) > int(hi) or len(lo) != len(hi):
                raise ValueError("range must be two numbers of the same length, first <= last")
        return self


# Where the load sends when the scenario has no number groups (loadtests.traffic, and the metering's
# expectation, which must predict what that traffic meets).
DEFAULT_TRAFFIC_GROUP = NumberGroup(prefix="8613800", state="active")


class StateBehaviour(Model):
    """How a subscriber state answers: refuse at submit, or accept and fail in the receipt."""

    submit_status: int | None = Field(default=None, description="refuse at submit with this status")
    receipt_state: Literal["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "UNKNOWN", "DELETED"] = "UNDELIV"
    err: str = Field(default="000", max_length=3)
    delay_ms: float | None = Field(default=None, ge=0, description="receipt delay (default: the carrier's)")
    share: float = Field(default=1.0, ge=0, le=1, description="share of messages that behave so")


class Numbers(Model):
    """The number plan: groups that the load's traffic mix refers to, and how states behave."""

    default_state: SubscriberStateName = "active"
    groups: dict[str, NumberGroup] = Field(default_factory=dict)
    states: dict[SubscriberStateName, list[StateBehaviour]] = Field(
        default_factory=dict, description="override the built-in behaviour of a state (a mix)"
    )

    @field_validator("states")
    @classmethod
    def _shares_sum_to_one(cls, value: dict[str, list[StateBehaviour]]) -> dict[str, list[StateBehaviour]]:
        for state, mix in value.items():
            total = sum(b.share for b in mix)
            if mix and abs(total - 1.0) > 1e-6:
                raise ValueError(f"shares of {state} must add up to 1, got {total:g}")
        return value


def normalize_number(number: str) -> str:
    """Digits only, international form: '+86 138-00' -> '8613800'; a leading '00' is dropped."""
    digits = re.sub(r"[^0-9]", "", number)
    return digits[2:] if digits.startswith("00") else digits


# ==================================================================================== blacklists
class BlacklistSource(Model):
    """Numbers inline and/or from a file (one number per line, # comments)."""

    numbers: list[str] = Field(default_factory=list)
    file: Path | None = None
    status: int | None = Field(
        default=None, description="refuse at submit with this (default: vendor 0x401 platform, 0x402 carrier, 0x403 opt-out)"
    )


class Blacklists(Model):
    platform: BlacklistSource | None = None
    carrier: BlacklistSource | None = None
    accounts: dict[str, BlacklistSource] = Field(default_factory=dict, description="per-account opt-outs")


# ==================================================================================== sending rules
Category = Literal["verification", "notification", "promotion"]


class Template(Model):
    text: str = Field(min_length=1, description="with {placeholders}")
    category: Category = "notification"


class AccountRules(Model):
    signatures: list[str] = Field(default_factory=list, description="approved, e.g. 【Acme】")
    templates: list[Template] = Field(default_factory=list)


class ContentFilter(Model):
    words: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    status: int = Field(default=0x45, description="status for prohibited content (RSUBMITFAIL)")

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from exc
        return value


class Rules(Model):
    """The agreement's sending rules: approved signatures and templates, prohibited content."""

    accounts: dict[str, AccountRules] = Field(default_factory=dict)
    unapproved_status: int = Field(default=0x45, description="status for a message matching no template")
    content: ContentFilter | None = None


# ==================================================================================== load, sla, gates
class Stage(Model):
    duration: str
    users: int = Field(ge=0)
    spawn_rate: float | None = Field(default=None, gt=0)


class Load(Model):
    """What the Locust harness sends (see loadtests/)."""

    users: int = Field(default=10, ge=1)
    spawn_rate: float = Field(default=100, gt=0)
    duration: str = Field(default="30s", pattern=r"^\d+(\.\d+)?(ms|s|m|h)$")
    drain: str = Field(default="5s", pattern=r"^\d+(\.\d+)?(ms|s|m|h)$")
    window: int = Field(default=10, ge=1, le=10_000)
    rate_per_user: float | None = Field(default=None, gt=0, description="submits per second per user")
    bind: Literal["transceiver", "transmitter+receiver"] = "transceiver"
    account: str | None = None
    traffic: dict[str, float] = Field(default_factory=dict, description="weights over number groups")
    templates: list[Template | str] = Field(default_factory=list)
    long_messages: float = Field(default=0, ge=0, le=1, description="share of long messages")
    registered_delivery: int = Field(default=1, ge=0, le=0x1F)
    stages: list[Stage] = Field(default_factory=list)


class Tier(Model):
    below: float = Field(gt=0, le=1)
    voucher: float = Field(ge=0, le=1)


class Sla(Model):
    target: float = Field(default=0.95, gt=0, le=1)
    tiers: list[Tier] = Field(default_factory=lambda: [Tier(below=0.95, voucher=0.10), Tier(below=0.90, voucher=0.30)])
    prices: dict[str, float] = Field(default_factory=dict, description="per segment, by category")
    currency: str = "USD"
    timezone: str | None = Field(default=None, pattern=r"^(UTC|Z|[+-]\d\d:\d\d)$",
                                 description="service cycles' months: UTC (default) or a fixed offset like +08:00")


class ExpectRate(Model):
    """The measured rate must fall in the binomial interval around `value`; without a value, around
    the rate the scenario's fault mix predicts (simulator.metering.expectation)."""

    value: float | None = Field(default=None, ge=0, le=1)
    interval: Literal["binomial-99", "binomial-95"] = "binomial-99"


class Gates(Model):
    """What a run must show to pass. The evidence gates (volume, sample size, load errors) are always
    checked; `min_sends` overrides the volume the load section implies (loadtests/plan.py)."""

    min_sends: int | None = Field(default=None, ge=1, description="submits the run must at least make")
    expect_success_rate: ExpectRate | None = None
    min_success_rate: float | None = Field(default=None, ge=0, le=1)
    max_p99_submit_ms: float | None = Field(default=None, gt=0)
    min_throughput: float | None = Field(default=None, gt=0)
    max_error_ratio: dict[str, float] = Field(default_factory=dict)
    reconcile: Literal["exact", "off"] = "exact"


# ==================================================================================== the scenario
def _fault_union() -> Any:
    kinds = tuple(FAULT_KINDS.values())
    if len(kinds) == 1:
        return kinds[0]
    return Annotated[Union[kinds], Field(discriminator="kind")]  # noqa: UP007


FaultEntry = _fault_union()


class Scenario(Model):
    name: str = "default"
    description: str = ""
    seed: int = 0
    carrier: Carrier = Field(default_factory=Carrier)
    numbers: Numbers = Field(default_factory=Numbers)
    blacklists: Blacklists = Field(default_factory=Blacklists)
    rules: Rules = Field(default_factory=Rules)
    faults: list[FaultEntry] = Field(default_factory=list)  # type: ignore[valid-type]
    load: Load = Field(default_factory=Load)
    sla: Sla = Field(default_factory=Sla)
    gates: Gates = Field(default_factory=Gates)

    def cross_check(self) -> list[tuple[tuple[Any, ...], str]]:
        """References between sections that field validation cannot see: (path, problem) pairs."""
        problems: list[tuple[tuple[Any, ...], str]] = []
        names = [f.name or f.kind for f in self.faults]
        for i, name in enumerate(names):
            if names.index(name) != i:
                problems.append((("faults", i), f"fault name {name!r} is used twice (give each a unique `name:`)"))
        for group in self.load.traffic:
            if group not in self.numbers.groups:
                problems.append((("load", "traffic", group), f"no number group {group!r} in numbers.groups "
                                 f"(known: {', '.join(self.numbers.groups) or 'none'})"))
        known = {a.system_id for a in self.carrier.accounts}
        for section, accounts in (("rules", self.rules.accounts), ("blacklists", self.blacklists.accounts)):
            for account in accounts:
                if account not in known:
                    problems.append(((section, "accounts", account), f"no account {account!r} in carrier.accounts"))
        if self.load.account is not None and self.load.account not in known:
            problems.append((("load", "account"), f"no account {self.load.account!r} in carrier.accounts"))
        return problems


# ==================================================================================== loading
class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file, line, field and problem."""


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; relative file paths in it are resolved against its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_scenario(text, str(path), base_dir=path.parent)


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false; `off:`, `no:` and `yes:` stay strings (group names...)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def parse_scenario(text: str, source: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{where}: not valid YAML: {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}:1: a scenario is a mapping (name:, seed:, carrier:, ...), got {type(data).__name__}")
    lines = _line_index(node) if node is not None else {}
    if base_dir is not None:
        data = _resolve_files(data, base_dir)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError("\n".join(_describe(error, source, lines) for error in exc.errors())) from exc
    problems = scenario.cross_check()
    if problems:
        raise ScenarioError("\n".join(_format(source, lines, path, message) for path, message in problems))
    return scenario


def _format(source: str, lines: dict[tuple[Any, ...], int], path: tuple[Any, ...], message: str) -> str:
    field = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if j else str(p)) for j, p in enumerate(path))
    line = None
    probe = path
    while line is None:
        line = lines.get(probe)
        if not probe:
            break
        probe = probe[:-1]
    return f"{source}:{line or 1} {field or '(top)'}: {message}"


def _resolve_files(data: dict[str, Any], base: Path) -> dict[str, Any]:
    lists = data.get("blacklists")
    if not isinstance(lists, dict):
        return data

    def fix(entry: Any) -> Any:
        if isinstance(entry, dict) and isinstance(entry.get("file"), str) and not Path(entry["file"]).is_absolute():
            return {**entry, "file": str(base / entry["file"])}
        return entry

    fixed = {k: fix(v) for k, v in lists.items() if k != "accounts"}
    if isinstance(lists.get("accounts"), dict):
        fixed["accounts"] = {k: fix(v) for k, v in lists["accounts"].items()}
    elif "accounts" in lists:
        fixed["accounts"] = lists["accounts"]
    return {**data, "blacklists": fixed}


def _line_index(node: yaml.Node, path: tuple[Any, ...] = (), index: dict | None = None) -> dict[tuple[Any, ...], int]:
    """Map each field path (('faults', 2, 'probability')) to the 1-based line where it is written."""
    if index is None:
        index = {(): node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            index[path + (key,)] = key_node.start_mark.line + 1
            _line_index(value_node, path + (key,), index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index[path + (i,)] = item.start_mark.line + 1
            _line_index(item, path + (i,), index)
    return index


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must be at least {min_length} characters",
    "too_short": "needs at least {min_length} item(s)",
    "missing": "is required",
    "string_pattern_mismatch": "must match {pattern}",
}


_UNION_TAGS = {"fixed", "uniform", "normal", "lognormal"}


def _describe(error: dict[str, Any], source: str, lines: dict[tuple[Any, ...], int]) -> str:
    loc = list(error["loc"])
    kind = error["type"]
    # unions put their tag into the location ('faults', 2, 'latency', ...): leave tags out
    shown: list[Any] = []
    for part in loc:
        candidate = tuple(shown) + (part,)
        if candidate in lines:
            shown.append(part)
        elif isinstance(part, str) and (part in FAULT_KINDS or part in _UNION_TAGS
                                        or part.startswith(("function-", "tagged-union[", "union["))):
            continue
        else:
            shown.append(part)
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        message = "unknown key (not part of this section)"
    elif kind == "union_tag_invalid":
        key = str(ctx.get("discriminator", "kind")).strip("'")
        message = f"unknown {key} {ctx.get('tag')!r} (known: {ctx.get('expected_tags')})"
    elif kind == "union_tag_not_found":
        message = f"needs {str(ctx.get('discriminator', 'kind')).strip(chr(39))}"
    elif kind in _MESSAGES:
        message = _MESSAGES[kind].format(**ctx)
    else:
        message = error["msg"].removeprefix("Value error, ")
    if kind not in ("missing", "extra_forbidden", "union_tag_not_found") and "input" in error:
        value = error["input"]
        if not isinstance(value, (dict, list)):
            message += f", got {value!r}"
    return _format(source, lines, tuple(shown), message)
