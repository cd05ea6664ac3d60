"""How `carrier-sim run` starts, shows itself and ends, as a CI job or a person at a terminal sees it:
the web UI run that ends by itself, --keep-ui reporting when the load ends, Ctrl-C and SIGTERM
(the last receipts drained, reports marked interrupted, exit 130, no child left behind), a report
directory reused by a second run, output a CI log can read (whole tables, progress lines, the
verdict last), and a target that cannot be bound failing in seconds with one line (exit 4).

Real processes and real sockets on 127.0.0.1; every wait is a condition with a deadline."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from simulator.ledger.reader import LedgerReader

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
SLA_BREACH = ROOT / "scenarios" / "sla-breach.yaml"


def start_run(scenario: Path, report_dir: Path, *args: str) -> subprocess.Popen[str]:
    """The run in its own process group, as a shell's foreground job: `press` signals the group."""
    return subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "run", str(scenario), "--report-dir", str(report_dir), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=report_dir.parent, start_new_session=True,
    )


def press(proc: subprocess.Popen, signum: int = signal.SIGINT) -> None:
    """What a terminal does on Ctrl-C: the signal goes to every process of the foreground group."""
    os.killpg(proc.pid, signum)


def run(scenario: Path, report_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", "run", str(scenario), "--report-dir", str(report_dir), *args],
        capture_output=True, text=True, timeout=timeout, cwd=report_dir.parent, check=False,
    )


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None):
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` s (or
    at once when `proc` has exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run exited with {proc.returncode} before {what}:\n{out[-3000:]}\n{err[-3000:]}")
        time.sleep(0.1)
    pytest.fail(f"no {what} within {timeout} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str) -> tuple[int, bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read()
    except OSError:
        return None


def locust_state(port: int) -> str | None:
    """The runner's state as Locust's web UI reports it (running, stopped, ...)."""
    answer = http_get(f"http://127.0.0.1:{port}/stats/requests")
    return json.loads(answer[1])["state"] if answer else None


def simulator_submits(report_dir: Path) -> int:
    """The simulator's submit count from its control API (its address is in the ready file)."""
    try:
        lines = (report_dir / "simulator.ready").read_text().split()
    except OSError:
        return 0
    if len(lines) < 2:
        return 0
    answer = http_get(f"http://{lines[1]}/status")
    return json.loads(answer[1])["stats"]["submits"] if answer else 0


def read_json(path: Path) -> dict | None:
    """The file's JSON, or None while it is missing or still being written."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def receipts_the_ledger_delivered(ledger: Path, run_id: str | None = None) -> set[str]:
    """Message ids whose receipt the client answered with deliver_sm_resp, as the ledger recorded it."""
    with LedgerReader(ledger) as reader:
        return {d["message_id"] for d in reader.deliveries()
                if d["kind"] == "receipt" and d["result"] == "acked" and (run_id is None or d["run_id"] == run_id)}


def descendants(proc: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def still_running(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(" ".join(p.cmdline()[:4]))
        except psutil.NoSuchProcess:
            pass
    return alive


def assert_no_child_left(children: list[psutil.Process]) -> None:
    deadline = time.monotonic() + 3
    while still_running(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert still_running(children) == []


# ---------------------------------------------------------------------- --ui
def test_ui_run_serves_locusts_web_ui_and_ends_by_itself_with_every_report(tmp_path):
    report, port = tmp_path / "report", free_port()
    proc = start_run(BASELINE, report, "--duration", "3s", "--users", "3", "--ui", "--ui-port", str(port))
    try:
        status, page = wait_for(lambda: http_get(f"http://127.0.0.1:{port}/"), 20, "web UI page", proc)
        assert status == 200 and b"locust" in page.lower()
        assert proc.poll() is None  # fetched while the run goes
        out, err = proc.communicate(timeout=30)  # ends by itself: duration 3 s + drain 3 s
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    for name in ("gates.json", "junit.xml", "sla-report.json", "tally.json"):
        assert (report / name).stat().st_size > 0, name
    gates = json.loads((report / "gates.json").read_text())
    assert all(g["passed"] for g in gates["gates"])
    assert http_get(f"http://127.0.0.1:{port}/") is None  # the web UI went away with the run


def test_keep_ui_writes_the_reports_when_the_load_ends_and_keeps_the_web_ui_up_until_ctrl_c(tmp_path):
    report, port = tmp_path / "report", free_port()
    proc = start_run(BASELINE, report, "--duration", "2s", "--users", "3", "--keep-ui", "--ui-port", str(port))
    try:
        wait_for(lambda: locust_state(port) == "running", 20, "running load", proc)
        gates = wait_for(lambda: read_json(report / "gates.json"), 20, "gates.json while the web UI is up", proc)
        assert proc.poll() is None  # the reports are written, the run goes on until Ctrl-C
        # Locust fires test_stop (the tally, then the reports) before its state reads "stopped"
        wait_for(lambda: locust_state(port) == "stopped", 20, "the web UI showing the stopped load", proc)
        assert http_get(f"http://127.0.0.1:{port}/")[0] == 200 and proc.poll() is None
        press(proc)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == gates["exit_code"] == 0, out[-3000:] + err[-3000:]  # the gates decide
    assert f"web UI stays up at http://127.0.0.1:{port}/" in out
    assert gates["interrupted"] is False and all(g["passed"] for g in gates["gates"])
    assert json.loads((report / "gates.json").read_text()) == gates  # Ctrl-C wrote nothing more


# ---------------------------------------------------------------------- Ctrl-C and SIGTERM
@pytest.mark.parametrize(("signum", "processes"), [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2)],
                         ids=["SIGINT", "SIGTERM", "SIGINT-2-processes"])
def test_a_signal_drains_the_load_writes_every_report_marked_interrupted_and_exits_130(tmp_path, signum, processes):
    report = tmp_path / "report"
    proc = start_run(BASELINE, report, "--duration", "20s", "--users", "4", "--processes", str(processes))
    try:
        wait_for(lambda: simulator_submits(report) > 1000, 20, "submits flowing", proc)
        children = descendants(proc)
        commands = " ".join(" ".join(c.cmdline()) for c in children)
        assert "simulator.cli serve" in commands and "locust" in commands
        signalled = time.monotonic()
        press(proc, signum)
        out, err = proc.communicate(timeout=25)
        took = time.monotonic() - signalled
    finally:
        proc.kill()
    assert proc.returncode == 130, out[-3000:] + err[-3000:]
    assert took < 15, f"{took:.1f} s from the signal to the exit"
    assert f"{signal.Signals(signum).name}: stopping the load" in out
    assert_no_child_left(children)
    for name in ("junit.xml", "sla-report.json", "tally.json"):
        assert (report / name).stat().st_size > 0, name
    gates = json.loads((report / "gates.json").read_text())
    assert gates["interrupted"] is True
    assert gates["elapsed_s"] < 20  # the run's real length, not the 23 s it was planned for
    assert out.strip().splitlines()[-1].startswith("carrier-sim: INTERRUPTED")
    tally = json.loads((report / "tally.json").read_text())
    assert tally["submitted"] > 1000  # Locust wrote what it saw before it quit
    # the rate is over the time the users submitted (under the run's elapsed), not the planned 20 s
    assert gates["facts"]["submits_per_second"] >= tally["submitted"] / gates["elapsed_s"], gates["facts"]
    # Locust stopped first, then the simulator settled: its links never dropped under the clients,
    # and every message it accepted reached a final state before it stopped
    assert tally["rebinds"] == 0 and "LOST" not in tally["submits"], tally["submits"]
    sla = json.loads((report / "sla-report.json").read_text())
    assert sum(c["valid_sends"] for c in sla["cycles"]) > 1000
    assert [c["pending"] for c in sla["cycles"]] == [0]
    # the drain: the users stopped submitting and stayed bound until the last receipts came, so every
    # receipt the ledger says was delivered is in the client's tally (with two processes, merged)
    delivered = receipts_the_ledger_delivered(report / "ledger.sqlite")
    assert len(delivered) > 1000 and delivered == set(tally["receipt_ids"])
    reconcile = {g["name"]: g for g in gates["gates"]}["reconcile"]
    assert reconcile["passed"], gates["facts"]["reconciliation"]


def test_a_second_ctrl_c_kills_everything_at_once_and_still_exits_130(tmp_path):
    report = tmp_path / "report"
    proc = start_run(BASELINE, report, "--duration", "20s", "--users", "4")
    try:
        wait_for(lambda: simulator_submits(report) > 1000, 20, "submits flowing", proc)
        children = descendants(proc)
        press(proc)
        time.sleep(0.2)  # two presses of Ctrl-C, not one
        signalled = time.monotonic()
        press(proc)
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - signalled
    finally:
        proc.kill()
    assert proc.returncode == 130, out[-3000:] + err[-3000:]
    assert took < 3, f"{took:.1f} s from the second Ctrl-C to the exit"
    assert "SIGINT again: the simulator and Locust were killed" in out
    assert "Traceback" not in out + err
    assert_no_child_left(children)
    assert not (report / "gates.json").exists()


# ---------------------------------------------------------------------- a report directory used twice
def test_a_second_run_in_the_same_report_directory_reports_only_on_itself(tmp_path):
    scenario = tmp_path / "short-drain.yaml"
    scenario.write_text(BASELINE.read_text().replace("drain: 3s", "drain: 1s"))
    assert "drain: 1s" in scenario.read_text()
    report = tmp_path / "report"
    report.mkdir()
    (report / "notes.txt").write_text("not the run's")
    first = run(scenario, report, "--duration", "2s", "--users", "2", "--run-id", "first", timeout=40)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "replaced the files of an earlier run" not in first.stdout
    second = run(scenario, report, "--duration", "2s", "--users", "2", "--run-id", "second", timeout=40)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"{report}: replaced the files of an earlier run" in second.stdout.splitlines()
    assert (report / "notes.txt").read_text() == "not the run's"  # only the run's own files go

    gates, tally = read_json(report / "gates.json"), read_json(report / "tally.json")
    with LedgerReader(report / "ledger.sqlite") as ledger:
        records = list(ledger.records())
        runs = {r.run_id for r in records}
        second_run = list(ledger.records(run_id="second"))
    assert runs == {"second"} and gates["run_id"] == "second"
    assert gates["facts"]["ledger_records"] == len(second_run) == len(records) > 0
    assert gates["facts"]["submitted"] == tally["submitted"]
    assert gates["facts"]["submits_seen_by_client"] == tally["submits"]
    assert {r.message_id for r in records if r.accepted} == set(tally["acked"])
    assert receipts_the_ledger_delivered(report / "ledger.sqlite") == set(tally["receipt_ids"])
    assert all(g["passed"] for g in gates["gates"]), gates["gates"]


# ---------------------------------------------------------------------- output for a CI log
def test_piped_output_has_whole_tables_progress_lines_and_the_verdict_last(tmp_path):
    report = tmp_path / "report"
    result = run(SLA_BREACH, report, "--duration", "6s")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]  # its 95 % gate fails on purpose
    out = result.stdout
    assert "…" not in out
    for header in ("success rate", "definite failures", "valid sends", "claim window", "expect_success_rate"):
        assert header in out, header
    progress = [line for line in out.splitlines() if line.startswith("progress: ")]
    assert progress and any("submits/s" in line and "receipts" in line and "refused" in line for line in progress)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[-1].startswith("carrier-sim: FAILED"), lines[-1]
    # the same for `carrier-sim report` on the run's ledger
    reported = subprocess.run([sys.executable, "-m", "simulator.cli", "report", str(report / "ledger.sqlite")],
                              capture_output=True, text=True, timeout=60, check=False)
    assert reported.returncode == 0, reported.stderr
    assert "…" not in reported.stdout and "success rate" in reported.stdout
    whole_period = re.compile(r"\d{4}-\d\d-\d\d \.\. \d{4}-\d\d-\d\d")  # 80 columns fold it
    assert whole_period.search(out) and whole_period.search(reported.stdout)


# ---------------------------------------------------------------------- nothing to bind
def test_an_unreachable_target_fails_within_seconds_with_one_line_and_exit_4(tmp_path):
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = run(BASELINE, tmp_path / "report", "--target", f"127.0.0.1:{port}", timeout=30)
    took = time.monotonic() - started
    assert result.returncode == 4, result.stdout[-3000:] + result.stderr[-3000:]
    assert took < 20, f"{took:.1f} s"
    errors = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: cannot bind to 127.0.0.1:{port} (connection refused; ")
    assert "bind attempts failed, none succeeded); is the SMSC up?" in errors[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("carrier-sim: FAILED (load generator: cannot bind")
    assert (tmp_path / "report" / "gates.json").exists() and (tmp_path / "report" / "junit.xml").exists()


@pytest.fixture
def simulator_with_default_account(tmp_path):
    """`carrier-sim serve` on a free port with its default account (qa / qa-pass)."""
    ready = tmp_path / "serve.ready"
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "serve", "--listen", "127.0.0.1:0",
                                 "--control", "off", "--ledger", "off", "--ready-file", str(ready)],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        yield wait_for(lambda: ready.exists() and ready.read_text().split()[:1], 20, "simulator", proc)[0]
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_refused_bind_fails_within_seconds_naming_the_smpp_status(tmp_path, simulator_with_default_account):
    address = simulator_with_default_account
    scenario = tmp_path / "wrong-password.yaml"
    scenario.write_text(BASELINE.read_text().replace("password: qa-pass", "password: not-it"))
    assert "not-it" in scenario.read_text()
    started = time.monotonic()
    result = run(scenario, tmp_path / "report", "--target", address, timeout=30)
    took = time.monotonic() - started
    assert result.returncode == 4, result.stdout[-3000:] + result.stderr[-3000:]
    assert took < 20, f"{took:.1f} s"
    (error,) = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: cannot bind to {address} (ESME_RINVPASWD; ")
    assert "Traceback" not in result.stdout + result.stderr
