"""Training data that cannot mislead a trainer (issue 17 findings F3, F9, F12 and C1's deep arguments).

Why each: two collections appended to one run under the default group id were pooled into one
GRPO group (duplicate episode ids accepted; two all-equal groups became a mixed one with +-0.5
advantages); a reply cut at max_tokens was neither marked truncated nor visible in the RL export,
so verl/OpenRLHF users could not mask cut completions, and the parquet's truncation_reason was
typed 'null' when nothing was truncated; the SFT export of a multi-agent sweep lost which
config/agent/model produced a row and could not keep one config; a passed episode's tool call
nested ~600 levels reached the SFT export as an object that the chat template's tojson cannot render.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from conftest import IN_CI  # noqa: E402

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import transformers  # noqa: F401
except ImportError:
    if IN_CI:
        raise
    pytest.skip("needs pyarrow and transformers (pip install -e '.[rl,transformers]')", allow_module_level=True)

from rl_fakes import GuessEnv, ScriptedTokens, byte_tokenizer, call_text  # noqa: E402

import agentgym  # noqa: E402
from agentgym.cli.app import app  # noqa: E402
from agentgym.rl.chat_format import HFChatFormat  # noqa: E402
from agentgym.rl.collect import CollectConfig, acollect_group  # noqa: E402
from agentgym.rl.export import ExportError, append_episodes, export_run  # noqa: E402
from agentgym.rl.groups import make_batch  # noqa: E402
from agentgym.rollout import Trajectory, run_episode  # noqa: E402
from agentgym.sweep.config import AgentSel, ModelSel, RunConfig  # noqa: E402
from agentgym.sweep.store import EpisodeRecord, Store  # noqa: E402

RIGHT, WRONG, LOOK = call_text("submit", {"answer": 7}), call_text("submit", {"answer": 3}), call_text("look")
runner = CliRunner()


@pytest.fixture(scope="module")
def fmt():
    return HFChatFormat(byte_tokenizer())


def _collect(fmt, replies, n, **cfg):
    return asyncio.run(acollect_group(GuessEnv(), ScriptedTokens(fmt.tokenizer, replies), fmt, task_id="t1", n=n,
                                      config=CollectConfig(**cfg)))


def _one_line(res, says):
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and says in " ".join(res.output.split()), res.output


# -- F3: a group is one collection --------------------------------------------------------------------
def test_a_second_collection_under_the_same_group_id_is_refused_not_pooled(fmt, tmp_path):
    run = tmp_path / "run"
    passing, failing = _collect(fmt, [RIGHT, RIGHT], 2), _collect(fmt, [WRONG, WRONG], 2)
    append_episodes(run, passing)
    with pytest.raises(ExportError, match=r"episode_id 't1@0/0' is already in .*tokens.jsonl: give each collection .* own group_id"):
        append_episodes(run, failing)
    assert len((run / "tokens.jsonl").read_text().splitlines()) == 2  # nothing of the refused collection
    append_episodes(run, _collect(fmt, [WRONG, WRONG], 2, policy_version="1"))  # the next iteration's policy: its own group
    res = runner.invoke(app, ["export", str(run), "--format", "rl", "--out", str(tmp_path / "rl")])
    assert res.exit_code == 0, res.output
    rows = pq.read_table(tmp_path / "rl" / "train.parquet").to_pylist() if (tmp_path / "rl" / "train.parquet").exists() else []
    rows += pq.read_table(tmp_path / "rl" / "test.parquet").to_pylist() if (tmp_path / "rl" / "test.parquet").exists() else []
    assert sorted(r["group_id"] for r in rows) == ["t1@0", "t1@0", "t1@1", "t1@1"]
    assert all(r["advantage"] == 0.0 and r["group_all_equal"] for r in rows)  # two no-signal groups stay no-signal
    assert {r["model"] for r in rows} == {"scripted"}


def test_a_run_holding_pooled_groups_is_refused_by_export_and_make_batch(fmt, tmp_path):
    """tokens.jsonl written before the refusal (or concatenated by hand): the export says so in one line."""
    run = tmp_path / "old"
    run.mkdir()
    a, b = _collect(fmt, [RIGHT, RIGHT], 2), _collect(fmt, [WRONG, WRONG], 2)
    (run / "tokens.jsonl").write_text("".join(e.model_dump_json() + "\n" for e in a + b))
    _one_line(runner.invoke(app, ["export", str(run), "--format", "rl", "--out", str(tmp_path / "rl")]),
              "episode_id 't1@0/0' appears twice: two collections were pooled under group_id 't1@0'")
    assert not (tmp_path / "rl").exists()
    later = [e.model_copy(update={"episode_id": f"t1@0/{i + 2}", "policy_version": "1"}) for i, e in enumerate(b)]
    with pytest.raises(ValueError, match="group 't1@0' mixes policy_version '0' and '1'"):
        make_batch(a + later)
    with pytest.raises(ValueError, match="mixes model 'scripted' and 'other'"):
        make_batch(a + [e.model_copy(update={"model": "other", "episode_id": "t1@0/9"}) for e in b[:1]])


# -- F9: a cut reply -----------------------------------------------------------------------------------
def test_a_reply_cut_at_max_tokens_is_marked_for_masking(fmt, tmp_path):
    [ended] = _collect(fmt, [RIGHT], 1, max_tokens=12)  # cut inside its tool call: nothing parsed, the budget ended it
    assert ended.turns[0].finish_reason == "length"
    assert ended.truncated and ended.truncation_reason == "max_tokens" and ended.end_reason == "max_tokens" and not ended.passed
    look_ids = len(fmt.tokenizer.encode(LOOK, add_special_tokens=False))
    [went_on] = _collect(fmt, [LOOK, "7"], 1, max_tokens=look_ids)  # cut right after its call (no stop id): the call ran
    assert [t.finish_reason for t in went_on.turns] == ["length", "stop"]
    assert not went_on.truncated and went_on.end_reason == "no_tool_call"
    prompt = len(ended.prompt_ids)
    [ctx] = _collect(fmt, [RIGHT], 1, max_tokens=100, max_context=prompt + 12)  # the context's room was the smaller limit
    assert ctx.truncated and ctx.truncation_reason == "max_context"
    [fine] = _collect(fmt, [RIGHT], 1)
    assert not fine.truncated and fine.passed

    for i, (name, eps) in enumerate((("cut", [ended, went_on]), ("clean", [fine]))):
        eps = [e.model_copy(update={"group_id": f"g{i}{j}", "episode_id": f"g{i}{j}/0", "split": "train"}) for j, e in enumerate(eps)]
        append_episodes(tmp_path / name, eps)
        export_run(tmp_path / name, "rl", tmp_path / f"{name}-rl")
    cut = pq.read_table(tmp_path / "cut-rl" / "train.parquet")
    rows = cut.to_pylist()
    assert [r["finish_reasons"] for r in rows] == [["length"], ["length", "stop"]]
    assert [r["completion_truncated"] for r in rows] == [True, True] and [r["truncation_reason"] for r in rows] == ["max_tokens", None]
    clean = pq.read_schema(tmp_path / "clean-rl" / "train.parquet")
    assert clean.field("truncation_reason").type == pa.string()  # typed even when no row is truncated
    assert clean.remove_metadata() == cut.schema.remove_metadata()  # one schema for every export


# -- F12 and C1: the SFT export of a sweep ---------------------------------------------------------------
@pytest.fixture(scope="module")
def two_config_sweep(tmp_path_factory):
    """The oracle (k=2: identical replays) and a 'model' config on two shell-fixture tasks."""
    root = tmp_path_factory.mktemp("sweep")
    store = Store(root)
    kw = {"show_workdir": False}
    oracle = RunConfig(config_id="oracle#1", env="shell-fixture", env_kwargs=kw, agent=AgentSel(name="oracle"))
    model = RunConfig(config_id="react#2", env="shell-fixture", env_kwargs=kw, agent=AgentSel(name="react"),
                      model=ModelSel(model="qwen-7b", label="Qwen 7B"))
    with agentgym.make("shell-fixture", runtime="local", **kw) as env:
        for rc, samples in ((oracle, 2), (model, 1)):
            store.add_config(rc)
            for task in ("hello", "count-lines"):
                for sample in range(samples):
                    traj = run_episode(env, _reference(env, task), options={"task_id": task})
                    store.record(EpisodeRecord(config_id=rc.config_id, task_id=task, sample=sample, seed=None, passed=traj.passed,
                                               reward=traj.total_reward, turns=traj.turns, cost=0, seconds=0, infra_error=False), traj)
    store.close()
    return root


def _reference(env, task):
    env.reset(options={"task_id": task})
    return env.unwrapped.reference_policy()


def _rows(folder):
    return [json.loads(x) for f in sorted(folder.glob("*.jsonl")) for x in f.read_text().splitlines()]


def test_sft_rows_say_their_config_and_can_be_filtered_and_deduplicated(two_config_sweep, tmp_path):
    res = runner.invoke(app, ["export", str(two_config_sweep), "--format", "sft", "--out", str(tmp_path / "all")])
    assert res.exit_code == 0, res.output
    rows = _rows(tmp_path / "all")
    assert sorted((r["config_id"], r["agent"], r["model"]) for r in rows) == sorted(
        [("oracle#1", "oracle", None)] * 4 + [("react#2", "react", "qwen-7b")] * 2)
    # the oracle's 2 replays repeat themselves, and the 'model' (here the same reference policy) repeats them too
    assert "4 rows repeat an earlier row exactly (--dedupe leaves them out)" in res.output

    res = runner.invoke(app, ["export", str(two_config_sweep), "--format", "sft", "--config", "react#2", "--out", str(tmp_path / "one")])
    assert res.exit_code == 0 and {r["config_id"] for r in _rows(tmp_path / "one")} == {"react#2"}, res.output
    assert len(_rows(tmp_path / "one")) == 2 and "repeat" not in res.output
    res = runner.invoke(app, ["export", str(two_config_sweep), "--format", "sft", "--dedupe", "--out", str(tmp_path / "dd")])
    assert res.exit_code == 0 and "duplicate 4" in res.output, res.output
    assert sorted(r["task_id"] for r in _rows(tmp_path / "dd")) == ["count-lines", "hello"]

    _one_line(runner.invoke(app, ["export", str(two_config_sweep), "--format", "sft", "-c", "nope", "--out", str(tmp_path / "x")]),
              "--config 'nope' is not a config of")
    assert not (tmp_path / "x").exists()


def test_a_tool_call_nested_past_the_guard_never_reaches_the_sft_export(tmp_path):
    """Arguments 600 levels deep (loads_or takes ~990; tojson recurses per level): a first call that
    deep leaves its row out (too_deep); a later one cuts the row before it (counted)."""
    deep = '{"a": ' * 600 + "1" + "}" * 600

    def traj(calls):
        msgs = [{"role": "user", "content": "Task (hello): make hello.txt"}]
        for i, (name, args) in enumerate(calls):
            msgs += [{"role": "assistant", "content": None, "tool_calls": [{"id": f"c{i}", "type": "function",
                                                                         "function": {"name": name, "arguments": args}}]},
                     {"role": "tool", "tool_call_id": f"c{i}", "content": "ok"}]
        return Trajectory(env_id="shell-fixture", task_id="hello", seed=None, first_observation="x", passed=True, total_reward=1.0,
                          transcript={"messages": msgs})

    ok = json.dumps({"path": "hello.txt", "content": "hello, world\n"})
    run = tmp_path / "run.jsonl"
    run.write_text("".join(t.model_dump_json() + "\n" for t in (traj([("bash", deep), ("submit", "{}")]),
                                                                 traj([("write_file", ok), ("bash", deep), ("submit", "{}")]))))
    summary = export_run(run, "sft", tmp_path / "sft")
    assert summary.skipped["too_deep"] == 1 and summary.cut_deep == 1 and sum(summary.rows.values()) == 1
    [row] = _rows(tmp_path / "sft")
    assert [c["function"]["name"] for m in row["messages"] for c in m.get("tool_calls") or []] == ["write_file"]
    res = runner.invoke(app, ["export", str(run), "--format", "sft", "--out", str(tmp_path / "cli")])
    assert "too_deep 1" in res.output and "1 rows cut before a tool call whose arguments nest too deeply" in res.output, res.output


def test_rl_export_refuses_sft_only_options(fmt, tmp_path):
    append_episodes(tmp_path / "run", _collect(fmt, [RIGHT], 1))
    _one_line(runner.invoke(app, ["export", str(tmp_path / "run"), "--format", "rl", "--config", "c1", "--out", str(tmp_path / "o")]),
              "--config is for --format sft")


def test_a_reply_cut_by_the_models_own_window_is_labelled_max_context(fmt):
    """The backend shortens a reply to its model's window (fewer ids than max_tokens, finish 'length'):
    the window ended the episode, not the token budget."""

    class WindowCut(ScriptedTokens):
        async def generate_ids(self, prompt_ids, *, max_tokens, **kw):
            sample = await super().generate_ids(prompt_ids, max_tokens=min(max_tokens, 5), **kw)
            return sample.model_copy(update={"finish_reason": "length"})

    [ep] = asyncio.run(acollect_group(GuessEnv(), WindowCut(fmt.tokenizer, [RIGHT]), fmt, task_id="t1", n=1,
                                      config=CollectConfig(max_tokens=64)))
    assert ep.truncated and ep.truncation_reason == "max_context" and ep.end_reason == "max_context"
