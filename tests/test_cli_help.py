"""Help texts say what a command does today: `agentgym report` reports training runs too."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from agentgym.cli import app

runner = CliRunner()


def _flat(text: str) -> str:
    return re.sub(r"[\s│]+", " ", text)


def test_report_help_names_training_runs_as_the_top_help_and_readme_do():
    from pathlib import Path

    top = _flat(runner.invoke(app, ["--help"]).output)
    own = _flat(runner.invoke(app, ["report", "--help"]).output)
    line = re.search(r"report +(.*?training.*?)(?: view |$)", top)
    assert line and "sweep" in line.group(1), top
    assert "training curves" in own and "`agentgym sweep`, `eval` or `train`" in own, own
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert re.search(r"^agentgym report RUN_DIR .*training curves", readme, re.M)
