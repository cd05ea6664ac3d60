"""The report: the meter, billing, compensation and claim windows of each account's cycles, plus a
timeline, the outcome breakdown and receipt latencies, as one plain dict ("carrier-sim/report/1").

Built from Records and terms only (no I/O); the renderers (text, HTML) and JSON read this dict
and nothing else. The structure is documented in REPORT_SCHEMA.md beside this file.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timezone
from decimal import Decimal
from typing import Any

from simulator.ledger.reader import Record
from simulator.scenario import Scenario, Sla

from .billing import bill
from .compensation import as_fraction, claim_window, compensation
from .cycles import cycle_key, format_timezone, parse_cycle_key
from .expectation import Expectation, analyse_expectation
from .intervals import GATE_CONFIDENCE
from .meter import DEFINITE_FAILURE, PENDING, PendingRule, SlaFigures, counted_class, meter, sla_figures

SCHEMA = "carrier-sim/report/1"
MAX_SERIES = 8  # accounts drawn one by one in the timeline; more are summed into "all"
LATENCY_BINS = 24


def money(value: Decimal) -> str:
    """A Decimal as a plain decimal string, no exponent, no trailing zeros past the cents."""
    whole, _, frac = format(value.normalize(), "f").partition(".")
    return whole + "." + frac.ljust(2, "0")


def iso(ts: float | None, tz: timezone) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def figures_dict(figures: SlaFigures) -> dict[str, Any]:
    """The meter's figures: what the rate is made of, and everything left out of it."""
    rate = figures.rate
    return {
        "sends": figures.sends,
        "delivered": figures.delivered,
        "definite_failures": figures.definite_failures,
        "valid_sends": figures.valid_sends,
        "success_rate": rate,
        "pending": figures.pending,
        "pending_reasons": figures.reasons(PENDING),
        "definite_failure_reasons": figures.reasons(DEFINITE_FAILURE),
        "left_out": {c: {"total": sum(r.values()), "reasons": r} for c, r in figures.left_out.items()},
        "left_out_total": figures.left_out_total,
    }


def build_report(
    records: Iterable[Record],
    sla: Sla,
    *,
    tz: timezone = UTC,
    account: str | None = None,
    cycle: str | None = None,
    vouchers_paid: Mapping[tuple[str, str], Decimal] | None = None,
    as_of: float | None = None,
    scenario: Scenario | None = None,
    sources: dict[str, Any] | None = None,
    warnings: Iterable[str] = (),
    generated_at: float | None = None,
) -> dict[str, Any]:
    """The report over `records` (all accounts' records: first sends are found among them)."""
    if cycle is not None:
        parse_cycle_key(cycle)
    records = list(records)
    warnings = list(warnings)
    made = time.time() if generated_at is None else generated_at
    # the pending policy is judged at the cut-off, never later than now: the ledger cannot know yet
    # whether a message pending now gets its final state before a cut-off in the future
    rule = PendingRule(sla.pending_after_s, made if as_of is None else min(as_of, made))
    cycles = meter(records, tz, as_of, rule=rule)
    selected = {k: v for k, v in cycles.items()
                if (account is None or k[0] == account) and (cycle is None or k[1] == cycle)}
    if not records:
        warnings.append("the ledgers hold no message records")
    elif not selected:
        warnings.append("no records match the selection"
                        + (f" (account {account!r})" if account else "") + (f" (cycle {cycle})" if cycle else ""))
    paid = dict(vouchers_paid or {})
    for key in paid:
        if key not in selected:
            warnings.append(f"vouchers paid for {key[0]} {key[1]}: no such cycle in the selection")
    declared = declared_categories(scenario)
    chosen: list[Record] = [r for entry in selected.values() for r in entry.records]
    chosen.sort(key=lambda r: r.submit_time)
    cycle_entries = []
    for (acct, key), entry in selected.items():
        figures = entry.figures
        billed = bill(entry.records, sla.prices)
        warnings.extend(f"{acct} {key}: {w}" for w in billed.warnings)
        unknown = figures.unknown_classes
        if unknown:
            warnings.append(f"{acct} {key}: records with an SLA class the meter does not know "
                            f"({', '.join(unknown)}) are left out of the rate")
        comp = compensation(figures.exact_rate, billed.fee, sla.tiers, paid.get((acct, key), Decimal(0)))
        window = claim_window(key)
        rate = figures.rate
        if declared == [] and billed.messages and {line.category for line in billed.lines} == {"notification"}:
            warnings.append(f"{acct} {key}: all {billed.messages} messages billed as notification: "
                            "the scenario declares no categories")
        if figures.pending and entry.cycle.end.timestamp() <= rule.at:
            warnings.append(pending_warning(acct, key, figures.pending, sla.pending_after))
        cycle_entries.append({
            "account": acct,
            "cycle": key,
            "start": entry.cycle.first_day.isoformat(),
            "end": entry.cycle.last_day.isoformat(),
            "partial": entry.cycle.partial,
            **figures_dict(figures),
            "meets_target": None if rate is None else figures.exact_rate >= as_fraction(sla.target),
            "billing": {
                "currency": sla.currency,
                "billable_messages": billed.messages,
                "billable_segments": billed.segments,
                "fee": money(billed.fee),
                "by_category": [
                    {"category": line.category, "messages": line.messages, "segments": line.segments,
                     "price": money(line.price), "priced_by": line.priced_by, "amount": money(line.amount)}
                    for line in billed.lines
                ],
            },
            "compensation": {
                "tier": None if comp.tier is None else {"below": comp.tier.below, "voucher": comp.tier.voucher},
                "share": float(comp.share),
                "fee": money(comp.fee),
                "vouchers_paid": money(comp.vouchers_paid),
                "voucher": money(comp.voucher),
                "capped": comp.capped,
                "claim_window": {
                    "fifth_working_day": window.fifth_working_day.isoformat(),
                    "opens": window.opens.isoformat(),
                    "closes": window.closes.isoformat(),
                },
            },
        })
    accounts = []
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in cycle_entries:
        by_account[entry["account"]].append(entry)
    for acct, entries in by_account.items():
        accounts.append({
            "account": acct,
            "cycles": len(entries),
            "fee": money(sum((Decimal(e["billing"]["fee"]) for e in entries), Decimal(0))),
            "vouchers": money(sum((Decimal(e["compensation"]["voucher"]) for e in entries), Decimal(0))),
        })
    overall = sla_figures(chosen, as_of, rule)
    return {
        "schema": SCHEMA,
        "generated_at": iso(made, UTC),
        "sources": sources or {"ledgers": [], "terms": "given"},
        "selection": {"account": account, "cycle": cycle, "as_of": iso(as_of, tz)},
        "timezone": format_timezone(tz),
        "sla": {
            "target": sla.target,
            "tiers": [{"below": t.below, "voucher": t.voucher} for t in sorted(sla.tiers, key=lambda t: -t.below)],
            "prices": {k: money(Decimal(repr(v))) for k, v in sla.prices.items()},
            "currency": sla.currency,
            "working_days": "Monday to Friday; no holiday calendar",
            "pending_after": sla.pending_after,
            "pending_after_s": rule.after,
            "pending_judged_at": iso(rule.at, tz),
            "categories": {
                "declared": declared,
                "by": ("unknown: no scenario" if declared is None else
                       "nothing: every message is a notification" if not declared else
                       "the template a message follows (rules: templates, else the load's declared templates)"),
            },
        },
        "cycles": cycle_entries,
        "accounts": accounts,
        "outcomes": figures_dict(overall),
        "timeline": timeline(chosen, tz, as_of, rule),
        "receipt_latency": receipt_latency(chosen, as_of),
        "expectation": expectation_section(scenario, cycle_entries),
        "warnings": warnings,
    }


# What some reasons mean, for the breakdowns of the renderers (text, HTML): the two kinds of
# maintenance window count on opposite sides of the rate, and their reasons alone do not say so.
REASON_NOTES: dict[tuple[str, str], str] = {
    ("excluded", "pre_notified_maintenance"): "a maintenance window announced in advance",
    ("definite_failure", "maintenance"): "a surprise maintenance window (not announced in advance)",
    ("definite_failure", "no_final_state"): "no final state within sla.pending_after of its submit",
}


def reason_note(sla_class: str, reason: str) -> str:
    """The REASON_NOTES entry of (class, reason), or ""; a pending reason "invalid_number:x" or
    "excluded:x" says what the carrier decided at submit."""
    note = REASON_NOTES.get((sla_class, reason), "")
    if not note and sla_class == PENDING and ":" in reason:
        decided, _, why = reason.partition(":")
        note = f"to an {decided.replace('_', ' ')} ({why}): never a definite failure" if decided == "invalid_number" \
            else f"{decided} ({why}): never a definite failure"
    return note


def declared_categories(scenario: Scenario | None) -> list[str] | None:
    """The categories the scenario's templates declare (`rules:` templates, the load's templates
    written with a category); None without a scenario."""
    if scenario is None:
        return None
    found = {t.category for rules in scenario.rules.accounts.values() for t in rules.templates}
    found.update(t.category for t in scenario.load.templates if not isinstance(t, str))
    return sorted(found)


def pending_warning(account: str, cycle: str, pending: int, pending_after: str) -> str:
    """The warning of a closed cycle that still holds pending messages."""
    if pending_after == "never":
        why = "sla.pending_after is 'never': they stay pending and out of the rate for good"
    else:
        why = (f"each becomes a definite failure (no_final_state) {pending_after} after its submit, "
               "if its number is valid")
    return f"{account} {cycle}: the cycle is closed and still holds {pending} pending message(s): {why}"


# ------------------------------------------------------------------------------ timeline
def bucket_size(span_s: float) -> int:
    """Per 10 s up to 15 minutes (a CI run), per minute up to 3 hours, per hour up to 4 days, else per day."""
    if span_s <= 15 * 60:
        return 10
    if span_s <= 3 * 3600:
        return 60
    if span_s <= 4 * 86400:
        return 3600
    return 86400


def timeline(records: list[Record], tz: timezone, as_of: float | None = None,
             rule: PendingRule | None = None) -> dict[str, Any]:
    """Success rate over time by submit-time bucket (aligned to the timezone's minutes/hours/days)."""
    if not records:
        return {"bucket_s": 60, "series": []}
    span = records[-1].submit_time - records[0].submit_time
    size = bucket_size(span)
    offset = tz.utcoffset(None).total_seconds()
    accounts = sorted({r.account for r in records})
    split = len(accounts) <= MAX_SERIES
    buckets: dict[str, dict[float, SlaFigures]] = defaultdict(lambda: defaultdict(SlaFigures))
    for record in records:
        counted = counted_class(record, as_of, rule)
        if counted is None:
            continue
        start = math.floor((record.submit_time + offset) / size) * size - offset
        buckets[record.account if split else "all"][start].add(*counted)
    series = []
    for name in sorted(buckets):
        points = []
        to_date = SlaFigures()
        cycle = None
        for start in sorted(buckets[name]):
            f = buckets[name][start]
            if cycle_key(start, tz) != cycle:  # buckets never straddle months: they align to local time
                cycle, to_date = cycle_key(start, tz), SlaFigures()
            to_date.merge(f)
            points.append({
                "t": iso(start, tz), "sends": f.sends, "delivered": f.delivered,
                "definite_failures": f.definite_failures, "pending": f.pending,
                "left_out": f.left_out_total, "success_rate": f.rate, "cycle_to_date_rate": to_date.rate,
            })
        series.append({"account": name, "points": points})
    return {"bucket_s": size, "series": series}


# ------------------------------------------------------------------------------ latency
def _quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values."""
    index = max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))
    return values[index]


def receipt_latency(records: list[Record], as_of: float | None = None) -> dict[str, Any]:
    """done_time - submit_time of messages with a final state (ms): quantiles and a log histogram."""
    by_state: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if record.done_time is None or record.final_state is None:
            continue
        if as_of is not None and record.done_time > as_of:
            continue
        by_state[record.final_state].append(max(0.0, (record.done_time - record.submit_time) * 1000))
    values = sorted(v for vs in by_state.values() for v in vs)
    if not values:
        return {"count": 0, "min_ms": None, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None,
                "mean_ms": None, "by_final_state": {}, "histogram": {"edges_ms": [], "counts": {}}}

    def stats(vs: list[float]) -> dict[str, Any]:
        vs = sorted(vs)
        return {"count": len(vs), "min_ms": vs[0], "p50_ms": _quantile(vs, 0.5), "p90_ms": _quantile(vs, 0.9),
                "p99_ms": _quantile(vs, 0.99), "max_ms": vs[-1], "mean_ms": sum(vs) / len(vs)}

    lo, hi = max(values[0], 0.1), max(values[-1], 0.1)
    if hi <= lo:
        hi = lo * 1.5
    edges = [lo * (hi / lo) ** (i / LATENCY_BINS) for i in range(LATENCY_BINS + 1)]
    counts: dict[str, list[int]] = {}
    for state, vs in sorted(by_state.items()):
        row = [0] * LATENCY_BINS
        for v in vs:
            if v <= lo:
                i = 0
            else:
                i = min(LATENCY_BINS - 1, int(math.log(v / lo) / math.log(hi / lo) * LATENCY_BINS))
            row[i] += 1
        counts[state] = row
    return {**stats(values), "by_final_state": {s: stats(vs) for s, vs in sorted(by_state.items())},
            "histogram": {"edges_ms": edges, "counts": counts}}


# ------------------------------------------------------------------------------ expectation
def expectation_section(scenario: Scenario | None, cycles: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The scenario's analytic rate and, per cycle of its account, the interval the observed rate
    should fall in (the gate's interval, binomial-99 by default; normal approximation, see intervals)."""
    if scenario is None:
        return None
    result = analyse_expectation(scenario)
    if not isinstance(result, Expectation):
        return {"analytic": False, "reasons": list(result.reasons)}
    gate = scenario.gates.expect_success_rate
    name = gate.interval if gate is not None else "binomial-99"
    confidence = GATE_CONFIDENCE[name]
    checks = []
    for entry in cycles:
        if entry["account"] != result.account or not entry["valid_sends"]:
            continue
        low, high = result.interval(entry["valid_sends"], confidence)
        observed = entry["success_rate"]
        checks.append({"account": entry["account"], "cycle": entry["cycle"], "valid_sends": entry["valid_sends"],
                       "observed": observed, "low": low, "high": high, "within": low <= observed <= high})
    return {"analytic": True, **result.as_dict(), "interval": name, "confidence": confidence, "cycles": checks}
