"""Episode loop and trajectory records.

A Trajectory is the stored record of one episode (schema_version says which shape): the env's
steps, and, since version 2, the model's transcript and per-call usage (from policies that have
a ``transcript()``) and the grader's report, so a failure explains itself. Every field added
since version 1 is optional: older stored runs still load. Stored text is bounded (clip).

An episode that raises (a model endpoint that dies mid-episode, a sandbox that goes away) keeps
what it had: run_episode / run_episode_async close the partial record (every step, the policy's
transcript up to the failure) and attach it to the exception before re-raising, and the callers
that isolate failures (parallel, the sweep runner, the Ray worker) store
``errored_trajectory(exc, ...)``: that partial record with the error line, or an empty one when
the episode never started.

A model server that refuses the next call because the conversation no longer fits its context
window (ContextWindowExceeded) is not such a failure: the episode's own text filled it (the
model's turns, the outputs its actions asked for). The episode ends as a budget would: truncated,
reason 'max_context', scored as a failure with the reward it had, transcript kept. Stored as an
infrastructure error instead, it would leave scores, and flooding the context would dodge a 0.
"""

from __future__ import annotations

import json
import time
import traceback
from typing import Any

from pydantic import BaseModel, Field

from agentgym.models.base import ContextWindowExceeded
from agentgym.policy import Policy
from agentgym.rl.episode_bounds import non_finite_reward
from agentgym.transcript import GraderReport, Transcript, build_grader_report, clip

SCHEMA_VERSION = 2
#: truncated_reason of an episode whose model refused the next call: its context window is full
MAX_CONTEXT = "max_context"


def _jsonable(action: Any) -> Any:
    if isinstance(action, BaseModel):
        return action.model_dump(mode="json", exclude_none=True)
    if isinstance(action, (list, tuple)):
        return [_jsonable(a) for a in action]
    try:
        json.dumps(action)
        return action
    except (TypeError, ValueError):
        return repr(action)


class StepRecord(BaseModel):
    action: Any
    observation: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0


class Trajectory(BaseModel):
    schema_version: int = Field(1, description="1: steps only; 2: + transcript and grader_report")
    env_id: str
    task_id: str | None
    seed: int | None
    runtime: str | None = Field(None, description="the sandbox runtime actually used (docker, local), from reset's info")
    first_observation: str
    steps: list[StepRecord] = Field(default_factory=list)
    total_reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    passed: bool = False
    error: str | None = Field(None, description="infrastructure error, if one ended the episode")
    seconds: float = 0.0
    transcript: Transcript | None = Field(None, description="what the model saw and said, per-call usage (model-driven policies)")
    grader_report: GraderReport | None = Field(None, description="the verdict and why: per-test statuses, checks")

    @property
    def turns(self) -> int:
        return len(self.steps)

    def record(self, action: Any, obs: dict[str, Any], reward: float, terminated: bool, truncated: bool,
               info: dict[str, Any], seconds: float) -> bool:
        """Append one step; True when it ended the episode. A reward that is no finite number is the
        env's bug (its grader is out of the agent's reach): recorded as 0, the episode ends as an
        infrastructure error (left out of means, counted), never a NaN in total_reward."""
        bad = non_finite_reward(reward)
        if bad is not None:
            reward, info = 0.0, {**info, "error": info.get("error") or bad}
        self.steps.append(
            StepRecord(
                action=_jsonable(action),
                observation=clip(obs["text"]),
                reward=float(reward),
                terminated=terminated,
                truncated=truncated,
                info=_jsonable_info(info),
                seconds=seconds,
            )
        )
        self.total_reward += float(reward)
        if info.get("error"):
            self.error = str(info["error"])
        if terminated or truncated:
            self.terminated, self.truncated = terminated, truncated
            return True
        return bad is not None  # nothing more runs after the env's bug

    def finish(self, env: Any, last_info: dict[str, Any], ended: bool, max_steps: int, started: float,
               policy: Any = None, cut: str | None = None) -> None:
        """Close the record: a policy that never ended the episode is an error, not a silent zero.
        With `policy`, its transcript (if it keeps one) is stored too. `cut`: the budget that
        stopped the policy before the env ended the episode (e.g. 'max_context'): a truncation,
        scored as a failure, the reason in the grader report."""
        if cut:
            self.truncated, last_info = True, {**last_info, "truncated_reason": cut}
        elif not ended:
            self.truncated = True
            self.error = self.error or f"policy did not finish within {max_steps} steps"
        self.passed = self.error is None and not cut and bool(env.unwrapped.passed(self.total_reward, last_info))
        self._seal(policy, started)
        self.grader_report = build_grader_report(
            passed=self.passed, error=self.error, truncated=self.truncated, last_info=last_info,
            last_observation=self.steps[-1].observation if self.steps else "", env_report=_env_report(env))

    def keep_partial(self, exc: BaseException, policy: Any, started: float) -> None:
        """Close the record of an episode that raised `exc` (steps and transcript so far) and
        attach it to `exc` for errored_trajectory. Never raises: the original error matters more."""
        try:
            self._seal(policy, started)
        except Exception:  # noqa: BLE001 - a policy whose transcript() fails too: keep the steps
            pass
        try:
            setattr(exc, PARTIAL_ATTR, self)
        except (AttributeError, TypeError):  # an exception type without a __dict__: stored empty
            pass

    def _seal(self, policy: Any, started: float) -> None:
        """What every closed record gets, finished or raised: its time, schema, bounded first
        observation and the policy's transcript."""
        self.seconds = time.perf_counter() - started
        self.schema_version = SCHEMA_VERSION
        self.first_observation = clip(self.first_observation)
        self.attach_transcript(policy)

    def attach_transcript(self, policy: Any) -> None:
        """Store `policy.transcript()` (bounded) when the policy keeps one."""
        get = getattr(policy, "transcript", None)
        if not callable(get):
            return
        t = get()
        if t is not None:
            self.transcript = (t if isinstance(t, Transcript) else Transcript.model_validate(t)).bounded()


def run_episode(
    env: Any,
    policy: Policy,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    max_steps: int = 10_000,
) -> Trajectory:
    """Play one episode of `env` with `policy` and record it. `max_steps` is a safety net only:
    the env's own budget is what ends episodes."""
    t0 = time.perf_counter()
    obs, info = env.reset(seed=seed, options=options)
    policy.reset(obs, info)
    traj = Trajectory(
        env_id=getattr(env.unwrapped, "env_id", "") or type(env.unwrapped).__name__,
        task_id=info.get("task_id"),
        seed=seed,
        runtime=info.get("runtime") if isinstance(info.get("runtime"), str) else None,
        first_observation=obs["text"],
    )
    ended, cut = False, None
    try:
        for _ in range(max_steps):
            try:
                action = policy.act(obs, info)
            except ContextWindowExceeded:  # the episode's own text filled the model's window: a budget
                cut = MAX_CONTEXT
                break
            ts = time.perf_counter()
            obs, reward, terminated, truncated, info = env.step(action)
            if traj.record(action, obs, reward, terminated, truncated, info, time.perf_counter() - ts):
                ended = True
                break
        traj.finish(env, info, ended, max_steps, t0, policy=policy, cut=cut)
    except Exception as exc:
        traj.keep_partial(exc, policy, t0)
        raise
    return traj


PARTIAL_ATTR = "agentgym_partial_trajectory"


def errored_trajectory(exc: BaseException, *, env_id: str, task_id: str | None, seed: int | None) -> Trajectory:
    """What to store for an episode that raised `exc` (call it where the exception is caught):
    the partial record run_episode(_async) attached to it (every step and message up to the
    failure), else an empty one; either way an infrastructure error with the error line and a
    short traceback, and a grader report whose verdict is "error"."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=6))
    error = f"infrastructure error: {type(exc).__name__}: {exc}\n{tb}"
    partial = getattr(exc, PARTIAL_ATTR, None)
    try:  # taken once: an exception object raised again elsewhere (a cached one) must not bring this episode along
        delattr(exc, PARTIAL_ATTR)
    except AttributeError:
        pass
    ours = isinstance(partial, Trajectory) and partial.seed == seed and task_id in (None, partial.task_id)
    traj = partial if ours else Trajectory(env_id=env_id, task_id=task_id, seed=seed, first_observation="")
    traj.error, traj.passed = error, False
    last = traj.steps[-1] if traj.steps else None
    traj.grader_report = build_grader_report(passed=False, error=error, truncated=traj.truncated,
                                             last_info=last.info if last else {}, last_observation=last.observation if last else "")
    return traj


def _env_report(env: Any) -> dict[str, Any] | None:
    """An env's own report of the last grading (host side), when it offers `grader_report()`."""
    fn = getattr(getattr(env, "unwrapped", env), "grader_report", None)
    if not callable(fn):
        return None
    try:
        report = fn()
    except Exception as exc:  # noqa: BLE001 - the verdict stands without the env's extra detail
        return {"summary": f"(the env's grader_report() failed: {type(exc).__name__}: {exc})"}
    if isinstance(report, BaseModel):
        report = report.model_dump(mode="json")
    return report if isinstance(report, dict) else None


def _jsonable_info(info: dict[str, Any]) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in info.items()}


__all__ = ["MAX_CONTEXT", "SCHEMA_VERSION", "GraderReport", "StepRecord", "Trajectory", "Transcript", "errored_trajectory", "run_episode"]
