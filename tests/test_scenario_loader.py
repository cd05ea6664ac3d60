"""The scenario loader refuses what would hang it, crash it or surprise its user (issue 13, item 4).

Each case is a real file in tmp_path, loaded by load_scenario() and, where it matters, through the
`carrier-sim` command in a subprocess (exit 2, one error naming the file, the line and the field).
The YAML cases run on both loaders: libyaml's (the default where PyYAML has it) and pure Python's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import simulator.scenario.document as scenario_module
from simulator.scenario import (
    FILE_DIRS_ENV,
    MAX_SCENARIO_BYTES,
    MAX_YAML_DEPTH,
    ScenarioError,
    load_scenario,
)

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(ROOT.joinpath("scenarios").glob("*.yaml"))
LOADERS = ["python"] + (["libyaml"] if hasattr(scenario_module, "_CLoader") else [])
SECRET = "hunter2-TOP-SECRET"


@pytest.fixture(params=LOADERS)
def loader(request, monkeypatch):
    """Run a test on each YAML loader."""
    chosen = scenario_module._CLoader if request.param == "libyaml" else scenario_module._PyLoader
    monkeypatch.setattr(scenario_module, "_Loader", chosen)
    return request.param


@pytest.fixture(autouse=True)
def no_extra_dirs(monkeypatch):
    monkeypatch.delenv(FILE_DIRS_ENV, raising=False)


def write(folder: Path, text: str | bytes, name: str = "s.yaml") -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path, **kwargs) -> str:
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, **kwargs)
    return str(err.value)


def carrier_sim(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != FILE_DIRS_ENV}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "simulator.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=full_env,
    )


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["name: laughs", "a: &a [" + ", ".join(['"lol"'] * width) + "]"]
    previous = "a"
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*{previous}"] * width) + "]")
        previous = f"l{i}"
    return "\n".join(lines) + "\n"


# ==================================================================================== alias expansion, size
def test_a_billion_laughs_is_refused_at_once_naming_the_line(tmp_path, loader):
    path = write(tmp_path, billion_laughs())
    started = time.perf_counter()
    message = refusal(path)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"took {elapsed:.2f} s"
    assert message == (
        f"{path}:8 l6: more than 1,000,000 values with its aliases expanded "
        "(each use of an alias counts everything it stands for)"
    )


def test_thirty_levels_of_laughs_are_refused_as_fast(tmp_path, loader):
    started = time.perf_counter()
    assert "more than 1,000,000 values" in refusal(write(tmp_path, billion_laughs(30, 10)))
    assert time.perf_counter() - started < 0.5


def test_a_billion_laughs_exits_2_from_validate_in_well_under_a_second(tmp_path):
    path = write(tmp_path, billion_laughs())
    started = time.perf_counter()
    result = carrier_sim("validate", str(path))
    elapsed = time.perf_counter() - started
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {path}:8 l6: more than 1,000,000 values")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert elapsed < 10  # the interpreter's start-up; the refusal itself is milliseconds (above)


def test_an_alias_that_contains_itself_is_refused(tmp_path, loader):
    path = write(tmp_path, "name: x\ndescription: &d [1, *d]\n")
    assert (
        refusal(path)
        == f"{path}:2 description[1]: an alias used inside the node it names (a recursive alias)"
    )


def test_ordinary_anchors_aliases_and_merge_keys_still_load(tmp_path, loader):
    path = write(
        tmp_path,
        """\
name: anchors
carrier:
  accounts:
    - &account {system_id: qa, password: qa-pass, max_binds: 4}
    - {<<: *account, system_id: qa2}
load:
  templates:
    - &code {text: "Your code is {code}", category: verification}
    - *code
""",
    )
    loaded = load_scenario(path)
    assert [(a.system_id, a.max_binds) for a in loaded.carrier.accounts] == [("qa", 4), ("qa2", 4)]
    assert loaded.load.templates[0] == loaded.load.templates[1]


def test_a_document_larger_than_the_limit_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "big.yaml"
    with path.open("w") as f:
        f.write("name: big\ndescription: '")
        f.write("x" * MAX_SCENARIO_BYTES)
        f.write("'\n")
    started = time.perf_counter()
    assert refusal(path) == f"{path}: larger than the limit of 10 MiB"
    assert time.perf_counter() - started < 0.5


def test_a_scenario_that_is_not_a_regular_file_is_refused_without_reading(tmp_path):
    assert refusal(Path("/dev/zero")) == "/dev/zero: not a regular file (a character device)"
    assert refusal(tmp_path) == f"{tmp_path}: not a regular file (a directory)"
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    assert refusal(fifo) == f"{fifo}: not a regular file (a FIFO)"  # not waited on: nobody writes to it


def test_thousands_of_errors_are_counted_not_all_listed(tmp_path, loader):
    path = write(tmp_path, "numbers:\n  groups:\n    g:\n      numbers: [" + ", ".join(["x"] * 500) + "]\n")
    lines = refusal(path).splitlines()
    assert len(lines) == 51
    assert lines[0] == f"{path}:4 numbers.groups.g.numbers[0]: not a phone number (no digits), got 'x'"
    assert lines[-1] == f"{path}: ... and 450 more errors"


# ==================================================================================== duplicate keys
def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path, loader):
    path = write(
        tmp_path,
        """\
name: dup
carrier:
  accounts:
    - {system_id: qa, password: qa-pass}
  receipt_delay_ms: 10
  accounts:
    - {system_id: other, password: x}
""",
    )
    assert refusal(path) == (
        f"{path}:6 carrier.accounts: key given twice, first at line 3 "
        "(the second would silently replace the first)"
    )


def test_duplicate_keys_are_found_in_flow_mappings_lists_and_at_the_top(tmp_path, loader):
    flow = write(
        tmp_path, "faults:\n  - {kind: no_response, probability: 0.1, probability: 0.2}\n", "flow.yaml"
    )
    assert refusal(flow).startswith(f"{flow}:2 faults[0].probability: key given twice, first at line 2")
    top = write(tmp_path, "seed: 1\nname: a\nseed: 2\n", "top.yaml")
    assert refusal(top).startswith(f"{top}:3 seed: key given twice, first at line 1")
    spelled = write(
        tmp_path, "numbers:\n  groups:\n    1: {prefix: '1'}\n    0x1: {prefix: '2'}\n", "spelled.yaml"
    )
    assert refusal(spelled).startswith(f"{spelled}:4 numbers.groups.0x1: key given twice, first at line 3")


def test_a_duplicate_key_exits_2_from_validate(tmp_path):
    path = write(tmp_path, "name: dup\nseed: 1\nseed: 2\n")
    result = carrier_sim("validate", str(path))
    assert (result.returncode, result.stdout) == (2, "")
    assert (
        result.stderr == f"error: {path}:3 seed: key given twice, first at line 2 "
        "(the second would silently replace the first)\n"
    )


# ==================================================================================== nesting, encoding
@pytest.mark.parametrize("depth", [MAX_YAML_DEPTH + 1, 200, 5_000, 200_000])
def test_deep_flow_nesting_is_a_file_line_error(tmp_path, loader, depth):
    path = write(tmp_path, "name: deep\ndescription: " + "[" * depth + "]" * depth + "\n")
    message = refusal(path)
    assert message.startswith(f"{path}:2")  # past libyaml's own limit (1,000 levels) it names no field
    assert message.endswith(f"nested more than {MAX_YAML_DEPTH} levels deep")
    assert len(message) < len(str(path)) + 200


def test_deep_block_nesting_is_a_file_line_error(tmp_path, loader):
    text = "name: deep\nload:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(MAX_YAML_DEPTH + 5))
    path = write(tmp_path, text)
    assert (
        refusal(path)
        == f"{path}:{MAX_YAML_DEPTH + 1} load.k0.k1.k2...: nested more than {MAX_YAML_DEPTH} levels deep"
    )


def test_nesting_within_the_limit_is_fine(tmp_path, loader):
    depth = MAX_YAML_DEPTH - 2  # the document and `description:` are two levels
    path = write(tmp_path, "name: nested\ndescription: " + "[" * depth + "]" * depth + "\n")
    assert "description" in refusal(path)  # a list is not a string: refused by the model, not the loader


def test_deep_nesting_through_aliases_is_refused(tmp_path, loader):
    inner = "[" * 40 + "]" * 40
    path = write(
        tmp_path,
        f"name: x\na: &a {inner}\nb: &b [[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
    )
    assert refusal(path).endswith(f"nested more than {MAX_YAML_DEPTH} levels deep with its aliases expanded")


def test_invalid_utf8_is_a_file_line_error(tmp_path):
    path = write(tmp_path, b"name: x\ncarrier:\n  system_id: caf\xe9\n")
    assert refusal(path) == f"{path}:3: not UTF-8 text (byte 0xe9 at column 17)"
    result = carrier_sim("validate", str(path))
    assert (
        result.returncode == 2
        and result.stderr == f"error: {path}:3: not UTF-8 text (byte 0xe9 at column 17)\n"
    )


def test_a_control_character_is_a_file_line_error(tmp_path, loader):
    path = write(tmp_path, "name: x\n\ndescription: 'a\x00b'\n")
    assert refusal(path) == f"{path}:3: not valid YAML: control character U+0000 at column 16"


@pytest.mark.parametrize(
    "value,problem",
    [
        ("!!int twelve", "cannot read this int"),
        ("!!float x", "cannot read this float"),
        ("2026-13-01", "cannot read this timestamp: month must be in 1..12"),
        ("1" * 5000, "cannot read this int"),  # past Python's int() digit limit
    ],
)
def test_a_value_yaml_cannot_build_is_a_file_line_error(tmp_path, loader, value, problem):
    path = write(tmp_path, f"name: x\nseed: {value}\n")
    message = refusal(path)
    assert message.startswith(f"{path}:2: not valid YAML: {problem}")


# ==================================================================================== number groups
@pytest.mark.parametrize(
    "groups,line,field,problem",
    [
        (
            'a: {prefix: "86138"}\n    b: {prefix: "+86138", state: arrears}',
            4,
            "numbers.groups.b.prefix",
            "a and b both claim prefix '86138' (a is at line 3): give it to one group",
        ),
        (
            'a: {numbers: ["8613800000001"]}\n    b:\n      numbers: ["1", "0086-138-0000-0001"]',
            5,
            "numbers.groups.b.numbers[1]",
            "a and b both claim number '8613800000001' (a is at line 3): give it to one group",
        ),
        (
            'a: {range: ["100", "200"]}\n    b: {range: ["150", "250"], state: arrears}',
            4,
            "numbers.groups.b.range",
            "the ranges of a (100-200, line 3) and b (150-250) partly overlap: "
            "ranges may only nest (the inner one wins)",
        ),
        (
            'a: {range: ["100", "200"]}\n    b: {range: ["100", "200"], state: arrears}',
            4,
            "numbers.groups.b.range",
            "the ranges of a (100-200, line 3) and b (100-200) are the same: "
            "ranges may only nest (the inner one wins)",
        ),
    ],
)
def test_groups_claiming_the_same_numbers_are_refused_naming_both(tmp_path, groups, line, field, problem):
    path = write(tmp_path, f"numbers:\n  groups:\n    {groups}\n")
    assert refusal(path) == f"{path}:{line} {field}: {problem}"


def test_overlapping_groups_exit_2_from_validate_not_at_serve(tmp_path):
    path = write(tmp_path, 'numbers:\n  groups:\n    a: {prefix: "86138"}\n    b: {prefix: "86138"}\n')
    result = carrier_sim("validate", str(path))
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {path}:4 numbers.groups.b.prefix: a and b both claim prefix '86138' "
        "(a is at line 3): give it to one group\n"
    )


def test_nested_groups_have_a_precedence_and_load(tmp_path):
    """A listed number beats a range, an inner range the one around it, a range a prefix, a longer
    prefix a shorter one (simulator/faults/sections/number_plan.py): nesting is a number plan."""
    path = write(
        tmp_path,
        """\
numbers:
  groups:
    country:  {prefix: "86"}
    operator: {prefix: "86138", state: arrears}
    block:    {range: ["8613900000000", "8613900000999"], state: unreachable}
    inner:    {range: ["8613900000010", "8613900000020"], state: powered_off}
    vip:      {numbers: ["8613900000015", "8613800000001"], state: out_of_service}
""",
    )
    assert list(load_scenario(path).numbers.groups) == ["country", "operator", "block", "inner", "vip"]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_ready_scenario_validates(path):
    result = carrier_sim("validate", str(path.relative_to(ROOT)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"scenarios/{path.name}: ok")


# ==================================================================================== list files
def lists(folder: Path, file: str, name: str = "s.yaml") -> Path:
    return write(folder, f"name: lists\nblacklists:\n  carrier:\n    file: {file}\n", name)


def test_a_missing_list_file_fails_validate(tmp_path):
    path = lists(tmp_path, "nowhere.txt")
    assert refusal(path) == (
        f"{path}:4 blacklists.carrier.file: {tmp_path}/nowhere.txt: blacklists.carrier: "
        "cannot read: No such file or directory"
    )


def test_a_list_file_outside_the_scenario_folder_is_refused_unread(tmp_path):
    outside = tmp_path / "elsewhere" / "secret.txt"
    outside.parent.mkdir()
    outside.write_text(SECRET + "\n")
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for written in (str(outside), "../elsewhere/secret.txt"):
        path = lists(folder, written)
        message = refusal(path)
        assert message.startswith(f"{path}:4 blacklists.carrier.file: ")
        assert (
            f"outside the scenario's folder {folder} (list files must be in it, or in a folder named in "
            f"${FILE_DIRS_ENV})" in message
        )
        assert SECRET not in message


def test_a_symlink_inside_the_folder_that_points_outside_is_refused(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "list.txt").symlink_to(tmp_path / "etc" / "passwd")
    assert "outside the scenario's folder" in refusal(lists(folder, "list.txt"))


def test_a_folder_named_in_the_environment_or_the_argument_is_allowed(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "list.txt").write_text("8613800000001\n")
    folder = tmp_path / "scenarios"
    folder.mkdir()
    path = lists(folder, str(shared / "list.txt"))
    assert "outside" in refusal(path)
    assert load_scenario(path, file_dirs=[shared]).blacklists.carrier.file == shared / "list.txt"
    monkeypatch.setenv(FILE_DIRS_ENV, os.pathsep.join(["/nonexistent", str(shared)]))
    assert load_scenario(path).name == "lists"
    assert carrier_sim("validate", str(path)).returncode == 2
    assert carrier_sim("validate", str(path), env={FILE_DIRS_ENV: str(shared)}).returncode == 0


def test_dev_zero_is_refused_as_a_device_even_where_dev_is_allowed(tmp_path):
    path = lists(tmp_path, "/dev/zero")
    assert "outside the scenario's folder" in refusal(path)
    started = time.perf_counter()
    assert refusal(path, file_dirs=[Path("/dev")]) == (
        f"{path}:4 blacklists.carrier.file: /dev/zero: blacklists.carrier: "
        "not a regular file (a character device)"
    )
    assert time.perf_counter() - started < 0.5


def test_a_fifo_or_a_folder_as_list_file_is_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    assert refusal(lists(tmp_path, "pipe")).endswith("blacklists.carrier: not a regular file (a FIFO)")
    assert refusal(lists(tmp_path, "folder")).endswith("blacklists.carrier: not a regular file (a directory)")


def test_a_list_file_over_100_mib_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as f:  # sparse: no disk used
        f.truncate(100 * 2**20 + 1)
    started = time.perf_counter()
    assert refusal(lists(tmp_path, "big.txt")).endswith(
        "blacklists.carrier: larger than the limit of 100 MiB"
    )
    assert time.perf_counter() - started < 0.5


def test_a_list_files_content_is_checked_by_validate_and_never_quoted(tmp_path):
    (tmp_path / "list.txt").write_text(f"8613800000001\n# a comment\n{SECRET}\n", encoding="utf-8")
    path = lists(tmp_path, "list.txt")
    message = refusal(path)
    assert message == (
        f"{path}:4 blacklists.carrier.file: {tmp_path}/list.txt:3: blacklists.carrier: not a phone "
        "number (a line of 18 characters, not shown) (one number per line: digits with an optional "
        "leading +; # starts a comment)"
    )
    result = carrier_sim("validate", str(path))
    assert result.returncode == 2 and SECRET not in result.stderr + result.stdout


def test_a_binary_list_file_is_refused_unquoted(tmp_path):
    (tmp_path / "list.bin").write_bytes(b"8613800000001\n\x89PNG\r\n\x1a\n" + SECRET.encode() + b"\xff\xfe")
    message = refusal(lists(tmp_path, "list.bin"))
    assert message.endswith(
        "list.bin:2: blacklists.carrier: not a phone number (a line of 5 characters, not shown) "
        "(one number per line: digits with an optional leading +; # starts a comment)"
    ) or message.endswith("blacklists.carrier: not UTF-8 text")
    assert SECRET not in message and "PNG" not in message


def test_a_mistyped_number_is_quoted_to_help_fix_it(tmp_path):
    (tmp_path / "list.txt").write_text("8613800000001\n86138000000O2\n", encoding="utf-8")
    assert ":2: blacklists.carrier: not a phone number: '86138000000O2'" in refusal(
        lists(tmp_path, "list.txt")
    )


@pytest.mark.parametrize(
    "command",
    [["serve", "--ledger", "off", "--listen", "127.0.0.1:0", "--control", "off", "--scenario"], ["run"]],
)
def test_serve_and_run_refuse_an_outside_list_file_with_exit_2_and_no_traceback(tmp_path, command):
    (tmp_path / "secret.txt").write_text(SECRET + "\n")
    folder = tmp_path / "scenarios"
    folder.mkdir()
    path = lists(folder, "../secret.txt")
    result = carrier_sim(*command, str(path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: {path}:4 blacklists.carrier.file: ")
    assert "Traceback" not in result.stderr and SECRET not in result.stdout + result.stderr


# ==================================================================================== numbers in range
@pytest.mark.parametrize(
    "value,problem",
    [
        (
            "100000000000000000000000000000",
            "must be <= 9223372036854775807, got 100000000000000000000000000000",
        ),
        ("1e29", "must be an integer, got '1e29'"),
        ("1.0e+29", "must be an integer, got 1e+29"),
        ("-1", "must be >= 0, got -1"),
        ("true", "must be an integer, got True"),
        ("'7'", "must be an integer, got '7'"),
        (".nan", "must be an integer, got nan"),
    ],
)
def test_a_seed_must_be_an_integer_from_0_to_2_63_minus_1(tmp_path, value, problem):
    path = write(tmp_path, f"name: x\nseed: {value}\n")
    assert refusal(path) == f"{path}:2 seed: {problem}"


def test_the_largest_seed_loads_and_1e29_exits_2_from_validate(tmp_path):
    assert load_scenario(write(tmp_path, f"seed: {2**63 - 1}\n")).seed == 2**63 - 1
    result = carrier_sim(
        "validate", str(write(tmp_path, "seed: 100000000000000000000000000000\n", "big.yaml"))
    )
    assert result.returncode == 2 and "seed: must be <= 9223372036854775807" in result.stderr


@pytest.mark.parametrize(
    "yaml_text,field,problem",
    [
        ("carrier: {receipt_delay_ms: .inf}", "carrier.receipt_delay_ms", "must be a finite number, got inf"),
        (
            "carrier: {response_timeout_s: .nan}",
            "carrier.response_timeout_s",
            "must be a finite number, got nan",
        ),
        (
            "carrier: {listen: '127.0.0.1:70000'}",
            "carrier.listen",
            "must be host:port, got '127.0.0.1:70000'",
        ),
        (
            "carrier: {max_queued_per_account: 1000000000000}",
            "carrier.max_queued_per_account",
            "must be <= 100000000, got 1000000000000",
        ),
        ("carrier: {message_store_size: 0}", "carrier.message_store_size", "must be >= 1, got 0"),
        (
            "carrier: {accounts: [{system_id: qa, password: p, throttle_status: 0}]}",
            "carrier.accounts[0].throttle_status",
            "must be >= 1, got 0",
        ),
        (
            "carrier: {accounts: [{system_id: qa, password: p, throughput: {rate: .inf, burst: 1}}]}",
            "carrier.accounts[0].throughput.rate",
            "must be a finite number, got inf",
        ),
        (
            "carrier: {accounts: [{system_id: qa, password: p, daily_quota: 100000000000000000000}]}",
            "carrier.accounts[0].daily_quota",
            "must be <= 9223372036854775807, got 100000000000000000000",
        ),
        (
            "carrier: {system_id: 'caf\u00e9\u2603'}",
            "carrier.system_id",
            "must be printable Latin-1 characters (an SMPP C-Octet String), got 'caf\u00e9\u2603'",
        ),
        ("load: {users: 1000000000}", "load.users", "must be <= 100000000, got 1000000000"),
        ("load: {spawn_rate: .inf}", "load.spawn_rate", "must be a finite number, got inf"),
        ("load: {duration: 99999h}", "load.duration", "must be at most 30 days, got '99999h'"),
        (
            "load: {stages: [{duration: forever, users: 1}]}",
            "load.stages[0].duration",
            r"must match ^(\d+(?:\.\d+)?)(ms|s|m|h)$, got 'forever'",
        ),
        ("load: {traffic: {default: .nan}}", "load.traffic.default", "must be a finite number, got nan"),
        ("load: {traffic: {default: -1}}", "load.traffic.default", "must be >= 0.0, got -1"),
        ("sla: {target: .nan}", "sla.target", "must be a finite number, got nan"),
        (
            "sla: {prices: {verification: .inf}}",
            "sla.prices.verification",
            "must be a finite number, got inf",
        ),
        ("gates: {max_p99_submit_ms: .inf}", "gates.max_p99_submit_ms", "must be a finite number, got inf"),
        (
            "gates: {max_error_ratio: {ESME_RTHROTTLED: 2}}",
            "gates.max_error_ratio.ESME_RTHROTTLED",
            "must be <= 1.0, got 2",
        ),
        (
            "numbers: {states: {powered_off: [{delay_ms: .inf}]}}",
            "numbers.states.powered_off[0].delay_ms",
            "must be a finite number, got inf",
        ),
        ("numbers: {groups: {g: {numbers: []}}}", "numbers.groups.g.numbers", "needs at least 1 item(s)"),
        (
            "blacklists: {carrier: {numbers: ['1'], status: 4294967296}}",
            "blacklists.carrier.status",
            "must be <= 4294967295, got 4294967296",
        ),
        (
            "name: ../../etc/passwd",
            "name",
            "must be letters, digits, '.', '_' and '-', starting with a letter or digit "
            "(it names runs, ledgers and report folders), got '../../etc/passwd'",
        ),
    ],
)
def test_numbers_and_names_out_of_range_are_refused(tmp_path, yaml_text, field, problem):
    path = write(tmp_path, yaml_text + "\n")
    assert refusal(path) == f"{path}:1 {field}: {problem}"


def test_an_infinite_value_exits_2_from_validate(tmp_path):
    path = write(tmp_path, "name: x\ncarrier:\n  receipt_delay_ms: .inf\n")
    result = carrier_sim("validate", str(path))
    assert result.returncode == 2
    assert result.stderr == f"error: {path}:3 carrier.receipt_delay_ms: must be a finite number, got inf\n"
