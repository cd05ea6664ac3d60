"""Installed as users install it: the core commands work without the optional extras; a command that
needs a missing extra says so in one line (exit 2, no traceback); pyproject.toml declares every
package the code imports. And a test run is honest about what it skipped (tests/conftest.py).

The missing packages are real: the commands run in subprocesses whose import system refuses them (a
sitecustomize.py on PYTHONPATH), so nothing is uninstalled and nothing is mocked in the command.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from simulator.esme import Esme

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.yaml"
MQTT_MODULES = ("aiomqtt", "orjson", "paho")  # what the `mqtt` extra brings (paho comes with aiomqtt)
NO_BROKER = "mqtt://127.0.0.1:1"  # never reached: the commands must stop before connecting

REFUSING_SITE = '''\
"""Imports of the top-level modules named in CARRIER_SIM_REFUSE fail as if they were not installed."""
import os
import sys

REFUSED = frozenset(filter(None, os.environ.get("CARRIER_SIM_REFUSE", "").split(",")))


class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Refuse())
'''


@pytest.fixture
def refusing(tmp_path):
    """refusing(*modules) -> the environment of a Python process in which those modules are missing."""
    site = tmp_path / "refusing-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(REFUSING_SITE)

    def env(*modules: str) -> dict[str, str]:
        paths = [str(site), str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), CARRIER_SIM_REFUSE=",".join(modules))

    return env


def carrier_sim(*args: str, env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def no_traceback(result: subprocess.CompletedProcess) -> bool:
    return "Traceback" not in result.stdout + result.stderr


# ------------------------------------------------------------------------------ the refusing site
@pytest.mark.parametrize("module", MQTT_MODULES + ("uvloop",))
def test_the_refusing_site_makes_a_module_missing(refusing, tmp_path, module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                            env=refusing(module), cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"ModuleNotFoundError: No module named '{module}'"


def test_every_module_of_the_package_imports_without_the_mqtt_extra(refusing, tmp_path):
    code = ("import importlib, pkgutil, simulator, loadtests\n"
            "for pkg in (simulator, loadtests):\n"
            "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
            "        importlib.import_module(m.name)\n"
            "print('imported', len(__import__('sys').modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=refusing(*MQTT_MODULES), cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and no_traceback(result), result.stderr[-3000:]


# ------------------------------------------------------------------------ a missing extra: one line
MQTT_COMMANDS = {
    "serve --mqtt": ["serve", "--listen", "127.0.0.1:0", "--control", "off", "--ledger", "off", "--mqtt", NO_BROKER],
    "run --mqtt": ["run", str(BASELINE), "--duration", "1s", "--report-dir", "report", "--mqtt", NO_BROKER],
    "meter": ["meter", "--mqtt", NO_BROKER, "--duration", "1", "--output", "meter.json"],
}


@pytest.mark.parametrize("refused, missing", [(MQTT_MODULES, "aiomqtt"), (("paho",), "paho")],
                         ids=["no-mqtt-extra", "aiomqtt-without-paho"])
@pytest.mark.parametrize("command", MQTT_COMMANDS, ids=list(MQTT_COMMANDS))
def test_a_command_that_needs_the_missing_mqtt_extra_says_so_in_one_line_and_exits_2(
        refusing, tmp_path, command, refused, missing):
    result = carrier_sim(*MQTT_COMMANDS[command], env=refusing(*refused), cwd=tmp_path, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"carrier-sim: --mqtt needs the 'mqtt' extra ({missing} is not installed): pip install 'carrier-sim[mqtt]'"
    ]
    assert result.stdout == "" and no_traceback(result)
    assert not (tmp_path / "report").exists() and not (tmp_path / "meter.json").exists()  # nothing started


def test_make_broker_without_mosquitto_is_one_line_and_exit_2(monkeypatch, capsys):
    from simulator.events import broker

    monkeypatch.setattr(broker, "find_mosquitto", lambda: None)
    assert broker.main(["--port", "1883"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == [
        "error: mosquitto is not installed (install Debian's mosquitto: apt-get install -y mosquitto)"]


# --------------------------------------------------------------------------- the core, extra-free
async def test_serve_and_report_work_without_the_mqtt_extra_and_without_uvloop(refusing, tmp_path):
    """uvloop is a core dependency except on Windows; without it serve says so once and runs on asyncio."""
    env = refusing(*MQTT_MODULES, "uvloop")
    ready, ledger = tmp_path / "ready", tmp_path / "serve.sqlite"
    serve = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "serve", "--listen", "127.0.0.1:0", "--control", "off",
         "--ledger", str(ledger), "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while not (ready.exists() and ready.read_text().strip()):
            assert serve.poll() is None and time.monotonic() < deadline, serve.communicate(timeout=5)
            time.sleep(0.05)
        host, _, port = ready.read_text().split()[0].rpartition(":")
        esme = await Esme.bound(host, int(port), "qa", "qa-pass")
        statuses = [(await esme.submit(f"8613800000{i:03d}")).status for i in range(3)]
        await esme.unbind()
        esme.close()
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=20)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert statuses == [0, 0, 0]
    assert serve.returncode == 0, out + err
    assert err.splitlines() == ["carrier-sim: uvloop is not installed: running on asyncio's own event loop (slower); "
                                "pip install uvloop"]
    assert "carrier-sim: stopped." in out and "Traceback" not in out
    report = carrier_sim("report", str(ledger), "--format", "json", env=env, cwd=tmp_path)
    assert report.returncode == 0 and no_traceback(report), report.stderr
    (cycle,) = json.loads(report.stdout)["cycles"]
    assert cycle["sends"] == 3


def test_run_works_with_only_the_core_dependencies(refusing, tmp_path):
    """`pip install .` then `carrier-sim run`: Locust is a core dependency, the mqtt extra is not needed."""
    result = carrier_sim("run", str(BASELINE), "--duration", "2s", "--users", "2", "--report-dir", "report",
                         env=refusing(*MQTT_MODULES), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert no_traceback(result)
    gates = json.loads((tmp_path / "report" / "gates.json").read_text())
    assert gates["gates"] and all(g["passed"] for g in gates["gates"])
    assert "ModuleNotFoundError" not in (tmp_path / "report" / "locust.log").read_text()


async def test_without_orjson_the_events_are_still_published_as_json(refusing, tmp_path, mqtt_broker):
    """orjson only makes publishing cheaper: simulator/events/schema.py falls back to the json module."""
    aiomqtt = pytest.importorskip("aiomqtt")
    ready = tmp_path / "ready"
    serve = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "serve", "--listen", "127.0.0.1:0", "--control", "off",
         "--ledger", "off", "--ready-file", str(ready), "--mqtt", mqtt_broker.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=refusing("orjson"), cwd=tmp_path)
    try:
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as client:
            await client.subscribe("carrier-sim/node-1/outcomes", qos=1)
            deadline = time.monotonic() + 20
            while not (ready.exists() and ready.read_text().strip()):
                assert serve.poll() is None and time.monotonic() < deadline, serve.communicate(timeout=5)
                time.sleep(0.05)
            host, _, port = ready.read_text().split()[0].rpartition(":")
            esme = await Esme.bound(host, int(port), "qa", "qa-pass")
            ids = {(await esme.submit(f"8613800000{i:03d}")).message_id for i in range(3)}
            esme.close()
            rows = []
            async with asyncio.timeout(15):
                async for message in client.messages:
                    batch = json.loads(message.payload)
                    assert batch["schema"] == "carrier-sim/outcomes/1"
                    column = batch["messages"]["columns"].index("message_id")
                    rows += [row[column] for row in batch["messages"]["rows"]]
                    if set(rows) >= ids:
                        break
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=20)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert serve.returncode == 0 and "Traceback" not in out + err, out + err


# ------------------------------------------------------------------------- pyproject covers imports
def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    return {canonical(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", r).group()) for r in requirements}


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CORE = requirement_names(PROJECT["dependencies"])
EXTRAS = {extra: requirement_names(reqs) for extra, reqs in PROJECT["optional-dependencies"].items()}
FIRST_PARTY = {"simulator", "loadtests", "tests", "bench"}


def third_party_imports(*folders: Path):
    """(file, line, top-level module, guarded) for every absolute import of a non-stdlib module; guarded:
    inside a function or a `try` that handles ImportError (so importing the file never needs it)."""
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            yield from _imports(tree, path, guarded=False)


def _imports(node: ast.AST, path: Path, guarded: bool):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            names = [a.name for a in child.names] if isinstance(child, ast.Import) else (
                [child.module] if child.level == 0 and child.module else [])
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    yield path.relative_to(ROOT), child.lineno, top, guarded
        inner = guarded or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) or (
            isinstance(child, ast.Try) and any(_catches_import_error(h) for h in child.handlers))
        yield from _imports(child, path, inner)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in ("ImportError", "ModuleNotFoundError") for k in kinds)


@functools.cache
def installed_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions_of(module: str) -> set[str]:
    found = installed_distributions().get(module)
    assert found, f"no installed distribution provides {module!r}: install the extras (make setup) to check it"
    return {canonical(d) for d in found}


def test_the_core_dependencies_cover_every_import_outside_the_optional_modules():
    """A module-level import is needed by whoever imports the file: its distribution must be a core
    dependency. A lazy or guarded import may come from an extra (mqtt), never from the test extra."""
    optional = set().union(*(names for extra, names in EXTRAS.items() if extra != "test"))
    undeclared = []
    for path, line, module, guarded in third_party_imports(ROOT / "simulator", ROOT / "loadtests"):
        dists = distributions_of(module)
        if not dists & (CORE | optional if guarded else CORE):
            undeclared.append(f"{path}:{line}: {module} ({', '.join(sorted(dists))}"
                              f"{', lazy or guarded' if guarded else ''})")
    assert undeclared == [], "imports whose distribution is not a core dependency in pyproject.toml"


def test_the_extras_cover_every_import_of_the_tests():
    declared = CORE.union(*EXTRAS.values())
    undeclared = [f"{path}:{line}: {module}" for path, line, module, _ in third_party_imports(ROOT / "tests")
                  if not distributions_of(module) & declared]
    assert undeclared == []


def test_locust_is_a_core_dependency_with_its_bounds():
    assert "locust>=2.30,<3" in [r.split("#")[0].strip() for r in PROJECT["dependencies"]]
    assert "load" not in EXTRAS  # nothing to remember: `pip install carrier-sim` runs the harness


# ------------------------------------------------------------------------ skips are missing evidence
SKIPPING_TESTS = '''
import pytest

@pytest.fixture
def broker():
    pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")

def test_passes():
    pass

@pytest.mark.parametrize("n", range(3))
def test_needs_a_broker(broker, n):
    pass

def test_needs_openssl():
    pytest.skip("needs openssl")

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_a_known_bug():
    assert False
'''
MISSING_IMPORT_TESTS = '''
import pytest
pytest.importorskip("carrier_sim_no_such_module")

def test_never_collected():
    pass
'''


def run_pytest(folder: Path, tests: dict[str, str], ci: bool = False) -> tuple[int, list[str]]:
    """pytest -q -ra on generated test files, with this project's conftest hooks (MissingEvidence)."""
    folder.mkdir()
    for name, text in tests.items():
        (folder / name).write_text(text)
    (folder / "conftest.py").write_text("from tests.conftest import pytest_configure  # noqa: F401\n")
    (folder / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(ROOT)}
    if ci:
        env["CI"] = "true"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider", "."],
                            cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout.splitlines()


def test_skipped_tests_are_listed_by_reason_just_before_pytests_closing_line(tmp_path):
    code, lines = run_pytest(tmp_path / "t", {"test_a.py": SKIPPING_TESTS, "test_b.py": MISSING_IMPORT_TESTS})
    assert code == 0, "\n".join(lines)
    assert re.fullmatch(r"1 passed, 5 skipped, 1 xfailed in [\d.]+s", lines[-1]), lines[-1]  # still the last line
    header = lines.index("EVIDENCE MISSING: 5 tests skipped; a skipped test checked nothing. By reason:")
    assert header == len(lines) - 5 and "short test summary info" in " ".join(lines[:header])
    assert lines[header + 1] == "     3  mosquitto is not installed (apt-get install -y mosquitto)"
    assert sorted(lines[header + 2:-1]) == [
        "     1  a whole test file: could not import 'carrier_sim_no_such_module': No module named "
        "'carrier_sim_no_such_module' -> pip install -e '.[test,mqtt]' (make setup does)",
        "     1  needs openssl",
    ]


def test_in_ci_a_run_that_skipped_tests_fails_and_keeps_the_closing_line_last(tmp_path):
    code, lines = run_pytest(tmp_path / "t", {"test_a.py": SKIPPING_TESTS}, ci=True)
    assert code == 1
    assert re.fullmatch(r"1 passed, 4 skipped, 1 xfailed in [\d.]+s", lines[-1]), lines[-1]
    assert lines[-4] == ("EVIDENCE MISSING: 4 tests skipped (CI: this fails the run); a skipped test checked "
                         "nothing. By reason:")


def test_a_run_without_skips_says_nothing_more(tmp_path):
    code, lines = run_pytest(tmp_path / "t", {"test_a.py": "def test_passes():\n    pass\n"}, ci=True)
    assert code == 0 and not any("EVIDENCE" in line for line in lines)
    assert re.fullmatch(r"1 passed in [\d.]+s", lines[-1]), lines[-1]


# ----------------------------------------------------------------------------------- make test
@pytest.mark.parametrize("pytest_exit, make_fails", [(0, False), (5, True)])
def test_make_test_fails_when_pytest_collects_nothing(tmp_path, pytest_exit, make_fails):
    """`make test`'s own recipe with a stand-in for pytest (the environment and the system packages
    taken as done), so that exit 5, "no tests collected", can be seen to fail the target."""
    if shutil.which("make") is None:
        pytest.skip("needs make (apt-get install make)")
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!/bin/sh\necho \"pytest $*\"\nexit {pytest_exit}\n")
    fake_python.chmod(0o755)
    stamp = tmp_path / "stamp"
    stamp.touch()
    os.utime(stamp, (time.time() + 3600,) * 2)  # newer than pyproject.toml: setup has nothing to do
    result = subprocess.run(["make", "--no-print-directory", "test", f"PY={fake_python}", f"STAMP={stamp}",
                             "SYSTEM_DEPS="], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "pytest -m pytest -q -m not soak" in result.stdout
    assert (result.returncode != 0) == make_fails, result.stdout + result.stderr
    assert ("pytest collected no tests" in result.stdout) == make_fails
