"""Play a local transformers model on an env's tasks in the same chat format TRL trains it in.

Why its own loop: before/after comparisons of a training run must show the model the same
conversation GRPO and SFT used (our system message, the task statement, the env's tools rendered
by the tokenizer's template, tool results as `tool` messages), or a change in reward could come
from the prompt instead of the weights. Generation is greedy unless a temperature is given;
`<tool_call>` blocks are parsed as agentgym's transformers backend parses them, and a reply with
no call goes to the env as it is (a malformed action by the env's rule). With ``samples=k`` each
task is played k times at the given temperature, the k episodes in lockstep on k envs with one
batched ``generate`` per turn (what a sampled pass rate costs on a CPU). An episode an infrastructure
error ended, or whose env returned a step reward that is no finite number (the env's bug,
agentgym.rl.episode_bounds), is counted in ``infra_errors`` and left out of the means.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from agentgym.guard import AgentFault, parse_json
from agentgym.rl.episode_bounds import non_finite_reward
from agentgym.rl.tinymodel import prompt_messages


class EvalEpisode(BaseModel):
    task_id: str
    seed: int
    reward: float
    passed: bool
    turns: int
    generated_tokens: int
    infra_error: str | None = None


def _assistant_message(text: str) -> tuple[dict[str, Any], Any]:
    from agentgym.models.local import extract_tool_calls

    content, calls = extract_tool_calls(text)
    if not calls:
        return {"role": "assistant", "content": text}, text
    msg_calls = []
    for c in calls:
        args = c["function"].get("arguments")
        try:  # not JSON, or nested deeper than the guard's limit: no arguments (at ~500 levels the template's
            # tojson raised RecursionError rendering the next prompt, and the whole evaluation stopped)
            parsed = parse_json(args, what="tool-call arguments") if isinstance(args, str) else args
        except AgentFault:
            parsed = {}
        msg_calls.append({"type": "function", "function": {"name": c["function"]["name"], "arguments": parsed if isinstance(parsed, dict) else {}}})
    return {"role": "assistant", "content": content or "", "tool_calls": msg_calls}, calls


def play(model: Any, tokenizer: Any, env: Any, task_id: str, *, seed: int = 0, max_turns: int = 4,
         max_new_tokens: int = 96, temperature: float = 0.0, tools: list[dict[str, Any]] | None = None) -> EvalEpisode:
    """One episode of one task (greedy unless a temperature is given): a group of one."""
    return play_group(model, tokenizer, [env], task_id, seed=seed, max_turns=max_turns, max_new_tokens=max_new_tokens,
                      temperature=temperature, tools=tools)[0]


def play_group(model: Any, tokenizer: Any, envs: Sequence[Any], task_id: str, *, seed: int = 0, max_turns: int = 4,
               max_new_tokens: int = 96, temperature: float = 1.0, tools: list[dict[str, Any]] | None = None) -> list[EvalEpisode]:
    """``len(envs)`` episodes of one task, played in lockstep (one batched generate per turn, left
    padded); the input tensors are made on ``model.device``."""
    import torch

    eps = [_Episode(env) for env in envs]
    for ep in eps:
        obs, ep.last = ep.env.reset(seed=seed, options={"task_id": task_id, "max_turns": max_turns})
        ep.messages = prompt_messages(obs["text"])
    tools = tools or envs[0].tools
    torch.manual_seed(seed)
    eos = tokenizer.eos_token_id
    pad = eos if tokenizer.pad_token_id is None else tokenizer.pad_token_id
    device = getattr(model, "device", None)
    live = list(eps)
    for _ in range(max_turns):
        if not live:
            break
        rows = [tokenizer.apply_chat_template(ep.messages, tools=tools, add_generation_prompt=True, return_dict=True)["input_ids"]
                for ep in live]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[pad] * (width - len(r)) + list(r) for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        with torch.no_grad():
            out = model.generate(ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                                 temperature=temperature if temperature > 0 else None, top_p=None, top_k=None,
                                 eos_token_id=eos, pad_token_id=pad)
        live = [ep for row, ep in enumerate(live) if ep.step(out[row, width:].tolist(), tokenizer)]
    return [ep.result(task_id, seed) for ep in eps]


class _Episode:
    """One episode of a group: its env, conversation and tallies."""

    def __init__(self, env: Any):
        self.env, self.messages, self.last = env, [], {}
        self.total, self.turns, self.generated, self.ended = 0.0, 0, 0, False
        self.error: str | None = None

    def step(self, gen: list[int], tokenizer: Any) -> bool:
        """Hand one generated reply to the env; whether the episode goes on."""
        eos = tokenizer.eos_token_id
        if eos in gen:  # what follows a sequence's eos is the batch's padding, never sampled for it
            gen = gen[: gen.index(eos) + 1]
        self.generated += len(gen)
        msg, action = _assistant_message(tokenizer.decode([t for t in gen if t != eos], skip_special_tokens=True))
        self.messages.append(msg)
        obs, reward, terminated, truncated, self.last = self.env.step(action)
        self.turns += 1
        if (bad := non_finite_reward(reward)) is not None:  # the env's bug: unscored (out of both means), counted
            self.error = self.error or bad
            return False
        self.total += float(reward)
        self.error = self.error or self.last.get("error")
        if self.error:
            return False  # an infrastructure error: the episode is unscored, nothing more runs
        if "tool_calls" in msg:
            self.messages += [{"role": "tool", "name": c["function"]["name"], "content": obs["text"]} for c in msg["tool_calls"]]
        else:
            self.messages.append({"role": "user", "content": obs["text"]})
        self.ended = bool(terminated)
        return not (terminated or truncated)

    def result(self, task_id: str, seed: int) -> EvalEpisode:
        passed = self.error is None and self.ended and bool(self.env.unwrapped.passed(self.total, self.last))
        return EvalEpisode(task_id=task_id, seed=seed, reward=self.total, passed=passed, turns=self.turns,
                           generated_tokens=self.generated, infra_error=self.error)


def evaluate(model: Any, tokenizer: Any, env_id: str, task_ids: Sequence[str], *, seeds: Sequence[int] = (0,),
             env_kwargs: dict[str, Any] | None = None, samples: int = 1, **play_kwargs: Any) -> dict[str, Any]:
    """Mean reward, pass rate and every episode over ``task_ids`` x ``seeds`` (x ``samples``
    sampled episodes each when samples > 1: give ``temperature``, default 1). Episodes that ended
    in an infrastructure error are counted in ``infra_errors`` and left out of both means (None
    when no episode was scored)."""
    import agentgym

    model.eval()
    t0 = time.perf_counter()
    envs = [agentgym.make(env_id, **(env_kwargs or {})) for _ in range(samples)]
    try:
        if samples > 1:
            play_kwargs.setdefault("temperature", 1.0)
            eps = [e for s in seeds for t in task_ids for e in play_group(model, tokenizer, envs, t, seed=s, **play_kwargs)]
        else:
            eps = [play(model, tokenizer, envs[0], t, seed=s, **play_kwargs) for s in seeds for t in task_ids]
    finally:
        for env in envs:
            env.close()
    scored = [e for e in eps if e.infra_error is None]
    n = len(scored)  # infra-error episodes are left out; with none scored, reward and pass rate are None, never 0
    return {"reward": sum(e.reward for e in scored) / n if n else None, "pass_rate": sum(e.passed for e in scored) / n if n else None,
            "episodes": [e.model_dump() for e in eps], "infra_errors": len(eps) - len(scored),
            "generated_tokens": sum(e.generated_tokens for e in eps), "seconds": time.perf_counter() - t0}


__all__ = ["EvalEpisode", "evaluate", "play", "play_group"]
