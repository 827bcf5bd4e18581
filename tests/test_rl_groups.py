"""Groups and advantages (agentgym.rl.groups) over episodes the real collector played on a
fault-injected env: infrastructure errors never enter a batch (dropped and counted, never a 0),
all-equal groups are flagged, budget truncation is recorded as such."""

from __future__ import annotations

import asyncio

import pytest

from conftest import IN_CI  # noqa: E402

try:
    import transformers  # noqa: F401
except ImportError:
    if IN_CI:
        raise
    pytest.skip("needs transformers (a tokenizer with a chat template)", allow_module_level=True)

from rl_fakes import GuessEnv, ScriptedTokens, byte_tokenizer, call_text  # noqa: E402

from agentgym.rl.chat_format import HFChatFormat  # noqa: E402
from agentgym.rl.collect import CollectConfig, acollect_episode, acollect_group  # noqa: E402
from agentgym.rl.groups import make_batch  # noqa: E402

RIGHT, WRONG, LOOK = call_text("submit", {"answer": 7}), call_text("submit", {"answer": 3}), call_text("look")


@pytest.fixture(scope="module")
def fmt():
    return HFChatFormat(byte_tokenizer())


def _group(fmt, env, replies, task="t1", n=4, **cfg):
    backend = ScriptedTokens(fmt.tokenizer, replies)
    return asyncio.run(acollect_group(env, backend, fmt, task_id=task, n=n, seed=0, config=CollectConfig(**cfg)))


def test_infra_errors_never_enter_a_batch(fmt):
    env = GuessEnv(fail_seeds={1}, reset_fail_seeds={4})
    eps = _group(fmt, env, [RIGHT, RIGHT, WRONG, LOOK, RIGHT])  # seed 1's submit hits the dead grader
    eps += _group(fmt, env, [None], task="t2", n=1)  # the model server dies
    eps.append(asyncio.run(acollect_episode(env, ScriptedTokens(fmt.tokenizer, []), fmt, group_id="t1@0", index=4, task_id="t1", seed=4)))
    assert [e.reward for e in eps[:4]] == [1.0, 0.0, 0.0, 1.0] and len(eps[3].turns) == 2
    assert "grader container died" in eps[1].infra_error and "server went away" in eps[4].infra_error
    assert "sandbox did not start" in eps[5].infra_error and eps[5].prompt_ids == []

    batch = make_batch(eps)
    assert [e.episode_id for e in batch.episodes] == ["t1@0/0", "t1@0/2", "t1@0/3"]
    assert batch.dropped_infra == 3 and batch.dropped_episode_ids == ["t1@0/1", "t2@0/0", "t1@0/4"]
    g = {s.group_id: s for s in batch.groups}
    assert g["t1@0"].rewards == [1.0, 0.0, 1.0] and g["t1@0"].dropped_infra == 2  # the 0 of a crash is not among them
    assert [e.advantage for e in batch.episodes] == pytest.approx([1 / 3, -2 / 3, 1 / 3])
    assert g["t2@0"].episode_ids == [] and g["t2@0"].dropped_infra == 1 and not g["t2@0"].all_equal

    scaled = make_batch(eps, scale_std=True)
    std = g["t1@0"].std
    assert [e.advantage for e in scaled.episodes] == pytest.approx([(1 / 3) / std, (-2 / 3) / std, (1 / 3) / std], rel=1e-4)
    assert all(e.advantage is None for e in eps)  # the inputs are not modified


def test_all_equal_groups_are_flagged(fmt):
    env = GuessEnv()
    same = _group(fmt, env, [RIGHT] * 3, n=3)
    mixed = _group(fmt, env, [RIGHT, WRONG], task="t2", n=2)
    batch = make_batch(same + mixed, scale_std=True)
    assert batch.flagged_groups == ["t1@0"]
    assert [e.advantage for e in batch.episodes][:3] == [0.0, 0.0, 0.0]
    assert {g.group_id: g.all_equal for g in batch.groups} == {"t1@0": True, "t2@0": False}


def test_budget_truncation_is_recorded_as_such(fmt):
    env = GuessEnv(max_turns=2)
    [ep] = _group(fmt, env, [LOOK, LOOK], n=1)
    assert ep.truncated and ep.truncation_reason == "max_turns" and not ep.terminated and ep.infra_error is None
    assert ep.reward == 0.0 and not ep.passed and len(ep.turns) == 2
    [cut] = _group(fmt, GuessEnv(max_turns=10), [LOOK, LOOK], n=1, max_turns=2)  # the collector's own cap
    assert cut.truncated and cut.truncation_reason == "max_turns" and cut.end_reason == "max_turns"
    [ctx] = _group(fmt, GuessEnv(), [LOOK], n=1, max_context=16)  # the prompt alone fills the context
    assert ctx.truncated and ctx.truncation_reason == "max_context" and ctx.turns == []
    batch = make_batch([e.model_copy(update={"group_id": f"g{i}", "episode_id": f"g{i}/0"}) for i, e in enumerate([ep, cut, ctx])])
    assert batch.dropped_infra == 0 and len(batch.episodes) == 3  # truncation is scored, not dropped


def test_turn_without_tool_call_ends_the_episode_and_mask_is_exact(fmt):
    [ep] = _group(fmt, GuessEnv(), [LOOK, "I think it is 7"], n=1)
    assert ep.end_reason == "no_tool_call" and len(ep.turns) == 2 and not ep.passed
    t0, t1 = ep.turns
    assert t1.context_ids and ep.response_mask == [1] * len(t0.completion_ids) + [0] * len(t1.context_ids) + [1] * len(t1.completion_ids)
    assert fmt.tokenizer.decode(t1.context_ids) == "\n<|im_start|>tool\nthe secret is 7<|im_end|>\n<|im_start|>assistant\n"
