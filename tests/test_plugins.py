"""Plugins: a package's entry points (agentgym.envs, agentgym.agents) and `--import` make envs and
agents registered in Python usable from every CLI command; a broken plugin is one line.

The plugin package is installed the way pip's `--target` lays it out (the package plus a
.dist-info with entry_points.txt) in a temporary folder that the CLI subprocesses get on
PYTHONPATH, so importlib.metadata finds its entry points and nothing is left in the venv.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
"""A third-party agentgym plugin: one sandbox-free env and one agent."""
from pydantic import BaseModel, ConfigDict

import agentgym
from agentgym import AgentEnv, ScriptedPolicy, Tool, ToolCall, ToolResult


class AnswerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: int = 0


class DoubleEnv(AgentEnv):
    """Tasks 'double-N': submit 2N."""

    def __init__(self, n_tasks: int = 3, runtime: str = "local", **kwargs):
        self._ids = [f"double-{n}" for n in range(1, n_tasks + 1)]
        self.runtime = runtime
        super().__init__(**kwargs)

    def task_ids(self):
        return self._ids

    def _start_episode(self, task_id):
        return f"Submit twice {task_id.split('-')[1]}."

    def _fork_episode(self, clone):
        pass

    def _close(self):
        pass

    def _tools(self):
        return [Tool(name="submit", description="Submit the answer.", params=AnswerArgs, handler=self._submit)]

    def _submit(self, args):
        ok = args.answer == 2 * int(self.task_id.split("-")[1])
        return ToolResult(output="right" if ok else "wrong", terminated=True, reward=float(ok))

    def reference_policy(self):
        return ScriptedPolicy([ToolCall(name="submit", arguments={"answer": 2 * int(self.task_id.split("-")[1])})])


def register_envs():
    agentgym.register("plugin-double", "agplug_demo:DoubleEnv", description="a plugin's env", runtimes=["local"])


class ThriceAgent:
    """Submits 3N: wrong on every task, so a run shows the plugin's agent was used."""

    def __init__(self, env, **kwargs):
        self.env = env

    def reset(self, obs, info):
        pass

    def act(self, obs, info):
        return ToolCall(name="submit", arguments={"answer": 3 * int(self.env.task_id.split("-")[1])})


def register_agents():
    from agentgym.agents import register_agent

    register_agent("plugin-thrice", ThriceAgent, "a plugin's agent")
'''

SCRIPT = '''
import agentgym
from agplug_demo import DoubleEnv


class ScriptEnv(DoubleEnv):  # defined in the script itself: its entry point names the script's module
    pass


agentgym.register("script-double", "my_envs:ScriptEnv", kwargs={"n_tasks": 2}, description="from a script")
'''


def _dist_info(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (info / "RECORD").write_text("")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    (site / "agplug_demo.py").write_text(PLUGIN)
    _dist_info(site, "agplug_demo", """
        [agentgym.envs]
        double = agplug_demo:register_envs
        [agentgym.agents]
        thrice = agplug_demo:register_agents
    """)
    (site / "agplug_broken.py").write_text("raise ImportError('needs libfoo, which is not installed')\n")
    _dist_info(site, "agplug_broken", """
        [agentgym.envs]
        broken = agplug_broken:register
    """)
    return site


def cli(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), AGENTGYM_RUNTIME="local")
    return subprocess.run([sys.executable, "-m", "agentgym", *args], capture_output=True, text=True, env=env,
                          cwd=cwd or ROOT, timeout=120)


def test_plugin_env_and_agent_from_every_command(site: Path) -> None:
    listed = cli(site, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    ids = [json.loads(line)["id"] for line in listed.stdout.splitlines()]
    assert "plugin-double" in ids and "shell-fixture" in ids
    # the broken plugin: one line naming it, and the command still works
    warn = [ln for ln in listed.stderr.splitlines() if "broken" in ln]
    assert len(warn) == 1 and "agplug_broken" in warn[0] and "libfoo" in warn[0], listed.stderr

    info = cli(site, "info", "plugin-double", "-r", "local")
    assert info.returncode == 0 and "double-3" in info.stdout, info.stderr

    val = cli(site, "validate", "plugin-double", "-r", "local", "--json")
    assert val.returncode == 0, val.stdout + val.stderr
    summary = json.loads(val.stdout.splitlines()[-1])
    assert summary["tasks"] == 3 and summary["gold_pass_rate"] == 1.0 and summary["null_pass_rate"] == 0.0

    ran = cli(site, "run", "plugin-double", "--agent", "plugin-thrice", "--task", "double-2", "-r", "local", "--json")
    assert ran.returncode == 0, ran.stderr
    traj = json.loads(ran.stdout)
    assert traj["steps"][0]["action"]["arguments"] == {"answer": 6} and traj["total_reward"] == 0.0
    oracle = cli(site, "run", "plugin-double", "--task", "double-2", "-r", "local", "--json", "-e", "n_tasks=2")
    assert oracle.returncode == 0 and json.loads(oracle.stdout)["total_reward"] == 1.0, oracle.stderr

    listed = cli(site, "plugins", "--json")
    states = {(r["group"], r["name"]): r["state"] for r in map(json.loads, listed.stdout.splitlines())}
    assert states[("agentgym.envs", "double")] == states[("agentgym.agents", "thrice")] == "loaded"
    assert states[("agentgym.envs", "broken")].startswith("failed: ImportError") and listed.returncode == 1


def test_plugin_env_and_agent_in_a_sweep_and_eval(site: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text("name: plug\nruntime: local\nenvs: [{id: plugin-double, kwargs: {n_tasks: 2}}]\n"
                   "agents: [oracle, plugin-thrice]\n")
    out = cli(site, "sweep", str(cfg), "--out", str(tmp_path / "run"), "-q")
    assert out.returncode == 0, out.stdout + out.stderr
    with sqlite3.connect(tmp_path / "run" / "results.sqlite") as db:
        rows = db.execute("SELECT c.agent, e.task_id, e.passed, e.infra_error, c.spec FROM episodes e "
                          "JOIN configs c USING (config_id)").fetchall()
    assert sorted(r[:4] for r in rows) == [("oracle", "double-1", 1, 0), ("oracle", "double-2", 1, 0),
                                           ("plugin-thrice", "double-1", 0, 0), ("plugin-thrice", "double-2", 0, 0)]
    assert all(json.loads(r[4])["env_kwargs"] == {"n_tasks": 2} for r in rows)
    ev = cli(site, "eval", "plugin-double", "--agent", "plugin-thrice", "-e", "n_tasks=1", "-r", "local",
             "--out", str(tmp_path / "ev"), "-q")
    assert ev.returncode == 0 and "plugin-thrice" in ev.stdout, ev.stdout + ev.stderr


def test_broken_plugin_is_named_when_its_env_is_asked_for(site: Path) -> None:
    res = cli(site, "info", "no-such-env", "-r", "local")
    assert res.returncode == 2
    err = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "no agentgym env 'no-such-env'" in err[0] and "broken (ImportError" in err[0], res.stderr


def test_import_script_and_module(site: Path, tmp_path: Path) -> None:
    (tmp_path / "my_envs.py").write_text(SCRIPT)
    by_path = cli(site, "--import", str(tmp_path / "my_envs.py"), "validate", "script-double", "-r", "local", "--json")
    assert by_path.returncode == 0, by_path.stdout + by_path.stderr
    assert json.loads(by_path.stdout.splitlines()[-1])["tasks"] == 2
    by_name = cli(site, "--import", "my_envs", "list", "--json", cwd=tmp_path)  # found from the working directory
    assert by_name.returncode == 0 and '"script-double"' in by_name.stdout, by_name.stderr


@pytest.mark.parametrize("target", ["no_such_module_xyz", "missing_file.py", "bad name!"])
def test_bad_import_is_one_line(site: Path, target: str) -> None:
    res = cli(site, "--import", target, "list")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --import") and "Traceback" not in res.stderr, res.stderr
    assert res.stdout == ""


def test_entry_points_are_not_loaded_at_import(site: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
    code = ("import sys, agentgym; assert 'agplug_demo' not in sys.modules; "
            "agentgym.make('plugin-double'); assert 'agplug_demo' in sys.modules; print('ok')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert res.stdout.strip() == "ok", res.stderr


def test_register_takes_the_class_itself() -> None:
    import agentgym
    from toy_env import ToyEnv

    import gymnasium

    from agentgym import registry

    info = agentgym.register("plugin-test-class", ToyEnv, kwargs={"n_tasks": 2})
    try:
        assert info.entry_point == "toy_env:ToyEnv"
        env = agentgym.make("plugin-test-class")
        assert isinstance(env, ToyEnv) and env.task_ids() == ["sum-1", "sum-2"]
        with pytest.raises(ValueError, match="has no option 'n_task'"):
            agentgym.make("plugin-test-class", n_task=3)
        # an env without a runtime option (no sandbox) is made by the CLI and sweeps, which always pass one
        for runtime in ("auto", "local"):
            assert isinstance(agentgym.make("plugin-test-class", runtime=runtime), ToyEnv)
        with pytest.raises(ValueError, match="takes no runtime option .* runtime 'docker' cannot apply"):
            agentgym.make("plugin-test-class", runtime="docker")
    finally:  # leave the registry as other tests found it
        del registry._ENVS["plugin-test-class"], gymnasium.registry[info.gym_id]
