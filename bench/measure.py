"""One bench/loadgen.py measurement of one server: start it, drive it, stop it, return its metrics.

Owns: the load generator processes of one run (N binds split over --loadgens processes, a common
start time, the measured window), the server's CPU over that window, and combining their figures.
Used by both tables (bench/run.py's servers table, bench/harness.py's loadgen reference row).
Nothing is left running: the load generators are killed in `finally`, the server by `running`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from servers import BENCH, ServerSpec, cpu_seconds, running


def measure(spec: ServerSpec, receipts: bool, args: argparse.Namespace) -> dict:
    """One server, one receipts setting, one repetition: start, load, stop. Returns the metrics."""
    with running(spec, receipts) as server:
        shares = _split(args.binds, args.loadgens)
        cmd_base = [
            sys.executable, str(BENCH / "loadgen.py"), "--sync", "--port", str(server.port),
            "--system-id", spec.credentials[0], "--password", spec.credentials[1],
            "--window", str(args.window), "--warmup", str(args.warmup), "--duration", str(args.duration),
            "--registered-delivery", "1" if receipts else "0", "--latency-sample", str(args.latency_sample),
            "--max-submits", str(args.max_submits),
        ]  # fmt: skip
        procs: list[subprocess.Popen] = []
        try:
            for n in shares:
                procs.append(subprocess.Popen([*cmd_base, "--binds", str(n)], stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
            for p in procs:  # each says "bound" once its binds are up
                line = _readline(p, timeout=15)
                if line.strip() != "bound":
                    raise RuntimeError(
                        f"loadgen did not bind: {line.strip()} {p.stderr.read() if p.poll() is not None else ''}"
                    )
            start_at = time.time() + 0.1
            for p in procs:
                p.stdin.write(f"{start_at!r}\n")
                p.stdin.flush()
            # the server's CPU over the measured window
            _sleep_until(start_at + args.warmup)
            cpu0 = cpu_seconds(server.proc.pid)
            _sleep_until(start_at + args.warmup + args.duration)
            cpu1 = cpu_seconds(server.proc.pid)
            mqtt = (server.status() or {}).get("mqtt") if spec.needs_broker else None
            results = []
            for p in procs:
                out, err = p.communicate(timeout=args.warmup + args.duration + 30)
                lines = out.strip().splitlines()
                data = json.loads(lines[-1]) if lines else {"error": err.strip()[-500:]}
                if "error" in data:
                    raise RuntimeError(f"loadgen: {data['error']}")
                results.append(data)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=5)
        if server.proc.poll() is not None:
            raise RuntimeError(f"{spec.name} died during the run:\n{server.log_tail()}")
    metrics = _combine(results, args.duration, None if cpu0 is None or cpu1 is None else cpu1 - cpu0)
    if spec.needs_broker:  # did the publisher keep up? (records published / dropped / buffered at the window's end)
        metrics["mqtt_published"] = sum(mqtt["published"].values()) if mqtt else None
        metrics["mqtt_unpublished"] = mqtt["unpublished"]["total"] if mqtt else None
        metrics["mqtt_waiting"] = mqtt["waiting"]["total"] if mqtt else None
    errors = server.errors_logged()
    metrics["server_log_errors"] = len(errors)
    metrics["server_log_first_error"] = next(
        (e for e in errors if not e.startswith("Traceback")), errors[0] if errors else ""
    )
    return metrics


def _split(binds: int, procs: int) -> list[int]:
    procs = max(1, min(procs, binds))
    return [binds // procs + (1 if i < binds % procs else 0) for i in range(procs)]


def _readline(p: subprocess.Popen, timeout: float) -> str:
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(p.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise RuntimeError(f"loadgen said nothing within {timeout}s")
    return p.stdout.readline()


def _sleep_until(t: float) -> None:
    delay = t - time.time()
    if delay > 0:
        time.sleep(delay)


def _combine(results: list[dict], duration: float, server_cpu: float | None) -> dict:
    hist: dict[int, int] = {}
    for r in results:
        for k, n in r["latency_hist"].items():
            hist[int(k)] = hist.get(int(k), 0) + n
    bucket = results[0]["latency_bucket_s"]
    ok = sum(r["resp_ok"] for r in results)
    errors = sum(r["resp_err"] + r["nacks"] for r in results)
    return {
        "submits_s": (ok + errors) / duration,
        "errors": errors,
        "p50_ms": _percentile(hist, 0.50, bucket),
        "p99_ms": _percentile(hist, 0.99, bucket),
        "receipts_s": sum(r["receipts"] for r in results) / duration,
        "server_cpu": None if server_cpu is None else server_cpu / duration,
        "loadgen_cpu": sum(r["cpu_s"] for r in results) / duration,
        "loadgen_cpu_max": max(r["cpu_s"] for r in results) / duration,
        "unanswered": sum(r["unanswered_at_end"] for r in results),
        "closed_after": sum(r.get("closed_by_server_after_window", 0) for r in results),
    }


def _percentile(hist: dict[int, int], q: float, bucket: float) -> float | None:
    total = sum(hist.values())
    if not total:
        return None
    rank = q * total
    seen = 0
    for i in sorted(hist):
        seen += hist[i]
        if seen >= rank:
            return (i + 0.5) * bucket * 1000  # middle of the bucket, in ms
    return None
