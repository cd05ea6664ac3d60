"""The combined live meter: outcome batches from every node in, per-account SLA figures and the
report (the same build_report as `carrier-sim report`) out.

Pure state: it never subscribes, prints or writes (see follow.py and view.py). A batch seen twice
(a retry after a lost PUBACK) is counted once; batches that never came show as gaps per stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from simulator.ledger.reader import Record
from simulator.metering.meter import SlaFigures

from . import schema
from .figures import LiveFigures, figures_snapshot


class SeenMessage(NamedTuple):
    """A message row as an outcomes batch carries it (the fields the meter reads, by name)."""

    run_id: str
    message_id: str | None
    account: str
    destination: str
    category: str
    segments: int
    submit_time: float
    submit_status: int
    responded: bool
    sla_class: str
    reason: str


class SeenFinal(NamedTuple):
    """A final row as an outcomes batch carries it."""

    run_id: str
    message_id: str
    destination: str
    final_state: str
    error_code: str
    done_time: float
    sla_class: str
    reason: str


@dataclass
class StreamState:
    """One publisher (a node's process): the batches it sent, as far as we can tell."""

    node: str
    seqs: set[int] = field(default_factory=set)
    highest: int = 0
    duplicates: int = 0

    @property
    def missing(self) -> int:
        return self.highest - len(self.seqs)


@dataclass
class NodeState:
    node: str
    records: int = 0
    batches: int = 0
    last_batch_at: float | None = None
    status: dict[str, Any] | None = None  # the node's latest status payload
    run_ids: set[str] = field(default_factory=set)


class LiveMeter:
    def __init__(self, clock=time.time) -> None:
        self.clock = clock
        self.figures = LiveFigures()
        self.nodes: dict[str, NodeState] = {}
        self.streams: dict[str, StreamState] = {}
        self.errors: list[str] = []  # payloads that could not be read (kept short)
        self.rejected = 0
        self._messages: list[SeenMessage] = []
        self._finals: dict[tuple[str, str, str], SeenFinal] = {}  # (run_id, message_id, destination) -> final
        self.started_at = clock()

    # ------------------------------------------------------------------ input
    def node(self, name: str) -> NodeState:
        found = self.nodes.get(name)
        if found is None:
            found = self.nodes[name] = NodeState(name)
        return found

    def add_outcomes(self, payload: bytes) -> bool:
        """One outcomes batch; False if it was refused (bad payload) or already counted."""
        try:
            data = schema.decode(payload, schema.OUTCOMES)
            messages = schema.table(data, "messages")
            finals = schema.table(data, "finals")
            m_idx = [messages.index(name) for name in SeenMessage._fields]
            f_idx = [finals.index(name) for name in SeenFinal._fields]
            node_name = str(data["node"])
            stream_name = str(data["stream"])
            seq = int(data["seq"])
        except (schema.PayloadError, KeyError, TypeError, ValueError) as exc:
            self._reject(f"outcomes: {exc}")
            return False
        stream = self.streams.get(stream_name)
        if stream is None:
            stream = self.streams[stream_name] = StreamState(node_name)
        if seq in stream.seqs:
            stream.duplicates += 1
            return False
        stream.seqs.add(seq)
        stream.highest = max(stream.highest, seq)
        node = self.node(node_name)
        node.batches += 1
        node.last_batch_at = self.clock()
        node.records += len(messages.rows) + len(finals.rows)
        if data.get("run_id"):
            node.run_ids.add(str(data["run_id"]))
        figures = self.figures
        for row in messages.rows:
            m = SeenMessage._make([row[i] for i in m_idx])
            self._messages.append(m)
            figures.message(m.run_id, m.message_id, m.account, m.destination, m.sla_class, m.reason)
        for row in finals.rows:
            f = SeenFinal._make([row[i] for i in f_idx])
            self._finals[(f.run_id, f.message_id, f.destination)] = f
            figures.final(f.run_id, f.message_id, f.destination, f.sla_class, f.reason)
        return True

    def add_status(self, payload: bytes) -> None:
        try:
            data = schema.decode(payload, schema.STATUS)
            self.node(str(data["node"])).status = data
        except (schema.PayloadError, KeyError) as exc:
            self._reject(f"status: {exc}")

    def _reject(self, why: str) -> None:
        self.rejected += 1
        if len(self.errors) < 20:
            self.errors.append(why)

    # ------------------------------------------------------------------ output
    def combined(self) -> SlaFigures:
        """The figures of every account of every node together (not an SLA figure across accounts)."""
        total = SlaFigures()
        for figures in self.figures.accounts.values():
            total.merge(figures)
        return total

    def accounts(self) -> dict[str, dict[str, Any]]:
        return self.figures.snapshot()

    def records(self) -> list[Record]:
        """Every message as a ledger Record (its final joined), in submit-time order."""
        finals = self._finals
        out = []
        for m in self._messages:
            f = finals.get((m.run_id, m.message_id, m.destination)) if m.message_id is not None else None
            out.append(Record(
                m.run_id, m.message_id, m.account, m.destination, m.category, m.segments, m.submit_time,
                m.submit_status, bool(m.responded),
                f.final_state if f else None, f.error_code if f else None, f.done_time if f else None,
                f.sla_class if f else m.sla_class, f.reason if f else m.reason,
            ))  # fmt: skip
        out.sort(key=lambda r: r.submit_time)
        return out

    def unpublished(self) -> int:
        """What the nodes say they could not publish (from their latest status)."""
        total = 0
        for node in self.nodes.values():
            mqtt = (node.status or {}).get("mqtt") or {}
            total += int((mqtt.get("unpublished") or {}).get("total", 0))
        return total

    def missing_batches(self) -> int:
        return sum(s.missing for s in self.streams.values())

    def complete(self) -> bool:
        """True when nothing is known to be missing: no gaps, nothing unpublished, no orphan finals."""
        return not self.missing_batches() and not self.unpublished() and not self.figures.unmatched_finals

    @staticmethod
    def _node_summary(n: NodeState) -> dict[str, Any]:
        status = n.status or {}
        return {
            "records": n.records,
            "batches": n.batches,
            "run_ids": sorted(n.run_ids),
            "state": status.get("state"),
            "unpublished": (status.get("mqtt") or {}).get("unpublished", {}).get("total"),
        }

    def summary(self) -> dict[str, Any]:
        combined = self.combined()
        return {
            "accounts": self.accounts(),
            "all_accounts": figures_snapshot(combined),
            "nodes": {name: self._node_summary(n) for name, n in sorted(self.nodes.items())},
            "missing_batches": self.missing_batches(),
            "unpublished": self.unpublished(),
            "unmatched_finals": self.figures.unmatched_finals,
            "rejected_payloads": self.rejected,
            "complete": self.complete(),
        }


def combined_report(meter: LiveMeter, *, scenario_path: str | None = None, broker: str = "",
                    as_of: float | None = None) -> dict[str, Any]:
    """The report (schema carrier-sim/report/1, as `carrier-sim report` makes it) over what the meter
    received. SLA terms: the scenario file if given, else the terms a node announced in its status,
    else the defaults. Raises ScenarioError for a bad scenario file."""
    from pydantic import ValidationError

    from simulator.metering.cycles import parse_timezone
    from simulator.metering.report import build_report
    from simulator.scenario import Sla, load_scenario

    scenario = None
    warnings: list[str] = []
    if scenario_path is not None:
        scenario = load_scenario(scenario_path)
        sla, terms = scenario.sla, f"scenario file {scenario_path}"
    else:
        sla, terms = Sla(), "the default sla terms (no scenario given or announced)"
        for name, node in sorted(meter.nodes.items()):
            announced = (node.status or {}).get("sla")
            if announced is None:
                continue
            try:
                sla, terms = Sla.model_validate(announced), f"the sla terms announced by node {name}"
                break
            except ValidationError:
                warnings.append(f"node {name} announced sla terms that do not validate")
    summary = meter.summary()
    if summary["missing_batches"]:
        warnings.append(f"{summary['missing_batches']} outcome batches never arrived: the figures miss their records")
    if summary["unpublished"]:
        warnings.append(f"the nodes could not publish {summary['unpublished']} records: the figures miss them")
    if summary["unmatched_finals"]:
        warnings.append(f"{summary['unmatched_finals']} final states arrived without their message")
    if not summary["complete"]:
        warnings.append("for the exact figures, run `carrier-sim report` on the nodes' ledgers")
    return build_report(
        meter.records(), sla, tz=parse_timezone(sla.timezone), as_of=as_of, scenario=scenario,
        sources={"ledgers": [], "terms": terms,
                 "mqtt": {"broker": broker, "nodes": summary["nodes"], "complete": summary["complete"],
                          "missing_batches": summary["missing_batches"], "unpublished": summary["unpublished"]}},
        warnings=warnings,
    )  # fmt: skip
