"""GRPO-style groups and advantages, and what never enters a batch.

Why: group-relative advantages (reward minus the group's mean, optionally over its std) need the
group's rewards to mean what the task scored. An episode an infrastructure failure ended has no
such reward: scoring it 0 would teach the policy that its actions caused a crash. So those are
dropped from the batch and counted, and the group's statistics use the usable episodes only.
A reward that is no finite number (NaN, infinity) is the env's bug, never the agent's: it would make
the group's mean NaN and every advantage with it, so such an episode is dropped and counted the same
way (``TokenEpisode.usable``; the collector records it as ``infra_error``).
A group whose usable rewards are all equal gives every episode advantage 0 (no signal): it is
flagged (``all_equal``) so a trainer can drop or resample it (DAPO's dynamic sampling).
A group is what one ``acollect_group`` call sampled: one task, one policy version, one model.
Two collections pooled under one ``group_id`` (appended to one run with the default id) would mix
an old policy's rewards into a new one's mean and turn two all-equal groups into a mixed one, so
``make_batch`` refuses a repeated ``episode_id`` and a group whose tasks, envs, policy versions or
models differ (two tasks' rewards in one mean: one task's easiness becomes the other's advantage).
Budget truncation stays on the episode (``truncated``/``truncation_reason``): it is scored like
any ending the env scored, and trainers that treat it differently can see it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from agentgym.rl.records import Batch, GroupStats, TokenEpisode

EQUAL_TOL = 1e-9  # rewards closer than this count as equal
STD_EPS = 1e-6  # added to the std when scaling, so a near-constant group cannot explode


def group_stats(group_id: str, episodes: list[TokenEpisode], dropped: int) -> GroupStats:
    rewards = [e.reward for e in episodes]
    mean = sum(rewards) / len(rewards) if rewards else 0.0
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / len(rewards)) if rewards else 0.0
    first = episodes[0] if episodes else None
    return GroupStats(
        group_id=group_id, env_id=first.env_id if first else "", task_id=first.task_id if first else None,
        split=first.split if first else None, episode_ids=[e.episode_id for e in episodes], rewards=rewards,
        mean=mean, std=std, all_equal=bool(rewards) and max(rewards) - min(rewards) <= EQUAL_TOL, dropped_infra=dropped,
    )


def check_groups(episodes: list[TokenEpisode]) -> None:
    """Raise ValueError (one line: what to do) for a repeated episode_id or a group_id whose episodes
    differ in task_id, env_id, policy_version or model: advantages over such a group would be wrong."""
    seen: set[str] = set()
    first: dict[str, TokenEpisode] = {}
    for e in episodes:
        if e.episode_id in seen:
            raise ValueError(f"episode_id {e.episode_id!r} appears twice: two collections were pooled under group_id "
                             f"{e.group_id!r}; give each collection its own group_id (or policy_version)")
        seen.add(e.episode_id)
        f = first.setdefault(e.group_id, e)
        for what in ("task_id", "env_id", "policy_version", "model"):
            if getattr(f, what) != getattr(e, what):
                raise ValueError(f"group {e.group_id!r} mixes {what} {getattr(f, what)!r} and {getattr(e, what)!r}: a group is one "
                                 "task sampled by one policy; give each collection its own group_id")


def make_batch(episodes: Iterable[TokenEpisode], *, scale_std: bool = False, policy_version: str | None = None) -> Batch:
    """Group episodes by ``group_id``, drop infrastructure errors (counted), fill advantages.

    Args:
        scale_std: divide by the group's std (GRPO); False keeps mean-centred rewards (Dr. GRPO).
    Returns:
        A Batch with the usable episodes (copies; advantage set) in input order.
    Raises:
        ValueError: a repeated episode_id, or a group mixing tasks, envs, policy versions or models (``check_groups``).
    """
    eps = list(episodes)
    check_groups(eps)
    groups: dict[str, list[TokenEpisode]] = {}
    dropped: dict[str, int] = {}
    dropped_ids: list[str] = []
    for e in eps:
        groups.setdefault(e.group_id, [])
        if e.usable:
            groups[e.group_id].append(e)
        else:
            dropped[e.group_id] = dropped.get(e.group_id, 0) + 1
            dropped_ids.append(e.episode_id)
    stats = {gid: group_stats(gid, members, dropped.get(gid, 0)) for gid, members in groups.items()}
    kept: list[TokenEpisode] = []
    for e in eps:
        if not e.usable:
            continue
        g = stats[e.group_id]
        adv = 0.0 if g.all_equal else e.reward - g.mean
        if scale_std and not g.all_equal:
            adv /= g.std + STD_EPS
        kept.append(e.model_copy(update={"advantage": adv}))
    versions = {e.policy_version for e in eps}
    return Batch(
        policy_version=policy_version or (versions.pop() if len(versions) == 1 else "mixed"),
        episodes=kept, groups=list(stats.values()), dropped_infra=len(dropped_ids),
        dropped_episode_ids=dropped_ids, scale_std=scale_std,
    )


__all__ = ["check_groups", "make_batch", "group_stats"]
