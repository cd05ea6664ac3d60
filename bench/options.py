"""The command line of `make bench`, shared by both tables (bench/run.py and bench/harness.py).

Owns: every option and its checks; the servers table's (--binds, --window, --duration ...) and the
load harness's (--harness-*). Not here: what the options drive (measure.py, run.py, harness.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from servers import ROOT, all_servers, default_names

DESCRIPTION = "`make bench`: submit_sm throughput and latency of carrier-sim next to two independent SMPP servers."
LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = [s.name for s in all_servers()]
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring (default 1)")
    p.add_argument("--binds", type=int, default=4, help="transceiver binds in all (default 4)")
    p.add_argument("--window", type=int, default=100, help="outstanding submit_sm per bind (default 100)")
    p.add_argument(
        "--only",
        default=",".join(default_names()),
        help=f"comma-separated servers to run (default: %(default)s; known: {', '.join(names)})",
    )
    p.add_argument("--receipts", choices=["off", "on", "both"], default="both")
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per row, round-robin; the table shows the median of each column (default 3)",
    )
    p.add_argument(
        "--loadgens",
        type=int,
        default=1,
        help="load generator processes sharing the binds (default 1: against carrier-sim it uses "
        "under 10%% of a core at 50k/s, see bench/RESULTS.md)",
    )
    p.add_argument(
        "--latency-sample", type=int, default=1, help="time 1 of every N responses (default 1: all)"
    )
    p.add_argument("--max-submits", type=int, default=5_000_000, help="cap on submits per loadgen process")
    p.add_argument("--json", type=Path, help="also write the raw results to this file")
    add_harness_arguments(p)
    args = p.parse_args(argv)
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in args.only if n not in names]
    if unknown:
        p.error(f"unknown server(s) {', '.join(unknown)}; known: {', '.join(names)}")
    if args.duration <= 0 or args.warmup < 0 or args.binds < 1 or args.window < 1 or args.repeat < 1:
        p.error("--duration must be > 0, --warmup >= 0, --binds, --window and --repeat >= 1")
    if args.harness_duration < args.harness_skip + 2 or args.harness_users < 1 or args.harness_window < 1:
        p.error("--harness-duration must be >= --harness-skip + 2, --harness-users and --harness-window >= 1")
    return args


def add_harness_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the second table (bench/harness.py)."""
    g = p.add_argument_group("load harness (the second table)")
    g.add_argument("--harness", choices=["on", "off", "only"], default="on",
                   help="run the Locust harness table after the servers table (default on), or only it")
    g.add_argument("--harness-duration", type=float, default=10.0, help="seconds per Locust run (default 10)")
    g.add_argument("--harness-skip", type=float, default=2.0,
                   help="seconds at the start of a Locust run left out of the CPU and carrier-count window (default 2)")
    g.add_argument("--harness-users", type=int, default=4, help="Locust users (binds) per Locust process (default 4)")
    g.add_argument("--harness-window", type=int, default=100, help="outstanding submit_sm per user (default 100)")
    g.add_argument("--harness-processes", default="1,2", help="Locust process counts, one row each (default 1,2)")
    g.add_argument("--locustfile", type=Path, default=LOCUSTFILE, help=argparse.SUPPRESS)
