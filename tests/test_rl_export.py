"""`agentgym export`: SFT chat data (TRL/datasets format) from a sweep run, RL token rows
(parquet + JSONL) from a token-level run, splits never mixed, bad input one line and no files."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from conftest import IN_CI  # noqa: E402

try:
    import pyarrow.parquet as pq
    import transformers  # noqa: F401
except ImportError:
    if IN_CI:
        raise
    pytest.skip("needs pyarrow and transformers (pip install -e '.[rl,transformers]')", allow_module_level=True)

from rl_fakes import GuessEnv, ScriptedTokens, byte_tokenizer, call_text  # noqa: E402

import agentgym  # noqa: E402
from agentgym.cli.app import app  # noqa: E402
from agentgym.policy import ScriptedPolicy  # noqa: E402
from agentgym.rl.chat_format import HFChatFormat  # noqa: E402
from agentgym.rl.collect import acollect_group  # noqa: E402
from agentgym.rl.export import append_episodes  # noqa: E402
from agentgym.rl.splits import split_of  # noqa: E402
from agentgym.rollout import run_episode  # noqa: E402
from agentgym.sweep.config import AgentSel, RunConfig  # noqa: E402
from agentgym.sweep.store import EpisodeRecord, Store  # noqa: E402

RIGHT, WRONG = call_text("submit", {"answer": 7}), call_text("submit", {"answer": 3})
runner = CliRunner()


def _export(*args):
    return runner.invoke(app, ["export", *map(str, args)])


@pytest.fixture(scope="module")
def token_run(tmp_path_factory):
    """tokens.jsonl of two groups (t1: a crash among them; t2) with splits forced apart."""
    fmt = HFChatFormat(byte_tokenizer())
    env = GuessEnv(fail_seeds={1})
    eps = asyncio.run(acollect_group(env, ScriptedTokens(fmt.tokenizer, [RIGHT, RIGHT, WRONG]), fmt, task_id="t1", n=3))
    eps += asyncio.run(acollect_group(env, ScriptedTokens(fmt.tokenizer, [WRONG, RIGHT]), fmt, task_id="t2", n=2, seed=10))
    eps = [e.model_copy(update={"split": "train" if e.task_id == "t1" else "test"}) for e in eps]
    run = tmp_path_factory.mktemp("tokrun")
    append_episodes(run, eps)
    return run, eps


def test_rl_export_parquet_and_jsonl_per_split(token_run, tmp_path):
    run, eps = token_run
    res = _export(run, "--format", "rl", "--out", tmp_path / "rl")
    assert res.exit_code == 0, res.output
    assert "train 2, test 2 rows" in res.output and "infra_error 1" in res.output
    assert sorted(p.name for p in (tmp_path / "rl").iterdir()) == ["test.jsonl", "test.parquet", "train.jsonl", "train.parquet"]
    train = pq.read_table(tmp_path / "rl" / "train.parquet").to_pylist()
    assert [r["episode_id"] for r in train] == ["t1@0/0", "t1@0/2"]  # the crashed t1@0/1 is not there
    by_id = {e.episode_id: e for e in eps}
    for r in train:
        ep = by_id[r["episode_id"]]
        assert r["prompt_ids"] == ep.prompt_ids and r["response_ids"] == ep.response_ids
        assert r["response_mask"] == ep.response_mask and r["logprobs"] == ep.response_logprobs
        assert r["split"] == "train" and len(r["response_mask"]) == len(r["response_ids"]) == len(r["logprobs"])
    assert [r["advantage"] for r in train] == pytest.approx([0.5, -0.5])  # rewards 1, 0: the crash is not a 0
    assert not any(r["group_all_equal"] for r in train)
    lines = [json.loads(x) for x in (tmp_path / "rl" / "test.jsonl").read_text().splitlines()]
    assert {r["split"] for r in lines} == {"test"} and [r["reward"] for r in lines] == [0.0, 1.0]

    res = _export(run, "--format", "rl", "--split", "test", "--out", tmp_path / "only-test")
    assert res.exit_code == 0 and sorted(p.name for p in (tmp_path / "only-test").iterdir()) == ["test.jsonl", "test.parquet"]


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    """A sweep store with shell-fixture episodes: the reference policy (passed) on every task,
    and one that did nothing (not passed)."""
    root = tmp_path_factory.mktemp("sweep")
    store = Store(root)
    rc = RunConfig(config_id="c1", env="shell-fixture", agent=AgentSel(name="oracle"))
    store.add_config(rc)
    env = agentgym.make("shell-fixture", runtime="local")
    try:
        for i, task in enumerate(env.unwrapped.task_ids()):
            env.reset(options={"task_id": task})
            traj = run_episode(env, env.unwrapped.reference_policy(), options={"task_id": task})
            store.record(EpisodeRecord(config_id="c1", task_id=task, sample=0, seed=None, passed=traj.passed, reward=traj.total_reward,
                                       turns=traj.turns, cost=0, seconds=0, infra_error=False), traj)
        traj = run_episode(env, ScriptedPolicy([]), options={"task_id": "hello"})
        store.record(EpisodeRecord(config_id="c1", task_id="hello", sample=1, seed=None, passed=False, reward=0, turns=1,
                                   cost=0, seconds=0, infra_error=False), traj)
        splits = {t: split_of(env, t) for t in env.unwrapped.task_ids()}
    finally:
        env.close()
        store.close()
    return root, splits


def test_sft_export_is_what_trl_reads(sweep_run, tmp_path):
    import datasets

    root, splits = sweep_run
    assert set(splits.values()) == {"train", "test"}, splits  # the hashed split holds some tasks out
    res = _export(root, "--format", "sft", "--out", tmp_path / "sft")
    assert res.exit_code == 0, res.output
    assert "not_passed 1" in res.output
    for split in ("train", "test"):
        rows = [json.loads(x) for x in (tmp_path / "sft" / f"{split}.jsonl").read_text().splitlines()]
        assert sorted(r["task_id"] for r in rows) == sorted(t for t, s in splits.items() if s == split)
        assert {r["split"] for r in rows} == {split}
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "sft" / "train.jsonl"), split="train")
    assert {"messages", "tools"} <= set(ds.column_names)
    row = ds[0]
    assert [t["function"]["name"] for t in row["tools"]] == ["bash", "read_file", "write_file", "submit"]
    call = next(m for m in row["messages"] if m["role"] == "assistant")["tool_calls"][0]
    assert isinstance(call["function"]["arguments"], dict)  # objects, as chat templates expect
    tool_msg = next(m for m in row["messages"] if m["role"] == "tool")
    assert tool_msg["name"] == call["function"]["name"]
    # a chat template renders the row as SFTTrainer would (messages + tools columns)
    tok = byte_tokenizer()
    text = tok.apply_chat_template(row["messages"], tools=row["tools"], tokenize=False)
    assert '"write_file"' in text or '"bash"' in text


def test_bad_input_one_line_and_nothing_written(token_run, sweep_run, tmp_path):
    run, _ = token_run
    root, _ = sweep_run
    traj_file = tmp_path / "trajs.jsonl"
    traj_file.write_text(json.dumps({"env_id": "no-such-env", "task_id": "x", "seed": None, "first_observation": "hi",
                                     "passed": True, "total_reward": 1.0}) + "\n")
    cases = [
        ((run, "--format", "rl", "--split", "validation"), "unknown split 'validation'; use 'train' or 'test'"),
        ((traj_file, "--format", "sft"), "no agentgym env 'no-such-env'"),
        ((root, "--format", "rl"), "holds no tokens.jsonl"),
        ((run, "--format", "sft"), "holds no results.sqlite"),
        ((run, "--format", "csv"), "unknown --format 'csv'"),
        ((tmp_path / "missing", "--format", "rl"), "does not exist"),
        ((tmp_path / "runs[bold]x", "--format", "rl"), "runs[bold]x does not exist"),  # said as it is, no markup
    ]
    for args, msg in cases:
        res = _export(*args, "--out", tmp_path / "out")
        assert res.exit_code == 2, (args, res.output)
        lines = [x for x in res.output.splitlines() if x.strip()]
        assert len(lines) == 1 and msg in " ".join(res.output.split()), (args, res.output)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["trajs.jsonl"], res.output  # no out, no partial folder
    (tmp_path / "out").mkdir()
    res = _export(run, "--format", "rl", "--out", tmp_path / "out")
    assert res.exit_code == 2 and "already exists" in res.output and list((tmp_path / "out").iterdir()) == []


def test_split_sources():
    from types import SimpleNamespace

    class ByTemplate:  # the web env's way: its task objects carry the split
        env_id = "web-lite"

        def task(self, task_id):
            return SimpleNamespace(split="test" if task_id.startswith("held") else "train")

    assert split_of(ByTemplate(), "held-1") == "test" and split_of(ByTemplate(), "shop-1") == "train"

    class Synth:  # no split of its own: hashed by template key (the repository), same in the lite subset
        env_id = "swe-synth"
        instances = {f"{r}__synth-000{i}": None for r in ("cachetools-5.3.1", "idna-3.4", "six-1.16") for i in (1, 2, 3)}

    lite = type("SynthLite", (Synth,), {"env_id": "swe-synth-lite"})()
    for t in Synth.instances:
        assert split_of(Synth(), t) == split_of(lite, t) == split_of(Synth(), t.split("__")[0] + "__synth-0001")


def test_the_export_folder_has_a_new_folders_permissions(token_run, tmp_path):
    """The staging folder is renamed to OUT: made by mkdtemp it was 0700, unreadable to a trainer
    running as another user."""
    run, _ = token_run
    assert _export(run, "--format", "rl", "--out", tmp_path / "rl").exit_code == 0
    (tmp_path / "plain").mkdir()
    assert (tmp_path / "rl").stat().st_mode == (tmp_path / "plain").stat().st_mode
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
