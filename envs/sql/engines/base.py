"""The Engine protocol: what the SQL env needs from a database engine.

An Engine turns a database id into per-episode copies (EpisodeDatabase). Each copy is private to
one episode: whatever the agent runs there (DROP, ALTER, DELETE) touches only that copy. Grading
opens yet another fresh copy, so nothing the agent did while exploring can reach the grader.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

Dialect = Literal["sqlite", "postgres"]

#: Bytes of values a result may hold in this process (both engines): a result past it is an
#: SQL error, so 100 rows of huge values cannot grow the host process that holds every episode.
MAX_RESULT_BYTES = 32 * 1024 * 1024
#: Marker appended to any result cut at the row cap; agents and tests look for this exact text.
TRUNCATION_MARKER = "[truncated: result has more rows than the {cap} shown]"


class SqlError(Exception):
    """The submitted SQL failed (syntax, missing table, constraint...). The message is the
    engine's own, shown to the agent so it can fix the query."""


class QueryTimeout(SqlError):
    """The statement ran past its time limit and was stopped."""


class QuotaExceeded(SqlError):
    """The episode's database outgrew its disk quota (or was the largest writer on a nearly full
    server) and was stopped. The agent caused it: the env ends the episode with reward 0 and the
    reason in info["agent_failure"]; a grading copy that hits it fails the submission."""


def refuse_nul(sql: str) -> None:
    """SqlError for SQL text with a NUL character: SQLite's driver raised ValueError on it, which
    the env took for its own failure (an infrastructure error, dropped from scores)."""
    if "\x00" in sql:
        raise SqlError("SQL text cannot contain a NUL character (\\x00); remove it")


class QueryResult(BaseModel):
    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    truncated: bool = False
    row_cap: int = 0
    rowcount: int = Field(-1, description="rows changed by the last write statement, -1 when not a write")
    statements: int = 1
    elapsed_ms: float = 0.0

    def render(self, max_cell: int = 200) -> str:
        """The result as the agent reads it: a pipe table, capped, with the truncation marker."""
        if not self.columns:
            changed = f"; {self.rowcount} rows affected" if self.rowcount >= 0 else ""
            return f"OK ({self.statements} statement{'s' if self.statements != 1 else ''}{changed})"

        def cell(v: Any) -> str:
            s = "NULL" if v is None else str(v)
            return s if len(s) <= max_cell else s[:max_cell] + "..."

        lines = [" | ".join(self.columns)]
        lines += [" | ".join(cell(v) for v in r) for r in self.rows]
        lines.append(f"({len(self.rows)} row{'s' if len(self.rows) != 1 else ''})")
        if self.truncated:
            lines.append(TRUNCATION_MARKER.format(cap=self.row_cap))
        return "\n".join(lines)


@runtime_checkable
class EpisodeDatabase(Protocol):
    dialect: Dialect
    db_id: str

    def execute(self, sql: str, *, timeout_s: float = 5.0, max_rows: int = 100) -> QueryResult:
        """Run one or more ';'-separated statements; return the last result set (or write count).
        Raises SqlError (QueryTimeout past timeout_s). Rows beyond max_rows are dropped and the
        result is marked truncated."""
        ...

    def fork(self) -> EpisodeDatabase:
        """An independent copy in the current state (env.fork())."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Engine(Protocol):
    dialect: Dialect

    def open(self, db_id: str) -> EpisodeDatabase:
        """A fresh private copy of database db_id, as committed under envs/sql/data/."""
        ...

    def close(self) -> None: ...
