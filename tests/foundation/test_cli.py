"""Command line: each stage's help lists the stage's own options; usage errors exit 2."""
from __future__ import annotations

import pytest

from patentpanel.cli import STAGES, main


@pytest.mark.parametrize("stage, option", [
    ("simulate", "--records"), ("simulate", "--seed"), ("simulate", "--out"),
    ("simulate", "--years"), ("ingest", "--input"), ("refresh", "--raw"),
])
def test_stage_help_lists_stage_options(stage, option, capsys):
    with pytest.raises(SystemExit) as exc:
        main([stage, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: patentpanel {stage}" in out
    assert option in out


def test_top_level_help_lists_every_stage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in STAGES)


def test_unknown_stage_and_option_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-stage"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--no-such-option"])
    assert exc.value.code == 2
    assert "--no-such-option" in capsys.readouterr().err
