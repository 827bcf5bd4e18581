"""Relative paths in a sweep config's env kwargs and in `agentgym train`'s config are read from the
config's folder first (agentgym.paths), but only values that look like a path: an option value such
as `runtime: docker` or `browser: container` stays as written even with a folder of that name beside
the config (it became '/abs/docker': "unknown runtime")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentgym.paths import beside, looks_like_path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("docker", "container", "data", "model"):
        (tmp_path / name).mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "data.jsonl").write_text("")
    return tmp_path


@pytest.mark.parametrize(("value", "path"), [
    ("docker", False), ("train", False), ("retail_lite", False), ("", False), ("a\n/b", False),
    ("data.jsonl", True), ("./data", True), ("../x", True), ("sub/x", True), ("~/x", True),
])
def test_what_looks_like_a_path(value: str, path: bool) -> None:
    assert looks_like_path(value) is path


def test_sweep_kwargs_resolve_only_path_like_values(folder: Path) -> None:
    from agentgym.sweep.config import SweepConfig

    (folder / "s.yaml").write_text("name: x\nenvs: [{id: web-lite, kwargs: {browser: container}}, "
                                   "{id: swe-verified, kwargs: {dataset: data.jsonl, repo_source: ./data}}]\nagents: [oracle]\n")
    cfg = SweepConfig.from_yaml(folder / "s.yaml")
    assert cfg.envs[0].kwargs == {"browser": "container"}, "an option value, not the folder beside the config"
    assert cfg.envs[1].kwargs == {"dataset": str(folder / "data.jsonl"), "repo_source": str(folder / "data")}


def test_train_config_resolves_only_path_like_env_kwargs(folder: Path) -> None:
    from agentgym.rl.trl_train import load_config

    (folder / "t.yaml").write_text("model: model\nenv: shell-fixture\nsplit: train\nalgorithm: grpo\nout: out\n"
                                   "env_kwargs: {runtime: docker, image: data, tasks_file: ./data, other: data.jsonl, n: 3}\n")
    cfg = load_config(folder / "t.yaml")
    assert cfg.model == str(folder / "model"), "model is always a path: a bare folder name resolves"
    assert cfg.env_kwargs == {"runtime": "docker", "image": "data", "tasks_file": str(folder / "data"),
                              "other": str(folder / "data.jsonl"), "n": 3}


def test_home_and_absolute_values(tmp_path: Path) -> None:
    assert beside(tmp_path, "~/x") == str(Path.home() / "x")
    assert beside(tmp_path, "/abs/data.jsonl") == "/abs/data.jsonl"
    assert beside(None, "data.jsonl") == "data.jsonl" and beside(tmp_path, 3) == 3
