"""TransformersBackend and the model's context window: a conversation that fills the window ends
the episode as a budget (ContextWindowExceeded -> truncated 'max_context'), as an OpenAI-compatible
server's context-length 400 does, instead of generating past the positions the model has (a
rotary model such as this Llama goes on silently; one with learned positions crashes); a reply is
cut to the room the window leaves. A first prompt (statement and tools, no reply yet) past the
window is the configuration's failure: a ModelError (infrastructure), not a scored budget. The
window counts a rope scaling's factor. On a tiny Llama built here with a 96-position window."""

from __future__ import annotations

import asyncio

import pytest

from conftest import IN_CI

try:
    import torch
    import transformers  # noqa: F401
    import trl  # noqa: F401  (the tiny model's chat template ships in trl)
except ImportError:
    if IN_CI:
        raise
    pytest.skip("needs torch, transformers and trl (pip install 'agentgym[rl]')", allow_module_level=True)

import agentgym  # noqa: E402
from agentgym.models.base import ContextWindowExceeded  # noqa: E402
from agentgym.models.local import TransformersBackend  # noqa: E402
from agentgym.rl import tinymodel  # noqa: E402

WINDOW = 96


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    torch.set_num_threads(1)
    tok = tinymodel.build_tokenizer([tinymodel.chat_template(), "echo hello > out.txt; cat notes.txt"], vocab_size=300)
    model = tinymodel.build_model(tok, hidden=16, layers=1, heads=2, max_positions=WINDOW, seed=0)
    path = tinymodel.save(model, tok, tmp_path_factory.mktemp("tiny") / "model")
    return TransformersBackend(path, device="cpu")


def test_a_prompt_that_fills_the_window_is_context_window_exceeded(backend):
    assert backend.context_window() == WINDOW
    stop = backend.stop_ids()
    with pytest.raises(ContextWindowExceeded, match=f"context window is {WINDOW}"):
        asyncio.run(backend.generate_ids([5] * WINDOW, max_tokens=8))
    with pytest.raises(ContextWindowExceeded):  # the agent's own turns filled it: a budget, scored
        asyncio.run(backend.chat([{"role": "user", "content": "go"}, {"role": "assistant", "content": "cat notes.txt " * 40}],
                                 max_tokens=8))
    sample = asyncio.run(backend.generate_ids([5] * (WINDOW - 3), max_tokens=50, stop_ids=stop))
    assert 1 <= len(sample.ids) <= 3  # cut to the room left: prompt and reply fit the window


def test_the_collector_drops_an_episode_whose_first_prompt_does_not_fit(backend):
    """The statement and tools alone past the window: the configuration's failure, an infra error
    (dropped, never scored 0). A window the episode's own turns fill stays truncated max_context
    (tests/adversarial/test_redteam_rl.py's flood attack in the collector)."""
    from agentgym.rl.chat_format import HFChatFormat
    from agentgym.rl.collect import CollectConfig, acollect_episode

    fmt = HFChatFormat(backend.tokenizer)
    with agentgym.make("shell-fixture", runtime="local") as env:
        ep = asyncio.run(acollect_episode(env, backend, fmt, group_id="g", task_id="hello", seed=0,
                                          config=CollectConfig(max_context=100_000, max_tokens=16)))
    assert len(ep.prompt_ids) > WINDOW  # the statement and tools alone do not fit this model
    assert ep.infra_error and "first prompt does not fit" in ep.infra_error and not ep.truncated and ep.turns == []


def test_a_first_prompt_that_does_not_fit_is_the_configurations_failure(backend):
    """Statement and tool schemas alone past the window: no reply was made, so it is no budget the
    policy spent: an infrastructure error (ModelError: dropped, never scored 0) saying what to do."""
    from agentgym.models.base import ModelError

    with pytest.raises(ModelError, match="first prompt .* longer window, or shorter tools") as info:
        asyncio.run(backend.chat([{"role": "user", "content": "cat notes.txt " * 40}], max_tokens=8))
    assert not isinstance(info.value, ContextWindowExceeded)


def test_the_window_counts_rope_scaling():
    from types import SimpleNamespace

    qwen_yarn = transformers.Qwen2Config(max_position_embeddings=32768, rope_scaling={
        "type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768})
    llama31 = transformers.LlamaConfig(max_position_embeddings=131072, rope_scaling={
        "rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 8192, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0})
    plain = transformers.LlamaConfig(max_position_embeddings=4096)
    for cfg, window in ((qwen_yarn, 131072), (llama31, 131072), (plain, 4096)):
        be = object.__new__(TransformersBackend)
        be.lm = SimpleNamespace(config=cfg)
        assert be.context_window() == window
