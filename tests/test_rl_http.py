"""Token-level rollouts through an OpenAI-compatible server that speaks vLLM's token-id fields
(the scripted test server): the prompt goes as ids, the sampled ids and logprobs come back and are
recorded as sent; a server that saw other prompt ids than sent is refused."""

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

from rl_fakes import GuessEnv, byte_tokenizer, call_text  # noqa: E402

from agentgym.models import OpenAICompatibleBackend, TokenIdsUnavailable  # noqa: E402
from agentgym.models.testing import OpenAITestServer, Reply  # noqa: E402
from agentgym.rl.chat_format import HFChatFormat  # noqa: E402
from agentgym.rl.checks import prefix_mismatches  # noqa: E402
from agentgym.rl.collect import acollect_group  # noqa: E402


@pytest.mark.parametrize("as_logprob_tokens", [False, True], ids=["return_token_ids", "return_tokens_as_token_ids"])
def test_collector_records_the_servers_ids_and_logprobs(as_logprob_tokens):
    fmt = HFChatFormat(byte_tokenizer())
    tok = fmt.tokenizer
    replies = [call_text("look"), call_text("submit", {"answer": 7})]
    sent: list[tuple[list[int], list[float]]] = []

    def answer(req):
        ids = tok.encode(replies[len(sent)], add_special_tokens=False) + [tok.eos_token_id]
        lps = [-0.01 * (i + 1) for i in range(len(ids))]
        sent.append((ids, lps))
        return Reply(token_ids=ids, logprobs=lps, ids_as_logprob_tokens=as_logprob_tokens)

    with OpenAITestServer(answer) as srv:
        backend = OpenAICompatibleBackend(base_url=srv.base_url, model="m", max_retries=0)
        [ep] = asyncio.run(acollect_group(GuessEnv(), backend, fmt, task_id="t1", n=1, seed=5))
        prompts = [r["prompt"] for r in srv.requests]
    assert ep.passed and [(t.completion_ids, t.logprobs) for t in ep.turns] == sent
    assert prefix_mismatches(ep, prompts) == []  # the server got exactly the record's prefixes, as ids
    assert srv.requests[0]["return_token_ids"] is True and srv.requests[0]["stop_token_ids"] == [tok.eos_token_id]


def test_answers_without_matching_ids_or_logprobs_are_refused():
    from agentgym.models.openai_compat import parse_token_completion

    echoed = {"choices": [{"token_ids": [1], "logprobs": {"token_logprobs": [-0.1]}, "prompt_token_ids": [9, 9]}]}
    with pytest.raises(TokenIdsUnavailable, match="re-tokenized the prompt"):
        parse_token_completion(echoed, [1, 2, 3])
    short = {"choices": [{"token_ids": [1, 2], "logprobs": {"token_logprobs": [-0.1]}}]}
    with pytest.raises(TokenIdsUnavailable, match="one logprob per sampled id"):
        parse_token_completion(short, [1])
    text_only = {"choices": [{"text": "hi", "logprobs": {"tokens": ["hi"], "token_logprobs": [-0.1]}}]}
    with pytest.raises(TokenIdsUnavailable, match="without the sampled token ids"):
        parse_token_completion(text_only, [1])
