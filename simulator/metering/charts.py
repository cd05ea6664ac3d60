"""The report's charts as inline SVG (matplotlib, Agg-free Figure objects, no pyplot global state).

Each function takes a part of a report dict and returns an <svg> string, or "" when there is
nothing to draw. It never computes a metering figure: it draws what the report holds.
"""

from __future__ import annotations

import io
import math
from datetime import datetime
from itertools import pairwise
from typing import Any

CLASS_COLOURS = {
    "delivered": "#2e7d32",
    "definite_failure": "#c62828",
    "invalid_number": "#607d8b",
    "excluded": "#8e6cbf",
    "pending": "#ef8f00",
}
SERIES_COLOURS = ["#1565c0", "#00897b", "#6d4c41", "#5e35b1", "#d81b60", "#3949ab", "#7cb342", "#546e7a"]
RC = {
    "svg.fonttype": "none",  # text stays text: the browser's font, small files
    "svg.hashsalt": "carrier-sim",  # stable ids: the same report gives the same file
    "font.family": "DejaVu Sans",  # ships with matplotlib: no font lookups, same metrics everywhere
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e5e5",
    "grid.linewidth": 0.6,
}


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96)


def _rc() -> Any:
    import matplotlib

    return matplotlib.rc_context(RC)


def success_rate_over_time(timeline: dict[str, Any], target: float, tiers: list[dict[str, float]]) -> str:
    """Top: each account's rate per bucket (thin) and its cycle-to-date rate (thick), the target and
    the tier bands. Below: delivered and definitely failed messages per bucket."""
    series = [s for s in timeline["series"] if s["points"]]
    if not series:
        return ""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    with _rc():
        fig = _figure(10, 4.4)
        grid = fig.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.08)
        ax = fig.add_subplot(grid[0])
        volume = fig.add_subplot(grid[1], sharex=ax)
        width = timeline["bucket_s"] / 86400 * 0.85
        delivered: dict[datetime, int] = {}
        failed: dict[datetime, int] = {}
        lows = []
        for i, s in enumerate(series):
            xs = [datetime.fromisoformat(p["t"]) for p in s["points"]]
            ys = [math.nan if p["success_rate"] is None else p["success_rate"] * 100 for p in s["points"]]
            todate = [math.nan if p["cycle_to_date_rate"] is None else p["cycle_to_date_rate"] * 100
                      for p in s["points"]]
            lows.extend(y for y in ys + todate if not math.isnan(y))
            for x, p in zip(xs, s["points"]):
                delivered[x] = delivered.get(x, 0) + p["delivered"]
                failed[x] = failed.get(x, 0) + p["definite_failures"]
            colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
            few = len(xs) < 40
            ax.plot(xs, ys, linewidth=0.8, alpha=0.45, color=colour, marker="o" if few else None, markersize=2.5,
                    zorder=3)
            ax.plot(xs, todate, linewidth=2.0, color=colour, label=f"{s['account']} (cycle to date)", zorder=4)
        xs = sorted(delivered)
        ok = [delivered[x] for x in xs]
        volume.bar(xs, ok, width=width, align="edge", color=CLASS_COLOURS["delivered"], alpha=0.75,
                   label="delivered")
        volume.bar(xs, [failed[x] for x in xs], width=width, align="edge", bottom=ok,
                   color=CLASS_COLOURS["definite_failure"], alpha=0.85, label="definite failures")
        volume.set_ylabel("messages")
        volume.set_ylim(0, max(d + f for d, f in zip(ok, (failed[x] for x in xs))) * 1.5 + 1)
        volume.legend(loc="upper left", frameon=False, ncol=2, fontsize=7.5)
        floor = min([*lows, target * 100, *(t["below"] * 100 for t in tiers)]) if lows else target * 100
        bottom = max(0.0, math.floor(floor / 5) * 5 - 5)
        previous = bottom
        shades = ["#ffcdd2", "#ffe0b2", "#fff9c4", "#f0f4c3"]
        for j, tier in enumerate(sorted(tiers, key=lambda t: t["below"])):
            top = tier["below"] * 100
            if top > previous:
                ax.axhspan(previous, top, color=shades[j % len(shades)], alpha=0.35, zorder=0, linewidth=0)
                ax.annotate(f"below {top:g} %: {tier['voucher'] * 100:g} % voucher", xy=(1, top),
                            xycoords=("axes fraction", "data"), xytext=(-4, -3), textcoords="offset points",
                            va="top", ha="right", fontsize=7, color="#8d6e63")
            previous = max(previous, top)
        ax.axhline(target * 100, color="#37474f", linestyle="--", linewidth=1, zorder=2)
        ax.annotate(f"target {target * 100:g} %", xy=(0, target * 100), xycoords=("axes fraction", "data"),
                    xytext=(4, 2), textcoords="offset points", va="bottom", ha="left", fontsize=7, color="#37474f")
        ax.set_ylim(bottom, 100.8)
        ax.set_ylabel("success rate (%)")
        ax.tick_params(labelbottom=False)
        ax.legend(loc="lower left", frameon=False, ncol=min(4, len(series)), fontsize=7.5)
        locator = AutoDateLocator()
        volume.xaxis.set_major_locator(locator)
        volume.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        return _svg(fig)


def outcome_breakdown(outcomes: dict[str, Any]) -> str:
    """Messages by class and reason, one bar each, coloured by class."""
    rows: list[tuple[str, str, int]] = []
    if outcomes["delivered"]:
        rows.append(("delivered", "", outcomes["delivered"]))
    rows += [("definite_failure", r, n) for r, n in outcomes["definite_failure_reasons"].items()]
    for cls, entry in outcomes["left_out"].items():
        rows += [(cls, r, n) for r, n in entry["reasons"].items()]
    rows += [("pending", r, n) for r, n in outcomes["pending_reasons"].items()]
    if not rows:
        return ""
    with _rc():
        fig = _figure(9.5, 0.6 + 0.28 * len(rows))
        ax = fig.add_subplot()
        labels = [f"{c.replace('_', ' ')}" + (f" / {r}" if r else "") for c, r, _ in rows]
        values = [n for _, _, n in rows]
        ys = list(range(len(rows)))[::-1]
        ax.barh(ys, values, color=[CLASS_COLOURS.get(c, "#9e9e9e") for c, _, _ in rows], height=0.7)
        ax.set_yticks(ys, labels)
        ax.set_xscale("log" if max(values) / max(min(values), 1) > 200 else "linear")
        ax.grid(axis="y", visible=False)
        total = sum(values)
        for y, v in zip(ys, values):
            ax.text(v, y, f"  {v} ({v / total * 100:.1f} %)", va="center", fontsize=7.5, color="#424242")
        ax.set_xlim(right=max(values) * (3 if ax.get_xscale() == "log" else 1.25))
        ax.set_xlabel("messages")
        return _svg(fig)


def latency_histogram(latency: dict[str, Any]) -> str:
    """Receipt latency (done - submit) on a log axis, stacked by final state, with p50 and p99."""
    histogram = latency["histogram"]
    edges = histogram["edges_ms"]
    if not latency["count"] or not edges:
        return ""
    with _rc():
        fig = _figure(9.5, 3.0)
        ax = fig.add_subplot()
        lefts, widths = edges[:-1], [b - a for a, b in pairwise(edges)]
        bottom = [0] * len(lefts)
        colours = {"DELIVRD": CLASS_COLOURS["delivered"], "UNDELIV": CLASS_COLOURS["definite_failure"],
                   "EXPIRED": CLASS_COLOURS["pending"], "REJECTD": "#ad1457", "UNKNOWN": "#9e9e9e",
                   "DELETED": "#5d4037"}
        for state, counts in histogram["counts"].items():
            ax.bar(lefts, counts, width=widths, bottom=bottom, align="edge", label=state,
                   color=colours.get(state, "#9e9e9e"), edgecolor="white", linewidth=0.4)
            bottom = [b + c for b, c in zip(bottom, counts)]
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        for q, style in (("p50_ms", ":"), ("p99_ms", "--")):
            ax.axvline(latency[q], color="#263238", linestyle=style, linewidth=1)
            ax.text(latency[q], 1.0, f" {q[:3]} {latency[q]:.0f} ms", transform=ax.get_xaxis_transform(),
                    va="top", fontsize=7.5)
        ax.set_xlabel("receipt latency: done_time - submit_time (ms, log scale)")
        ax.set_ylabel("messages")
        ax.legend(frameon=False, fontsize=7.5)
        return _svg(fig)


def rate_per_cycle(cycles: list[dict[str, Any]], target: float, tiers: list[dict[str, float]]) -> str:
    """Each account-cycle's rate against the target and the tier lines."""
    drawn = [c for c in cycles if c["success_rate"] is not None]
    if not drawn:
        return ""
    with _rc():
        fig = _figure(9.5, 2.4)
        ax = fig.add_subplot()
        labels = [f"{c['account']}\n{c['cycle']}" for c in drawn]
        rates = [c["success_rate"] * 100 for c in drawn]
        colours = [CLASS_COLOURS["delivered"] if c["meets_target"] else CLASS_COLOURS["definite_failure"]
                   for c in drawn]
        xs = range(len(drawn))
        ax.bar(xs, rates, color=colours, width=0.55)
        ax.set_xlim(-0.5 - max(0, (4 - len(drawn)) / 2), len(drawn) - 0.5 + max(0, (4 - len(drawn)) / 2))
        ax.set_xticks(list(xs), labels)
        for x, r in zip(xs, rates):
            ax.text(x, r, f"{r:.2f} %", ha="center", va="bottom", fontsize=7.5)
        ax.axhline(target * 100, color="#37474f", linestyle="--", linewidth=1)
        for tier in tiers:
            ax.axhline(tier["below"] * 100, color="#8d6e63", linestyle=":", linewidth=0.8)
        low = min([*rates, *(t["below"] * 100 for t in tiers), target * 100])
        ax.set_ylim(max(0, math.floor(low / 5) * 5 - 5), 101)
        ax.set_ylabel("success rate (%)")
        ax.grid(axis="x", visible=False)
        return _svg(fig)
