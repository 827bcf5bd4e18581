"""The `agentgym` command, run as a user runs it."""

import json
import re
import subprocess
import sys
from pathlib import Path

import agentgym
from agentgym.validate import spread_sample

README = Path(__file__).resolve().parents[1] / "README.md"


def ag(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "agentgym", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def test_help_lists_every_command_and_readme_documents_them():
    out = ag("--help").stdout
    commands = ["list", "info", "run", "validate", "images", "gc", "sweep", "eval", "report"]
    for cmd in commands:
        assert re.search(rf"\b{cmd}\b", out), cmd
    readme = README.read_text()
    for cmd in commands + ["images build", "images ls"]:
        assert f"agentgym {cmd}" in readme, f"README does not document `agentgym {cmd}`"
    for sub in ["run", "validate", "info", "gc", "list"]:
        assert ag(sub, "--help").returncode == 0
    assert "build" in ag("images", "--help").stdout


def test_list_and_info():
    assert "shell-fixture" in ag("list").stdout
    rows = [json.loads(line) for line in ag("list", "--json").stdout.splitlines()]
    assert any(r["gym_id"] == "agentgym/shell-fixture-v0" for r in rows)
    out = ag("info", "shell-fixture", "--runtime", "local").stdout
    assert "tasks: 8" in out and "submit" in out


def test_unknown_env_suggests_close_ids():
    proc = ag("info", "shell-fixtre", check=False)
    assert proc.returncode == 2 and "Did you mean: shell-fixture" in proc.stderr


def test_validate_json_last_line():
    proc = ag("validate", "shell-fixture", "--runtime", "local", "--json")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["env"] == "shell-fixture" and summary["tasks"] == 8
    assert (summary["gold_pass_rate"], summary["null_pass_rate"], summary["errors"]) == (1.0, 0.0, 0)


def test_validate_sample_spreads_over_the_tasks():
    proc = ag("validate", "shell-fixture", "--runtime", "local", "--sample", "3", "--json")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["tasks"] == 3 and summary["gold_pass_rate"] == 1.0
    with agentgym.make("shell-fixture", runtime="local") as env:
        ids = list(env.task_ids())
    assert spread_sample(ids, 3) == [ids[0], ids[2], ids[5]]
    assert spread_sample(ids, 8) == ids and spread_sample(ids, 20) == ids
    assert len(set(spread_sample(list(range(208)), 36))) == 36
    assert ag("validate", "shell-fixture", "--sample", "0", check=False).returncode == 2


def test_env_args_reach_the_env_constructor():
    base = ("run", "shell-fixture", "--runtime", "local", "--task", "count-lines", "--json")
    full = json.loads(ag(*base).stdout)
    cut = json.loads(ag(*base, "--env-arg", 'budget={"max_turns": 1}').stdout)
    assert (len(full["steps"]), full["passed"]) == (2, True)
    assert (len(cut["steps"]), cut["passed"], cut["truncated"]) == (1, False, True), "the JSON budget reached make()"
    bad = ag("validate", "web-lite", "--runtime", "local", "-e", "browser=container", check=False)
    assert bad.returncode == 2 and "needs runtime='docker'" in " ".join(bad.stderr.split())
    bad = ag("validate", "shell-fixture", "-e", "nope", check=False)
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
    bad = ag("run", "shell-fixture", "--runtime", "local", "-e", "colour=1", check=False)
    assert bad.returncode == 2 and "colour" in bad.stderr


def test_run_prints_the_trajectory():
    proc = ag("run", "shell-fixture", "--agent", "oracle", "--task", "sum-column", "--runtime", "local", "--json")
    traj = json.loads(proc.stdout)
    assert traj["task_id"] == "sum-column" and traj["passed"] and traj["total_reward"] == 1.0
    assert [s["action"]["name"] for s in traj["steps"]] == ["bash", "submit"]
    text = ag("run", "shell-fixture", "--agent", "null", "--task", "hello", "--runtime", "local").stdout
    assert "not passed" in text and "turn 1" in text


def test_run_unknown_agent():
    proc = ag("run", "shell-fixture", "--agent", "nope", "--runtime", "local", check=False)
    # The list grows as agents are registered (and rich may wrap it): check the names, not the line.
    assert proc.returncode == 2 and "no agent 'nope'; available:" in proc.stderr
    assert all(name in proc.stderr for name in ("null", "oracle", "random", "react", "budget-aware", "simulated"))
