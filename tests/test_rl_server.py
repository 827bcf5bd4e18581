"""A real inference server in the loop: `transformers serve` (transformers' own OpenAI-compatible
server, on the CPU) serving a tiny local Llama with a byte-level tokenizer and a tool-calling chat
template. The OpenAI-compatible backend chats with it; token-level generation and the collector
are refused with one clear message, since it returns neither token ids nor logprobs."""

from __future__ import annotations

import asyncio

import pytest

from conftest import IN_CI  # noqa: E402

try:
    import torch
    import transformers
    from transformers.utils.import_utils import is_serve_available
except ImportError:
    if IN_CI:
        raise
    pytest.skip("needs torch and transformers (make install)", allow_module_level=True)
if not is_serve_available():
    if IN_CI:
        raise ImportError("transformers serve needs fastapi + uvicorn: pip install -e '.[rl]'")
    pytest.skip("transformers serve needs fastapi + uvicorn (pip install -e '.[rl]')", allow_module_level=True)

from rl_fakes import GuessEnv, byte_tokenizer  # noqa: E402

from agentgym.models import OpenAICompatibleBackend, TokenIdsUnavailable  # noqa: E402
from agentgym.models.transformers_serve import TransformersServer  # noqa: E402
from agentgym.rl.chat_format import HFChatFormat  # noqa: E402
from agentgym.rl.collect import acollect_group  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    torch.manual_seed(0)
    tok = byte_tokenizer()
    cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                                   eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None)
    path = tmp_path_factory.mktemp("tiny-served")
    transformers.LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    with TransformersServer(path) as srv:
        yield srv, tok


def test_chat_through_a_real_server(server):
    srv, _ = server
    backend = OpenAICompatibleBackend(base_url=srv.base_url, model=srv.model, max_retries=1, timeout_s=120)
    tools = GuessEnv().tools
    result = asyncio.run(backend.chat([{"role": "user", "content": "guess"}], tools=tools, max_tokens=8, temperature=0.0))
    assert result.choices and result.usage.input_tokens > 0 and 0 < result.usage.output_tokens <= 8
    assert result.message.content is not None or result.message.raw_tool_calls


def test_token_level_refused_by_a_server_without_ids(server):
    srv, tok = server
    backend = OpenAICompatibleBackend(base_url=srv.base_url, model=srv.model, max_retries=0, timeout_s=120)
    # it refuses vLLM's token-id fields (HTTP 422) or a list prompt (400): either way, one clear refusal
    with pytest.raises(TokenIdsUnavailable, match=r"/v1/completions refused a token-id prompt \(HTTP 4\d\d") as exc:
        asyncio.run(backend.generate_ids([1, 2, 3], max_tokens=4))
    assert "\n" not in str(exc.value) and "vLLM" in str(exc.value)
    with pytest.raises(TokenIdsUnavailable, match="refused a token-id prompt"):
        asyncio.run(acollect_group(GuessEnv(), backend, HFChatFormat(tok), task_id="t1", n=2))
