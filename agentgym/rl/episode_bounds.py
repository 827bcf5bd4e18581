"""What every training loop over an env checks per episode: a wall-clock bound, and a finite reward.

Why a wall-clock bound of the trainer's own: the envs' default budgets count turns, not seconds,
so a policy that calls ``sleep 600`` every turn held a GRPO step (which waits for its slowest
rollout) for up to 40 minutes. ``EpisodeDeadline`` gives each episode ``max_seconds`` from its
reset: a command a tool runs is cut at what is left (the env's ``command_timeout`` reads the
tracker's ``remaining_seconds``, which the deadline caps), and once the time is up the episode
ends truncated ``'max_seconds'``: the agent's doing, scored as the env scored it so far (a budget,
as turns are), never dropped. It is not put into the env's visible budget: that would add a
``time Ns/Ms`` part to every observation's budget footer, so GRPO's prompts and tool results would
differ from the SFT data and the evaluations the same model is compared on. An env whose own budget
has ``max_seconds`` still enforces (and shows) it; the smaller bound ends the episode.

Why a non-finite reward is an infrastructure error: rewards come from the env's grader, which the
agent cannot reach, so a NaN or an infinity is the env's bug, not the agent's doing; scored, it
makes the group's mean and std NaN and poisons every advantage of the group (and NaN is written
to JSON as null, so a tokens.jsonl holding one does not read back). Like any infrastructure error
the episode is dropped from the batch and counted (``TokenEpisode.infra_error``, ``get_reward``
None for TRL, ``metadata['infra_error']`` for SkyRL, verifiers' SandboxError), never trained on.
"""

from __future__ import annotations

import math
import time
from typing import Any

#: per-episode wall-clock bound of the training loops (seconds) when their caller gives none:
#: generous for a SWE episode of a few long test runs, and one slow rollout holds a step no longer
DEFAULT_MAX_SECONDS = 600.0


def non_finite_reward(reward: Any) -> str | None:
    """The infra_error for a step reward that is not a finite number (None when it is one)."""
    try:
        value = float(reward)
    except (TypeError, ValueError):
        return f"the env returned a reward that is no number ({type(reward).__name__}): an env bug, not the agent's; not scored"
    if math.isfinite(value):
        return None
    return f"the env returned a non-finite reward ({value}): an env bug, not the agent's; not scored"


class EpisodeDeadline:
    """``max_seconds`` of wall-clock time per episode, from ``start`` (called right after reset)."""

    def __init__(self, max_seconds: float | None = DEFAULT_MAX_SECONDS, clock: Any = time.monotonic):
        if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and 0 < max_seconds < math.inf):
            raise ValueError(f"max_seconds must be a positive number of seconds or None (no bound), not {max_seconds!r}")
        self.max_seconds, self._clock, self._end = max_seconds, clock, None

    def start(self, env: Any) -> None:
        """Start the clock and cap the env's per-command timeouts at what is left of it."""
        if self.max_seconds is None:
            self._end = None
            return
        self._end = self._clock() + self.max_seconds
        tracker = getattr(getattr(env, "unwrapped", env), "tracker", None)  # a fresh one per reset
        if tracker is not None and hasattr(tracker, "remaining_seconds"):
            own = tracker.remaining_seconds  # the env's own max_seconds, if its budget has one

            def remaining_seconds() -> float:
                mine = max(0.0, self._end - self._clock())
                theirs = own()
                return mine if theirs is None else min(mine, theirs)

            tracker.remaining_seconds = remaining_seconds  # read by env.command_timeout; footer untouched

    def over(self) -> bool:
        return self._end is not None and self._clock() >= self._end

    def message(self) -> str:
        return f"The episode is over: its time limit ({self.max_seconds:g} s) is used up."


__all__ = ["DEFAULT_MAX_SECONDS", "EpisodeDeadline", "non_finite_reward"]
