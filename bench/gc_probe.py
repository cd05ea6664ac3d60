"""Run `carrier-sim` under a chosen garbage-collector policy and print its GC pauses at exit.

A diagnostic for bench/RESULTS.md (not used by `make bench`): it changes nothing in the simulator,
it only sets the policy before `simulator.cli.main()` runs. Policies (GC_POLICY in the environment):
default, thresh (gen0 100000 / 50 / 1000), freeze (gc.freeze() every second), off.

    GC_POLICY=freeze .venv/bin/python bench/gc_probe.py serve --ledger off --listen 127.0.0.1:2775
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading
import time

POLICY = os.environ.get("GC_POLICY", "default")
_pauses = {g: [0, 0.0, 0.0] for g in range(3)}  # generation -> [count, total s, max s]
_started = [0.0]


def _on_gc(phase: str, info: dict) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    took = time.perf_counter() - _started[0]
    p = _pauses[info["generation"]]
    p[0] += 1
    p[1] += took
    p[2] = max(p[2], took)


def _freezer() -> None:
    while True:
        time.sleep(1.0)
        gc.freeze()  # what is alive now (the message store, mostly) is never scanned again


def _report() -> None:
    cpu = time.process_time()
    parts = [f"gen{g}: {n} runs, {total:.2f}s, max {worst * 1000:.0f} ms" for g, (n, total, worst) in _pauses.items()]
    gc_total = sum(p[1] for p in _pauses.values())
    sys.stderr.write(
        f"gc_probe: policy {POLICY}; process CPU {cpu:.2f}s, in GC {gc_total:.2f}s; " + "; ".join(parts) + "\n"
    )


if POLICY == "thresh":
    gc.set_threshold(100_000, 50, 1000)
elif POLICY == "freeze":
    threading.Thread(target=_freezer, daemon=True).start()
elif POLICY == "off":
    gc.disable()
elif POLICY != "default":
    raise SystemExit(f"gc_probe: unknown GC_POLICY {POLICY!r} (default, thresh, freeze, off)")
gc.callbacks.append(_on_gc)
atexit.register(_report)

if __name__ == "__main__":
    from simulator.cli import main

    sys.argv[0] = "carrier-sim"
    main()
