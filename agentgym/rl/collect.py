"""The token-level collector: play episodes with a model backend and record exact token ids.

Why not ``run_episode`` with a ReAct agent: that loop speaks text (messages in, messages out), and
a server re-tokenizes the history on every call, so the ids a trainer would compute from the
transcript are not the ids the model was conditioned on. Here the sequence is built from ids only:
the prompt is rendered once by the chat format, every turn appends the ids the sampler returned
(loss mask 1) and the ids the template gives for the env's answer (``delta_ids``, loss mask 0),
and the whole sequence so far is what the backend's ``generate_ids`` gets next. A backend that
cannot do token-in/token-out is refused (``TokenIdsUnavailable``), never approximated.

Episode rules (as verifiers' and SkyRL's tool environments do): one env step per model turn; a
turn without a tool call hands its text to the env once and ends the episode (no user message
is appended: many templates, Mistral's among them, are not append-only for user messages).
A reply cut at ``max_tokens`` keeps ``finish_reason='length'`` on its turn (the RL export's
``finish_reasons`` / ``completion_truncated`` columns: what a trainer masks); when the cut reply
held no tool call, so that the cut is what ended the episode, the episode is truncated
``'max_tokens'`` (``'max_context'`` where the context's room was the smaller limit).
An infrastructure failure (env reset or step raised, ``info["error"]``, a step reward that is not
a finite number, the model server gave up) marks the episode ``infra_error``: ``agentgym.rl.groups``
drops it from the batch, never scoring 0. An episode has ``max_seconds`` of wall-clock time from its
reset (agentgym.rl.episode_bounds: a command is cut at what is left); then it ends truncated
``'max_seconds'``, scored.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.actions import loads_or
from agentgym.models.base import ContextWindowExceeded, ModelBackend, ModelError, TokenIdsUnavailable
from agentgym.rl.chat_format import ChatFormat, ChatFormatError, delta_ids, parse_reply
from agentgym.rl.episode_bounds import DEFAULT_MAX_SECONDS, EpisodeDeadline, non_finite_reward
from agentgym.rl.records import TokenEpisode, TokenTurn
from agentgym.rl.splits import split_of

SYSTEM_PROMPT = "You act in an environment through tools. Call exactly one tool per turn; call submit when you are done."
_CALL_ID = re.compile(r"^[A-Za-z0-9]{9}$")


class CollectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system_prompt: str | None = SYSTEM_PROMPT
    temperature: float = Field(1.0, ge=0, description="0: greedy (logprobs then at temperature 1)")
    max_tokens: int = Field(512, ge=1, description="per model turn")
    max_turns: int = Field(32, ge=1, description="collector's cap; the env's own budget usually ends episodes first")
    max_context: int = Field(8192, ge=16, description="total ids of an episode; reaching it truncates ('max_context')")
    max_seconds: float | None = Field(DEFAULT_MAX_SECONDS, gt=0, allow_inf_nan=False,
                                      description="wall-clock seconds per episode from its reset; then truncated ('max_seconds'); "
                                      "None: no bound of the collector's")
    policy_version: str = "0"


def _call_id(cid: Any, turn: int, i: int) -> str:
    """Ids every format accepts (Mistral's rule is 9 letters/digits); a model's valid one is kept."""
    return cid if isinstance(cid, str) and _CALL_ID.match(cid) else f"c{turn:04d}{i:04d}"


def _with_object_args(call: dict[str, Any]) -> dict[str, Any]:
    """Arguments as an object where they parse: chat templates iterate or re-serialise them."""
    fn = dict(call["function"])
    args = loads_or(fn.get("arguments") or "{}")  # not an object: the env answered it as a malformed call
    fn["arguments"] = args if isinstance(args, dict) else fn["arguments"]
    return {**call, "function": fn}


def _tool_messages(calls: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    # One env step ran all calls and returned one observation: it answers the first call.
    first, *rest = [c["id"] for c in calls]
    names = {c["id"]: c["function"].get("name", "") for c in calls}
    return [{"role": "tool", "tool_call_id": first, "name": names[first], "content": text}] + [
        {"role": "tool", "tool_call_id": cid, "name": names[cid], "content": f"(output included in the result of call {first})"} for cid in rest
    ]


async def acollect_episode(env: Any, backend: ModelBackend, fmt: ChatFormat, *, group_id: str, index: int = 0,
                           task_id: str | None = None, seed: int | None = None, config: CollectConfig | None = None,
                           reset_options: dict[str, Any] | None = None) -> TokenEpisode:
    """Play one episode of ``env`` and record it at token level.

    Raises:
        TokenIdsUnavailable: the backend cannot generate from ids (the whole collection stops).
        ChatFormatError: the template is not append-only for this conversation.
    """
    cfg = config or CollectConfig()
    base = env.unwrapped
    ep = TokenEpisode(
        episode_id=f"{group_id}/{index}", group_id=group_id, env_id=getattr(base, "env_id", "") or type(base).__name__,
        task_id=task_id, seed=seed, policy_version=cfg.policy_version, model=backend.model, tokenizer=fmt.name,
        temperature=cfg.temperature, prompt_ids=[],
    )
    t0 = time.perf_counter()
    try:
        await _play(env, backend, fmt, ep, cfg, reset_options)
    except (TokenIdsUnavailable, ValueError):
        raise
    except ModelError as exc:
        ep.infra_error = f"model backend: {exc}"
    ep.split = split_of(base, ep.task_id) if ep.task_id else None
    ep.seconds = time.perf_counter() - t0
    return ep


async def _play(env: Any, backend: ModelBackend, fmt: ChatFormat, ep: TokenEpisode, cfg: CollectConfig,
                reset_options: dict[str, Any] | None) -> None:
    options = {**(reset_options or {}), **({"task_id": ep.task_id} if ep.task_id else {})}
    try:
        obs, info = await asyncio.to_thread(env.reset, seed=ep.seed, options=options or None)
    except ValueError:
        raise  # a bad task id or options: the caller's mistake, said as is
    except Exception as exc:  # noqa: BLE001 - reset failing is infrastructure (the agent has not acted)
        ep.infra_error = f"reset failed: {type(exc).__name__}: {exc}"
        return
    ep.task_id = info.get("task_id", ep.task_id)
    deadline = EpisodeDeadline(cfg.max_seconds)
    deadline.start(env)
    tools = env.unwrapped.tools
    messages: list[dict[str, Any]] = ([{"role": "system", "content": cfg.system_prompt}] if cfg.system_prompt else [])
    messages.append({"role": "user", "content": obs["text"]})
    ep.prompt_ids = fmt.render_ids(messages, tools, add_generation_prompt=True)
    seq, context = list(ep.prompt_ids), []
    for turn in range(cfg.max_turns):
        if deadline.over():  # generation counts too: the time ran out before this turn
            ep.truncated, ep.truncation_reason, ep.end_reason = True, "max_seconds", "max_seconds"
            return
        room = min(cfg.max_tokens, cfg.max_context - len(seq))
        if room <= 0:
            ep.truncated, ep.truncation_reason = True, "max_context"
            return
        try:
            sample = await backend.generate_ids(seq, max_tokens=room, temperature=cfg.temperature,
                                                seed=None if ep.seed is None else ep.seed * 1000 + turn, stop_ids=fmt.stop_ids)
        except ContextWindowExceeded as exc:
            if turn == 0:  # the statement and tools alone: the configuration's failure, not the policy's (an infra error)
                raise ModelError(f"the first prompt does not fit the model's window: {exc}; use a model with a longer "
                                 "window or shorter tools") from None
            ep.truncated, ep.truncation_reason, ep.end_reason = True, "max_context", "max_context"  # its own text filled it
            return
        text, content, calls = parse_reply(fmt, sample.ids)
        for i, c in enumerate(calls):
            c["id"] = _call_id(c.get("id"), turn, i)
        action: Any = calls if calls else (content or text)
        try:
            obs, reward, terminated, truncated, info = await asyncio.to_thread(env.step, action)
        except Exception as exc:  # noqa: BLE001 - step must not raise (the env contract): infrastructure
            ep.turns.append(TokenTurn(context_ids=context, completion_ids=sample.ids, logprobs=sample.logprobs, finish_reason=sample.finish_reason, action_text=text))
            ep.infra_error = f"step raised: {type(exc).__name__}: {exc}"
            return
        if (bad := non_finite_reward(reward)) is not None:  # the env's bug: never scored, never written as null
            ep.turns.append(TokenTurn(context_ids=context, completion_ids=sample.ids, logprobs=sample.logprobs,
                                      finish_reason=sample.finish_reason, action_text=text))
            ep.infra_error = bad
            return
        ep.turns.append(TokenTurn(context_ids=context, completion_ids=sample.ids, logprobs=sample.logprobs,
                                  finish_reason=sample.finish_reason, reward=float(reward), action_text=text))
        ep.reward += float(reward)
        if info.get("agent_failure"):
            ep.agent_failure = str(info["agent_failure"])
        if info.get("error"):
            ep.infra_error = str(info["error"])
            return
        if terminated or truncated or not calls:
            ep.terminated, ep.truncated = bool(terminated), bool(truncated)
            ep.end_reason = info.get("terminated_reason") or info.get("truncated_reason") or ("no_tool_call" if not calls else None)
            ep.truncation_reason = info.get("truncated_reason") if truncated else None
            if not calls and not (terminated or truncated) and sample.finish_reason == "length":
                # the reply was cut before its tool call: the token budget ended it, not the model's choice
                # fewer ids than max_tokens: the model's own window cut the reply (the backend shortens it to the room left)
                cut = "max_tokens" if room == cfg.max_tokens and len(sample.ids) >= cfg.max_tokens else "max_context"
                ep.truncated, ep.truncation_reason, ep.end_reason = True, cut, cut
            ep.passed = bool(env.unwrapped.passed(ep.reward, info))
            return
        if deadline.over():  # this step used up the time (a command cut at the deadline): no next turn
            ep.truncated, ep.truncation_reason, ep.end_reason = True, "max_seconds", "max_seconds"
            return
        assistant = {"role": "assistant", "content": content, "tool_calls": [_with_object_args(c) for c in calls]}
        new = _tool_messages(calls, obs["text"])
        try:
            context = delta_ids(fmt, messages + [assistant], new, tools, sampled_stop=sample.finish_reason == "stop")
        except ChatFormatError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. a call without a name: the model's doing, not the infra's
            ep.agent_failure = f"the chat template cannot render this turn's tool calls ({type(exc).__name__}: {str(exc)[:200]})"
            ep.end_reason = "unrenderable_tool_call"
            return
        messages += [assistant, *new]
        seq += sample.ids + context
    ep.truncated, ep.truncation_reason, ep.end_reason = True, "max_turns", "max_turns"


async def acollect_group(env: Any, backend: ModelBackend, fmt: ChatFormat, *, task_id: str, n: int, group_id: str | None = None,
                         seed: int = 0, config: CollectConfig | None = None) -> list[TokenEpisode]:
    """n rollouts of one task on one env (played one after another: an env plays one episode at
    a time). Seeds are seed, seed+1, ...: independent of scheduling."""
    cfg = config or CollectConfig()
    gid = group_id or f"{task_id}@{cfg.policy_version}"
    return [await acollect_episode(env, backend, fmt, group_id=gid, index=i, task_id=task_id, seed=seed + i, config=cfg) for i in range(n)]


def collect_group(*args: Any, **kwargs: Any) -> list[TokenEpisode]:
    """Sync ``acollect_group`` (refuses inside a running event loop: await the async one there)."""
    from agentgym.models.base import run_sync

    return run_sync(acollect_group(*args, **kwargs))


__all__ = ["CollectConfig", "SYSTEM_PROMPT", "acollect_episode", "acollect_group", "collect_group"]
