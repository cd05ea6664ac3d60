"""What one `carrier-sim run` is asked to do (RunSettings) and the files it writes (RunArtifacts).

Owns the names of a run's files in its report directory (loadtests/run.py clears an earlier run's
by them). Not here: starting or deciding anything (children.py, verdict.py); never lists a file
that is not one of the run's own names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from simulator.scenario import Scenario

DEFAULT_UI_PORT = 8089
# Written by loadtests/verdict.py (its literal names; listed here to clear an earlier run's)
REPORT_FILES = ("gates.json", "junit.xml", "sla-report.json", "sla-report.html")


@dataclass
class RunSettings:
    scenario_path: Path
    scenario: Scenario
    report_dir: Path
    users: int
    spawn_rate: float
    duration: float  # seconds of submitting
    drain: float  # seconds of collecting receipts after the last submit
    processes: int = 1
    target: str | None = None  # an external SMSC host:port; no simulator is started
    ui: bool = False  # Locust's web UI while the load runs; the run still ends by itself
    keep_ui: bool = False  # ... and the web UI stays up after the run until Ctrl-C
    ui_port: int = DEFAULT_UI_PORT
    run_id: str = ""
    mqtt: str | None = None
    extra_locust_args: list[str] = field(default_factory=list)


@dataclass
class RunArtifacts:
    ledger: Path
    tally: Path
    locust_csv_prefix: Path
    locust_html: Path
    simulator_log: Path
    locust_log: Path
    ready: Path  # the simulator's ready file: its SMPP and control addresses

    @classmethod
    def in_dir(cls, d: Path) -> RunArtifacts:
        return cls(
            ledger=d / "ledger.sqlite",
            tally=d / "tally.json",
            locust_csv_prefix=d / "locust",
            locust_html=d / "locust.html",
            simulator_log=d / "simulator.log",
            locust_log=d / "locust.log",
            ready=d / "simulator.ready",
        )

    def earlier_run_files(self) -> list[Path]:
        """The files of this run's names already in the directory (an earlier run's): the ledger
        with its -wal/-shm, the tally (and its temporary file), the reports, Locust's CSVs, HTML and
        log, the simulator's log and ready file. Nothing else in the directory."""
        d = self.ledger.parent
        names = [self.ledger, Path(f"{self.ledger}-wal"), Path(f"{self.ledger}-shm"), self.tally,
                 Path(f"{self.tally}.tmp"), self.locust_html, self.simulator_log, self.locust_log, self.ready,
                 *(d / name for name in REPORT_FILES)]
        csvs = sorted(d.glob(f"{self.locust_csv_prefix.name}*.csv"))
        return [p for p in [*names, *csvs] if p.is_file()]
