"""The JSON payloads on the event topics, versioned ("carrier-sim/outcomes/1", ...): building them
from ledger rows, encoding them, and reading them back. Documented in SCHEMA.md beside this file.

Pure functions: no I/O. Within a version fields are only added, never removed or changed; readers
find columns by name, so a newer minor shape still reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.ledger.schema import DELIVERY_COLUMNS, FINAL_COLUMNS, MESSAGE_COLUMNS

try:  # orjson encodes a batch ~10x faster than the standard library (bench/RESULTS.md)
    import orjson

    def dumps(obj: Any) -> bytes:
        """Batches of ledger rows (plain values only): the fast path."""
        return orjson.dumps(obj)

    def dumps_any(obj: Any) -> bytes:
        """Anything else (audit details, status): unknown types become strings."""
        return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS)

    loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is in the mqtt extra; the standard library still works
    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
    _any_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)

    def dumps(obj: Any) -> bytes:
        return _encoder.encode(obj).encode()

    def dumps_any(obj: Any) -> bytes:
        return _any_encoder.encode(obj).encode()

    loads = json.loads

OUTCOMES = "carrier-sim/outcomes/1"
RECEIPTS = "carrier-sim/receipts/1"
METERING = "carrier-sim/metering/1"
STATUS = "carrier-sim/status/1"
AUDIT = "carrier-sim/audit/1"
REPLY = "carrier-sim/control-reply/1"

_MESSAGE_COLUMNS = list(MESSAGE_COLUMNS)
_FINAL_COLUMNS = list(FINAL_COLUMNS)
_DELIVERY_COLUMNS = list(DELIVERY_COLUMNS)


class PayloadError(ValueError):
    """A payload that is not of the expected schema."""


def outcomes_payload(node: str, stream: str, seq: int, run_id: str, at: float, messages: list[tuple[Any, ...]],
                     finals: list[tuple[Any, ...]], *, encode: Callable[[Any], bytes] | None = None) -> bytes:
    return (encode or dumps)({
        "schema": OUTCOMES, "node": node, "stream": stream, "seq": seq, "run_id": run_id, "at": at,
        "messages": {"columns": _MESSAGE_COLUMNS, "rows": messages},
        "finals": {"columns": _FINAL_COLUMNS, "rows": finals},
    })  # fmt: skip


def receipts_payload(node: str, stream: str, seq: int, run_id: str, at: float,
                     deliveries: list[tuple[Any, ...]], *, encode: Callable[[Any], bytes] | None = None) -> bytes:
    return (encode or dumps)({"schema": RECEIPTS, "node": node, "stream": stream, "seq": seq, "run_id": run_id, "at": at,
                  "deliveries": {"columns": _DELIVERY_COLUMNS, "rows": deliveries}})


def audit_payload(node: str, stream: str, seq: int, run_id: str, at: float, entries: list[dict[str, Any]]) -> bytes:
    return dumps_any({"schema": AUDIT, "node": node, "stream": stream, "seq": seq, "run_id": run_id, "at": at,
                      "entries": entries})


def metering_payload(node: str, run_id: str, at: float, interval: float, accounts: dict[str, Any]) -> bytes:
    return dumps({"schema": METERING, "node": node, "run_id": run_id, "at": at, "interval_s": interval,
                  "accounts": accounts})


def status_payload(node: str, run_id: str, at: float, state: str, **details: Any) -> bytes:
    return dumps_any({"schema": STATUS, "node": node, "run_id": run_id, "at": at, "state": state, **details})


def reply_payload(node: str, request: str, ok: bool, **details: Any) -> bytes:
    return dumps_any({"schema": REPLY, "node": node, "request": request, "ok": ok, **details})


# ------------------------------------------------------------------------------------------ reading
def decode(payload: bytes, schema: str) -> dict[str, Any]:
    """The payload as a dict, checked to be of `schema` (same name and major version)."""
    try:
        data = loads(payload)
    except ValueError as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("not a JSON object")
    if data.get("schema") != schema:
        raise PayloadError(f"schema {data.get('schema')!r}, expected {schema!r}")
    return data


@dataclass(frozen=True)
class Table:
    """Rows of one table of a batch, with the positions of the columns the reader needs."""

    columns: list[str]
    rows: list[list[Any]]

    def index(self, name: str) -> int:
        try:
            return self.columns.index(name)
        except ValueError:
            raise PayloadError(f"the batch has no column {name!r}") from None


def table(data: dict[str, Any], name: str) -> Table:
    part = data.get(name)
    if not isinstance(part, dict) or not isinstance(part.get("columns"), list) or not isinstance(part.get("rows"), list):
        raise PayloadError(f"{name!r} must be an object with 'columns' and 'rows'")
    return Table(part["columns"], part["rows"])
