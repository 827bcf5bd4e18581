"""c-Interact: a fixed protocol. Each turn the agent either asks the user one question or submits
SQL. Clarifying questions are capped at (number of ambiguities + patience); each phase allows one
debug retry. Rewards: phase one 0.7 (0.5 when passed on the retry), follow-up 0.3 (0.2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.actions import ToolCall, ToolResult
from agentgym.actions import Tool
from agentgym.envs.sql.env_base import SqlEnvBase, kb_listing
from agentgym.policy import Policy, ScriptedPolicy

RETRY_REWARD = {1: 0.5, 2: 0.2}
FIRST_TRY_REWARD = {1: 0.7, 2: 0.3}


class AskArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="one clarification question for the user", max_length=2000)


class SubmitArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sql: str = Field(description="the SQL that answers the current request, in the dialect of the engine named "
                     "in the task; several statements may be separated by ';'")


class CInteractEnv(SqlEnvBase):
    def __init__(self, suite: str = "lite", engine: str | None = None, **kwargs: Any):
        self.asked = 0
        self.attempts = 0
        super().__init__(suite, engine, **kwargs)

    @property
    def max_questions(self) -> int:
        return (len(self.task.ambiguities) if self.task else 0) + self.patience

    def _reset_phase_state(self) -> None:
        self.attempts = 0
        if self.phase == 1:
            self.asked = 0

    def _tools(self) -> list[Tool]:
        return [
            Tool(name="ask", description="Ask the user one clarification question.", params=AskArgs, handler=self._ask),
            Tool(name="submit", description="Submit SQL for the current request; it is run and checked on a fresh "
                 "copy of the database. A failed submission gets one retry.", params=SubmitArgs, handler=self._submit),
        ]

    def _statement(self) -> str:
        assert self.task is not None
        meanings = "\n".join(f"{k}: {v}" for k, v in self.column_meanings().items())
        return (
            f"You are a database assistant ({self.engine_label}). Each turn, either ask the user ONE clarification question "
            f"(tool ask; at most {self.max_questions} questions) or submit SQL (tool submit; one retry per phase).\n\n"
            f"User request: {self.task.amb_query}\n\n"
            f"Database schema:\n{self.schema_text()}\n"
            f"Column meanings:\n{meanings}\n\n"
            f"Knowledge base:\n{kb_listing(self.visible_kb(), with_definitions=True)}"
        )

    def _ask(self, args: AskArgs) -> ToolResult:
        if self.asked >= self.max_questions:
            return ToolResult(output=f"You have used all {self.max_questions} questions; submit SQL now.", is_error=True)
        self.asked += 1
        return ToolResult(output=f"User: {self.ask(args.question)}", info={"questions_left": self.max_questions - self.asked})

    def _submit(self, args: SubmitArgs) -> ToolResult:
        phase = self.phase
        self.attempts += 1
        grade = self.grade(args.sql)
        if grade.passed:
            reward = FIRST_TRY_REWARD[phase] if self.attempts == 1 else RETRY_REWARD[phase]
            return self.passed_result(phase, reward)
        if self.attempts == 1:
            return ToolResult(output=f"Submitted. Failed ({grade.summary}). You have one retry for this request.",
                              is_error=True, info={"passed": False, "phase": phase})
        return self.ended_result(grade, phase)

    # -- validation policies -------------------------------------------------------------------------
    def reference_policy(self) -> Policy:
        """The gold path: ask about each ambiguity, submit gold, then the follow-up's gold."""
        assert self.task is not None
        t = self.task
        asks = [ToolCall(name="ask", arguments={"question": f"What do you mean by '{a.term}'?"}) for a in t.ambiguities]
        return ScriptedPolicy(asks + [
            ToolCall(name="submit", arguments={"sql": ";\n".join(t.phase1.gold_sql)}),
            ToolCall(name="submit", arguments={"sql": ";\n".join(t.follow_up.gold_sql)}),
        ])

    def null_policy(self) -> Policy:
        return ScriptedPolicy([], then=ToolCall(name="submit", arguments={"sql": "SELECT 1"}))
