"""What `agentgym train` keeps and refuses around a run's end (issue 17, RV1 F3, L1, L6).

Why each: Ctrl-C during a checkpoint save left checkpoint-N with a config.json and partial weights,
and the line called it a usable model (`--check` accepted it as `model:`); an SFT export holding
only another split was called "not an SFT export"; a finished run whose OUT another run filled
meanwhile was deleted, final model included, when the final rename failed. No training: checkpoint
folders are written by hand as transformers' Trainer lays them out (trainer_state.json last).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from conftest import run_train_cli as _train
from agentgym.rl.train_keep import keep_interrupted


def _checkpoint(stage: Path, step: int, complete: bool) -> Path:
    c = stage / "checkpoints" / f"checkpoint-{step}"
    c.mkdir(parents=True)
    (c / "config.json").write_text(json.dumps({"model_type": "llama"}))
    if complete:
        (c / "model.safetensors").write_bytes(b"w")
        (c / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return c


def test_a_checkpoint_cut_mid_save_is_named_incomplete_not_kept(tmp_path):
    out = tmp_path / "out"
    stage = tmp_path / ".out.tmp-1"
    _checkpoint(stage, 10, True)
    _checkpoint(stage, 2, True)
    _checkpoint(stage, 12, False)  # Ctrl-C during its save
    (stage / "train_log.jsonl").write_text('{"step": 12}\n{"ste')
    exc = keep_interrupted(stage, out, 20)
    line = exc.line("agentgym train c.yaml")
    assert exc.kept == tmp_path / "out.interrupted" and exc.checkpoints == ["checkpoint-2", "checkpoint-10"]
    assert line.startswith("interrupted at step 12/20: checkpoint-2, checkpoint-10 kept in ") and \
        "(checkpoint-12 incomplete: cut mid-save, no model)" in line, line

    only_cut = tmp_path / ".out.tmp-2"
    _checkpoint(only_cut, 3, False)
    exc = keep_interrupted(only_cut, out, 20)
    assert exc.kept is None and only_cut.is_dir()  # left to staging to remove: nothing usable in it
    assert "nothing kept" in exc.line("r") and "checkpoint-3 incomplete" in exc.line("r")


def test_check_refuses_an_incomplete_checkpoint_as_model(tmp_path, train_base):
    run = tmp_path / "prev"
    cut, whole = _checkpoint(run, 4, False), _checkpoint(run, 2, True)
    code, _, err = _train(tmp_path, {**train_base, "model": str(cut)}, "--check")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "is an incomplete checkpoint" in err \
        and "give an earlier checkpoint" in err, err
    code, out, err = _train(tmp_path, {**train_base, "model": str(whole)}, "--check")
    assert code == 0 and out.startswith("ok: grpo"), err


def test_an_sft_export_without_the_configs_split_says_so(tmp_path, train_base):
    sft = tmp_path / "exports" / "sft"
    sft.mkdir(parents=True)
    (sft / "train.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "x"}], "tools": [], "split": "train"}) + "\n")
    code, _, err = _train(tmp_path, {**train_base, "algorithm": "sft", "split": "test", "sft_data": str(sft)}, "--check")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "is an SFT export with no test split: it has no test.jsonl (its splits: train)" in err and "not an SFT export" not in err, err


def test_a_finished_run_whose_out_was_filled_meanwhile_is_kept(tmp_path, train_base, monkeypatch):
    from agentgym.rl import trl_train

    out = Path(train_base["out"])

    def train_into(stage, cfg, tasks, transformers):  # the run finishes while another one wrote OUT
        (stage / "final").mkdir()
        (stage / "final" / "config.json").write_text("{}")
        out.mkdir(parents=True)
        (out / "theirs.txt").write_text("another run")
        return {"steps": 1}

    monkeypatch.setitem(sys.modules, "transformers", types.ModuleType("transformers"))  # no model is loaded
    monkeypatch.setattr(trl_train, "_train_into", train_into)
    code, stdout, err = _train(tmp_path, train_base)
    kept = out.with_name("out.done")
    assert code == 2 and stdout == "" and len(err.strip().splitlines()) == 1, err
    assert f"was filled while this run trained; the finished run is kept in {kept} (final model: {kept / 'final'})" in err, err
    assert (kept / "final" / "config.json").is_file() and sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["out", "out.done"]  # no staging folder left


@pytest.mark.parametrize("value, ok", [(600, True), (None, True), (0, False), (86_401, False), (float("nan"), False)])
def test_grpo_settings_bound_the_episode_time(value, ok):
    from pydantic import ValidationError

    from agentgym.rl.trl_grpo import GRPOSettings

    if ok:
        assert GRPOSettings(max_seconds=value).max_seconds == value
    else:
        with pytest.raises(ValidationError):
            GRPOSettings(max_seconds=value)


def test_train_grpo_hands_max_seconds_to_the_environment_class(tmp_path, monkeypatch):
    """The stub trainer stops at the environment class: what max_seconds did each rollout get?"""
    from agentgym.rl import trl_grpo

    seen = {}
    fake = types.ModuleType("trl")  # never reached: importing the real one costs seconds
    fake.GRPOConfig = fake.GRPOTrainer = None
    monkeypatch.setitem(sys.modules, "trl", fake)

    def env_class(env_id, **kw):
        seen.update(kw)
        raise RuntimeError("stop here")

    monkeypatch.setattr(trl_grpo, "environment_class", env_class)
    with pytest.raises(RuntimeError, match="stop here"):
        trl_grpo.train_grpo(None, None, "shell-fixture", ["hello"], tmp_path, trl_grpo.GRPOSettings(max_seconds=42.5))
    assert seen["max_seconds"] == 42.5
