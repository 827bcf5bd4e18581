"""`agentgym view`'s errors are the CLI's one line on stderr, printed as text (not rich markup)."""

from __future__ import annotations

from typer.testing import CliRunner

from agentgym.cli import app


def _one_line(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (res.exit_code, res.output)
    return lines[0]


def test_view_errors_are_one_line_and_keep_a_paths_brackets(tmp_path):
    run = tmp_path / "[exp1]" / ("a-long-run-name-" * 6)  # longer than the 80-column terminal the runner gives
    line = _one_line(CliRunner().invoke(app, ["view", str(run)], env={"COLUMNS": "80"}))
    assert f"{run} holds no results.sqlite" in line, line
    assert "--port 70000: use 0-65535" in _one_line(CliRunner().invoke(app, ["view", str(tmp_path), "--port", "70000"]))
