"""`make bench`: submit_sm throughput and latency of carrier-sim next to two independent SMPP servers.

For each server (our carrier's configurations, the smpp34 peer, the node-smpp peer) and each
receipts setting, start the server on a free 127.0.0.1 port, drive it with bench/loadgen.py in
separate processes (N transceiver binds, W outstanding submits each, a warm-up, then a fixed
measured window), stop it, and print one table (plain text, then markdown for bench/RESULTS.md).
Nothing is left running: servers and load generators are stopped in `finally` blocks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import report as harness_report
from harness import run_harness
from measure import measure
from options import parse_args
from servers import CARRIER_CONFIGS, all_servers

TARGETS = {False: 50_000, True: 25_000}  # submits/s of one carrier-sim process (the issue)
REFERENCE = CARRIER_CONFIGS[0][0]  # the "ratio" column divides by this row (same receipts setting)


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ------------------------------------------------------------------------------------------ tables
COLUMNS = ["server", "receipts", "submits/s", "p50 ms", "p99 ms", "receipts/s", "ratio vs carrier-sim",
           "server CPU", "loadgen CPU"]  # fmt: skip


def _cells(row: dict, reference: dict[bool, float | None]) -> list[str]:
    m = row.get("metrics")
    if m is None:
        what = "skipped" if row.get("skipped") else "failed" if row.get("failed") else "not run"
        return [row["server"], "on" if row["receipts"] else "off", what, "-", "-", "-", "-", "-", "-"]
    ref = reference.get(row["receipts"])
    ratio = f"{m['submits_s'] / ref:.2f}x" if ref else "-"

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}" if v >= 10 else f"{v:.2f}"

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v * 100:.0f}%"

    return [
        row["server"],
        "on" if row["receipts"] else "off",
        f"{m['submits_s']:,.0f}",
        ms(m["p50_ms"]),
        ms(m["p99_ms"]),
        f"{m['receipts_s']:,.0f}" if row["receipts"] else "-",
        ratio,
        pct(m["server_cpu"]),
        pct(m["loadgen_cpu"]),
    ]


def render(rows: list[dict], markdown: bool) -> str:
    reference = {
        r["receipts"]: r["metrics"]["submits_s"]
        for r in rows
        if r["server"] == REFERENCE and r.get("metrics")
    }
    table = [_cells(r, reference) for r in rows]
    if markdown:
        out = [
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|",
        ]
        out += ["| " + " | ".join(cells) + " |" for cells in table]
        return "\n".join(out)
    widths = [max([len(c)] + [len(t[i]) for t in table]) for i, c in enumerate(COLUMNS)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(COLUMNS), fmt(["-" * w for w in widths]), *(fmt(t) for t in table)])


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(terse=True),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if shutil.which("node"):
        try:
            info["node"] = subprocess.run(
                ["node", "--version"], check=False, capture_output=True, text=True, timeout=5
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return info


# ------------------------------------------------------------------------------------------ main
def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (e.g. make being stopped) unwinds like Ctrl-C, so every `finally` stops its process.
    signal.signal(signal.SIGTERM, _interrupt)
    code = 0
    if args.harness != "only":
        code = servers_table(args)
    if args.harness != "off":
        settings = {"off": [False], "on": [True], "both": [False, True]}[args.receipts]
        print()
        rows, notes = run_harness(args, settings, args.repeat)
        markdown = harness_report(rows, notes, args, args.repeat)
        print()
        print("---- markdown, load harness (paste into bench/RESULTS.md) ----")
        print(markdown)
        if not (rows and all(r.get("metrics") for r in rows)):
            code = 1
    return code


def servers_table(args: argparse.Namespace) -> int:
    """The first table: every server under bench/loadgen.py."""
    specs = {s.name: s for s in all_servers()}
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.receipts]
    selected = [specs[n] for n in args.only]
    notes: list[str] = []
    runnable = []
    for spec in selected:
        why = spec.unavailable()
        if why:
            notes.append(f"{spec.name} skipped: {why}")
        else:
            runnable.append(spec)
    info = machine()
    per_run = args.warmup + args.duration + 3
    print(f"carrier-sim bench: {len(runnable)} server(s) x {len(settings)} receipts setting(s) x {args.repeat} "
          f"repeat(s), ~{per_run * len(runnable) * len(settings) * args.repeat:.0f}s; {args.binds} binds, window "
          f"{args.window}, {args.warmup:g}s warm-up + {args.duration:g}s measured, {args.loadgens} loadgen process(es)",
          flush=True)  # fmt: skip
    for note in notes:
        print(f"  note: {note}", flush=True)

    samples: dict[tuple[str, bool], list[dict]] = {(s.name, r): [] for s in runnable for r in settings}
    failures: dict[tuple[str, bool], str] = {}
    try:
        for rep in range(args.repeat):  # round-robin, so that noise spreads over all rows
            for spec in runnable:
                for receipts in settings:
                    key = (spec.name, receipts)
                    label = f"[{rep + 1}/{args.repeat}] {spec.name} receipts {'on' if receipts else 'off'}"
                    print(f"  {label} ...", end="", flush=True)
                    try:
                        m = measure(spec, receipts, args)
                    except (RuntimeError, OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
                        failures[key] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                        print(f" FAILED: {exc}", flush=True)
                        continue
                    samples[key].append(m)
                    extra = f", {m['receipts_s']:,.0f} receipts/s" if receipts else ""
                    print(f" {m['submits_s']:,.0f} submits/s{extra}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted: servers and load generators stopped; partial table follows", flush=True)

    rows = []
    for spec in selected:
        if spec not in runnable:
            rows += [{"server": spec.name, "receipts": r, "runs": [], "skipped": True} for r in settings]
            continue
        for receipts in settings:
            runs = samples[(spec.name, receipts)]
            row: dict = {"server": spec.name, "receipts": receipts, "runs": runs}
            if runs:
                row["metrics"] = {
                    k: _median([r[k] for r in runs]) for k in runs[0] if k != "server_log_first_error"
                }
                m = row["metrics"]
                logged = sum(r["server_log_errors"] for r in runs)
                if logged:
                    first = next(r["server_log_first_error"] for r in runs if r["server_log_errors"])
                    notes.append(
                        f"{spec.name} receipts {'on' if receipts else 'off'}: the server logged {logged} "
                        f"error line(s), e.g. {first.strip()[:160]!r}"
                    )
                if m["errors"]:
                    notes.append(
                        f"{spec.name} receipts {'on' if receipts else 'off'}: {m['errors']:.0f} "
                        "submits answered with an error status or generic_nack (counted in submits/s)"
                    )
                if receipts and m["receipts_s"] < 0.9 * m["submits_s"]:
                    notes.append(
                        f"{spec.name} receipts on: receipts arrive at {m['receipts_s'] / m['submits_s']:.0%} "
                        "of the submit rate: the receipt backlog grows by "
                        f"~{m['submits_s'] - m['receipts_s']:,.0f}/s"
                    )
                if "mqtt_published" in m:
                    if m["mqtt_published"] is None:
                        notes.append(f"{spec.name} receipts {'on' if receipts else 'off'}: no MQTT status (control API?)")
                    else:
                        notes.append(
                            f"{spec.name} receipts {'on' if receipts else 'off'}: {m['mqtt_published']:,.0f} records "
                            f"published to mosquitto by the end of the window, {m['mqtt_unpublished']:,.0f} dropped, "
                            f"{m['mqtt_waiting']:,.0f} still buffered"
                        )
                if m["closed_after"]:
                    notes.append(
                        f"{spec.name} receipts {'on' if receipts else 'off'}: the server closed "
                        f"{m['closed_after']:.0f} bind(s) after the measured window (numbers stand)"
                    )
                if m["loadgen_cpu_max"] > 0.8:
                    notes.append(
                        f"{spec.name} receipts {'on' if receipts else 'off'}: a loadgen process used "
                        f"{m['loadgen_cpu_max'] * 100:.0f}% of a core: it may be the bottleneck "
                        "(try --loadgens 2)"
                    )
            elif (spec.name, receipts) in failures:
                row["failed"] = True
                notes.append(
                    f"{spec.name} receipts {'on' if receipts else 'off'} failed: {failures[(spec.name, receipts)]}"
                )
            rows.append(row)

    header = (
        f"machine: {info['cpu']}, {info['cores']} cores, {info['python']}"
        + (f", node {info['node']}" if "node" in info else "")
        + f"; {info['os']}; {info['date']}"
    )
    params = (
        f"load: {args.binds} transceiver binds, window {args.window} per bind, {args.loadgens} loadgen "
        f"process(es), {args.warmup:g}s warm-up + {args.duration:g}s measured, "
        f"median of {args.repeat} run(s); latency = submit_sm -> submit_sm_resp, "
        + (
            "every response timed"
            if args.latency_sample == 1
            else f"1 in {args.latency_sample} responses timed"
        )
    )
    print()
    print(header)
    print(params)
    print()
    print(render(rows, markdown=False))
    for note in notes:
        print(f"note: {note}")
    print()
    for label, receipts in (("off", False), ("on", True)):
        ref = next(
            (r for r in rows if r["server"] == REFERENCE and r["receipts"] is receipts and r.get("metrics")),
            None,
        )
        if ref is not None:
            # with receipts on, the receipts must keep pace too: a backlog that grows is not sustained
            got = ref["metrics"]["submits_s"]
            rec = ref["metrics"]["receipts_s"]
            ok = got >= TARGETS[receipts] and (not receipts or rec >= TARGETS[receipts])
            what = f"{got:,.0f} submits/s" + (f" and {rec:,.0f} receipts/s" if receipts else "")
            need = " (submits and receipts)" if receipts else ""
            verdict = "met" if ok else "NOT met"
            print(
                f"target: {REFERENCE} receipts {label} >= {TARGETS[receipts]:,}/s{need}: measured {what} -> {verdict}"
            )
    print()
    print("---- markdown (paste into bench/RESULTS.md) ----")
    print(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['python']}"
        + (f", node {info['node']}" if "node" in info else "")
        + f". Date: {info['date']}.  "
    )
    print(params[0].upper() + params[1:] + ".")
    print()
    print(render(rows, markdown=True))
    for note in notes:
        print(f"\n- {note}", end="")
    print()
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "args": {k: (str(v) if isinstance(v, Path) else v)
                                                                   for k, v in vars(args).items()},
                                         "rows": rows}, indent=2))  # fmt: skip
    return 0 if rows and all(r.get("metrics") or r.get("skipped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
