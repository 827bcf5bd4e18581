"""The web env's grader report: every check of a task with what it expected and what it found
(expected answer(s) vs the message, the URL vs the active tab's, tabs wanted vs open, each state
check's own expected vs got, the page's reward vs its threshold), so a failed episode explains
itself in the stored episode (GraderReport.checks, `agentgym view`).

Why apart from the checkers: during the episode the agent is told only Passed/Failed, and info
holds the verdict and the first failing check's line (as ever); expected answers are secrets
while it runs. The outcomes are kept on the env (WebEnv.last_grade, host side), never put in an
observation or info, and read through env.grader_report() once the episode has ended
(agentgym/rollout.py). Bounded: at most MAX_CHECKS checks, each expected / got at most VALUE_CAP
characters (text clipped head and tail, other values as clipped JSON).
"""

from __future__ import annotations

from typing import Any

from agentgym.envs.web.tasks.checks import WebGrade
from agentgym.transcript import clip, clip_json

MAX_CHECKS, VALUE_CAP = 50, 2_000


def _bounded(value: Any) -> Any:
    return clip(value, VALUE_CAP) if isinstance(value, str) else clip_json(value, VALUE_CAP)


def grader_report(grade: WebGrade | None) -> dict[str, Any] | None:
    """The report of the episode's grading; None when it was not graded (it ended otherwise: a
    budget ran out, an error; its last step says why)."""
    if grade is None:
        return None
    shown = grade.outcomes[:MAX_CHECKS]
    checks = [{"description": o.name, "passed": o.passed, "expected": _bounded(o.expected), "got": _bounded(o.got),
               "reason": clip(o.why, VALUE_CAP)} for o in shown]
    n_ok = sum(o.passed is True for o in grade.outcomes)
    summary = f"{n_ok} of {len(grade.outcomes)} checks pass" + ("" if grade.passed else f"; failed: {clip(grade.detail, 500)}")
    return {"summary": summary, "outcomes": checks, "skipped_checks": len(grade.outcomes) - len(shown)}
