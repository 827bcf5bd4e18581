"""Every bad input to the CLI ends as ONE line on stderr that says what to do, and exit code 2
(never a traceback); `agentgym eval` runs a one-config sweep and prints its table; the shell
tasks name the working directory that really exists on the runtime."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import agentgym
from agentgym.cli import app

runner = CliRunner()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_error_line(res, *needles: str) -> str:
    """The single stderr line of a failed command (exit 2), holding every needle."""
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize(("args", "needles"), [
    (["run", "shell-fixture", "-r", "local", "--task", "no-such-task"], ["no task 'no-such-task'", "agentgym info shell-fixture"]),
    (["run", "shell-fixture", "-r", "local", "--task", "count-line"], ["did you mean count-lines"]),
    (["run", "shell-fixture", "-r", "local", "--max-turns", "0"], ["--max-turns", "agentgym run --help"]),
    (["run", "shell-fixtur", "-r", "local"], ["no agentgym env 'shell-fixtur'", "Did you mean: shell-fixture"]),
    (["validate", "no-such-env"], ["no agentgym env 'no-such-env'"]),
    (["eval", "no-such-env", "--agent", "oracle", "-r", "local"], ["no agentgym env 'no-such-env'"]),
    (["run", "shell-fixture", "-r", "local", "-e", "nope"], ["KEY=VALUE"]),
    (["run", "shell-fixture", "-r", "local", "-e", "colour=1"], ["colour"]),
    (["run", "shell-fixture", "-r", "local", "--seed", "x"], ["--seed"]),
    (["eval", "shell-fixture", "-r", "local"], ["needs --model"]),
    (["eval", "shell-fixture", "-r", "local", "--agent", "oracle", "-e", "colour=1"], ["no option 'colour'"]),
    (["eval", "shell-fixture", "-r", "local", "--agent", "nope"], ["no agent 'nope'"]),
    (["no-such-command"], ["No such command", "agentgym --help"]),
    (["run", "shell-fixture", "-r", "local", "-e", "max_turns=abc"], ["max_turns", "valid integer"]),
])
def test_bad_input_is_one_line_and_exit_2(args, needles):
    line = one_error_line(runner.invoke(app, args), *needles)
    assert "errors.pydantic.dev" not in line and "[type=" not in line, line


def test_react_without_a_server_fails_fast_in_one_line():
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    res = runner.invoke(app, ["run", "shell-fixture", "-r", "local", "--agent", "react"], env={"OPENAI_BASE_URL": url})
    one_error_line(res, f"cannot reach model endpoint {url}", "--base-url")


def test_info_swe_verified_offline_is_one_line():
    res = runner.invoke(app, ["info", "swe-verified"], env={"HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
                                                             "HF_HUB_OFFLINE": None, "HF_DATASETS_OFFLINE": None})
    one_error_line(res, "cannot load", "dataset=")


def test_sweep_yaml_syntax_error_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nenvs: [shell-fixture\nagents: [oracle]\n")
    line = one_error_line(runner.invoke(app, ["sweep", str(bad)]), str(bad), "not valid YAML")
    assert re.search(r"line \d+, column \d+", line)
    one_error_line(runner.invoke(app, ["sweep", str(tmp_path / "missing.yaml")]), "not found")
    empty = tmp_path / "empty.yaml"
    empty.write_text("k: 2\n")
    line = one_error_line(runner.invoke(app, ["sweep", str(empty)]), "name: Field required", "envs: Field required")
    assert "errors.pydantic.dev" not in line and "[type=" not in line, line
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("name: x\nenvs: [no-such-env]\nagents: [oracle]\n")
    one_error_line(runner.invoke(app, ["sweep", str(wrong), "--out", str(tmp_path / "r")]), "no-such-env")


def test_an_unexpected_exception_is_one_line_with_the_way_to_the_traceback(monkeypatch):
    def boom():
        raise RuntimeError("registry on fire\nsecond line")

    monkeypatch.setattr(agentgym, "list_envs", boom)
    line = one_error_line(runner.invoke(app, ["list"]), "RuntimeError: registry on fire second line", "AGENTGYM_DEBUG=1")
    assert "\n" not in line


def test_the_installed_command_prints_one_line_too():
    proc = subprocess.run([sys.executable, "-m", "agentgym", "run", "shell-fixture", "-r", "local", "--task", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr


def test_eval_runs_a_one_config_sweep_and_prints_the_table(tmp_path):
    out = tmp_path / "ev"
    res = runner.invoke(app, ["eval", "shell-fixture", "--agent", "oracle", "-r", "local", "-k", "2", "--tasks",
                              "hello,count-lines", "-q", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"run directory: {out}" in res.stderr and (out / "results.sqlite").is_file()
    row = next(ln for ln in res.stdout.splitlines() if "shell-fixture" in ln and "oracle" in ln)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[4:8] == ["2", "4", "0", "0"], cells  # tasks, passed, failed, errors
    assert cells[8].startswith("1.000") and cells[9] == "2"


def test_shell_tasks_name_the_working_directory_that_exists(runtime):
    with agentgym.make("shell-fixture", runtime=runtime) as env:
        obs, _ = env.reset(options={"task_id": "hello"})
        wd = re.search(r"Your working directory is (\S+?)\.? Tools", obs["text"]).group(1)
        obs, *_ = env.step({"name": "bash", "arguments": {"command": "pwd -P; test -d \"$(pwd)\" && echo exists"}})
        assert os.path.realpath(wd) == obs["text"].splitlines()[0] and "exists" in obs["text"]
        if runtime == "local":
            assert wd != "/workspace" and Path(wd).is_dir()
        env.step({"name": "write_file", "arguments": {"path": f"{wd}/hello.txt", "content": "hello, world\n"}})
        _, reward, *_ = env.step({"name": "submit", "arguments": {}})
        assert reward == 1.0, "a file tool takes the directory's absolute path too"


def test_describe_keeps_messages_and_marks_bugs():
    from pydantic import BaseModel, Field, ValidationError

    from agentgym.cli.boundary import describe

    class M(BaseModel):
        n: int = Field(ge=1)

    with pytest.raises(ValidationError) as info:
        M(n=0)
    assert describe(info.value).startswith("M: n: Input should be greater than or equal to 1")
    assert describe(KeyError("no agent 'x'; available: a")) == "no agent 'x'; available: a"
    assert "unexpected" in describe(KeyError("foo")) and "AGENTGYM_DEBUG=1" in describe(KeyError("foo"))
    text = "invalid reset options: 1 validation error for ResetOptions\nmax_turns\n  Input should be >= 1 [type=x]"
    assert describe(ValueError(text)) == "invalid reset options: max_turns: Input should be >= 1"


def test_time_series_tasks_name_the_working_directory_that_exists_locally():
    import types

    with agentgym.make("ts-lite", runtime="local") as env:
        # the statement only: building the task's data (seconds) is not what is checked here
        env.unwrapped._build = lambda tid: types.SimpleNamespace(statement="S", public_files={"train.csv": "a\n"})
        text = env.unwrapped._start_episode(list(env.task_ids())[0])
        wd = re.search(r"Files in your working directory (\S+?):", text).group(1)
        assert wd != "/workspace" and Path(wd).is_dir() and (Path(wd) / "train.csv").is_file()


def test_run_prints_the_models_text_as_it_is(monkeypatch):
    """An action or error holding '[/]' (a regex, a shell test) was read as rich markup: MarkupError
    after the episode, or its [brackets] silently dropped."""
    from agentgym.rollout import StepRecord, Trajectory

    traj = Trajectory(env_id="shell-fixture", task_id="count-lines", seed=0, first_observation="task",
                      steps=[StepRecord(action={"name": "bash", "arguments": {"command": "grep '[/]' [bold]x"}},
                                        observation="out", reward=0.0, terminated=True, truncated=False, info={})],
                      error="boom [/] [red]")
    monkeypatch.setattr(agentgym, "run_episode", lambda *a, **k: traj)
    res = runner.invoke(app, ["run", "shell-fixture", "-r", "local", "--agent", "null"])
    assert res.exit_code == 1, res.output
    assert "grep '[/]' [bold]x" in res.stdout.replace('\\"', '"') and "boom [/] [red]" in res.stdout, res.stdout


def test_validate_prints_an_errors_text_as_it_is(monkeypatch):
    from agentgym import validate as v

    row = v.TaskValidation(task_id="count-lines", gold_reward=0.0, gold_pass=False, null_reward=0.0, null_pass=False,
                           error="SandboxError: [pid 12] died", seconds=0.1)
    report = v.ValidationReport(env="shell-fixture", runtime="local", tasks=1, gold_pass_rate=None, null_pass_rate=None,
                                errors=1, rows=[row])
    monkeypatch.setattr(v, "validate", lambda *a, **k: report)
    res = runner.invoke(app, ["validate", "shell-fixture", "-r", "local", "--tasks", "count-lines"], env={"COLUMNS": "200"})
    assert res.exit_code == 1 and "[pid 12] died" in res.stdout, res.stdout


def test_info_prints_tool_schemas_as_text():
    res = runner.invoke(app, ["info", "swe-synth-lite", "-r", "local"], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert "[start, end] lines for view" in res.stdout, res.stdout  # rich markup ate "[start, end]"


def test_list_prints_descriptions_as_text():
    import gymnasium
    from toy_env import ToyEnv

    from agentgym import registry

    info = agentgym.register("cli-test-beta", ToyEnv, description="[beta] a toy")
    try:
        res = runner.invoke(app, ["list"], env={"COLUMNS": "300"})
        assert res.exit_code == 0 and "[beta] a toy" in res.stdout, res.stdout
    finally:
        del registry._ENVS["cli-test-beta"], gymnasium.registry[info.gym_id]


def test_plugins_prints_states_as_text(monkeypatch):
    from agentgym import plugins

    monkeypatch.setattr(plugins, "load", lambda group: None)
    monkeypatch.setattr(plugins, "status", lambda: [{"group": "agentgym.envs", "name": "p", "value": "pkg:f",
                                                    "state": "failed: OSError: [bold] gone [/]"}])
    res = runner.invoke(app, ["plugins"], env={"COLUMNS": "300"})
    assert res.exit_code == 1 and "[bold] gone [/]" in res.stdout, res.output
