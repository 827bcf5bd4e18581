"""`agentgym train` as a new user met it (issue 17, N's findings F2, F4-F7, F10, F11): a typo names
itself and the keys its section takes; settings of the other algorithm are refused; an sft_data
folder that is no SFT export says what it holds; relative paths are read from the config's folder
first (the sweep rule); --check --json is one JSON object; a run stores its config, leaves no empty
checkpoints/ and reports first/last reward; the training page says what a run trained and flags
GRPO steps that carried no gradient. No training: the trainer is stubbed where a run is needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_train_cli as _train
from agentgym.rl.trl_log import StepRow, TrainLog


@pytest.mark.parametrize("change, expect", [
    ({"grpo": {"step": 3}}, ["unknown config key 'grpo.step'; did you mean 'steps'?", "allowed under grpo: steps, num_generations",
                             "save_steps"]),
    ({"algorithm": "sft", "sft": {"lr": 1e-3}}, ["unknown config key 'sft.lr'", "allowed under sft: steps, learning_rate", "save_steps"]),
    ({"algoritm": "grpo"}, ["unknown config key 'algoritm'; did you mean 'algorithm'?"]),  # and 'algorithm' is missing
    ({"sft_data": "exports/sft"}, ["sft_data: is for algorithm sft, unused with algorithm grpo"]),
    ({"sft": {"steps": 3}}, ["sft: is for algorithm sft, unused with algorithm grpo", "two configs"]),
    ({"algorithm": "sft", "grpo": {"max_turns": 3}}, ["grpo: is for algorithm grpo, unused with algorithm sft"]),
])
def test_config_mistakes_are_one_line_that_names_them(tmp_path, train_base, change, expect):
    cfg = {**train_base, **change}
    if "algoritm" in change:
        del cfg["algorithm"]
    code, out, err = _train(tmp_path, cfg, "--check")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    for e in expect:
        assert e in err, err


def test_sft_data_that_is_no_sft_export_says_what_it_holds(tmp_path, train_base):
    rl = tmp_path / "exports" / "rl"  # shaped like `agentgym export --format rl`
    rl.mkdir(parents=True)
    (rl / "train.jsonl").write_text(json.dumps({"schema_version": 1, "episode_id": "hello@0/0", "prompt_ids": [1, 2],
                                                "response_ids": [3], "response_mask": [1], "advantage": 0.5}) + "\n")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "readme.txt").write_text("hi")
    for data, says in [(rl, "holds RL token rows"), (other, "holds no train.jsonl (it holds: readme.txt)")]:
        code, _, err = _train(tmp_path, {**train_base, "algorithm": "sft", "sft_data": str(data)}, "--check")
        assert code == 2 and says in err and "agentgym export RUN --format sft" in err and len(err.splitlines()) == 1, err
    sft = tmp_path / "exports" / "sft"
    sft.mkdir()
    (sft / "train.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "x"}], "tools": [], "split": "train"}) + "\n")
    code, out, err = _train(tmp_path, {**train_base, "algorithm": "sft", "sft_data": str(sft)}, "--check")
    assert code == 0 and out.startswith("ok: sft"), err


def test_relative_paths_are_read_from_the_config_folder_first(tmp_path, train_base, monkeypatch):
    cfg_dir, elsewhere = tmp_path / "proj", tmp_path / "elsewhere"
    (cfg_dir / "runs").mkdir(parents=True)
    elsewhere.mkdir()
    Path(train_base["model"]).rename(cfg_dir / "runs" / "model")
    monkeypatch.chdir(elsewhere)
    cfg = {**train_base, "model": "runs/model", "out": "runs/out"}
    code, out, err = _train(cfg_dir, cfg, "--check", "--json")
    assert code == 0, err
    got = json.loads(out)  # one JSON object
    assert got["model"] == str(cfg_dir / "runs" / "model") and got["out"] == str(elsewhere / "runs" / "out")
    assert got["algorithm"] == "grpo" and got["env"] == "shell-fixture" and got["split"] == "train" and "hello" in got["tasks"]
    code, _, err = _train(cfg_dir, {**cfg, "model": "runs/nope"}, "--check")
    assert code == 2 and f"looked in the config's folder {cfg_dir} and the working directory {elsewhere}" in err, err


def test_sft_save_steps_writes_checkpoints():
    from agentgym.rl.trl_sft import SFTSettings, sft_config

    assert sft_config(SFTSettings(save_steps=2), Path("/tmp/x")).save_strategy == "steps"
    assert sft_config(SFTSettings(save_steps=2), Path("/tmp/x")).save_steps == 2
    assert sft_config(SFTSettings(), Path("/tmp/x")).save_strategy == "no"


@pytest.fixture
def stubbed(monkeypatch):
    """train_grpo replaced by one that logs two steps (the second with no gradient) and leaves the
    empty checkpoints/ folder TRL makes."""
    import transformers

    from agentgym.rl import trl_grpo

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", staticmethod(lambda path: "tok"))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", staticmethod(lambda path: "model"))

    def train_grpo(model, tok, env, tasks, out, settings, env_kwargs=None):
        (out / "checkpoints").mkdir()
        (out / "final").mkdir()
        print("{'loss': 0.1}")  # as transformers' Trainer prints its logs
        log = TrainLog(out)
        for step, r, flat in [(1, 0.25, 0.5), (2, 0.5, 1.0)]:
            log.add(StepRow(algorithm="grpo", step=step, reward=r, loss=0.1, episodes=4, extra={"frac_reward_zero_std": flat}))
        log.close()
        return trl_grpo.GRPOOutcome(final_model=str(out / "final"), steps=2, episodes=8, rows=[])

    monkeypatch.setattr(trl_grpo, "train_grpo", train_grpo)


def test_a_run_stores_its_config_and_reports_first_and_last_reward(tmp_path, train_base, stubbed):
    from agentgym.report import write_report
    from agentgym.view.data import RunData

    code, out, err = _train(tmp_path, {**train_base, "grpo": {"steps": 2, "learning_rate": 0.003}}, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["first_reward"], result["last_reward"]) == (0.25, 0.5)
    run = Path(train_base["out"])
    assert not (run / "checkpoints").exists() and (run / "final").is_dir()  # no empty checkpoints/ left
    stored = RunData(run).meta("train_config")
    assert stored["model"] == train_base["model"] and stored["env"] == "shell-fixture" and stored["split"] == "train"
    assert stored["algorithm"] == "grpo" and stored["settings"]["learning_rate"] == 0.003 and "hello" in stored["tasks"]
    page = write_report(run).read_text()
    assert train_base["model"] in page and "learning_rate=0.003" in page
    assert "1 of 2 GRPO steps carried no gradient" in page and "learned nothing" not in page


def test_a_grpo_run_with_no_gradient_at_any_step_says_it_learned_nothing():
    from agentgym.view.training import training_section, training_table

    flat = [StepRow(algorithm="grpo", step=s, reward=0.0, loss=0.0, extra={"frac_reward_zero_std": 1.0}) for s in (1, 2, 3)]
    html = training_section(flat, {"model": "m", "env": "shell-fixture", "algorithm": "grpo", "settings": {"steps": 3}})
    assert "GRPO learned nothing: every group's rewards were equal</b> at all 3 steps" in html
    assert "<td class=l>shell-fixture</td>" in html and "steps=3" in html
    mixed = [*flat[:2], StepRow(algorithm="grpo", step=3, reward=0.5, extra={"frac_reward_zero_std": 0.0})]
    assert "learned nothing" not in training_section(mixed) and "2 of 3 GRPO steps carried no gradient" in training_section(mixed)
    assert "<td>2</td>" in training_table(mixed)  # the no-gradient count column
