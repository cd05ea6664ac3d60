"""The report as one self-contained HTML page: headline figures, charts (inline SVG), and the
tables behind them. Renders a report dict (report.build_report); it never computes a figure and
never links to anything outside the file (no scripts, fonts or styles from elsewhere).
"""

from __future__ import annotations

from html import escape
from typing import Any

from . import charts
from .report import reason_note

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1f2933}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} h3{font-size:14px;margin:16px 0 6px}
.meta{color:#616e7c;font-size:12.5px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(128px,1fr));gap:10px;margin:16px 0}
.card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px #0001}
.card .v{font-size:24px;font-weight:650} .card .l{color:#616e7c;font-size:12px}
.ok{color:#2e7d32} .bad{color:#c62828} .warn{color:#b26a00}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:14px 0;box-shadow:0 1px 2px #0001}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{padding:5px 8px;border-bottom:1px solid #e4e7eb;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600} td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pill{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600}
.pill.ok{background:#e8f5e9} .pill.bad{background:#ffebee} .pill.na{background:#eceff1;color:#546e7a}
svg{width:100%;height:auto}
.note{color:#616e7c;font-size:12.5px}
ul.warnings li{color:#8a5300}
"""


def pct(rate: float | None, digits: int = 2) -> str:
    return "n/a" if rate is None else f"{rate * 100:.{digits}f} %"


def _e(value: Any) -> str:
    return escape(str(value))


def _verdict(met: bool | None) -> str:
    if met is None:
        return '<span class="pill na">no rate</span>'
    return '<span class="pill ok">met</span>' if met else '<span class="pill bad">missed</span>'


def _cards(report: dict[str, Any]) -> str:
    cycles = report["cycles"]
    sla = report["sla"]
    cards = []
    if len(cycles) == 1:
        c = cycles[0]
        cls = "" if c["meets_target"] is None else "ok" if c["meets_target"] else "bad"
        cards.append((f'<span class="{cls}">{pct(c["success_rate"])}</span>',
                      f"success rate, {_e(c['account'])} {_e(c['cycle'])} (target {pct(sla['target'], 1)})"))
    else:
        missed = sum(1 for c in cycles if c["meets_target"] is False)
        cls = "bad" if missed else "ok"
        cards.append((f'<span class="{cls}">{len(cycles) - missed} / {len(cycles)}</span>',
                      f"cycles meeting the target of {pct(sla['target'], 1)}"))
    o = report["outcomes"]
    cards.append((f"{o['valid_sends']:,}", "valid sends (the denominator)"))
    cards.append((f'<span class="{"bad" if o["definite_failures"] else ""}">{o["definite_failures"]:,}</span>',
                  "definite failures"))
    cards.append((f"{o['left_out_total']:,}", "left out (invalid numbers, excluded causes)"))
    cards.append((f'<span class="{"warn" if o["pending"] else ""}">{o["pending"]:,}</span>',
                  "pending at the cut-off (never a success)"))
    currency = sla["currency"]
    fee = sum(float(a["fee"]) for a in report["accounts"])
    vouchers = sum(float(a["vouchers"]) for a in report["accounts"])
    cards.append((f"{fee:,.2f} {_e(currency)}", "fees billed"))
    cards.append((f'<span class="{"bad" if vouchers else ""}">{vouchers:,.2f} {_e(currency)}</span>',
                  "vouchers due"))
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{v}</div><div class="l">{label}</div></div>' for v, label in cards
    ) + "</div>"


def _cycle_table(report: dict[str, Any]) -> str:
    rows = []
    for c in report["cycles"]:
        period = f"{_e(c['start'])} – {_e(c['end'])}" + (" <span class='note'>(partial)</span>" if c["partial"] else "")
        rows.append(
            f"<tr><td>{_e(c['account'])}</td><td>{_e(c['cycle'])}</td><td>{period}</td>"
            f"<td class='n'>{c['sends']:,}</td><td class='n'>{c['valid_sends']:,}</td>"
            f"<td class='n'>{c['definite_failures']:,}</td><td class='n'><b>{pct(c['success_rate'], 3)}</b></td>"
            f"<td>{_verdict(c['meets_target'])}</td><td class='n'>{c['pending']:,}</td>"
            f"<td class='n'>{c['left_out_total']:,}</td></tr>")
    return ("<table><tr><th>account</th><th>cycle</th><th>period</th><th class='n'>sends</th>"
            "<th class='n'>valid sends</th><th class='n'>definite failures</th><th class='n'>success rate</th>"
            "<th>target</th><th class='n'>pending</th><th class='n'>left out</th></tr>" + "".join(rows) + "</table>")


def _breakdown_table(figures: dict[str, Any]) -> str:
    rows = []
    if figures["delivered"]:
        rows.append(("delivered", "", figures["delivered"], "yes: a success"))
    rows += [("definite_failure", r, n, "yes: a failure") for r, n in figures["definite_failure_reasons"].items()]
    for cls, entry in figures["left_out"].items():
        rows += [(cls, r, n, "no: left out") for r, n in entry["reasons"].items()]
    rows += [("pending", r, n, "no: never a success") for r, n in figures["pending_reasons"].items()]
    colour = charts.CLASS_COLOURS
    body = "".join(
        f"<tr><td><span style='color:{colour.get(c, '#616e7c')}'>&#9632;</span> {_e(c)}</td>"
        f"<td>{_e(r or '–')}</td><td class='n'>{n:,}</td><td>{_e(how)}</td><td>{_e(reason_note(c, r))}</td></tr>"
        for c, r, n, how in rows)
    return ("<table><tr><th>class</th><th>reason</th><th class='n'>messages</th><th>in the rate</th>"
            "<th>what it is</th></tr>" + body + "</table>")


def _money_table(report: dict[str, Any]) -> str:
    rows = []
    for c in report["cycles"]:
        b, comp = c["billing"], c["compensation"]
        tier = comp["tier"]
        tier_text = "–" if tier is None else f"below {pct(tier['below'], 1)}: {pct(tier['voucher'], 0)} of the fee"
        window = comp["claim_window"]
        capped = " <span class='note'>(capped at the fee less vouchers paid)</span>" if comp["capped"] else ""
        rows.append(
            f"<tr><td>{_e(c['account'])}</td><td>{_e(c['cycle'])}</td><td>{pct(c['success_rate'], 3)}</td>"
            f"<td class='n'>{b['billable_segments']:,}</td><td class='n'>{_e(b['fee'])} {_e(b['currency'])}</td>"
            f"<td>{_e(tier_text)}</td><td class='n'>{_e(comp['vouchers_paid'])}</td>"
            f"<td class='n'><b>{_e(comp['voucher'])} {_e(b['currency'])}</b>{capped}</td>"
            f"<td>after {_e(window['fifth_working_day'])}: {_e(window['opens'])} – {_e(window['closes'])}</td></tr>")
        lines = "".join(
            f"<tr><td></td><td colspan='2' class='note'>{_e(line['category'])}</td>"
            f"<td class='n note'>{line['segments']:,}</td>"
            f"<td class='n note'>{_e(line['amount'])}</td><td colspan='4' class='note'>at {_e(line['price'])} per segment"
            f"{' (default price)' if line['priced_by'] == 'default' else ' (no price: 0)' if line['priced_by'] == 'missing' else ''}"
            f"</td></tr>" for line in b["by_category"])
        rows.append(lines)
    return ("<table><tr><th>account</th><th>cycle</th><th>rate</th><th class='n'>billed segments</th>"
            "<th class='n'>fee</th><th>tier</th><th class='n'>vouchers paid</th><th class='n'>voucher due</th>"
            "<th>claim window</th></tr>" + "".join(rows) + "</table>"
            "<p class='note'>Claims open after the 5th working day (Monday–Friday, no holiday calendar) of the month "
            "after the cycle and close two months after the cycle's end. A voucher never exceeds the cycle's fee "
            "less the vouchers already paid.</p>")


def _expectation(expectation: dict[str, Any] | None) -> str:
    if expectation is None:
        return ""
    if not expectation["analytic"]:
        return ("<section><h2>Expected success rate</h2><p>Not analytic for this scenario:</p><ul>"
                + "".join(f"<li>{_e(r)}</li>" for r in expectation["reasons"]) + "</ul></section>")
    rows = "".join(
        f"<tr><td>{_e(c['account'])}</td><td>{_e(c['cycle'])}</td><td class='n'>{c['valid_sends']:,}</td>"
        f"<td class='n'>{pct(c['observed'], 3)}</td><td class='n'>{pct(c['low'], 3)} – {pct(c['high'], 3)}</td>"
        f"<td>{_verdict(c['within']).replace('met', 'within').replace('missed', 'outside')}</td></tr>"
        for c in expectation["cycles"])
    return (f"<section><h2>Expected success rate</h2><p>From the scenario's traffic mix, subscriber states and "
            f"probabilistic faults: <b>{pct(expectation['rate'], 3)}</b> (account {_e(expectation['account'])}).</p>"
            "<table><tr><th>account</th><th>cycle</th><th class='n'>valid sends</th><th class='n'>observed</th>"
            f"<th class='n'>{_e(expectation['interval'])} interval</th><th></th></tr>{rows}</table>"
            "<p class='note'>Assumptions: " + "; ".join(_e(a) for a in expectation["assumptions"]) + ".</p></section>")


def render_html(report: dict[str, Any]) -> str:
    sla = report["sla"]
    sources = report["sources"]
    timeline = report["timeline"]
    bucket = {10: "10 seconds", 60: "minute", 3600: "hour", 86400: "day"}.get(timeline["bucket_s"], f"{timeline['bucket_s']} s")
    ledgers = ", ".join(f"{_e(f['path'])} ({f['records']:,} records)" for f in sources.get("ledgers", []))
    over_time = charts.success_rate_over_time(timeline, sla["target"], sla["tiers"])
    per_cycle = charts.rate_per_cycle(report["cycles"], sla["target"], sla["tiers"])
    outcomes = charts.outcome_breakdown(report["outcomes"])
    latency = charts.latency_histogram(report["receipt_latency"])
    lat = report["receipt_latency"]
    lat_text = (f"<p class='note'>{lat['count']:,} final states: p50 {lat['p50_ms']:.0f} ms, p90 {lat['p90_ms']:.0f} ms, "
                f"p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms.</p>") if lat["count"] else ""
    cycles_detail = "".join(
        f"<h3>{_e(c['account'])} {_e(c['cycle'])}</h3>" + _breakdown_table(c)
        for c in report["cycles"]) if len(report["cycles"]) > 1 else ""
    warnings = "".join(f"<li>{_e(w)}</li>" for w in report["warnings"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>carrier-sim SLA report</title><style>{CSS}</style></head>
<body><main>
<h1>SLA success-rate report</h1>
<div class="meta">Generated {_e(report['generated_at'])} · ledgers: {ledgers or '–'} · terms: {_e(sources.get('terms', '–'))}
 · cycles in UTC{_e(report['timezone'])} · schema {_e(report['schema'])}</div>
{_cards(report)}
{f'<section><h2>Warnings</h2><ul class="warnings">{warnings}</ul></section>' if warnings else ''}
<section><h2>Success rate over time</h2>
<p class="note">Per {bucket} of submit time. Thin lines: the success rate (1 − definite failures / valid sends)
of each {bucket}; thick lines: the rate of the account's service cycle up to then. Shaded bands are the
compensation tiers, the dashed line the target. Below: delivered and definitely failed messages per {bucket}.</p>
{over_time or '<p>No valid sends to draw.</p>'}</section>
<section><h2>Service cycles</h2>{_cycle_table(report)}{per_cycle}</section>
<section><h2>Outcomes by class and reason</h2>
<p class="note">Invalid numbers and excluded causes are left out of the denominator; pending messages
(no final state at the cut-off) are shown apart and never counted as a success.</p>
{outcomes}{_breakdown_table(report['outcomes'])}{cycles_detail}</section>
<section><h2>Receipt latency</h2>{latency or '<p>No final states.</p>'}{lat_text}</section>
<section><h2>Billing and compensation</h2>{_money_table(report)}</section>
{_expectation(report.get('expectation'))}
</main></body></html>
"""
