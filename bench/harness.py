"""`make bench`, second table: submits per second of the Locust harness (loadtests/) against carrier-sim.

Each row starts the bare carrier (`carrier-sim serve --ledger off`) with a scenario that accepts
everything, runs Locust headless on loadtests/locustfile.py (1 process, or --processes 2) for a
fixed time with per-request timing as always (one request event per submit_sm), and reads the
submits/s from Locust's CSV. The simulator's own count over the middle of the run and the CPU of
both sides (/proc) are measured too, and bench/loadgen.py runs against the same carrier as the
raw reference. Nothing is left running: the carrier and Locust are stopped in `finally` blocks.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import measure
from options import parse_args
from servers import Running, ServerSpec, cpu_seconds, running

TARGET_PER_PROCESS = 25_000  # submits/s of one Locust process, per-request timing on (issue 5)

# Accepts everything at once (no faults, one active number group, one short template). The
# receipts-on rows only change registered_delivery (receipts come 100 ms after the submit).
SCENARIO = """\
# bench/harness.py writes this file for its run (not a product scenario).
name: bench-harness
seed: 1
carrier:
  accounts:
    - {{system_id: qa, password: qa-pass, max_binds: 64}}
numbers:
  groups:
    active: {{prefix: "8613800", state: active}}
load:
  users: {users}
  spawn_rate: 1000
  window: {window}
  traffic: {{active: 100}}
  templates:
    - {{text: "【Acme】Your code is {{code}}", category: verification}}
  registered_delivery: {registered_delivery}
"""


# ------------------------------------------------------------------------------------------ helpers
def tree_pids(pid: int) -> list[int]:
    """pid and its descendants (Locust --processes forks its workers)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return pids


def tree_cpu(pids: list[int]) -> dict[int, float]:
    return {p: c for p in pids if (c := cpu_seconds(p)) is not None}


def machine_busy() -> float | None:
    """CPU seconds all processes on this machine have used (every core), from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # less idle and iowait


def control_address(server: Running) -> str:
    lines = (server.log.parent / "ready").read_text().split()
    return lines[1] if len(lines) > 1 else ""


def sim_counts(control: str) -> tuple[int, int] | None:
    """(submits, receipts acknowledged by the ESMEs) so far, from the carrier's control API."""
    try:
        with urllib.request.urlopen(f"http://{control}/status", timeout=2) as resp:
            status = json.loads(resp.read())
        acked = sum(a["delivery"]["acked"] for a in status["accounts"].values())
        return status["stats"]["submits"], acked
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_stats(prefix: Path) -> dict[str, dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# ------------------------------------------------------------------------------------------ one run
def measure_locust(processes: int, receipts: bool, args: argparse.Namespace, workdir: Path) -> dict:
    """One Locust run against a fresh carrier: start both, measure, stop both."""
    users = args.harness_users * processes
    scenario = workdir / f"harness-{'on' if receipts else 'off'}-{processes}.yaml"
    scenario.write_text(SCENARIO.format(users=users, window=args.harness_window,
                                        registered_delivery=1 if receipts else 0))
    spec = ServerSpec("carrier-sim", "carrier", ["--ledger", "off", "--scenario", str(scenario)])
    prefix = workdir / f"locust-{processes}-{int(receipts)}"
    with running(spec, receipts) as server:
        control = control_address(server)
        cmd = [
            sys.executable, "-m", "locust", "-f", str(args.locustfile), "--headless", "--only-summary",
            "-u", str(users), "-r", str(max(users, 100)), "-t", f"{args.harness_duration:g}s",
            "--host", f"127.0.0.1:{server.port}", "--csv", str(prefix), "--stop-timeout", "2",
            "--loglevel", "WARNING",
        ]  # fmt: skip
        if processes > 1:
            cmd += ["--processes", str(processes)]
        env = {**os.environ, "CARRIER_SIM_SCENARIO": str(scenario), "PYTHONUNBUFFERED": "1"}
        for var in ("CARRIER_SIM_TALLY", "CARRIER_SIM_SUBMIT_FOR"):
            env.pop(var, None)
        log = open(workdir / f"locust-{processes}-{int(receipts)}.log", "wb")  # noqa: SIM115 - closed below
        # cwd: the scratch folder, so that `loadtests` is the installed one (or PYTHONPATH's)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=workdir)
        try:
            started = time.monotonic()
            # the middle of the run: after the binds and the first windows, before the stop
            t0 = started + args.harness_skip
            t1 = started + args.harness_duration - 1.0
            _sleep_until(t0)
            pids = tree_pids(proc.pid)
            all0 = machine_busy()
            loc0, srv0, sub0, w0 = tree_cpu(pids), cpu_seconds(server.proc.pid), sim_counts(control), time.monotonic()
            _sleep_until(t1)
            loc1, srv1, sub1, w1 = tree_cpu(pids), cpu_seconds(server.proc.pid), sim_counts(control), time.monotonic()
            all1 = machine_busy()
            code = proc.wait(timeout=args.harness_duration + 60)
        finally:
            _stop(proc)
            log.close()
        if server.proc.poll() is not None:
            raise RuntimeError(f"the carrier died during the run:\n{server.log_tail()}")
    try:
        stats = read_stats(prefix)
    except OSError as exc:
        tail = (workdir / f"locust-{processes}-{int(receipts)}.log").read_text(errors="replace")[-1500:]
        raise RuntimeError(f"Locust exited {code} without its CSV: {exc}\n{tail}") from None
    submit = stats.get("submit_sm")
    if submit is None or not int(submit["Request Count"]):
        raise RuntimeError(f"Locust (exit {code}) recorded no submit_sm")
    receipt = stats.get("receipt")
    window = w1 - w0
    locust_cpu = sum(loc1[p] - loc0[p] for p in loc1 if p in loc0)
    counted = sub0 is not None and sub1 is not None
    sim_rate = (sub1[0] - sub0[0]) / window if counted else None
    return {
        "processes": processes,
        "users": users,
        "submits_s": float(submit["Requests/s"]),
        "requests": int(submit["Request Count"]),
        "failures": int(submit["Failure Count"]),
        "p50_ms": float(submit["50%"]),
        "p99_ms": float(submit["99%"]),
        # receipt events (timed only in the Locust process that sent the submit) and all receipts
        # the harness answered, as the carrier counts them over the middle window
        "receipt_events_s": float(receipt["Requests/s"]) if receipt else 0.0,
        "receipts_s": (sub1[1] - sub0[1]) / window if counted else None,
        "sim_submits_s": sim_rate,
        "locust_cpu": locust_cpu / window,
        "server_cpu": None if srv0 is None or srv1 is None else (srv1 - srv0) / window,
        # everything else on the machine meanwhile (other users' jobs, the kernel, this script)
        "other_cpu": None if None in (all0, all1, srv0, srv1) else
        max(0.0, (all1 - all0 - locust_cpu - (srv1 - srv0)) / window),
        # Locust's CPU per submit over the middle window, in microseconds (all its processes)
        "locust_us_per_submit": locust_cpu / (sim_rate * window) * 1e6 if sim_rate else None,
        "exit_code": code,
    }


def measure_loadgen(receipts: bool, args: argparse.Namespace, workdir: Path) -> dict:
    """bench/loadgen.py against the same carrier and scenario: the raw rate, for the ratio."""
    scenario = workdir / f"harness-loadgen-{'on' if receipts else 'off'}.yaml"
    scenario.write_text(SCENARIO.format(users=1, window=args.harness_window,
                                        registered_delivery=1 if receipts else 0))
    spec = ServerSpec("carrier-sim", "carrier", ["--ledger", "off", "--scenario", str(scenario)])
    return measure(spec, receipts, args)


# ------------------------------------------------------------------------------------------ table
COLUMNS = ["load", "receipts", "submits/s", "per process", "p50 ms", "p99 ms", "receipts/s",
           "carrier-counted submits/s", "vs loadgen", "Locust CPU", "carrier CPU", "other CPU", "Locust CPU/submit"]  # fmt: skip


def _cells(row: dict, reference: dict[bool, float]) -> list[str]:
    m = row.get("metrics")
    name = row["load"]
    rec = "on" if row["receipts"] else "off"
    if m is None:
        return [name, rec, "failed" if row.get("failed") else "not run"] + ["-"] * (len(COLUMNS) - 3)

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v * 100:.0f}%"

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}" if v >= 10 else f"{v:.2f}"

    ref = reference.get(row["receipts"])
    if row["kind"] == "loadgen":
        return [name, rec, f"{m['submits_s']:,.0f}", f"{m['submits_s']:,.0f}", ms(m["p50_ms"]), ms(m["p99_ms"]),
                f"{m['receipts_s']:,.0f}" if row["receipts"] else "-", "-", "1.00x",
                pct(m["loadgen_cpu"]), pct(m["server_cpu"]), "-", "-"]  # fmt: skip
    per = m["submits_s"] / m["processes"]
    us = m["locust_us_per_submit"]
    return [
        name,
        rec,
        f"{m['submits_s']:,.0f}",
        f"{per:,.0f}",
        ms(m["p50_ms"]),
        ms(m["p99_ms"]),
        f"{m['receipts_s']:,.0f}" if row["receipts"] and m["receipts_s"] is not None else "-",
        "-" if m["sim_submits_s"] is None else f"{m['sim_submits_s']:,.0f}",
        f"{m['submits_s'] / ref:.2f}x" if ref else "-",
        pct(m["locust_cpu"]),
        pct(m["server_cpu"]),
        pct(m["other_cpu"]),
        "-" if us is None else f"{us:.1f} µs",
    ]


def render(rows: list[dict], markdown: bool) -> str:
    reference = {r["receipts"]: r["metrics"]["submits_s"] for r in rows
                 if r["kind"] == "loadgen" and r.get("metrics")}  # fmt: skip
    table = [_cells(r, reference) for r in rows]
    if markdown:
        out = ["| " + " | ".join(COLUMNS) + " |",
               "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|"]  # fmt: skip
        return "\n".join(out + ["| " + " | ".join(cells) + " |" for cells in table])
    widths = [max([len(c)] + [len(t[i]) for t in table]) for i, c in enumerate(COLUMNS)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(COLUMNS), fmt(["-" * w for w in widths]), *(fmt(t) for t in table)])


# ------------------------------------------------------------------------------------------ main
def run_harness(args: argparse.Namespace, settings: list[bool], repeat: int) -> tuple[list[dict], list[str]]:
    """The rows (loadgen reference first, then Locust per process count), medians over `repeat`."""
    processes = [int(n) for n in str(args.harness_processes).split(",") if n.strip()]
    keys = [("loadgen", 1, r) for r in settings] + [("locust", n, r) for n in processes for r in settings]
    samples: dict[tuple, list[dict]] = {k: [] for k in keys}
    failures: dict[tuple, str] = {}
    notes: list[str] = []
    print(f"load harness: {len(keys)} row(s) x {repeat} repeat(s), Locust {args.harness_duration:g}s per run, "
          f"{args.harness_users} users x window {args.harness_window} per Locust process", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-harness-") as tmp:
        workdir = Path(tmp)
        try:
            for rep in range(repeat):
                for key in keys:
                    kind, n, receipts = key
                    label = f"[{rep + 1}/{repeat}] " + (
                        "loadgen.py" if kind == "loadgen" else f"locust --processes {n}" if n > 1 else "locust 1 process"
                    ) + f" receipts {'on' if receipts else 'off'}"
                    print(f"  {label} ...", end="", flush=True)
                    try:
                        if kind == "loadgen":
                            m = measure_loadgen(receipts, args, workdir)
                        else:
                            m = measure_locust(n, receipts, args, workdir)
                    except (RuntimeError, OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
                        failures[key] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                        print(f" FAILED: {exc}", flush=True)
                        continue
                    samples[key].append(m)
                    extra = "" if kind == "loadgen" else (
                        f" (carrier counted {m['sim_submits_s'] or 0:,.0f}/s; Locust CPU {m['locust_cpu'] * 100:.0f}%,"
                        f" carrier CPU {(m['server_cpu'] or 0) * 100:.0f}%, other {(m['other_cpu'] or 0) * 100:.0f}%)")  # fmt: skip
                    print(f" {m['submits_s']:,.0f} submits/s{extra}", flush=True)
        except KeyboardInterrupt:
            print("\ninterrupted: the carrier and Locust are stopped; partial table follows", flush=True)
    rows = []
    for key in keys:
        kind, n, receipts = key
        name = ("loadgen.py (raw)" if kind == "loadgen" else
                f"locust --processes {n}" if n > 1 else "locust 1 process")  # fmt: skip
        row: dict = {"load": name, "kind": kind, "receipts": receipts, "runs": samples[key]}
        runs = samples[key]
        if runs:
            row["metrics"] = {k: _median([r.get(k) for r in runs]) for k in runs[0]
                              if not isinstance(runs[0][k], str)}  # fmt: skip
            m = row["metrics"]
            if kind == "locust" and m.get("failures"):
                notes.append(f"{name} receipts {'on' if receipts else 'off'}: {m['failures']:.0f} failed submit_sm")
            if kind == "locust" and m.get("exit_code"):
                notes.append(f"{name} receipts {'on' if receipts else 'off'}: Locust exited {m['exit_code']:.0f}")
        elif key in failures:
            row["failed"] = True
            notes.append(f"{name} receipts {'on' if receipts else 'off'} failed: {failures[key]}")
        rows.append(row)
    return rows, notes


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def limit_of(m: dict) -> str:
    """What held the rate, from the CPU each side used over the middle window."""
    cores = os.cpu_count() or 1
    carrier, locust, other = m["server_cpu"] or 0, m["locust_cpu"] or 0, m["other_cpu"] or 0
    busy = f"carrier {carrier:.0%}, Locust {locust:.0%} ({m['processes']:.0f} process(es)), other {other:.0%} of a core"
    if carrier >= 0.9:
        return f"limit: the carrier's one core ({busy})"
    if locust >= 0.9 * m["processes"]:
        return f"limit: Locust ({busy})"
    if carrier + locust + other >= 0.9 * cores:
        return f"limit: the machine's {cores} cores, shared with other work ({busy}); not representative"
    return f"limit: unclear ({busy})"


def report(rows: list[dict], notes: list[str], args: argparse.Namespace, repeat: int) -> str:
    """Print the table, the verdict and the markdown; returns the markdown."""
    params = (f"Locust {args.harness_duration:g}s headless runs, {args.harness_users} users (transceiver binds) x "
              f"window {args.harness_window} per Locust process, every submit_sm a Locust request event with its "
              f"response time; carrier `--ledger off`; median of {repeat} run(s). loadgen.py: {args.binds} binds x "
              f"window {args.window}, {args.warmup:g}s warm-up + {args.duration:g}s measured")  # fmt: skip
    print()
    print(params)
    print()
    print(render(rows, markdown=False))
    for note in notes:
        print(f"note: {note}")
    verdicts = []
    for row in rows:
        m = row.get("metrics")
        if row["kind"] != "locust" or m is None or row["receipts"]:
            continue
        per = m["submits_s"] / m["processes"]
        us = m["locust_us_per_submit"]
        cap = f"; Locust CPU {us:.1f} µs/submit, i.e. {1e6 / us:,.0f}/s per busy core" if us else ""
        if m["processes"] == 1:
            verdicts.append(f"target: >= {TARGET_PER_PROCESS:,} submits/s from one Locust process (receipts off): "
                            f"measured {per:,.0f}/s{cap} -> {'met' if per >= TARGET_PER_PROCESS else 'NOT met'}; "
                            f"{limit_of(m)}")  # fmt: skip
        else:
            verdicts.append(f"{row['load']} (receipts off): {m['submits_s']:,.0f}/s in all, {per:,.0f}/s per "
                            f"process{cap}; {limit_of(m)}")
    print()
    for v in verdicts:
        print(v)
    md = [params[0].upper() + params[1:] + ".", "", render(rows, markdown=True)]
    md += [f"\n- {note}" for note in notes]
    md += ["", *(f"- {v}" for v in verdicts)]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(["--harness", "only", *(argv if argv is not None else sys.argv[1:])])
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.receipts]
    rows, notes = run_harness(args, settings, args.repeat)
    md = report(rows, notes, args, args.repeat)
    print()
    print("---- markdown (paste into bench/RESULTS.md) ----")
    print(md)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                                         "rows": rows}, indent=2))  # fmt: skip
    return 0 if rows and all(r.get("metrics") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
