"""`agentgym train`'s lines for scripts and reruns: the Ctrl-C rerun command is the command line as
parsed (the global --import kept, as eval/sweep's resume commands keep it); --json prints one JSON
object on a refused config too ({"ok": false, "error": ...}); "out" is absolute in --check --json
and in a run's --json alike. The trainer is stubbed: no training."""

from __future__ import annotations

import json
import os
import shlex

import pytest
from typer.testing import CliRunner

from agentgym.cli.app import app
from conftest import run_train_cli


def test_the_ctrl_c_rerun_keeps_the_global_import(tmp_path, train_base, monkeypatch):
    import agentgym.rl.trl_train as trl_train

    def interrupted(cfg):
        raise trl_train.TrainInterrupted(1, 5, None, [])

    monkeypatch.setattr(trl_train, "run_train", interrupted)
    plugin = tmp_path / "noop_plugin.py"
    plugin.write_text("")
    path = tmp_path / "train.yaml"
    path.write_text(json.dumps(train_base))
    res = CliRunner().invoke(app, ["--import", str(plugin), "train", str(path)])
    assert res.exit_code == 130 and res.stderr.count("\n") == 1
    rerun = res.stderr.rsplit("rerun `", 1)[1].rstrip().rstrip("`")
    assert shlex.split(rerun) == ["agentgym", "--import", str(plugin), "train", str(path)]


@pytest.mark.parametrize("change", [{"grpo": {"step": 3}}, {"model": "/nonexistent/model"}])
def test_check_json_is_one_object_when_refused_too(tmp_path, train_base, change):
    code, out, err = run_train_cli(tmp_path, {**train_base, **change}, "--check", "--json")
    assert code == 2 and err.startswith("error: ")
    reply = json.loads(out)
    assert reply == {"ok": False, "error": err.removeprefix("error: ").strip()} and out.count("\n") == 1


def test_out_is_absolute_in_check_json_and_in_a_runs_json(tmp_path, train_base, monkeypatch):
    import agentgym.rl.trl_train as trl_train

    monkeypatch.chdir(tmp_path)
    cfg = {**train_base, "out": "runs/rel"}
    monkeypatch.setattr(trl_train, "run_train", lambda c: {"out": c.out, "algorithm": "grpo", "env": c.env, "tasks": []})
    code, out, _ = run_train_cli(tmp_path, cfg, "--check", "--json")
    checked = json.loads(out)["out"]
    code2, out2, _ = run_train_cli(tmp_path, cfg, "--json")
    assert code == code2 == 0 and os.path.isabs(checked) and json.loads(out2)["out"] == checked
