"""a-Interact: free tool use under a coin budget (BIRD-Interact's agentic mode).

Every observation ends with the coins left. An action that costs more than what remains is
refused, except submit, which is always allowed (so an agent can spend its last coins and still
answer). Rewards: phase one 0.7, follow-up 0.3; a failed submission may be followed by another
while coins last.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentgym.actions import ActionError, NoArgs, Tool, ToolCall, ToolResult
from agentgym.env import MALFORMED
from agentgym.envs.sql.engines import QuotaExceeded, SqlError
from agentgym.envs.sql.env_base import PHASE_REWARD, SqlEnvBase, kb_listing
from agentgym.guard import AgentFault
from agentgym.policy import Policy, ScriptedPolicy

#: Versioned so that scores name the prices they were earned under.
COST_TABLE_VERSION = "bird-interact-v1"
COSTS = {
    "ask_user": 2.0, "submit": 3.0, "execute_sql": 1.0, "get_schema": 1.0, "get_all_column_meanings": 1.0,
    "get_all_knowledge_names": 1.0, "get_all_knowledge_definitions": 1.0, "get_column_meaning": 0.5,
    "get_knowledge_definition": 0.5, MALFORMED: 0.2,
}
BASE_COINS = 6.0
COINS_PER_AMBIGUITY = 2.0


class SqlArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sql: str = Field(description="SQL in the dialect of the engine named in the task; several statements may be "
                     "separated by ';'")


class QuestionArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="one clarification question for the user", max_length=2000)


class ColumnArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    table: str
    column: str


class KnowledgeArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="a knowledge name as listed by get_all_knowledge_names")


class AInteractEnv(SqlEnvBase):
    def __init__(self, suite: str = "lite", engine: str | None = None, **kwargs: Any):
        self.coins_total = 0.0
        self.coins_spent = 0.0
        super().__init__(suite, engine, **kwargs)

    @property
    def coins_left(self) -> float:
        return max(0.0, round(self.coins_total - self.coins_spent, 4))

    def _start_episode(self, task_id: str) -> str:
        task = self._tasks[task_id]
        self.coins_total = BASE_COINS + COINS_PER_AMBIGUITY * len(task.ambiguities) + self.patience
        self.coins_spent = 0.0
        return super()._start_episode(task_id) + f"\n\n[coins left: {self.coins_total:g} of {self.coins_total:g}]"

    def _statement(self) -> str:
        assert self.task is not None
        prices = ", ".join(f"{k} {v:g}" for k, v in COSTS.items() if k != MALFORMED)
        return (
            f"You are a database assistant ({self.engine_label}). Explore the database and knowledge base with the tools, ask the "
            f"user when the request is unclear, then submit SQL. Coin costs ({COST_TABLE_VERSION}): {prices}, "
            f"malformed action {COSTS[MALFORMED]:g}. An action you cannot afford is refused, except submit.\n\n"
            f"User request: {self.task.amb_query}"
        )

    def step(self, action: Any):
        bad_before = self.tracker.tool_calls.get(MALFORMED, 0)
        obs, reward, terminated, truncated, info = super().step(action)
        bad = self.tracker.tool_calls.get(MALFORMED, 0) - bad_before
        self.coins_spent += COSTS[MALFORMED] * bad
        obs = {"text": f"{obs['text']}\n[coins left: {self.coins_left:g} of {self.coins_total:g}]"}
        info["coins_left"], info["coin_table"] = self.coins_left, COST_TABLE_VERSION
        self._last_text = obs["text"]
        return obs, reward, terminated, truncated, info

    def _charge(self, tool: str) -> None:
        cost = COSTS[tool]
        if tool != "submit" and cost > self.coins_left + 1e-9:
            raise ActionError(f"refused: {tool} costs {cost:g} coins and {self.coins_left:g} remain; you can still submit")
        self.coins_spent += cost

    def _tools(self) -> list[Tool]:
        def tool(name: str, desc: str, params: type[BaseModel], fn: Any) -> Tool:
            def handler(args: Any) -> ToolResult:
                self._charge(name)
                return fn(args)
            return Tool(name=name, description=f"{desc} (costs {COSTS[name]:g} coins)", params=params, handler=handler)

        return [
            tool("execute_sql", "Run SQL on your private copy of the database.", SqlArgs, self._execute),
            tool("get_schema", "The database schema with sample rows.", NoArgs, lambda a: ToolResult(output=self.schema_text())),
            tool("get_all_column_meanings", "What every column means.", NoArgs,
                 lambda a: ToolResult(output="\n".join(f"{k}: {v}" for k, v in self.column_meanings().items()))),
            tool("get_column_meaning", "What one column means.", ColumnArgs, self._column_meaning),
            tool("get_all_knowledge_names", "Names of the knowledge-base entries.", NoArgs,
                 lambda a: ToolResult(output=kb_listing(self.visible_kb(), with_definitions=False))),
            tool("get_knowledge_definition", "One knowledge-base entry.", KnowledgeArgs, self._knowledge),
            tool("get_all_knowledge_definitions", "Every knowledge-base entry.", NoArgs,
                 lambda a: ToolResult(output=kb_listing(self.visible_kb(), with_definitions=True))),
            tool("ask_user", "Ask the user one clarification question.", QuestionArgs,
                 lambda a: ToolResult(output=f"User: {self.ask(a.question)}")),
            tool("submit", "Submit SQL for the current request; it is checked on a fresh copy.", SqlArgs, self._submit),
        ]

    def _execute(self, args: SqlArgs) -> ToolResult:
        assert self.db is not None
        try:
            res = self.db.execute(args.sql, timeout_s=self.timeout_s, max_rows=self.max_rows)
        except QuotaExceeded as exc:  # it filled its disk quota: its failure; the copy is dropped now, not at reset
            self.db.close()
            self.db = None
            raise AgentFault(str(exc), terminal=True) from None
        except SqlError as exc:
            return ToolResult(output=f"SQL error: {exc}", is_error=True)
        return ToolResult(output=res.render(), info={"truncated": res.truncated, "elapsed_ms": round(res.elapsed_ms, 3)})

    def _column_meaning(self, args: ColumnArgs) -> ToolResult:
        assert self.task is not None
        key = f"{self.task.db_id}|{args.table.lower()}|{args.column.lower()}"
        meaning = {k.lower(): v for k, v in self.column_meanings().items()}.get(key)
        if meaning is None:
            return ToolResult(output=f"No column {args.table}.{args.column}; see get_schema.", is_error=True)
        return ToolResult(output=meaning)

    def _knowledge(self, args: KnowledgeArgs) -> ToolResult:
        want = args.name.strip().lower()
        entry = next((e for e in self.visible_kb() if e.knowledge.lower() == want), None)
        if entry is None:
            return ToolResult(output=f"No knowledge named {args.name!r}; see get_all_knowledge_names.", is_error=True)
        return ToolResult(output=f"{entry.knowledge}: {entry.description} Definition: {entry.definition}")

    def _submit(self, args: SqlArgs) -> ToolResult:
        phase = self.phase
        grade = self.grade(args.sql)
        if grade.passed:
            return self.passed_result(phase, PHASE_REWARD[phase])
        if self.coins_left < min(COSTS.values()) - 1e-9:
            # Broke: submit stays allowed past the budget, but a failed one ends the episode, or an
            # agent could keep guessing for free.
            return self.ended_result(grade, phase)
        return ToolResult(output=f"Submitted. Failed ({grade.summary}).", is_error=True, info={"passed": False, "phase": phase})

    def reference_policy(self) -> Policy:
        assert self.task is not None
        t = self.task
        asks = [ToolCall(name="ask_user", arguments={"question": f"What do you mean by '{a.term}'?"}) for a in t.ambiguities]
        return ScriptedPolicy(asks + [
            ToolCall(name="submit", arguments={"sql": ";\n".join(t.phase1.gold_sql)}),
            ToolCall(name="submit", arguments={"sql": ";\n".join(t.follow_up.gold_sql)}),
        ])

    def null_policy(self) -> Policy:
        return ScriptedPolicy([], then=ToolCall(name="submit", arguments={"sql": "SELECT 1"}))
