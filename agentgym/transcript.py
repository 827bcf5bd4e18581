"""What a stored episode needs to explain itself: the model's transcript, its per-turn usage and
the grader's report, as typed, versioned records (part of Trajectory; every field optional, so
runs stored before these existed still load).

- ``Transcript``: the messages exactly as the model saw them (system prompt, task, assistant
  text and tool calls, tool results), the hash of the tool schemas it was offered, and one
  ``ModelTurn`` per model call (tokens, cost, latency). Agents that talk to a model provide it
  through ``transcript()``; policies without a model have none.
- ``GraderReport``: the verdict in one place, whatever the domain: passed / failed / error /
  unfinished, a one-line summary, per-test statuses (SWE's FAIL_TO_PASS / PASS_TO_PASS), checks
  with expected vs got where the grader reports them, and the grader's raw fields (bounded).
  Built from the ending step's info, or from ``env.grader_report()`` when an env offers one
  (host side, after the episode: expected values never pass through ``info``, which policies see).

Stored text is bounded: a string over its cap keeps its head and tail around a marker that says
how much was cut, so one flooding tool cannot make a run store unreadable.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

TEXT_CAP = 20_000  # characters kept of one observation / message content
INFO_CAP = 8_000  # characters of JSON kept of one grader field


def clip(text: str, cap: int = TEXT_CAP) -> str:
    """`text` itself when it fits, else its head and tail around a marker saying what was cut."""
    if len(text) <= cap:
        return text
    head, tail = cap * 3 // 4, cap // 4
    return f"{text[:head]}\n[... agentgym: {len(text) - head - tail} characters truncated ...]\n{text[-tail:]}"


def clip_json(value: Any, cap: int = INFO_CAP) -> Any:
    """`value` when its JSON fits in `cap`, else its JSON text clipped (a string)."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return value if len(text) <= cap else clip(text, cap)


def tools_hash(tools: list[dict[str, Any]]) -> str:
    """A short, stable hash of the tool schemas (key order does not matter)."""
    return hashlib.sha256(json.dumps(tools, sort_keys=True, default=repr).encode()).hexdigest()[:16]


class ModelTurn(BaseModel):
    """One model call."""

    step: int = Field(description="env steps taken before this call (0: before the first action)")
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cost: float = Field(0.0, description="in a sweep: at its price table (as its cost column); else at the agent's token prices")
    latency_s: float = 0.0
    message_index: int = Field(-1, description="index in Transcript.messages of the assistant message it produced")


class Transcript(BaseModel):
    messages: list[dict[str, Any]] = Field(default_factory=list, description="OpenAI chat format, as sent to the model")
    tools_sha256: str | None = Field(None, description="hash of the tool schemas offered (tools_hash)")
    tool_names: list[str] = Field(default_factory=list)
    model: str | None = None
    turns: list[ModelTurn] = Field(default_factory=list)

    def bounded(self) -> Transcript:
        msgs = []
        for m in self.messages:
            m = dict(m)
            if isinstance(m.get("content"), str):
                m["content"] = clip(m["content"])
            msgs.append(m)
        return self.model_copy(update={"messages": msgs})


class GradedTest(BaseModel):
    name: str
    group: str = Field("", description="e.g. FAIL_TO_PASS, PASS_TO_PASS")
    status: str


class Check(BaseModel):
    name: str
    passed: bool | None = None
    expected: Any = None
    got: Any = None
    detail: str = ""


class GraderReport(BaseModel):
    verdict: Literal["passed", "failed", "error", "unfinished"]
    summary: str = ""
    source: str = Field("", description="where it came from: the tool that ended the episode, 'env', or 'rollout'")
    tests: list[GradedTest] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict, description="the grader's own fields, bounded")



def _tests(report: dict[str, Any]) -> list[GradedTest]:
    out = []
    for group, key in (("FAIL_TO_PASS", "fail_to_pass"), ("PASS_TO_PASS", "pass_to_pass")):
        for name, status in (report.get(key) or {}).items():
            out.append(GradedTest(name=str(name), group=group, status=str(status)))
    return out


def _checks(result: dict[str, Any]) -> tuple[list[Check], str | None]:
    """The checks of a grader's result, and the key of the list they were read from (stored as
    checks only, not a second time among the details); None when they came from a scored grade."""
    grade = result.get("grade")
    if isinstance(grade, dict) and "metric" in grade:  # a scored submission: score against the bar
        need = _score_needed(grade)
        return [Check(name=str(grade.get("metric")), passed=grade.get("passed"),
                      expected=f"reward >= {grade.get('pass_reward')}" + (f" ({grade['metric']} {need})" if need else ""),
                      got=f"score {grade.get('score')}, reward {grade.get('reward')}", detail=str(grade.get("message", "")))], None
    key = "outcomes" if result.get("outcomes") else "checks"
    outcomes = result.get(key)
    if isinstance(outcomes, list):
        checks = [Check(name=str(o.get("description") or o.get("name") or f"check {i + 1}"), passed=o.get("passed"),
                        expected=o.get("expected"), got=o.get("got"), detail=str(o.get("reason") or o.get("detail") or ""))
                  for i, o in enumerate(outcomes) if isinstance(o, dict)]
        return checks, key if all(_fits_a_check(o) for o in outcomes) else None  # else kept whole in details too
    return [], None


def _fits_a_check(outcome: Any) -> bool:
    """Whether a Check holds all of an outcome (moving the list out of details then loses nothing):
    only keys a Check reads, and not two that fill one field (description and name, reason and detail)."""
    return (isinstance(outcome, dict) and set(outcome) <= _CHECK_KEYS
            and not (outcome.get("description") and outcome.get("name")) and not (outcome.get("reason") and outcome.get("detail")))


_CHECK_KEYS = frozenset({"description", "name", "passed", "expected", "got", "reason", "detail"})


def _score_needed(grade: dict[str, Any]) -> str:
    """The metric value a scored submission needed, e.g. '<= 1.23' ('' when the grade lacks the
    inputs or no score can pass). Reward is the gain over the floor (the best trivial predictor)
    as a share of the span to the reference, capped at 1, and passing needs reward > 0 and
    >= pass_reward; so the bar is floor + pass_reward * (reference - floor), either direction."""
    f, r, p = grade.get("floor"), grade.get("reference"), grade.get("pass_reward")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (f, r, p)):
        return ""
    lower = grade.get("lower_is_better", True) is not False
    span = (f - r) if lower else (r - f)
    if not span > 0 or p > 1:
        return ""
    if p <= 0:  # any gain over the floor passes
        return f"{'<' if lower else '>'} {f:.6g}"
    return f"{'<=' if lower else '>='} {f + p * (r - f):.6g}"


def _ending_result(info: dict[str, Any]) -> dict[str, Any] | None:
    results = [r for r in info.get("tool_results") or [] if isinstance(r, dict)]
    graded = [r for r in results if any(k in r for k in ("passed", "report", "grade", "detail", "resolved"))]
    return (graded or results or [None])[-1]


def build_grader_report(*, passed: bool, error: str | None, truncated: bool, last_info: dict[str, Any],
                        last_observation: str, env_report: dict[str, Any] | None = None) -> GraderReport:
    """The verdict of one episode from what its last step (and the env, if it reports) said."""
    if error:
        verdict = "error"
    elif passed:
        verdict = "passed"
    elif truncated and not last_info.get("terminated_reason"):
        verdict = "unfinished"
    else:
        verdict = "failed"
    result = {**(_ending_result(last_info) or {}), **(env_report or {})}
    source = "env" if env_report else str(result.get("name") or "rollout")
    if error:
        summary = f"infrastructure error: {error.strip().splitlines()[0] if error.strip() else error}"
    elif last_info.get("agent_failure"):
        summary = f"agent failure: {last_info['agent_failure']}"
    elif verdict == "unfinished":
        reason = last_info.get("truncated_reason") or "turn"
        summary = (f"the model's context window was full ({reason}: it refused the next call) before the agent submitted"
                   if reason == "max_context" else f"the {reason} budget ran out before the agent submitted")
    else:
        first_line = last_observation.strip().splitlines()[0] if last_observation.strip() else ""
        summary = str(result.get("summary") or result.get("detail") or first_line)
    report = result.get("report") if isinstance(result.get("report"), dict) else result
    checks, moved = _checks(result)
    details = {k: clip_json(v) for k, v in result.items() if k not in ("name", "is_error", moved)}
    return GraderReport(verdict=verdict, summary=clip(summary, 2_000), source=source, tests=_tests(report),
                        checks=checks, details=details)


__all__ = ["Check", "GraderReport", "ModelTurn", "GradedTest", "Transcript", "build_grader_report", "clip", "clip_json", "tools_hash"]
