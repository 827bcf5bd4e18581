"""Play a local transformers model on an env's tasks in the same chat format TRL trains it in.

Why its own loop: before/after comparisons of a training run must show the model the same
conversation GRPO and SFT used (our system message, the task statement, the env's tools rendered
by the tokenizer's template, tool results as `tool` messages), or a change in reward could come
from the prompt instead of the weights. Generation is greedy unless a temperature is given;
`<tool_call>` blocks are parsed as agentgym's transformers backend parses them, and a reply with
no call goes to the env as it is (a malformed action by the env's rule). With ``samples=k`` each
task is played k times at the given temperature, the k episodes in lockstep on k envs with one
batched ``generate`` per turn (what a sampled pass rate costs on a CPU).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from agentgym.actions import loads_or
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
        parsed = loads_or(args, {}) if isinstance(args, str) else args  # not JSON: no arguments, as the others read it
        msg_calls.append({"type": "function", "function": {"name": c["function"]["name"], "arguments": parsed if isinstance(parsed, dict) else {}}})
    return {"role": "assistant", "content": content or "", "tool_calls": msg_calls}, calls


def play(model: Any, tokenizer: Any, env: Any, task_id: str, *, seed: int = 0, max_turns: int = 4,
         max_new_tokens: int = 96, temperature: float = 0.0, tools: list[dict[str, Any]] | None = None) -> EvalEpisode:
    import torch

    obs, info = env.reset(seed=seed, options={"task_id": task_id, "max_turns": max_turns})
    messages = prompt_messages(obs["text"])
    tools = tools or env.tools
    total, turns, generated, error, ended, last = 0.0, 0, 0, None, False, info
    torch.manual_seed(seed)
    for _ in range(max_turns):
        ids = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, return_dict=True, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(ids["input_ids"], attention_mask=ids["attention_mask"], max_new_tokens=max_new_tokens,
                                 do_sample=temperature > 0, temperature=temperature if temperature > 0 else None,
                                 top_p=None, top_k=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        gen = out[0, ids["input_ids"].shape[1]:].tolist()
        generated += len(gen)
        if tokenizer.eos_token_id in gen:
            gen = gen[: gen.index(tokenizer.eos_token_id)]
        msg, action = _assistant_message(tokenizer.decode(gen, skip_special_tokens=True))
        messages.append(msg)
        obs, reward, terminated, truncated, last = env.step(action)
        turns += 1
        total += float(reward)
        error = error or last.get("error")
        if error:
            break  # an infrastructure error: the episode is unscored, nothing more runs
        if "tool_calls" in msg:
            messages += [{"role": "tool", "name": c["function"]["name"], "content": obs["text"]} for c in msg["tool_calls"]]
        else:
            messages.append({"role": "user", "content": obs["text"]})
        if terminated or truncated:
            ended = terminated
            break
    passed = error is None and ended and bool(env.unwrapped.passed(total, last))
    return EvalEpisode(task_id=task_id, seed=seed, reward=total, passed=passed, turns=turns, generated_tokens=generated,
                       infra_error=error)


def play_group(model: Any, tokenizer: Any, envs: Sequence[Any], task_id: str, *, seed: int = 0, max_turns: int = 4,
               max_new_tokens: int = 96, temperature: float = 1.0, tools: list[dict[str, Any]] | None = None) -> list[EvalEpisode]:
    """``len(envs)`` sampled episodes of one task, played in lockstep (one batched generate per turn)."""
    import torch

    n = len(envs)
    convs, totals, turns, generated = [], [0.0] * n, [0] * n, [0] * n
    errors: list[str | None] = [None] * n
    ended, last, live = [False] * n, [{} for _ in range(n)], list(range(n))
    for env in envs:
        obs, info = env.reset(seed=seed, options={"task_id": task_id, "max_turns": max_turns})
        convs.append(prompt_messages(obs["text"]))
    tools = tools or envs[0].tools
    torch.manual_seed(seed)
    pad = tokenizer.pad_token_id
    for _ in range(max_turns):
        if not live:
            break
        rows = [tokenizer.apply_chat_template(convs[i], tools=tools, add_generation_prompt=True, tokenize=True, return_dict=False)
                for i in live]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[pad] * (width - len(r)) + list(r) for r in rows])  # left padding
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        with torch.no_grad():
            out = model.generate(ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                                 temperature=temperature if temperature > 0 else None, top_p=None, top_k=None,
                                 eos_token_id=tokenizer.eos_token_id, pad_token_id=pad)
        still = []
        for row, i in enumerate(live):
            gen = out[row, width:].tolist()
            if tokenizer.eos_token_id in gen:
                gen = gen[: gen.index(tokenizer.eos_token_id) + 1]
            generated[i] += len([t for t in gen if t != pad])
            gen = [t for t in gen if t not in (pad, tokenizer.eos_token_id)]
            msg, action = _assistant_message(tokenizer.decode(gen, skip_special_tokens=True))
            convs[i].append(msg)
            obs, reward, terminated, truncated, last[i] = envs[i].step(action)
            turns[i] += 1
            totals[i] += float(reward)
            errors[i] = errors[i] or last[i].get("error")
            if errors[i]:
                continue  # an infrastructure error: the episode is unscored, nothing more runs
            if "tool_calls" in msg:
                convs[i] += [{"role": "tool", "name": c["function"]["name"], "content": obs["text"]} for c in msg["tool_calls"]]
            else:
                convs[i].append({"role": "user", "content": obs["text"]})
            if terminated or truncated:
                ended[i] = terminated
            else:
                still.append(i)
        live = still
    return [EvalEpisode(task_id=task_id, seed=seed, reward=totals[i], turns=turns[i], generated_tokens=generated[i],
                        passed=errors[i] is None and ended[i] and bool(envs[i].unwrapped.passed(totals[i], last[i])),
                        infra_error=errors[i]) for i in range(n)]


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
