"""Pydantic models at the SQL domain's boundaries: knowledge entries, ambiguities, tasks.

The field names follow the public BIRD-Interact release where one exists (knowledge,
children_knowledge, amb_user_query, ...) so that bird.py is a thin mapping, not a translation.
Everything here is host-side: an agent only ever sees what env.py chooses to show from it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentgym.envs.sql.grading import Check

AmbiguityKind = Literal[
    "knowledge",  # a business term whose KB entry is withheld from the agent
    "knowledge_linking",  # a vague phrase that stands for a KB term the agent can look up
    "semantic",  # a vague word with several reasonable readings
    "threshold",  # a number the request leaves open (top N, cut-off date)
    "scope",  # which rows count (statuses, periods)
    "null_handling",  # what a missing value means
    "aggregation",  # which aggregate a word means (sum, average, count)
    "sort",  # output order
    "format",  # units, rounding, column choice
]


class KBEntry(BaseModel):
    """One entry of a database's knowledge base (kb.jsonl).

    children_knowledge keeps BIRD's meaning: the entries this one is defined in terms of.
    parent_knowledge is the reverse edge (the entries built on this one), so a reader can walk
    the hierarchy either way without loading the whole file.
    """

    model_config = ConfigDict(extra="ignore")

    id: int
    knowledge: str
    description: str
    definition: str
    type: str = "calculation_knowledge"
    children_knowledge: list[int] = Field(default_factory=list)
    parent_knowledge: list[int] = Field(default_factory=list)


class Ambiguity(BaseModel):
    """One way the ambiguous request is underspecified, and how the user resolves it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: AmbiguityKind
    critical: bool = Field(description="True when a wrong reading changes the answer (validated at generation)")
    term: str = Field(description="the words of the ambiguous request this ambiguity hides behind")
    keywords: list[str] = Field(default_factory=list, description="other words a question about it may use")
    clarification: str = Field(description="what the simulated user says when asked about it")
    sql_snippet: str = Field("", description="hidden: the gold fragment that resolves it")
    grounding: str = Field("", description="hidden: the KB and column-meaning text a paraphrased clarification "
                           "(BIRD data) was made from; the simulators' leak filter accepts what it contains")
    alt_sql: list[str] = Field(default_factory=list, description="hidden: SQL under a wrong reading; must fail the checks")
    deleted_knowledge: int | None = Field(None, description="KB id withheld from the agent for this ambiguity")


class Phase(BaseModel):
    """A request with its gold SQL and the executable checks that judge a submission."""

    model_config = ConfigDict(extra="forbid")

    query: str
    gold_sql: list[str]
    checks: list[Check]
    category: Literal["read", "write"]
    statement: Literal["select", "insert", "update", "delete", "ddl"] = "select"
    knowledge_used: list[int] = Field(default_factory=list)
    # BIRD-Interact fields (bird.py); empty for generated tasks.
    preprocess_sql: list[str] = Field(default_factory=list, description="run on every fresh copy of this phase "
                                      "(the agent's, the gold's, the grader's) before anything else")
    clean_up_sql: list[str] = Field(default_factory=list, description="run after grading (BIRD's clean_up_sqls)")
    test_cases: list[str] = Field(default_factory=list, description="hidden: BIRD's Python test functions "
                                  "(bird_tests.py); when present they judge the phase instead of `checks`")
    conditions: dict[str, Any] = Field(default_factory=dict, description="BIRD's conditions, passed to test_cases")


class FollowUp(Phase):
    type: str = Field("attribute_change", description="how it relates to phase one (BIRD's follow-up types)")


class SqlTask(BaseModel):
    """A two-phase task: an ambiguous request to clarify and solve, then a follow-up.

    A write task's follow-up is judged on a database where the GOLD phase-one statements ran,
    so a phase-one mistake costs phase one only.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    db_id: str
    suite: Literal["lite", "full", "bird"] = "full"
    template: str = ""
    dialect: Literal["sqlite", "postgres"] = Field("sqlite", description="the dialect its SQL is written in "
                                                    "(generated tasks: SQLite; BIRD data: PostgreSQL)")
    amb_query: str
    clear_query: str
    ambiguities: list[Ambiguity]
    phase1: Phase
    follow_up: FollowUp

    @property
    def withheld_knowledge(self) -> list[int]:
        return sorted({a.deleted_knowledge for a in self.ambiguities if a.deleted_knowledge is not None})

    @property
    def critical(self) -> list[Ambiguity]:
        return [a for a in self.ambiguities if a.critical]
