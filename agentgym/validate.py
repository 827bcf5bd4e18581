"""`agentgym validate`: every task's reference solution must pass and a null solution must fail.

This is how a domain proves its tasks are sound: a task whose gold fails is broken, a task that
a do-nothing submission passes is free reward (R2E-Gym#27). A task whose run hit an infrastructure
error (info["error"], or an exception) says nothing about the task: it is neither a pass nor a
fail, its row shows the error, and the pass rates are over the tasks that ran cleanly (None when
none did); `errors` counts the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from agentgym.policy import DeferredPolicy
from agentgym.registry import make
from agentgym.rollout import Trajectory, run_episode


class TaskValidation(BaseModel):
    task_id: str
    gold_reward: float | None = None
    gold_pass: bool = False
    null_reward: float | None = None
    null_pass: bool = False
    error: str | None = None
    seconds: float = 0.0


class ValidationReport(BaseModel):
    env: str
    runtime: str | None = None
    tasks: int
    gold_pass_rate: float | None = Field(..., description="over the tasks without an infrastructure error; None if none")
    null_pass_rate: float | None = Field(..., description="over the tasks without an infrastructure error; None if none")
    errors: int = Field(..., description="tasks whose gold or null run hit an infrastructure error (not scored)")
    rows: list[TaskValidation] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return self.model_dump(exclude={"rows"})

    def ok(self) -> bool:
        """Every task ran cleanly, every gold passed, no null did."""
        return not self.errors and self.gold_pass_rate == 1.0 and self.null_pass_rate == 0.0


def spread_sample(ids: Sequence[str], n: int) -> list[str]:
    """`n` task ids spread evenly over `ids` (every template of a family gets its turn, unlike the
    first n), in their order; all of them when there are no more than `n`."""
    ids = list(ids)
    if n < 1:
        raise ValueError(f"a sample needs at least one task, not {n}")
    if len(ids) <= n:
        return ids
    return [ids[(i * len(ids)) // n] for i in range(n)]


def _play(env: Any, task_id: str, which: str) -> Trajectory:
    policy = DeferredPolicy(env.reference_policy if which == "gold" else env.null_policy)
    return run_episode(env, policy, options={"task_id": task_id})


def validate(
    env_id: str,
    *,
    task_ids: Sequence[str] | None = None,
    on_task: Callable[[TaskValidation], None] | None = None,
    **make_kwargs: Any,
) -> ValidationReport:
    env = make(env_id, **make_kwargs)
    rows: list[TaskValidation] = []
    try:
        for tid in list(task_ids or env.task_ids()):
            row = TaskValidation(task_id=tid)
            try:
                gold = _play(env, tid, "gold")
                null = _play(env, tid, "null")
                row.gold_reward, row.gold_pass = gold.total_reward, gold.passed
                row.null_reward, row.null_pass = null.total_reward, null.passed
                row.error = gold.error or null.error
                row.seconds = gold.seconds + null.seconds
            except Exception as exc:  # one broken task must not hide the others
                row.error = f"{type(exc).__name__}: {exc}"
            rows.append(row)
            if on_task:
                on_task(row)
    finally:
        env.close()
    clean = [r for r in rows if r.error is None]
    return ValidationReport(
        env=env_id,
        runtime=getattr(env, "runtime", None),
        tasks=len(rows),
        gold_pass_rate=sum(r.gold_pass for r in clean) / len(clean) if clean else None,
        null_pass_rate=sum(r.null_pass for r in clean) / len(clean) if clean else None,
        errors=len(rows) - len(clean),
        rows=rows,
    )
