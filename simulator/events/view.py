"""The meter's terminal view: per-account SLA figures of all nodes together, and each node's state.

Renders LiveMeter.summary() into rich tables; it computes no figure itself and never does I/O.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from simulator.metering.text import pct


def live_view(summary: dict[str, Any], broker: str, elapsed: float, duration: float | None) -> Group:
    head = Text.assemble(("carrier-sim meter", "bold"), f"  {broker}  {elapsed:5.0f} s",
                         f" of {duration:.0f} s" if duration else "  (Ctrl-C ends and writes the report)")
    accounts = Table(title="SLA figures, all nodes combined", title_justify="left")
    for name in ("account", "sends", "valid sends", "definite failures", "success rate", "pending", "left out",
                 "delivered"):
        accounts.add_column(name, justify="left" if name == "account" else "right")
    for account, f in summary["accounts"].items():
        accounts.add_row(account, f"{f['sends']:,}", f"{f['valid_sends']:,}", f"{f['definite_failures']:,}",
                         pct(f["rate"], 3), f"{f['pending']:,}", f"{f['left_out']:,}", f"{f['delivered']:,}")
    if not summary["accounts"]:
        accounts.add_row("(no outcomes yet)", "", "", "", "", "", "", "")
    nodes = Table(title="Nodes", title_justify="left")
    for name in ("node", "state", "records", "batches", "unpublished (node)", "run"):
        nodes.add_column(name, justify="left" if name in ("node", "state", "run") else "right")
    for node, n in summary["nodes"].items():
        state = n["state"] or "?"
        style = "green" if state == "online" else "red" if state == "offline" else ""
        nodes.add_row(node, Text(state, style=style), f"{n['records']:,}", f"{n['batches']:,}",
                      "-" if n["unpublished"] is None else f"{n['unpublished']:,}", ", ".join(n["run_ids"]) or "-")
    parts: list[Any] = [head, accounts, nodes]
    gaps = []
    if summary["missing_batches"]:
        gaps.append(f"{summary['missing_batches']} batches missing")
    if summary["unpublished"]:
        gaps.append(f"{summary['unpublished']:,} records the nodes could not publish")
    if summary["unmatched_finals"]:
        gaps.append(f"{summary['unmatched_finals']:,} final states without their message")
    if gaps:
        parts.append(Text("incomplete live view: " + "; ".join(gaps) + " (the ledgers have everything: "
                          "carrier-sim report LEDGER...)", style="yellow"))
    parts.append(Text(time.strftime("updated %H:%M:%S"), style="dim"))
    return Group(*parts)
