"""`agentgym train CONFIG.yaml` on bad input: one clear line on stderr, exit 2, and nothing written
where the run would have gone (no output directory, no staging directory beside it)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from conftest import run_train_cli as _train


def _nothing_written(cfg):
    from pathlib import Path

    parent = Path(cfg["out"]).parent
    return not parent.exists() or not any(parent.iterdir())


@pytest.mark.parametrize("change, expect", [
    ({"lerning_rate": 1e-3}, "unknown config key 'lerning_rate'"),
    ({"grpo": {"steps": 2, "lr": 1}}, "unknown config key 'grpo.lr'"),
    ({"env": "shell-fixtur"}, "no agentgym env 'shell-fixtur'. Did you mean: shell-fixture"),
    ({"split": "dev"}, "unknown split 'dev'; use train or test"),
    ({"tasks": ["no-such-task"]}, "tasks not in the train split of shell-fixture: ['no-such-task']"),
    ({"algorithm": "ppo"}, "config key 'algorithm'"),
    ({"env_kwargs": {"colour": "red"}}, "env_kwargs for shell-fixture"),
])
def test_bad_config_is_one_line_and_writes_nothing(tmp_path, train_base, change, expect):
    cfg = {**train_base, **change}
    code, out, err = _train(tmp_path, cfg)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and expect in err, err
    assert _nothing_written(cfg)


def test_missing_model_path_and_missing_keys(tmp_path, train_base):
    cfg = {**train_base, "model": str(tmp_path / "nope")}
    code, _, err = _train(tmp_path, cfg)
    assert code == 2 and f"model path {tmp_path / 'nope'} does not exist" in err and len(err.splitlines()) == 1
    cfg = {k: v for k, v in train_base.items() if k != "out"}
    code, _, err = _train(tmp_path, cfg)
    assert code == 2 and "config key 'out' is missing" in err
    code, _, err = _train(tmp_path, {**train_base, "algorithm": "sft", "sft_data": str(tmp_path / "no-export")})
    assert code == 2 and "sft_data" in err and "agentgym export" in err
    assert _nothing_written(train_base)


def test_occupied_output_dir_is_refused_untouched(tmp_path, train_base):
    from pathlib import Path

    out = Path(train_base["out"])
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    code, _, err = _train(tmp_path, train_base)
    assert code == 2 and "exists and is not empty" in err
    assert [p.name for p in out.parent.iterdir()] == ["out"] and (out / "keep.txt").read_text() == "mine"


def test_check_passes_a_good_config_through_the_real_entry_point(tmp_path, train_base):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(train_base))
    proc = subprocess.run([sys.executable, "-m", "agentgym", "train", str(path), "--check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: grpo on ") and "tasks of shell-fixture" in proc.stdout
    assert _nothing_written(train_base)


@pytest.mark.parametrize("fails", [False, True])
def test_the_run_is_published_whole_or_not_at_all(tmp_path, train_base, monkeypatch, fails):
    """run_train trains into a staging folder beside OUT: renamed to OUT (a new folder's mode, not
    mkdtemp's 0700) when training returns, deleted when it raises. Training is stubbed: it writes a
    file, then returns or crashes."""
    import transformers

    from agentgym.rl import trl_grpo
    from agentgym.rl.trl_train import TrainConfig, run_train

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", staticmethod(lambda path: "tok"))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", staticmethod(lambda path: "model"))

    def train_grpo(model, tok, env, tasks, out, settings, env_kwargs=None):
        (out / "final").mkdir()
        if fails:
            raise RuntimeError("training crashed")
        return trl_grpo.GRPOOutcome(final_model=str(out / "final"), steps=1, episodes=0, rows=[])

    monkeypatch.setattr(trl_grpo, "train_grpo", train_grpo)
    cfg = TrainConfig(**train_base)
    if fails:
        with pytest.raises(RuntimeError, match="training crashed"):
            run_train(cfg)
        assert _nothing_written(train_base)
        return
    out = run_train(cfg)["out"]
    (tmp_path / "plain").mkdir()
    from pathlib import Path

    assert [p.name for p in Path(out).parent.iterdir()] == ["out"] and (Path(out) / "final").is_dir()
    assert Path(out).stat().st_mode == (tmp_path / "plain").stat().st_mode
