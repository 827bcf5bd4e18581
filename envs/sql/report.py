"""The SQL env's grader report: per check, what was expected and what the agent's SQL gave, so a
failed submission explains itself in the stored episode (GraderReport.checks, agentgym view).

Why a module of its own: what the agent is told during the episode (GradeResult.summary: pass or
fail and the kind of failure) must never show expected rows, while the report a researcher reads
afterwards should. The env (SqlEnvBase.grade) makes each graded submission's previews when it
grades it and keeps that text, never in an observation or info, for env.grader_report(), read once
the episode has ended (agentgym/rollout.py, Trajectory.finish); grading that no report follows
(gold checks, task builds) never makes them (outcome.py says why).

Bounded: PREVIEW_ROWS rows of each result with its row and column counts, values clipped to
PREVIEW_CHARS characters (blobs to their first bytes), the last MAX_SUBMISSIONS submissions of an
episode, their SQL clipped to SQL_CHARS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from agentgym.transcript import clip

#: What a preview shows: rows, and characters of one value.
PREVIEW_ROWS, PREVIEW_CHARS = 5, 60
#: Above this many rows an unordered result's preview is not sorted (its first rows are shown).
PREVIEW_SORT_MAX = 2000
MAX_SUBMISSIONS, SQL_CHARS, ERROR_CHARS = 6, 2000, 500


def _preview_value(v: Any) -> str:
    from agentgym.envs.sql.grading import normalize  # grading imports this module

    if isinstance(v, (bytes, bytearray, memoryview)):
        n = PREVIEW_CHARS // 2
        return f"x'{bytes(v[:n]).hex()}'" + (f"...({len(v)} bytes)" if len(v) > n else "")
    if isinstance(v, str) and len(v) > PREVIEW_CHARS:
        return repr(v[:PREVIEW_CHARS]) + f"...({len(v)} chars)"
    return repr(normalize(v))


def _sort_key(v: Any) -> tuple:
    """NULLs, then numbers by value, then the rest by their (clipped) text; cheap for big values."""
    if v is None:
        return (0, 0)
    if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
        return (1, float(v) if isinstance(v, bool) else v)
    if isinstance(v, Decimal):
        return (1, float(v))
    if isinstance(v, (bytes, bytearray, memoryview)):
        return (2, bytes(v[:PREVIEW_CHARS]).hex())
    return (2, str(v)[:PREVIEW_CHARS * 2] if isinstance(v, str) else str(v))


def preview_rows(rows: Sequence[Sequence[Any]], columns: int | None = None, *, ordered: bool = False) -> str:
    """A few rows of a result as text (values clipped), with its row and column counts. Unordered
    results are sorted (up to PREVIEW_SORT_MAX rows), so expected and got line up."""
    width = columns if columns is not None else (len(rows[0]) if rows else None)
    sort = not ordered and 1 < len(rows) <= PREVIEW_SORT_MAX
    shown = sorted(rows, key=lambda r: tuple(_sort_key(v) for v in r))[:PREVIEW_ROWS] if sort else rows[:PREVIEW_ROWS]
    cells = [[_preview_value(v) for v in r] for r in shown]
    head = f"{len(rows)} row{'s' * (len(rows) != 1)} x {'?' if width is None else width} column{'s' * (width != 1)}"
    head += " (any order; sorted here)" if sort else "" if ordered or len(rows) < 2 else " (any order; first rows as returned)"
    lines = [head, *(" | ".join(c) for c in cells[:PREVIEW_ROWS])]
    if len(rows) > PREVIEW_ROWS:
        lines.append(f"... {len(rows) - PREVIEW_ROWS} more rows")
    return "\n".join(lines)


def expected_preview(check: Any) -> str:
    """preview_rows of a grading.Check's expected rows (its `columns` when they are empty)."""
    return preview_rows(check.expected, check.columns, ordered=check.ordered)


def grader_report(graded: Sequence[tuple[int, str, Any]]) -> dict[str, Any] | None:
    """The report of an episode's graded submissions, (phase, sql, GradeResult) in order: one
    check per check of each submission (the last MAX_SUBMISSIONS), a summary of the last one,
    and each submission's SQL. None when nothing was graded (the episode's last step says why)."""
    if not graded:
        return None
    per_phase: dict[int, int] = {}
    numbered = []
    for phase, sql, res in graded:
        per_phase[phase] = per_phase.get(phase, 0) + 1
        numbered.append((f"phase {phase}, submission {per_phase[phase]}", phase, sql, res))
    checks: list[dict[str, Any]] = []
    submissions = []
    for name, phase, sql, res in numbered[-MAX_SUBMISSIONS:]:
        submissions.append({"submission": name, "phase": phase, "passed": res.passed, "sql": clip(sql, SQL_CHARS)})
        if res.error:
            checks.append({"description": f"{name}: the SQL runs", "passed": False, "expected": "the SQL runs",
                           "got": f"error: {clip(res.error, ERROR_CHARS)}", "reason": "the submission failed to run"})
        for o in res.outcomes:
            expected, got = o.previews()
            checks.append({"description": f"{name}: {o.description or 'result'}", "passed": o.passed,
                           "expected": expected, "got": got, "reason": o.reason})
    name, _, _, last = numbered[-1]
    why = next((o.reason for o in last.outcomes if not o.passed and o.reason), "")
    summary = f"{name}: {last.summary}" + (f" ({why})" if why else "")
    return {"summary": summary, "outcomes": checks, "submissions": submissions, "skipped_submissions": max(0, len(numbered) - MAX_SUBMISSIONS)}
