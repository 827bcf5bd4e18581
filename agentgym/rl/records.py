"""Token-level records of episodes, for trainers (the schema ``agentgym.rl`` writes and reads).

Why a schema of its own: a ``Trajectory`` holds text, and a trainer needs the exact token ids the
policy was conditioned on and sampled. Re-tokenizing sampled text drifts (the same string has many
tokenizations), and the drift corrupts the policy gradient. So the collector records ids as the
sampler produced them and the ids the env and chat template added between turns, with a loss mask
that tells the two apart, the sampler's logprobs, and everything a trainer must know to group,
weight or drop an episode (group id, seed, policy version, truncation, infrastructure error).

Layout of one episode's token sequence (what the model saw, in order)::

    prompt_ids | turn0.completion_ids | turn1.context_ids | turn1.completion_ids | ...
                 mask 1                 mask 0              mask 1

``context_ids`` of turn k (k >= 1) are what came between the end of turn k-1's sample and the
start of turn k's sample: the template's end-of-message tail when the sample lacked it, the env's
tool message, and the generation prompt. Turn 0 has none (``prompt_ids`` covers it). The sequence
``prompt_ids + turn0.completion_ids + ... + turn{k}.context_ids`` is exactly the input of turn k's
generation (the prefix property; ``TokenEpisode.conditioned_on(k)`` rebuilds it).

Where they come from and go (signatures other modules build on)::

    agentgym.rl.collect.TokenBackend            protocol: tokenizer + generate(ids) -> ids, logprobs
    agentgym.rl.collect.collect_group(env, backend, task_id=..., n=..., seed=..., policy_version=...)
        -> list[TokenEpisode]                    (sync; async: acollect_group)
    agentgym.rl.groups.make_batch(episodes, scale_std=False) -> Batch
    agentgym.rl.export.write_rl(episodes, out_dir) / write_sft(trajectories, out_dir)

Versioned: ``schema_version`` changes when a field's meaning changes; readers check it.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1

Split = Literal["train", "test"]


class TokenTurn(BaseModel):
    """One model turn: what was added before it (not trained on) and what the model sampled."""

    model_config = ConfigDict(extra="forbid")

    context_ids: list[int] = Field(default_factory=list, description="env + chat-template ids added before this turn's sample (loss mask 0); empty on turn 0")
    completion_ids: list[int] = Field(description="ids the sampler produced this turn, stop token included when sampled (loss mask 1)")
    logprobs: list[float] = Field(description="the sampler's logprob of each completion id (same length as completion_ids)")
    finish_reason: str | None = Field(None, description="'stop' (a stop token was sampled) or 'length' (max_tokens cut it)")
    reward: float = Field(0.0, allow_inf_nan=False, description="the env's reward for the step this turn's action took")
    action_text: str | None = Field(None, description="the completion decoded (for reading only; never re-tokenized)")

    @model_validator(mode="after")
    def _aligned(self) -> TokenTurn:
        if len(self.logprobs) != len(self.completion_ids):
            raise ValueError(f"{len(self.logprobs)} logprobs for {len(self.completion_ids)} completion ids")
        return self


class TokenEpisode(BaseModel):
    """One episode at token level, plus what a trainer needs to batch it."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    episode_id: str = Field(description="unique in a run: '{group_id}/{index}'")
    group_id: str = Field(description="episodes of one task under one policy version, sampled together (GRPO group)")
    env_id: str
    task_id: str | None
    split: Split | None = Field(None, description="the env's train/test split of this task; None where the env has none")
    seed: int | None
    policy_version: str = Field("0", description="which weights sampled it (a step number or checkpoint name)")
    model: str = ""
    tokenizer: str = Field("", description="name_or_path of the tokenizer whose ids these are")
    temperature: float = Field(1.0, description="sampling temperature; logprobs are of softmax(logits / T) (T = 1 when 0: greedy)")
    prompt_ids: list[int]
    turns: list[TokenTurn] = Field(default_factory=list)
    reward: float = Field(0.0, allow_inf_nan=False, description="final reward: the sum of the env's step rewards (finite: a NaN "
                          "or infinity from the env is its bug, recorded as infra_error; agentgym.rl.episode_bounds)")
    passed: bool = False
    terminated: bool = False
    truncated: bool = Field(False, description="a budget ended the episode (turns, tokens, time); not the same as a wrong answer")
    truncation_reason: str | None = Field(None, description="which budget: the env's, or the collector's 'max_turns', 'max_context', "
                                          "'max_tokens' (the reply that ended the episode was cut: no tool call parsed from it)")
    end_reason: str | None = Field(None, description="what ended it: the env's terminated/truncated reason, 'no_tool_call', 'max_turns'")
    infra_error: str | None = Field(None, description="an infrastructure failure ended it: never trained on, never scored 0")
    agent_failure: str | None = Field(None, description="the agent caused a failure (info['agent_failure']); scored as the env scored it")
    advantage: float | None = Field(None, allow_inf_nan=False, description="group-relative advantage; filled by agentgym.rl.groups")
    seconds: float = 0.0

    @property
    def usable(self) -> bool:
        """False for episodes a trainer must not see: an infrastructure error ended them, or their
        reward is no finite number (set after validation: the env's bug, as infra_error says)."""
        return self.infra_error is None and math.isfinite(self.reward)

    @property
    def response_ids(self) -> list[int]:
        """Everything after the prompt, in order: completions (mask 1) and contexts (mask 0)."""
        return [i for t in self.turns for i in (*t.context_ids, *t.completion_ids)]

    @property
    def response_mask(self) -> list[int]:
        return [m for t in self.turns for m in (*[0] * len(t.context_ids), *[1] * len(t.completion_ids))]

    @property
    def response_logprobs(self) -> list[float]:
        """Aligned with response_ids: the sampler's logprob under mask 1, 0.0 under mask 0."""
        return [p for t in self.turns for p in (*[0.0] * len(t.context_ids), *t.logprobs)]

    def conditioned_on(self, turn: int) -> list[int]:
        """The ids the model was given as input for turn ``turn`` (by construction of the record)."""
        ids = list(self.prompt_ids)
        for k, t in enumerate(self.turns[: turn + 1]):
            ids += t.context_ids
            if k < turn:
                ids += t.completion_ids
        return ids

    def to_row(self) -> RLRow:
        return RLRow(
            episode_id=self.episode_id, group_id=self.group_id, env_id=self.env_id, task_id=self.task_id,
            split=self.split, seed=self.seed, policy_version=self.policy_version, model=self.model,
            prompt_ids=self.prompt_ids, response_ids=self.response_ids, response_mask=self.response_mask,
            logprobs=self.response_logprobs, reward=self.reward,
            advantage=self.advantage if self.advantage is not None else 0.0,
            turn_rewards=[t.reward for t in self.turns], passed=self.passed, truncated=self.truncated,
            truncation_reason=self.truncation_reason, num_turns=len(self.turns),
            finish_reasons=[t.finish_reason for t in self.turns],
            completion_truncated=any(t.finish_reason == "length" for t in self.turns),
        )


class RLRow(BaseModel):
    """One row of the RL export (parquet / JSONL), verl/OpenRLHF style: flat, aligned lists."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    episode_id: str
    group_id: str
    env_id: str
    task_id: str | None
    split: Split | None
    seed: int | None
    policy_version: str
    model: str = Field("", description="the backend's model name that sampled it")
    prompt_ids: list[int]
    response_ids: list[int]
    response_mask: list[int] = Field(description="1 for sampled ids, 0 for env/template ids")
    logprobs: list[float] = Field(description="aligned with response_ids; 0.0 where response_mask is 0")
    reward: float = Field(allow_inf_nan=False)
    advantage: float = Field(allow_inf_nan=False)
    turn_rewards: list[float]
    passed: bool
    truncated: bool
    truncation_reason: str | None
    num_turns: int
    finish_reasons: list[str | None] = Field(default_factory=list, description="per turn (aligned with turn_rewards): 'stop' or 'length' (cut at max_tokens)")
    completion_truncated: bool = Field(False, description="a sampled completion of this row was cut ('length'): what TRL's "
                                       "mask_truncated_completions / DAPO's overlong filtering leave out of the loss")
    group_all_equal: bool = Field(False, description="every usable reward of its group is equal (advantage 0): dynamic sampling drops these")


class GroupStats(BaseModel):
    """One GRPO group: n rollouts of one task under one policy version."""

    model_config = ConfigDict(extra="forbid")

    group_id: str
    env_id: str
    task_id: str | None
    split: Split | None
    episode_ids: list[str] = Field(description="usable episodes only, in order")
    rewards: list[float]
    mean: float
    std: float
    all_equal: bool = Field(description="every usable reward equal: zero advantage, no signal (dynamic sampling drops or resamples these)")
    dropped_infra: int = Field(0, description="episodes of this group an infrastructure error ended (left out of the batch)")


class Batch(BaseModel):
    """What a trainer consumes: usable episodes with advantages, their groups, and what was dropped."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    policy_version: str = "0"
    episodes: list[TokenEpisode] = Field(description="usable episodes only; advantage filled")
    groups: list[GroupStats]
    dropped_infra: int = Field(0, description="episodes left out because an infrastructure error ended them")
    dropped_episode_ids: list[str] = Field(default_factory=list)
    scale_std: bool = Field(False, description="whether advantages were divided by the group's std")

    @property
    def flagged_groups(self) -> list[str]:
        return [g.group_id for g in self.groups if g.all_equal]


__all__ = ["SCHEMA_VERSION", "Batch", "GroupStats", "RLRow", "Split", "TokenEpisode", "TokenTurn"]
