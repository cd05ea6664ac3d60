"""The scenario: a validated description of a carrier and its bad day (YAML in scenarios/).

Owns nothing itself: it gathers the models of the sections (carrier, numbers, lists, rules, load,
sla, model) and load_scenario()/parse_scenario() (loader), which refuse a bad file before anything
starts with the file, the line, the field path and what was expected. Nothing here opens sockets
or decides outcomes; each fault kind brings and validates its own parameters (simulator.faults).
"""

from .base import (
    MAX_COUNT,
    MAX_DELAY_MS,
    MAX_DURATION_S,
    MAX_RATE,
    MAX_SECONDS,
    MAX_SEED,
    MAX_STATUS,
    CString,
    Duration,
    Model,
    Problems,
    ScenarioError,
    Status,
    duration_seconds,
)
from .carrier import Account, BindProtection, BindType, Carrier, Throughput
from .document import MAX_YAML_DEPTH, MAX_YAML_NODES
from .files import (
    FILE_DIRS_ENV,
    MAX_LIST_FILE_BYTES,
    MAX_SCENARIO_BYTES,
    FileRefused,
    read_limited,
    read_text,
)
from .lists import Blacklists, BlacklistSource, number_key, parse_number, read_number_file
from .load import Load, LoadStage
from .loader import MAX_ERRORS_SHOWN, load_scenario, parse_scenario
from .model import FaultEntry, Scenario
from .numbers import (
    DEFAULT_TRAFFIC_GROUP,
    NumberGroup,
    Numbers,
    PhoneNumber,
    StateBehaviour,
    SubscriberStateName,
    normalize_number,
)
from .rules import AccountRules, Category, ContentFilter, Rules, Template
from .sla import ExpectRate, Gates, Sla, Tier

__all__ = [
    "DEFAULT_TRAFFIC_GROUP", "FILE_DIRS_ENV", "MAX_COUNT", "MAX_DELAY_MS", "MAX_DURATION_S",
    "MAX_ERRORS_SHOWN", "MAX_LIST_FILE_BYTES", "MAX_RATE", "MAX_SCENARIO_BYTES", "MAX_SECONDS", "MAX_SEED",
    "MAX_STATUS", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "Account", "AccountRules", "BindType",
    "BindProtection", "BlacklistSource", "Blacklists", "CString", "Carrier", "Category", "ContentFilter", "Duration",
    "ExpectRate", "FaultEntry", "FileRefused", "Gates", "Load", "LoadStage", "Model", "NumberGroup",
    "Numbers", "PhoneNumber", "Problems", "Rules", "Scenario", "ScenarioError", "Sla", "StateBehaviour",
    "Status", "SubscriberStateName", "Template", "Throughput", "Tier", "duration_seconds", "load_scenario",
    "normalize_number", "number_key", "parse_number", "parse_scenario", "read_limited", "read_number_file",
    "read_text",
]
