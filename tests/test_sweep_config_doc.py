"""Env options in sweep configs (`kwargs:`), `agentgym info -e`, and the generated config reference.

docs/sweep-config.md is written by agentgym.sweep.config_doc from the pydantic models; this test
fails when the committed file differs, and loads the reference's example through SweepConfig.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentgym.sweep import SweepConfig
from agentgym.sweep import config_doc

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentgym", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_committed_reference_is_the_generated_one() -> None:
    committed = (ROOT / "docs" / "sweep-config.md").read_text()
    assert committed == config_doc.render(), f"docs/sweep-config.md is out of date: run `{config_doc.REGENERATE}`"
    for name in list(SweepConfig.model_fields) + ["kwargs", "max_tasks", "base_url", "max_cost"]:
        assert f"| `{name}` |" in committed, name  # every field documented


def test_reference_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(config_doc.EXAMPLE)
    cfg = SweepConfig.from_yaml(path)
    assert [a.name for a in cfg.agents] == ["null", "react", "budget-aware"]
    assert cfg.models[0].base_url == "http://127.0.0.1:8000/v1"
    # 4 envs x (null x 4 budgets + 2 model agents x 2 models x 4 budgets)
    configs = cfg.configs()
    assert len(configs) == 4 * (4 + 2 * 2 * 4)
    swe = [rc for rc in configs if rc.env == "swe-verified"]
    assert swe and all(rc.env_kwargs["instance_ids"] == ["astropy__astropy-12907", "django__django-11099"] for rc in swe)
    assert swe[0].env_kwargs["dataset"] == "swe_verified.jsonl"  # no such file beside the config: kept as written


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def test_kwargs_reach_the_config_and_paths_resolve_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text("")
    cfg = SweepConfig.from_yaml(_write(tmp_path, "name: x\nenvs: [{id: swe-verified, kwargs: {dataset: data.jsonl, limit: 2}}, "
                                                 "shell-fixture]\nagents: [oracle]\n"))
    by_env = {rc.env: rc for rc in cfg.configs()}
    assert by_env["swe-verified"].env_kwargs == {"dataset": str(tmp_path / "data.jsonl"), "limit": 2}
    # an entry without kwargs keeps the config id sweeps stored before kwargs existed
    plain = by_env["shell-fixture"]
    key = {"env": "shell-fixture", "agent": plain.agent.model_dump(), "model": None, "budget": None}
    old = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:8]
    assert plain.config_id == f"shell-fixture/oracle/-/default#{old}"
    assert by_env["swe-verified"].config_id.split("#")[1] != SweepConfig.model_validate(
        {"name": "x", "envs": ["swe-verified"], "agents": ["oracle"]}).configs()[0].config_id.split("#")[1]


@pytest.mark.parametrize(("envs", "agents", "expect"), [
    ("[{id: shell-fixture, kwargs: {imagee: x}}]", "[oracle]", "envs[0].kwargs: env shell-fixture has no option 'imagee' (did you mean image?)"),
    ("[{id: sql-c-lite, kwargs: {runtime: docker}}]", "[oracle]", "runtime is the sweep's"),
    ("[shell-fixture, {id: shell-fixture, max_tasks: 1}]", "[oracle]", "env shell-fixture is listed more than once"),
    ("[no-such-env]", "[oracle]", "envs[0]: no agentgym env 'no-such-env'"),
    ("[shell-fixture]", "[null]", 'write the null agent quoted, "null"'),
    ("[shell-fixture]", "[nope]", "no agent 'nope'"),
])
def test_bad_config_is_refused_when_it_loads(tmp_path: Path, envs: str, agents: str, expect: str) -> None:
    with pytest.raises(ValueError) as exc:
        SweepConfig.from_yaml(_write(tmp_path, f"name: x\nenvs: {envs}\nagents: {agents}\n"))
    assert expect in str(exc.value)


def test_cli_bad_kwarg_and_bad_info_option_are_one_line_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: bad-kw\nruntime: local\nenvs: [{id: shell-fixture, kwargs: {imagee: x}}]\nagents: [oracle]\n")
    res = cli("sweep", str(path), "--out", str(tmp_path / "run"), "-q")
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "no option 'imagee'" in lines[0] and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "run").exists()  # refused before any episode (or the store) existed

    bad = cli("info", "shell-fixture", "-r", "local", "-e", "imagee=x")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "no option 'imagee'" in bad.stderr and "image" in bad.stderr

    good = cli("info", "sql-c-lite", "-r", "local", "-e", "max_rows=7")
    assert good.returncode == 0, good.stderr
    assert "options (-e KEY=VALUE" in good.stdout and "max_rows=" in good.stdout


def test_env_whose_module_is_missing_is_one_line(tmp_path: Path) -> None:
    import gymnasium

    from agentgym import registry

    info = registry.register("cfg-test-missing-module", "no_such_module_xyz:Env")
    try:
        with pytest.raises(ValueError, match="cannot be loaded .ModuleNotFoundError.*install the extra"):
            SweepConfig.from_yaml(_write(tmp_path, "name: x\nenvs: [cfg-test-missing-module]\nagents: [oracle]\n"))
    finally:
        del registry._ENVS[info.id], gymnasium.registry[info.gym_id]
