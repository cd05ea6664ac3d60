"""The scenario model: a validated description of a carrier and its bad day (YAML in scenarios/).

Models with their limits, and load_scenario(), which refuses a bad file before anything starts
with the file, the line, the field path and what was expected. Nothing here opens sockets or
decides outcomes; fault kinds bring their own parameter models (simulator.faults).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from simulator.faults.registry import FAULT_KINDS, load_kinds

load_kinds()


class Model(BaseModel):
    """Base of every scenario section: unknown keys are errors, not silently ignored; numbers are
    finite (no .inf or .nan)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# Bounds of the numbers the models take: generous, but finite, so that nothing absurd reaches a
# timer, a counter, an encoder or the ledger (which stores the seed as a signed 64-bit integer).
MAX_SEED = 2**63 - 1
MAX_STATUS = 0xFFFFFFFF  # command_status is an unsigned 32-bit integer
MAX_COUNT = 100_000_000  # binds, queues, stores, users, windows
MAX_RATE = 1_000_000.0  # per second (throughput, spawn rates, rates per user)
MAX_DELAY_MS = 86_400_000.0  # one day
MAX_SECONDS = 86_400.0  # timers in seconds: one day
MAX_DURATION_S = 30 * 86_400.0  # load durations and drains: 30 days

Status = Annotated[int, Field(ge=1, le=MAX_STATUS)]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """Seconds of a duration written as in scenarios: 500ms, 30s, 5m, 1h."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 30s, 5m, 1h)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def _duration_in_bounds(text: str) -> str:
    if _DURATION.match(text) and duration_seconds(text) > MAX_DURATION_S:
        raise ValueError("must be at most 30 days")
    return text


Duration = Annotated[str, Field(pattern=_DURATION.pattern), AfterValidator(_duration_in_bounds)]


def _latin1_printable(value: str) -> str:
    """SMPP C-Octet Strings are encoded as Latin-1 and end at a NUL: no other characters fit."""
    if any(not (" " <= c <= "~" or "\xa0" <= c <= "\xff") for c in value):
        raise ValueError("must be printable Latin-1 characters (an SMPP C-Octet String)")
    return value


CString = Annotated[str, AfterValidator(_latin1_printable)]


# ==================================================================================== carrier
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


def _phone_number(number: str) -> str:
    # no upper bound on digits: the load may send to numbers no SMSC takes (tests/test_run.py does)
    if not normalize_number(number):
        raise ValueError("not a phone number (no digits)")
    return number


PhoneNumber = Annotated[str, AfterValidator(_phone_number)]


class NumberGroup(Model):
    """Numbers sharing a subscriber state: by prefix, or by an inclusive range, or listed."""

    prefix: str | None = Field(default=None, pattern=r"^\+?[0-9]+$")
    range: tuple[str, str] | None = Field(default=None, description="[first, last], inclusive")
    numbers: list[PhoneNumber] | None = Field(default=None, min_length=1)
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

    submit_status: int | None = Field(default=None, ge=0, le=MAX_STATUS,
                                      description="refuse at submit with this status (0: accept)")
    receipt_state: Literal["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "UNKNOWN", "DELETED"] = "UNDELIV"
    err: str = Field(default="000", max_length=3)
    delay_ms: float | None = Field(default=None, ge=0, le=MAX_DELAY_MS,
                                   description="receipt delay (default: the carrier's)")
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
    status: Status | None = Field(
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
    status: Status = Field(default=0x45, description="status for prohibited content (RSUBMITFAIL)")

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
    unapproved_status: Status = Field(default=0x45, description="status for a message matching no template")
    content: ContentFilter | None = None


# ==================================================================================== load, sla, gates
class Stage(Model):
    duration: Duration
    users: int = Field(ge=0, le=MAX_COUNT)
    spawn_rate: float | None = Field(default=None, gt=0, le=MAX_RATE)


class Load(Model):
    """What the Locust harness sends (see loadtests/)."""

    users: int = Field(default=10, ge=1, le=MAX_COUNT)
    spawn_rate: float = Field(default=100, gt=0, le=MAX_RATE)
    duration: Duration = "30s"
    drain: Duration = "5s"
    window: int = Field(default=10, ge=1, le=10_000)
    rate_per_user: float | None = Field(default=None, gt=0, le=MAX_RATE,
                                       description="submits per second per user")
    bind: Literal["transceiver", "transmitter+receiver"] = "transceiver"
    account: str | None = None
    traffic: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict,
                                                              description="weights over number groups")
    templates: list[Template | str] = Field(default_factory=list)
    long_messages: float = Field(default=0, ge=0, le=1, description="share of long messages")
    registered_delivery: int = Field(default=1, ge=0, le=0x1F)
    stages: list[Stage] = Field(default_factory=list)

    @field_validator("traffic")
    @classmethod
    def _some_weight(cls, value: dict[str, float]) -> dict[str, float]:
        if value and not any(w > 0 for w in value.values()):
            raise ValueError("needs at least one weight > 0")
        return value

    @model_validator(mode="after")
    def _stages_set_the_duration(self) -> "Load":
        """With stages, the stages say how long users submit: a stated duration must agree."""
        if self.stages:
            total = sum(duration_seconds(stage.duration) for stage in self.stages)
            if "duration" in self.model_fields_set and abs(duration_seconds(self.duration) - total) > 1e-9:
                raise ValueError(f"duration {self.duration} disagrees with the stages, which last {total:g}s: "
                                 "leave duration out (the stages set it) or make them agree")
            object.__setattr__(self, "duration", f"{total:g}s")  # frozen: set once, while validating
        return self


class Tier(Model):
    below: float = Field(gt=0, le=1)
    voucher: float = Field(ge=0, le=1)


class Sla(Model):
    target: float = Field(default=0.95, gt=0, le=1)
    tiers: list[Tier] = Field(default_factory=lambda: [Tier(below=0.95, voucher=0.10), Tier(below=0.90, voucher=0.30)])
    prices: dict[str, Annotated[float, Field(ge=0, le=1e9)]] = Field(default_factory=dict,
                                                                     description="per segment, by category")
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

    min_sends: int | None = Field(default=None, ge=1, le=MAX_SEED,
                                  description="submits the run must at least make")
    expect_success_rate: ExpectRate | None = None
    min_success_rate: float | None = Field(default=None, ge=0, le=1)
    max_p99_submit_ms: float | None = Field(default=None, gt=0)
    min_throughput: float | None = Field(default=None, gt=0)
    max_error_ratio: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    reconcile: Literal["exact", "off"] = "exact"


# ==================================================================================== the scenario
def _fault_union() -> Any:
    kinds = tuple(FAULT_KINDS.values())
    if len(kinds) == 1:
        return kinds[0]
    return Annotated[Union[kinds], Field(discriminator="kind")]  # noqa: UP007


FaultEntry = _fault_union()


def _file_name_safe(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError("must be letters, digits, '.', '_' and '-', starting with a letter or digit "
                         "(it names runs, ledgers and report folders)")
    return name


class Scenario(Model):
    name: Annotated[str, AfterValidator(_file_name_safe)] = Field(
        default="default", max_length=64, description="also names runs, ledgers and report folders")
    description: str = ""
    seed: int = Field(default=0, strict=True, ge=0, le=MAX_SEED, description="an integer, 0 .. 2**63-1")
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


# What the loader refuses to read (README, Scenarios). A scenario is a hand-written file of a few
# kilobytes (the ready ones are 1-3 KB); these bound what a mistaken or hostile file can cost
# before it is refused, each with a file:line error.
MAX_SCENARIO_BYTES = 10 * 1024 * 1024  # the scenario file
MAX_YAML_NODES = 1_000_000  # values of the document, an alias counting as everything it stands for
MAX_YAML_DEPTH = 64  # nesting of the document (aliases expanded); a scenario needs about 7
MAX_LIST_FILE_BYTES = 100 * 1024 * 1024  # a blacklist file (~7 million numbers)
MAX_ERRORS_SHOWN = 50  # validation errors listed; the rest are counted
FILE_DIRS_ENV = "CARRIER_SIM_FILE_DIRS"  # more folders list files may be in (os.pathsep-separated)

_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 and n % 2**20 == 0 else f"{n:,} bytes"


class FileRefused(Exception):
    """A file read_limited() will not read; the message says why, never what the file holds."""


def read_limited(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Opened without blocking (a FIFO or a
    device is refused, not waited on) and checked on the open descriptor, so that what is checked
    is what is read. Raises FileRefused."""
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_CLOEXEC", "O_NOCTTY"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a file")
            raise FileRefused(f"not a regular file ({kind})")
        if info.st_size > limit:
            raise FileRefused(f"larger than the limit of {_size(limit)}")
        chunks, size = [], 0
        while size <= limit:  # a regular file may still grow while it is read
            chunk = os.read(fd, min(limit + 1 - size, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise FileRefused(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise FileRefused(f"larger than the limit of {_size(limit)}")
    return data


def load_scenario(path: str | Path, file_dirs: list[Path] | None = None) -> Scenario:
    """Read and validate a scenario file; relative file paths in it are resolved against its folder.

    Files it refers to (blacklists) must be regular files of at most MAX_LIST_FILE_BYTES inside the
    scenario's folder or one of `file_dirs` (default: the folders in $CARRIER_SIM_FILE_DIRS), and are
    read and checked here, so that a scenario that loads also starts."""
    path = Path(path)
    try:
        data = read_limited(path, MAX_SCENARIO_BYTES)
    except FileRefused as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x} "
                            f"at column {column})") from None
    if file_dirs is None:
        file_dirs = [Path(d) for d in os.environ.get(FILE_DIRS_ENV, "").split(os.pathsep) if d]
    return parse_scenario(text, str(path), base_dir=path.parent, file_dirs=file_dirs)


class _Refused(Exception):
    """The document is refused before it is built: a line, a field path and the reason."""

    def __init__(self, mark: yaml.Mark | None, path: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else 1
        self.path = path
        self.message = message


def _bool_free(resolvers: dict[Any, list[tuple[str, Any]]]) -> dict[Any, list[tuple[str, Any]]]:
    return {first: [(tag, regexp) for tag, regexp in rs if tag != "tag:yaml.org,2002:bool"]
            for first, rs in resolvers.items()}


class _Construction:
    """Constructor behaviour shared by both loaders: a value that cannot be built (`!!int x`,
    a date like 2026-13-01) is a YAML error at its line, not a ValueError from deep inside."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]
        except (ValueError, TypeError, OverflowError) as exc:
            what = node.tag.rpartition(":")[2] or "value"
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this {what}: {exc}",
                                                    node.start_mark) from None


class _PyLoader(_Construction, yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false; `off:`, `no:` and `yes:` stay strings (group names...).
    The pure-Python parser, whose composer recurses: it stops past MAX_YAML_DEPTH levels."""

    _path: list[Any] | None = None

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self._path is None:
            self._path = []
        self._path.append(index.value if isinstance(index, yaml.ScalarNode) else index)
        try:
            if len(self._path) > MAX_YAML_DEPTH and not self.check_event(yaml.AliasEvent):
                path = tuple(p for p in self._path if p is not None)
                raise _Refused(self.peek_event().start_mark, path,
                               f"nested more than {MAX_YAML_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._path.pop()


_PyLoader.yaml_implicit_resolvers = _bool_free(yaml.SafeLoader.yaml_implicit_resolvers)
_PyLoader.add_implicit_resolver("tag:yaml.org,2002:bool",
                                re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader: type = _PyLoader
if getattr(yaml, "__with_libyaml__", False):  # libyaml parses ~4x faster and stops at 1,000 levels itself

    class _CLoader(_Construction, yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """_PyLoader's rules on libyaml's parser."""

    _CLoader.yaml_implicit_resolvers = _PyLoader.yaml_implicit_resolvers
    _Loader = _CLoader

_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


def _compose(text: str, loader_class: type) -> tuple[yaml.Node | None, Any]:
    """The node graph and the data of one YAML document, refused (_Refused or a YAMLError) when it
    nests too deep, expands past MAX_YAML_NODES values, refers to itself or repeats a key."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_graph(node, loader)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def _children(node: yaml.Node, path: tuple[Any, ...]) -> list[tuple[yaml.Node, tuple[Any, ...]]]:
    if isinstance(node, yaml.MappingNode):
        out = []
        for key, value in node.value:
            part = path + (key.value if isinstance(key, yaml.ScalarNode) else "?",)
            out += [(key, part), (value, part)]
        return out
    if isinstance(node, yaml.SequenceNode):
        return [(item, path + (i,)) for i, item in enumerate(node.value)]
    return []


def _check_graph(root: yaml.Node, loader: Any) -> None:
    """One visit per distinct node (so that a billion laughs costs what its text costs): the size
    and depth the document has with every alias expanded, cycles, and keys given twice."""
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) of its expansion
    on_path: set[int] = {id(root)}
    _check_keys(root, (), loader)
    # frames: [node, level, path, children, next child, values so far, depth so far]
    stack: list[list[Any]] = [[root, 1, (), _children(root, ()), 0, 1, 1]]

    def add(frame: list[Any], values: int, depth: int) -> None:
        frame[5] += values
        frame[6] = max(frame[6], depth + 1)
        if frame[5] > MAX_YAML_NODES:
            raise _Refused(frame[0].start_mark, frame[2],
                           f"more than {MAX_YAML_NODES:,} values with its aliases expanded "
                           "(each use of an alias counts everything it stands for)")

    while stack:
        frame = stack[-1]
        node, level, _, children, i = frame[:5]
        if i == len(children):
            stack.pop()
            on_path.discard(id(node))
            done[id(node)] = (frame[5], frame[6])
            if stack:
                add(stack[-1], frame[5], frame[6])
            continue
        frame[4] += 1
        child, path = children[i]
        if id(child) in on_path:
            raise _Refused(child.start_mark, path,
                           "an alias used inside the node it names (a recursive alias)")
        seen = done.get(id(child))
        if seen is not None:
            if level + seen[1] > MAX_YAML_DEPTH:
                raise _Refused(child.start_mark, path, f"nested more than {MAX_YAML_DEPTH} levels deep "
                               "with its aliases expanded")
            add(frame, *seen)
            continue
        if level + 1 > MAX_YAML_DEPTH:
            raise _Refused(child.start_mark, path, f"nested more than {MAX_YAML_DEPTH} levels deep")
        _check_keys(child, path, loader)
        on_path.add(id(child))
        stack.append([child, level + 1, path, _children(child, path), 0, 1, 1])


def _check_keys(node: yaml.Node, path: tuple[Any, ...], loader: Any) -> None:
    """A key given twice in one mapping is refused (YAML forbids it; PyYAML would keep the last)."""
    if not isinstance(node, yaml.MappingNode):
        return
    first: dict[Any, yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        if key.tag == "tag:yaml.org,2002:merge":
            ident: Any = ("<<",)
        else:
            value = loader.construct_object(key)
            ident = (type(value).__name__, value)
        if ident in first:
            shown = key.value if key.tag != "tag:yaml.org,2002:merge" else "<<"
            raise _Refused(key.start_mark, path + (shown,),
                           f"key given twice, first at line {first[ident].start_mark.line + 1} "
                           "(the second would silently replace the first)")
        first[ident] = key


def parse_scenario(text: str, source: str = "<scenario>", base_dir: Path | None = None,
                   file_dirs: list[Path] | None = None) -> Scenario:
    """Validate the text of a scenario; with `base_dir` (its folder), also the files it refers to,
    which must be inside `base_dir` or one of `file_dirs`."""
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{source}: larger than the limit of {_size(MAX_SCENARIO_BYTES)}")
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise ScenarioError(f"{source}:{line}: not valid YAML: control character U+{ord(bad.group()):04X} "
                            f"at column {column}")
    try:
        node, data = _compose(text, _Loader)
    except _Refused as exc:
        field = _field(exc.path[:4]) + ("..." if len(exc.path) > 4 else "")
        raise ScenarioError(f"{source}:{exc.line} {field or '(top)'}: {exc.message}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        if "maximum nesting depth" in problem:  # libyaml's own limit (1,000)
            problem = f"nested more than {MAX_YAML_DEPTH} levels deep"
        raise ScenarioError(f"{where}: not valid YAML: {problem}") from None
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
        errors = exc.errors()
        shown = [_describe(error, source, lines) for error in errors[:MAX_ERRORS_SHOWN]]
        if len(errors) > MAX_ERRORS_SHOWN:
            shown.append(f"{source}: ... and {len(errors) - MAX_ERRORS_SHOWN:,} more errors")
        raise ScenarioError("\n".join(shown)) from None
    problems = scenario.cross_check()
    problems += _number_plan_problems(scenario.numbers, lines)
    problems += _blacklist_problems(scenario.blacklists)
    if base_dir is not None:
        problems += _file_problems(scenario.blacklists, base_dir, file_dirs or [])
    if problems:
        raise ScenarioError("\n".join(_format(source, lines, path, message) for path, message in problems))
    return scenario


Problems = list[tuple[tuple[Any, ...], str]]  # (field path, what is wrong)


def _number_plan_problems(numbers: Numbers, lines: dict[tuple[Any, ...], int]) -> Problems:
    """Groups that claim the same numbers with nothing to say which one wins: the same prefix, the
    same listed number, or ranges (of one length) that partly overlap or are equal. Nesting is not
    ambiguous: a listed number beats a range, a range beats a prefix, an inner range the one around
    it, a longer prefix a shorter one (simulator.faults.sections.number_plan)."""
    problems: Problems = []

    def both(first: str, second: str, what: str) -> str:
        line = lines.get(("numbers", "groups", first))
        return f"{first} and {second} both claim {what}" + (f" ({first} is at line {line})" if line else "")

    prefixes: dict[str, str] = {}
    listed: dict[str, str] = {}
    ranges: dict[int, list[tuple[int, int, str]]] = {}
    for name, group in numbers.groups.items():
        here = ("numbers", "groups", name)
        if group.prefix is not None:
            digits = normalize_number(group.prefix)
            if digits in prefixes:
                problems.append((here + ("prefix",), both(prefixes[digits], name, f"prefix {digits!r}")
                                 + ": give it to one group"))
            prefixes.setdefault(digits, name)
        elif group.range is not None:
            lo, hi = (normalize_number(x) for x in group.range)
            ranges.setdefault(len(lo), []).append((int(lo), int(hi), name))
        else:
            for i, number in enumerate(group.numbers or []):
                digits = normalize_number(number)
                owner = listed.setdefault(digits, name)
                if owner != name:
                    problems.append((here + ("numbers", i), both(owner, name, f"number {digits!r}")
                                     + ": give it to one group"))
    for length, spans in ranges.items():
        spans.sort(key=lambda r: (r[0], -r[1]))
        stack: list[tuple[int, int, str]] = []
        for lo, hi, name in spans:
            while stack and stack[-1][1] < lo:
                stack.pop()
            if stack and (hi > stack[-1][1] or (lo, hi) == stack[-1][:2]):
                olo, ohi, other = stack[-1]
                line = lines.get(("numbers", "groups", other))
                how = "are the same" if (lo, hi) == (olo, ohi) else "partly overlap"
                at = f", line {line}" if line else ""
                problems.append((("numbers", "groups", name, "range"),
                                 f"the ranges of {other} ({olo:0{length}d}-{ohi:0{length}d}{at}) and {name} "
                                 f"({lo:0{length}d}-{hi:0{length}d}) {how}: ranges may only nest "
                                 "(the inner one wins)"))
                continue
            stack.append((lo, hi, name))
    return problems


def _list_sources(lists: Blacklists) -> list[tuple[tuple[Any, ...], BlacklistSource]]:
    out: list[tuple[tuple[Any, ...], BlacklistSource]] = []
    for name in ("platform", "carrier"):
        source = getattr(lists, name)
        if source is not None:
            out.append((("blacklists", name), source))
    out += [(("blacklists", "accounts", account), source) for account, source in lists.accounts.items()]
    return out


def _blacklist_problems(lists: Blacklists) -> Problems:
    """Inline numbers the blacklists section would refuse when the carrier starts."""
    from simulator.faults.sections.blacklist import HINT, parse_number

    problems: Problems = []
    for path, source in _list_sources(lists):
        for i, number in enumerate(source.numbers):
            if parse_number(number.strip()) is None:
                problems.append((path + ("numbers", i), f"not a phone number: {number!r} ({HINT})"))
    return problems


def _file_problems(lists: Blacklists, base_dir: Path, file_dirs: list[Path]) -> Problems:
    """Each list file: inside the scenario's folder (or one of `file_dirs`), a regular file within
    MAX_LIST_FILE_BYTES, UTF-8, one phone number a line. Problems never quote the file's content."""
    from simulator.faults.sections.blacklist import read_number_file

    roots = [base_dir.resolve(), *(Path(d).resolve() for d in file_dirs)]
    problems: Problems = []
    for path, source in _list_sources(lists):
        if source.file is None:
            continue
        field = path + ("file",)
        written = Path(source.file)
        try:
            resolved = written.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            problems.append((field, f"{written}: cannot resolve the path: {exc}"))
            continue
        if not any(resolved.is_relative_to(root) for root in roots):
            problems.append((field, f"{written}: outside the scenario's folder {roots[0]} (list files must "
                                    f"be in it, or in a folder named in ${FILE_DIRS_ENV})"))
            continue
        try:
            read_number_file(written, ".".join(path))
        except ScenarioError as exc:
            problems.append((field, str(exc)))
    return problems


def _field(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if j else str(p)) for j, p in enumerate(path))


def _format(source: str, lines: dict[tuple[Any, ...], int], path: tuple[Any, ...], message: str) -> str:
    field = _field(path)
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


def _line_index(node: yaml.Node, path: tuple[Any, ...] = (), index: dict | None = None,
                seen: set[int] | None = None) -> dict[tuple[Any, ...], int]:
    """Map each field path (('faults', 2, 'probability')) to the 1-based line where it is written.

    A node that aliases repeat is indexed where it is first met: below a later use of the alias, a
    path falls back to the line of the key that holds the alias (so this is linear in the text)."""
    if index is None:
        index = {(): node.start_mark.line + 1}
    if seen is None:
        seen = set()
    if id(node) in seen:
        return index
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            index[path + (key,)] = key_node.start_mark.line + 1
            _line_index(value_node, path + (key,), index, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index[path + (i,)] = item.start_mark.line + 1
            _line_index(item, path + (i,), index, seen)
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
    "finite_number": "must be a finite number",
    "int_type": "must be an integer",
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
