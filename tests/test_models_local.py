"""The in-process backends on real machinery, offline.

TransformersBackend runs a tiny Llama that this test builds and trains on the CPU (a byte-level
tokenizer, a chat template with tools, a few hundred optimizer steps until greedy decoding
reproduces two scripted replies): real weights, real tokenizer, real ``generate``, no hub. vLLM
needs CUDA, so VLLMBackend is checked against a stand-in with vllm.LLM's interface and output
objects (RequestOutput / CompletionOutput fields), which is what our adapter reads.
"""

from __future__ import annotations

import asyncio
import json
import sys
import types
from types import SimpleNamespace

import pytest

from conftest import IN_CI  # noqa: E402

try:
    import torch
    import transformers
except ImportError:
    if IN_CI:  # make test installs both (the CPU build of torch on disk); a skip would hide that
        raise
    pytest.skip("needs torch and transformers (make install puts them in .venv)", allow_module_level=True)

pytestmark = pytest.mark.slow

from agentgym.models.local import TransformersBackend, VLLMBackend  # noqa: E402

TOOLS = [{"type": "function", "function": {
    "name": "submit", "description": "submit the answer",
    "parameters": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}}]
ASK_TOOL = [{"role": "user", "content": "what is 6*7?"}]
ASK_CHAT = [{"role": "user", "content": "say hello"}]
TOOL_REPLY = '<tool_call>{"name": "submit", "arguments": {"answer": "42"}}</tool_call>'
CHAT_REPLY = "hello there"
TEMPLATE = (
    "{% if tools %}<|tools|>{{ tools | tojson }}\n{% endif %}"
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] or '' }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _tokenizer():
    from rl_fakes import byte_tokenizer

    return byte_tokenizer(TEMPLATE, eos="<|end|>")


def _prompt_ids(tok, messages, tools):
    return tok.apply_chat_template(messages, tools=tools, add_generation_prompt=True, return_dict=True)["input_ids"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """Train a 2-layer Llama until it answers ASK_TOOL with a tool call and ASK_CHAT with text."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only add contention on 2 cores
    tok = _tokenizer()
    cfg = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None, tie_word_embeddings=True,
    )
    lm = transformers.LlamaForCausalLM(cfg)
    rows = []
    for messages, tools, reply in [(ASK_TOOL, TOOLS, TOOL_REPLY), (ASK_CHAT, None, CHAT_REPLY)]:
        prompt = _prompt_ids(tok, messages, tools)
        target = tok.encode(reply, add_special_tokens=False) + [tok.eos_token_id]
        ids = torch.tensor([prompt + target])
        labels = ids.clone()
        labels[0, : len(prompt)] = -100  # learn the reply only
        rows.append((ids, labels))
    opt = torch.optim.AdamW(lm.parameters(), lr=1e-2)
    lm.train()
    for step in range(400):
        loss = sum(lm(input_ids=ids, labels=labels).loss for ids, labels in rows)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.01:
            break
    torch.set_num_threads(threads)
    assert loss.item() < 0.05, f"the tiny model did not learn its replies (loss {loss.item():.3f} after {step} steps)"
    out = tmp_path_factory.mktemp("tiny-llama")
    lm.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="module")
def backend(tiny_model) -> TransformersBackend:
    return TransformersBackend(tiny_model, device="cpu")


def test_transformers_backend_extracts_a_tool_call_and_counts_tokens(backend, tiny_model):
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model)
    prompt = _prompt_ids(tok, ASK_TOOL, TOOLS)
    res = asyncio.run(backend.chat(ASK_TOOL, TOOLS, max_tokens=200))
    (choice,) = res.choices
    assert choice.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in choice.message.tool_calls] == [("submit", {"answer": "42"})]
    assert choice.message.content is None
    assert res.prompt_token_ids == prompt
    assert res.usage.input_tokens == len(prompt)
    assert res.usage.cached_input_tokens == 0
    assert res.usage.output_tokens == len(tok.encode(TOOL_REPLY, add_special_tokens=False))
    assert tok.decode(choice.token_ids) == TOOL_REPLY


def test_transformers_backend_plain_text_reply_stops_at_eos(backend):
    res = asyncio.run(backend.chat(ASK_CHAT, max_tokens=200))
    (choice,) = res.choices
    assert choice.message.content == CHAT_REPLY
    assert choice.message.tool_calls == [] and choice.finish_reason == "stop"


def test_transformers_backend_n_samples_and_length_limit(backend):
    res = asyncio.run(backend.chat(ASK_TOOL, TOOLS, n=3, temperature=0.7, max_tokens=5, seed=1))
    assert [c.index for c in res.choices] == [0, 1, 2]
    assert all(c.finish_reason == "length" and len(c.token_ids) == 5 for c in res.choices)
    assert res.usage.output_tokens == 15
    # A truncated call is not a tool call; the text is kept for the env to report.
    assert all(c.message.tool_calls == [] and c.message.content for c in res.choices)


def test_vllm_backend_maps_vllm_outputs(monkeypatch):
    seen: dict = {}

    class LLM:
        def __init__(self, model, **kwargs):
            seen["init"] = (model, kwargs)

        def chat(self, messages, params, tools=None, use_tqdm=True):
            seen["chat"] = (messages, params, tools, use_tqdm)
            outs = [SimpleNamespace(text=TOOL_REPLY, token_ids=(5, 6, 7), finish_reason="stop"),
                    SimpleNamespace(text="no idea", token_ids=(8,), finish_reason="length")]
            return [SimpleNamespace(prompt_token_ids=[1, 2, 3, 4], num_cached_tokens=3, outputs=outs)]

    fake = types.ModuleType("vllm")
    fake.LLM = LLM
    fake.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    b = VLLMBackend("some/model", gpu_memory_utilization=0.5)
    assert seen["init"] == ("some/model", {"gpu_memory_utilization": 0.5, "enable_prefix_caching": True})
    res = asyncio.run(b.chat(ASK_TOOL, TOOLS, n=2, temperature=0.5, seed=7))
    messages, params, tools, use_tqdm = seen["chat"]
    assert (messages, tools, use_tqdm) == (ASK_TOOL, TOOLS, False)
    assert (params.n, params.temperature, params.seed, params.max_tokens) == (2, 0.5, 7, 1024)
    first, second = res.choices
    assert first.finish_reason == "tool_calls" and first.message.tool_calls[0].arguments == {"answer": "42"}
    assert first.token_ids == [5, 6, 7]
    assert second.message.content == "no idea" and second.finish_reason == "length"
    assert res.usage.model_dump() == {"input_tokens": 4, "cached_input_tokens": 3, "output_tokens": 4}
    assert json.loads(first.message.raw_tool_calls[0]["function"]["arguments"]) == {"answer": "42"}


def test_vllm_backend_without_vllm_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match="vllm serve"):
        VLLMBackend("some/model")


def test_transformers_generate_ids_is_token_in_token_out(backend, tiny_model):
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model)
    prompt = _prompt_ids(tok, ASK_TOOL, TOOLS)
    greedy = asyncio.run(backend.generate_ids(prompt, max_tokens=200, temperature=0.0))
    want = tok.encode(TOOL_REPLY, add_special_tokens=False) + [tok.eos_token_id]
    assert greedy.ids == want and greedy.finish_reason == "stop"  # the sampled stop id is kept
    assert greedy.logprobs == pytest.approx(backend.logprobs_of(prompt + greedy.ids, len(prompt)), abs=1e-4)
    sampled = asyncio.run(backend.generate_ids(prompt, max_tokens=6, temperature=0.8, seed=3))
    assert len(sampled.ids) == len(sampled.logprobs) <= 6 and all(lp <= 0 for lp in sampled.logprobs)
    assert sampled.logprobs == pytest.approx(backend.logprobs_of(prompt + sampled.ids, len(prompt), temperature=0.8), abs=1e-4)
    again = asyncio.run(backend.generate_ids(prompt, max_tokens=6, temperature=0.8, seed=3))
    assert again == sampled


def test_vllm_generate_ids_maps_token_prompt_and_logprobs(monkeypatch):
    seen: dict = {}

    class LLM:
        def __init__(self, model, **kwargs):
            pass

        def generate(self, prompts, params, use_tqdm=True):
            seen["generate"] = (prompts, params)
            lp = [{5: SimpleNamespace(logprob=-0.5)}, {6: SimpleNamespace(logprob=-0.25), 9: SimpleNamespace(logprob=-2.0)}]
            return [SimpleNamespace(outputs=[SimpleNamespace(token_ids=(5, 6), logprobs=lp, finish_reason="stop")])]

    fake = types.ModuleType("vllm")
    fake.LLM = LLM
    fake.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    out = asyncio.run(VLLMBackend("m").generate_ids([1, 2, 3], max_tokens=4, temperature=0.7, seed=2, stop_ids=[6]))
    prompts, params = seen["generate"]
    assert prompts == [{"prompt_token_ids": [1, 2, 3]}]
    assert (params.logprobs, params.stop_token_ids, params.temperature, params.seed, params.max_tokens) == (0, [6], 0.7, 2, 4)
    assert (out.ids, out.logprobs, out.finish_reason) == ([5, 6], [-0.5, -0.25], "stop")


def test_the_seed_is_set_under_the_lock(monkeypatch):
    """torch's RNG is process-global: a seed set before taking the lock lets another thread's seed
    (or sampling) land in between, so the same seed gave different samples under concurrency."""
    backend = TransformersBackend.__new__(TransformersBackend)
    import threading

    backend._torch, backend.device, backend.model, backend._lock = torch, "cpu", "stand-in", threading.Lock()
    held: list[bool] = []
    monkeypatch.setattr(torch, "manual_seed", lambda seed: held.append(backend._lock.locked()))

    class Stop(Exception):
        pass

    def generate(*a, **k):
        raise Stop

    backend.lm = SimpleNamespace(generate=generate, generation_config=None)
    backend.tokenizer = SimpleNamespace(eos_token_id=2, apply_chat_template=lambda *a, **k: {"input_ids": torch.tensor([[1, 5]])})
    with pytest.raises(Stop):
        backend._generate_ids([1, 5], 4, 1.0, 7, [2])
    with pytest.raises(Stop):
        backend._generate(ASK_CHAT, None, 1, 1.0, 4, 7)
    assert held == [True, True]


def test_generate_ids_bad_input_is_one_clear_error():
    """No stop id anywhere (tokenizer=False, no eos in the generation config) was an IndexError
    from inside generate's arguments; an empty prompt or logprobs_of(start=0) failed deep in torch."""
    import threading

    backend = TransformersBackend.__new__(TransformersBackend)
    backend._torch, backend.device, backend.model, backend._lock = torch, "cpu", "stand-in", threading.Lock()
    backend.lm, backend.tokenizer = SimpleNamespace(generation_config=SimpleNamespace(eos_token_id=None)), None
    with pytest.raises(ValueError, match="knows no stop id.*stop_ids="):
        backend._generate_ids([1, 2], 4, 1.0, None, ())
    with pytest.raises(ValueError, match="at least one prompt id"):
        backend._generate_ids([], 4, 1.0, None, (2,))
    with pytest.raises(ValueError, match="start must be in 1..3"):
        backend.logprobs_of([1, 2, 3], 0)
