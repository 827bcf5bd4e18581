"""The resume command `agentgym eval` and `agentgym sweep` print (Ctrl-C, errored episodes): run
again, it must run exactly what the first command ran, whatever options that one was given, even
when it was not run from a shell (here: in-process, sys.argv is pytest's). Nothing runs: execute
is replaced by a recorder of what it was asked to run."""

from __future__ import annotations

import shlex

import pytest
from typer.testing import CliRunner

from agentgym.cli import app, eval_cmd, sweep_cmd

runner = CliRunner()


@pytest.fixture
def calls(monkeypatch):
    seen: list[tuple] = []
    record = lambda cfg, root, resume, *a, **kw: seen.append((cfg, root, resume))  # noqa: E731
    monkeypatch.setattr(eval_cmd, "execute", record)
    monkeypatch.setattr(sweep_cmd, "execute", record)
    return seen


def _again(calls: list[tuple], resume: str) -> tuple:
    argv = shlex.split(resume)
    assert argv[0] == "agentgym"
    res = runner.invoke(app, argv[1:])
    assert res.exit_code == 0, res.output
    return calls[-1]


def test_the_eval_resume_command_keeps_every_option_that_changes_what_runs(calls, tmp_path):
    plugin = tmp_path / "noop_plugin.py"
    plugin.write_text("")
    out = tmp_path / "ev"
    res = runner.invoke(app, ["--import", str(plugin), "eval", "shell-fixture", "-a", "null", "--max-turns", "3",
                              "-e", "show_workdir=false", "-e", "image=agentgym/base:latest", "--max-tasks", "2",
                              "--seed", "7", "-k", "2", "--concurrency", "3", "-r", "local", "--no-preflight",
                              "--retry-errors", "--out", str(out)])
    assert res.exit_code == 0, res.output
    cfg, root, resume = calls[-1]
    assert root == out
    argv = shlex.split(resume)
    assert argv[:4] == ["agentgym", "--import", str(plugin), "eval"] and argv[-2:] == ["--out", str(out)]
    for given in (["--max-turns", "3"], ["--env-arg", "show_workdir=false"], ["--env-arg", "image=agentgym/base:latest"],
                  ["--max-tasks", "2"], ["--seed", "7"], ["--no-preflight"]):
        assert shlex.join(given) in shlex.join(argv), (given, resume)
    assert "--retry-errors" not in argv and argv.count("--out") == 1
    cfg2, root2, resume2 = _again(calls, resume)
    assert cfg2 == cfg and root2 == out and resume2 == resume, "the resume runs the same sweep into the same directory"
    assert cfg.budgets[0].max_turns == 3 and cfg.envs[0].kwargs == {"show_workdir": False, "image": "agentgym/base:latest"}


def test_the_sweep_resume_command_keeps_its_options(calls, tmp_path):
    config = tmp_path / "s.yaml"
    config.write_text("name: s\nenvs: [shell-fixture]\nagents: [oracle]\nruntime: local\n")
    res = runner.invoke(app, ["sweep", str(config), "-r", "local", "--concurrency", "2", "-q", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    cfg, _, resume = calls[-1]
    assert shlex.split(resume) == ["agentgym", "sweep", str(config), "--runtime", "local", "--concurrency", "2",
                                   "--out", str(tmp_path / "r")]
    assert _again(calls, resume)[0] == cfg
