"""README's training sections are what a new user copies: keep them true to the code.

Why: a researcher trying `agentgym train` from a fresh clone follows README alone. Before these
checks its one config mixed `algorithm: grpo` with SFT's `sft_data:` (silently unused), promised a
`checkpoints/` folder that no default run fills, listed no `sft:`/`grpo:` setting, and named
`acollect_group`/`HFChatFormat` without the modules they live in. These tests read README itself:
the settings it lists must be the settings the trainers take, its two configs must pass
`agentgym train --check`, and the names its Python snippets import must exist.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentgym.cli.app import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def _listed(name: str) -> list[str]:
    """The keys README's "Settings" sentence lists after `name:` (up to the next `;` or `.`)."""
    text = " ".join(_section("Training: TRL").split())
    m = re.search(rf"`{name}:` ([a-z0-9_, ]+)[;.]", text)
    assert m, f"README's training section lists no `{name}:` settings"
    return [k.strip() for k in m.group(1).split(",")]


def test_readme_lists_every_sft_and_grpo_setting():
    from agentgym.rl.trl_grpo import GRPOSettings
    from agentgym.rl.trl_sft import SFTSettings

    assert _listed("sft") == list(SFTSettings.model_fields), "update README's Settings sentence (sft:)"
    assert _listed("grpo") == list(GRPOSettings.model_fields), "update README's Settings sentence (grpo:)"


def test_readme_train_configs_pass_check(tmp_path, monkeypatch):
    """SFT then GRPO, as README writes them, from a working directory holding what they name."""
    sft, grpo = _blocks(_section("Training: TRL"), "yaml")[:2]
    monkeypatch.chdir(tmp_path)
    Path("exports/sft").mkdir(parents=True)
    Path("exports/sft/train.jsonl").write_text(json.dumps({"messages": [], "tools": [], "split": "train"}) + "\n")  # an SFT export's row
    # the GRPO config's model is what the SFT run leaves: made only after the SFT check (its out must be new)
    for text, algorithm, model in ((sft, "sft", "runs/tiny-model"), (grpo, "grpo", "runs/train-sft/final")):
        Path(model).mkdir(parents=True)
        Path(model, "config.json").write_text(json.dumps({"model_type": "llama"}))
        Path("train.yaml").write_text(text)
        res = CliRunner().invoke(app, ["train", "train.yaml", "--check"])
        assert res.exit_code == 0, res.stderr
        assert res.stdout.startswith(f"ok: {algorithm} on "), res.stdout
    assert sorted(p.name for p in Path("runs").iterdir()) == ["tiny-model", "train-sft"]  # --check wrote nothing


@pytest.mark.parametrize("section", ["Training data", "Training: TRL"])
def test_readme_training_snippets_import_what_exists(section):
    import importlib
    import importlib.util

    blocks = _blocks(_section(section), "python")
    assert blocks, f"README's {section!r} section has no Python snippet"
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), \
                        f"README imports {alias.name} from {node.module}, which has no such name"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)


def test_rl_export_rows_are_what_readme_says(tmp_path):
    """README: response_ids is each turn's env/template ids (mask 0) then its sampled ids (mask 1), so
    prompt_ids + response_ids is the whole sequence; logprobs 0.0 under mask 0; advantage = reward - group mean."""
    import pandas as pd

    from agentgym.rl.export import append_episodes
    from agentgym.rl.records import TokenEpisode, TokenTurn

    def episode(i: int, reward: float) -> TokenEpisode:
        turns = [TokenTurn(completion_ids=[10, 11], logprobs=[-0.1, -0.2]),
                 TokenTurn(context_ids=[20, 21, 22], completion_ids=[12], logprobs=[-0.3])]
        return TokenEpisode(episode_id=f"hello@0/{i}", group_id="hello@0", env_id="shell-fixture", task_id="hello",
                            split="train", seed=i, prompt_ids=[1, 2], turns=turns, reward=reward, passed=reward == 1.0)

    append_episodes(tmp_path / "run", [episode(0, 1.0), episode(1, 0.0), episode(2, 0.0), episode(3, 0.0)])
    res = CliRunner().invoke(app, ["export", str(tmp_path / "run"), "--format", "rl", "--out", str(tmp_path / "rl")])
    assert res.exit_code == 0, res.stderr
    rows = pd.read_parquet(tmp_path / "rl" / "train.parquet").to_dict("records")
    for row in rows:
        assert list(row["prompt_ids"]) + list(row["response_ids"]) == [1, 2, 10, 11, 20, 21, 22, 12]
        assert list(row["response_mask"]) == [1, 1, 0, 0, 0, 1]
        assert list(row["logprobs"]) == [-0.1, -0.2, 0.0, 0.0, 0.0, -0.3]
    assert [r["advantage"] for r in rows] == [0.75, -0.25, -0.25, -0.25]
