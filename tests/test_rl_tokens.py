"""Token-level rollouts on a real tokenizer and chat template with tool calls (agentgym.rl).

The tokenizer is Mistral 7B Instruct v0.3's, with Mistral's own chat formatting ([AVAILABLE_TOOLS],
[TOOL_CALLS], [TOOL_RESULTS]), both from the mistral-common package (it ships the tokenizer files:
no hub). The model is a 2-layer Llama over that 32768-id vocabulary, trained here on the CPU until
it plays the shell fixture's 'hello' task (write_file, then submit) through the real env. Checks:
the ids each generate call got are the record's prefix at every turn; prompt + response equal the
template's own rendering of the whole conversation, token for token; the recorded logprobs equal
the model's teacher-forced logprobs over the recorded sequence (so that sequence is what it was
conditioned on); a backend without ids is refused.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from conftest import IN_CI  # noqa: E402

try:
    import mistral_common  # noqa: F401
    import torch
    import transformers
except ImportError:
    if IN_CI:
        raise
    pytest.skip("needs torch, transformers and mistral-common (pip install -e '.[transformers,rl]')", allow_module_level=True)

import agentgym  # noqa: E402
from agentgym.models import OpenAICompatibleBackend, TokenIdsUnavailable  # noqa: E402
from agentgym.models.base import ModelBackend  # noqa: E402
from agentgym.models.local import TransformersBackend  # noqa: E402
from agentgym.models.testing import OpenAITestServer, Reply  # noqa: E402
from agentgym.rl.chat_format import HFChatFormat, MistralChatFormat, delta_ids  # noqa: E402
from agentgym.rl.checks import logprob_gap, prefix_mismatches  # noqa: E402
from agentgym.rl.collect import CollectConfig, acollect_group  # noqa: E402

pytestmark = pytest.mark.slow

SYSTEM = "Use the tools."


def _call(cid: str, name: str, args: dict) -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


class SpyBackend(TransformersBackend):
    """Records every prompt the model was asked to continue, and what it sampled."""

    calls: list[tuple[list[int], list[int], list[float]]]

    async def generate_ids(self, prompt_ids, **kw):
        out = await super().generate_ids(prompt_ids, **kw)
        self.calls.append((list(prompt_ids), out.ids, out.logprobs))
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(env, format, backend, scripted messages): a model trained to play 'hello' in this env."""
    fmt = MistralChatFormat()
    env = agentgym.make("shell-fixture", runtime="local")
    obs, _ = env.reset(options={"task_id": "hello"})  # the sandbox (and its path in the text) stays for the env's life
    tools = env.unwrapped.tools
    a1 = {"role": "assistant", "content": None, "tool_calls": [_call("c00000000", "write_file", {"path": "hello.txt", "content": "hello, world\n"})]}
    a2 = {"role": "assistant", "content": None, "tool_calls": [_call("c00010000", "submit", {})]}
    step1 = env.step(a1["tool_calls"])[0]["text"]
    msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": obs["text"]}, a1,
            {"role": "tool", "tool_call_id": "c00000000", "content": step1}, a2]
    full = fmt.render_ids(msgs, tools, add_generation_prompt=False)
    cuts = [len(fmt.render_ids(msgs[:k], tools, add_generation_prompt=k in (2, 4))) for k in (2, 3, 4, 5)]
    targets = [*range(cuts[0], cuts[1]), *range(cuts[2], cuts[3])]  # the two assistant turns

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cfg = transformers.LlamaConfig(vocab_size=fmt.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
                                   bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=True)
    lm = transformers.LlamaForCausalLM(cfg)
    opt = torch.optim.Adam(lm.parameters(), lr=1e-2)
    ids = torch.tensor([full])
    pos = torch.tensor(targets)
    want = ids[0, pos]
    for step in range(400):
        hidden = lm.model(ids).last_hidden_state[0, pos - 1]
        logits = lm.lm_head(hidden)
        loss = torch.nn.functional.cross_entropy(logits, want)
        if bool((logits.argmax(-1) == want).all()):  # greedy decoding now replays both turns
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    assert bool((logits.argmax(-1) == want).all()), f"tiny model did not learn the episode in {step} steps (loss {loss.item():.3f})"
    path = tmp_path_factory.mktemp("tiny-mistral")
    lm.generation_config = transformers.GenerationConfig(eos_token_id=2, pad_token_id=0, bos_token_id=1)
    lm.save_pretrained(path)
    backend = SpyBackend(str(path), device="cpu", tokenizer=False)
    backend.calls = []
    yield env, fmt, backend, msgs, full
    env.close()


def _collect(world, n=1, seed=7, **cfg):
    env, fmt, backend, _, _ = world
    backend.calls = []
    config = CollectConfig(**{"system_prompt": SYSTEM, "max_tokens": 96, "max_turns": 4, **cfg})
    return asyncio.run(acollect_group(env, backend, fmt, task_id="hello", n=n, seed=seed, config=config))


def test_prefix_property_token_for_token(world):
    env, fmt, backend, msgs, full = world
    [ep] = _collect(world, temperature=0.0)
    assert ep.passed and ep.reward == 1.0 and len(ep.turns) == 2 and ep.end_reason == "tool:submit", ep.model_dump(exclude={"prompt_ids", "turns"})
    assert ep.infra_error is None and not ep.truncated and ep.tokenizer.startswith("mistral-common:")
    # every generate call got exactly the record's prefix, and returned exactly the recorded turn
    assert len(backend.calls) == 2
    for k, (given, sampled, lps) in enumerate(backend.calls):
        assert given == ep.conditioned_on(k)
        assert sampled == ep.turns[k].completion_ids and lps == ep.turns[k].logprobs
    # the recorded sequence is the template's own rendering of the conversation, token for token
    assert ep.prompt_ids + ep.response_ids == full
    assert ep.turns[0].context_ids == [] and fmt.decode(ep.turns[1].context_ids).startswith("[TOOL_RESULTS]")
    assert fmt.decode(ep.turns[0].completion_ids).startswith("[TOOL_CALLS]") and ep.turns[1].completion_ids[-1] == 2
    # mask: 1 exactly on sampled ids; logprobs of those are the model's own over the whole sequence
    assert prefix_mismatches(ep, [given for given, _, _ in backend.calls]) == []
    assert logprob_gap(ep, backend) < 1e-4
    assert all(lp == 0.0 for lp, m in zip(ep.response_logprobs, ep.response_mask) if not m)
    assert sum(ep.response_mask) == sum(len(t.completion_ids) for t in ep.turns)
    # the check catches drift: one template id changed makes turn 1's input not the record's prefix
    drifted = ep.model_copy(deep=True)
    drifted.turns[1].context_ids[3] += 1
    assert prefix_mismatches(drifted, [c[0] for c in backend.calls]) == [1]


def test_sampled_logprobs_are_the_samplers(world):
    env, fmt, backend, _, _ = world
    eps = _collect(world, n=2, seed=3, temperature=0.7, max_turns=2)
    assert [e.episode_id for e in eps] == ["hello@0/0", "hello@0/1"] and {e.group_id for e in eps} == {"hello@0"}
    assert len(backend.calls) == sum(len(e.turns) for e in eps)
    for ep in eps:  # logprobs of softmax(logits / 0.7), as sampled, whatever the samples were
        assert ep.temperature == 0.7 and logprob_gap(ep, backend) < 1e-4


def test_backend_without_token_ids_is_refused(world):
    env, fmt, _, _, _ = world
    with OpenAITestServer(default=Reply.text("hello")) as srv:  # answers text, never ids
        backend = OpenAICompatibleBackend(base_url=srv.base_url, max_retries=0)
        with pytest.raises(TokenIdsUnavailable, match="answered without the sampled token ids"):
            asyncio.run(acollect_group(env, backend, fmt, task_id="hello", n=1, config=CollectConfig(system_prompt=SYSTEM)))

    class ChatOnly(ModelBackend):
        async def chat(self, *a, **k):
            raise AssertionError("never asked to chat")

    with pytest.raises(TokenIdsUnavailable, match="ChatOnly .* cannot generate from token ids"):
        asyncio.run(acollect_group(env, ChatOnly(), fmt, task_id="hello", n=1))


def test_hf_template_tail_after_stop_is_context():
    """A Qwen-style template ends an assistant message with '<|im_end|>' and a newline: the
    newline (not sampled) is context; a sample cut by max_tokens gets the stop id as context too."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|pad|>")
    fast.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] or '' }}"
        "{% for c in m.get('tool_calls') or [] %}<tool_call>{{ c['function']['name'] }}</tool_call>{% endfor %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    fmt = HFChatFormat(fast)
    hist = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok", "tool_calls": [_call("c1", "f", {})]}]
    new = [{"role": "tool", "tool_call_id": "c1", "content": "done"}]
    stopped = delta_ids(fmt, hist, new, None, sampled_stop=True)
    cut = delta_ids(fmt, hist, new, None, sampled_stop=False)
    assert fast.decode(stopped) == "\n<|im_start|>tool\ndone<|im_end|>\n<|im_start|>assistant\n"
    assert cut == [fast.eos_token_id] + stopped


def test_a_turn_that_ends_without_a_stop_id_is_refused():
    """A base model's tokenizer (eos '<|endoftext|>') with a template that ends turns with
    '<|im_end|>': the turn has no stop id, and the ids after it would silently drift from the
    template's (its newline lost). Refused, naming the way out; given as a stop id, it works."""
    from rl_fakes import TEMPLATE, byte_tokenizer

    from agentgym.rl.chat_format import ChatFormatError

    base = byte_tokenizer(TEMPLATE, eos="<|endoftext|>")
    base.add_special_tokens({"additional_special_tokens": ["<|im_end|>"]})
    hist = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok", "tool_calls": [_call("c1", "f", {})]}]
    new = [{"role": "tool", "tool_call_id": "c1", "content": "done"}]
    with pytest.raises(ChatFormatError, match="ends an assistant turn with none of the stop ids"):
        delta_ids(HFChatFormat(base), hist, new, None, sampled_stop=True)
    fixed = HFChatFormat(base, stop_ids=[base.convert_tokens_to_ids("<|im_end|>")])
    assert base.decode(delta_ids(fixed, hist, new, None, sampled_stop=True)).startswith("\n<|im_start|>tool")


def test_malformed_tool_call_ends_the_episode_as_the_agents_failure():
    """Mistral's format cannot render a call without a valid name: the episode ends there as the
    agent's failure (the env already answered the malformed action), never as infrastructure."""
    from rl_fakes import GuessEnv

    from agentgym.models.base import TokenSample

    fmt = MistralChatFormat()

    class Scripted(ModelBackend):
        model = "scripted"

        def __init__(self, texts):
            self.texts = texts

        async def chat(self, *a, **k):
            raise AssertionError

        async def generate_ids(self, prompt_ids, **kw):
            ids = [5] + fmt.raw.encode(self.texts.pop(0), bos=False, eos=False) + [2]  # [TOOL_CALLS] ... </s>
            return TokenSample(ids=ids, logprobs=[-0.1] * len(ids), finish_reason="stop")

    [bad] = asyncio.run(acollect_group(GuessEnv(), Scripted(["not json"]), fmt, task_id="t1", n=1))
    assert bad.end_reason == "unrenderable_tool_call" and "Function name" in bad.agent_failure
    assert bad.infra_error is None and bad.reward == 0.0 and len(bad.turns) == 1
    [good] = asyncio.run(acollect_group(GuessEnv(), Scripted(['[{"name": "look", "arguments": {}}]', '[{"name": "submit", "arguments": {"answer": 7}}]']),
                                        fmt, task_id="t1", n=1))
    assert good.passed and good.end_reason == "tool:submit" and fmt.decode(good.turns[1].context_ids).startswith("[TOOL_RESULTS]")
