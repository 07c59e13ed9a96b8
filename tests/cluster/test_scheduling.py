"""The scheduling examples (docs/scheduling.md's cron line, the Airflow DAG file) run a
command line the real parsers accept, on the same schedule. The DAG is read with ``ast``:
Airflow is not a dependency of the project."""
from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from patentpanel import cli, submit

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "scheduling.md"
DAG = ROOT / "docs" / "airflow" / "patentpanel_refresh_dag.py"
COMMAND = "./spark-submit.sh refresh --raw NEW_EXPORTS"
# (field, lowest, highest) of the five cron fields
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
               ("day of week", 0, 7))


def cron_values(expr: str) -> list[set[int]]:
    """The values each field of a five-field cron expression selects; ValueError naming
    the field when one is malformed or out of range (numbers, ``*``, ranges, lists, steps)."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression {expr!r}: expected 5 fields, got {len(fields)}")
    out = []
    for text, (name, lo, hi) in zip(fields, CRON_FIELDS):
        values: set[int] = set()
        for part in text.split(","):
            m = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
            if not m:
                raise ValueError(f"cron {name} field {text!r}: cannot read {part!r}")
            a, b = (lo, hi) if m.group(1) == "*" else \
                (int(m.group(2)), int(m.group(3) or m.group(2)))
            step = int(m.group(4) or 1)
            if not (lo <= a <= b <= hi) or step < 1:
                raise ValueError(f"cron {name} field {text!r}: {part!r} outside {lo}-{hi}")
            values.update(range(a, b + 1, step))
        out.append(values)
    return out


def cron_line() -> tuple[str, str]:
    """(schedule, command) of the single line in the doc's ```cron block."""
    blocks = re.findall(r"```cron\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/scheduling.md must hold exactly one ```cron block"
    lines = [ln for ln in blocks[0].splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) == 1, lines
    parts = lines[0].split(None, 5)
    return " ".join(parts[:5]), parts[5]


def spark_submit_argv(shell: str) -> list[str]:
    """The ./spark-submit.sh argv of a shell line: after ``cd DIR &&``, before redirections."""
    words = shlex.split(shell)
    if "&&" in words:
        words = words[len(words) - words[::-1].index("&&"):]
    cut = next((i for i, w in enumerate(words) if w.startswith((">", "2>", "<")) or w in ("|", ";")),
               len(words))
    return words[:cut]


def dag_constants() -> tuple[dict[str, object], ast.Module]:
    tree = ast.parse(DAG.read_text(encoding="utf-8"), filename=str(DAG))
    consts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            try:
                consts[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return consts, tree


def _keyword(call: ast.Call, name: str, consts: dict) -> object:
    kw = next((k.value for k in call.keywords if k.arg == name), None)
    assert kw is not None, f"{ast.unparse(call.func)}(...) has no {name}="
    return consts[kw.id] if isinstance(kw, ast.Name) else ast.literal_eval(kw)


def dag_calls(tree: ast.Module, func: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and
            (getattr(n.func, "id", None) == func or getattr(n.func, "attr", None) == func)]


def assert_accepted(argv: list[str]) -> None:
    """``argv`` (after ./spark-submit.sh) parses with spark-submit.sh's parser, and its
    stage part with the stage's own parser, exactly as the job would parse it."""
    sub = submit._parser().parse_args(argv)
    stage_argv = [sub.stage, *sub.stage_args]
    args = cli._add_stage_arguments(cli._parser(), stage_argv)
    assert args.stage == "refresh"
    assert args.raw == "NEW_EXPORTS"


def test_cron_parser_reads_and_rejects():
    assert cron_values("0 2 15 3 *")[:4] == [{0}, {2}, {15}, {3}]
    assert cron_values("*/15 0-6/3 1,15 * 1-5")[0] == {0, 15, 30, 45}
    assert cron_values("*/15 0-6/3 1,15 * 1-5")[1] == {0, 3, 6}
    for bad in ("0 2 15 13 *", "60 * * * *", "0 2 * *", "0 2 x 3 *", "0 5-2 * * *"):
        with pytest.raises(ValueError):
            cron_values(bad)


def test_cron_line_runs_the_refresh_command():
    schedule, shell = cron_line()
    minute, hour, dom, month, _ = cron_values(schedule)
    assert len(minute) == len(hour) == len(dom) == len(month) == 1, "a yearly schedule"
    argv = spark_submit_argv(shell)
    assert shlex.join(argv) == COMMAND
    assert_accepted(argv[1:])
    assert shell.startswith("cd "), "cron starts in $HOME: the line must cd to the project"


def test_airflow_dag_matches_cron_and_parser():
    consts, tree = dag_constants()
    operators = dag_calls(tree, "BashOperator") + dag_calls(tree, "SparkSubmitOperator")
    assert len(operators) == 1, "one task: the refresh"
    (op,) = operators
    command = _keyword(op, "bash_command", consts)
    assert command == COMMAND
    assert_accepted(shlex.split(command)[1:])
    assert _keyword(op, "cwd", consts) == consts["PROJECT_DIR"]
    (dag,) = dag_calls(tree, "DAG")
    schedule = _keyword(dag, "schedule", consts)
    assert schedule == cron_line()[0], "the DAG and the cron line run on the same schedule"
    cron_values(schedule)
    assert _keyword(dag, "catchup", consts) is False
    assert _keyword(dag, "max_active_runs", consts) == 1


def test_parser_check_catches_a_wrong_command():
    with pytest.raises(SystemExit):   # argparse: unknown stage
        assert_accepted(["refesh", "--raw", "NEW_EXPORTS"])
    with pytest.raises(SystemExit):   # the refresh stage requires --raw
        assert_accepted(["refresh"])
    with pytest.raises(SystemExit):   # the stage has no such option
        assert_accepted(["refresh", "--raw", "NEW_EXPORTS", "--row-limit", "3"])


def test_documented_command_builds_a_spark_submit_line(tmp_path):
    cmd, _, args = submit.build_command(["--dist", str(tmp_path), *shlex.split(COMMAND)[1:]])
    assert args.stage == "refresh"
    assert cmd[-3:] == [str(ROOT / "jobs" / "refresh.py"), "--raw", "NEW_EXPORTS"]
    assert (ROOT / "jobs" / "refresh.py").is_file()
