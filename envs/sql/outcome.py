"""What grading a SQL submission found: one CheckOutcome per check, a GradeResult per submission.

Why a module of its own: grading.py holds the comparison rules; these are the results it hands
on, read by the env (the agent's verdict, GradeResult.summary) and by the grader report after the
episode (report.py, the row previews). The previews show expected rows, so they live host side
only, never in an observation or info.

When previews are made: a preview is cheap (a sort of up to report.PREVIEW_SORT_MAX rows, a few
rows formatted) but needs the result's rows, which may be big (up to grading.GRADE_MAX_ROWS rows,
an engine's MAX_RESULT_BYTES; the agent controls their size). So an outcome keeps a closure over
the rows only while its GradeResult is in the grader's hands: grading that no report follows
(validate's and BIRD loading's gold checks, task builds) drops the result and never makes them,
and the env, which keeps its results for the report until the episode ends, calls
GradeResult.make_previews() at once, so it holds the preview text and never the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from agentgym.envs.sql.report import expected_preview


class CheckOutcome(BaseModel):
    passed: bool
    description: str = ""
    reason: str = ""
    # Host side only, for the grader's report after the episode (report.py), never in an observation
    # or info: they show the expected rows. Read through previews() (see the module docstring).
    expected: str | None = Field(None, description="preview of the expected rows (preview_rows)")
    got: str | None = Field(None, description="preview of the rows the submission gave, or why there are none")
    _previews: Callable[[], tuple[str, str]] | None = PrivateAttr(None)

    def previews(self) -> tuple[str | None, str | None]:
        """(expected, got) as the grader report shows them, made on the first call; the rows they
        were made from are let go then."""
        if self._previews is not None:
            self.expected, self.got = self._previews()
            self._previews = None
        return self.expected, self.got

    @classmethod
    def of(cls, check: Any, passed: bool, reason: str, got: str | Callable[[], str]) -> CheckOutcome:
        """A check's outcome (check: a grading.Check); its previews (expected rows; `got`, or what
        it returns) wait for previews()."""
        out = cls(passed=passed, description=check.description, reason=reason)
        out._previews = lambda: (expected_preview(check), got() if callable(got) else got)
        return out


class GradeResult(BaseModel):
    passed: bool
    outcomes: list[CheckOutcome] = Field(default_factory=list)
    error: str | None = Field(None, description="the submission itself failed to run")

    @property
    def summary(self) -> str:
        """A verdict safe to show the agent: pass/fail and kind of failure, never expected values."""
        if self.error:
            return f"your SQL failed: {self.error}"
        failed = [o for o in self.outcomes if not o.passed]
        return "all checks passed" if not failed else f"{len(failed)} of {len(self.outcomes)} checks failed"

    def make_previews(self) -> GradeResult:
        """Every outcome's previews made now, the rows they need let go (a result kept for a report)."""
        for o in self.outcomes:
            o.previews()
        return self

    def without_previews(self) -> GradeResult:
        """A copy without its previews (a submission no report shows)."""
        return GradeResult.model_validate(self.model_dump(exclude={"outcomes": {"__all__": {"expected", "got"}}}))
