"""Shared by tests/test_rl_*.py: a small env with an injectable infrastructure fault, a byte-level
tokenizer with a Hermes-style chat template, and a scripted token-level 'model'."""

from __future__ import annotations

import json

from pydantic import BaseModel

from agentgym.actions import NoArgs, Tool, ToolResult
from agentgym.env import AgentEnv, InfraError
from agentgym.models.base import ModelBackend, ModelError, TokenSample

TEMPLATE = (
    "{% if tools %}<|im_start|>system\n{{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] or '' }}"
    "{% for c in m.get('tool_calls') or [] %}<tool_call>{\"name\": \"{{ c['function']['name'] }}\"}</tool_call>{% endfor %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def byte_tokenizer(template: str = TEMPLATE, eos: str = "<|im_end|>"):
    """A byte-level tokenizer (every byte one id, no merges) with `template` as its chat template."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token="<|pad|>")
    fast.chat_template = template
    return fast


class Answer(BaseModel):
    answer: int


class GuessEnv(AgentEnv):
    """Guess the secret (7): `look` shows it, `submit` ends with reward 1 when right. A seed in
    `fail_seeds` makes `submit` hit an infrastructure fault (the grader 'died'); a seed in
    `reset_fail_seeds` makes reset fail."""

    env_id = "guess-test"

    def __init__(self, fail_seeds=(), reset_fail_seeds=(), **kw):
        self.fail_seeds, self.reset_fail_seeds, self._seed = set(fail_seeds), set(reset_fail_seeds), None
        kw.setdefault("max_turns", 4)
        super().__init__(show_budget=False, **kw)

    def reset(self, *, seed=None, options=None):
        self._seed = seed
        return super().reset(seed=seed, options=options)

    def task_ids(self):
        return ["t1", "t2"]

    def _start_episode(self, task_id):
        if self._seed in self.reset_fail_seeds:
            raise InfraError("sandbox did not start")
        return f"Task {task_id}: guess the secret number; call submit(answer)."

    def _tools(self):
        return [Tool(name="look", description="show the secret", params=NoArgs, handler=lambda _a: ToolResult(output="the secret is 7")),
                Tool(name="submit", description="submit your answer", params=Answer, handler=self._submit)]

    def _submit(self, args):
        if self._seed in self.fail_seeds:
            raise InfraError("grader container died")
        return ToolResult(output="graded", reward=1.0 if args.answer == 7 else 0.0, terminated=True)

    def passed(self, reward, info):
        return reward >= 1.0


def call_text(name: str, args: dict | None = None) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': args or {}})}</tool_call>"


class ScriptedTokens(ModelBackend):
    """A token-level 'model' that samples scripted replies (their ids) with logprob -0.5 each.
    A reply of None is a dead server (ModelError)."""

    model = "scripted"

    def __init__(self, tokenizer, replies):
        self.tok, self.replies, self.prompts = tokenizer, list(replies), []

    async def chat(self, *a, **k):
        raise AssertionError("token-level only")

    async def generate_ids(self, prompt_ids, *, max_tokens, temperature=1.0, seed=None, stop_ids=()):
        self.prompts.append(list(prompt_ids))
        reply = self.replies.pop(0)
        if reply is None:
            raise ModelError("server went away")
        ids = self.tok.encode(reply, add_special_tokens=False)[:max_tokens]
        finish = "length"
        if len(ids) < max_tokens:
            ids, finish = ids + [self.tok.eos_token_id], "stop"
        return TokenSample(ids=ids, logprobs=[-0.5] * len(ids), finish_reason=finish)
