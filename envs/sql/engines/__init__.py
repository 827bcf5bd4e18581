"""Database engines behind the SQL env: the Engine protocol and its implementations."""

from agentgym.envs.sql.engines.base import (
    TRUNCATION_MARKER,
    Engine,
    EpisodeDatabase,
    QueryResult,
    QueryTimeout,
    QuotaExceeded,
    SqlError,
)
from agentgym.envs.sql.engines.sqlite import SqliteDatabase, SqliteEngine


def make_engine(name: str = "sqlite", **kwargs: object) -> Engine:
    """An engine by name: 'sqlite' (embedded) or 'postgres' (a container, started on first open()).
    Constructing either is cheap and starts nothing."""
    if name == "sqlite":
        return SqliteEngine(**kwargs)  # type: ignore[arg-type]
    if name == "postgres":
        from agentgym.envs.sql.engines.postgres import PostgresEngine

        return PostgresEngine(**kwargs)  # type: ignore[return-value]
    raise ValueError(f"unknown SQL engine {name!r}; choose 'sqlite' or 'postgres'")


__all__ = [
    "TRUNCATION_MARKER", "Engine", "EpisodeDatabase", "QueryResult", "QueryTimeout", "QuotaExceeded", "SqlError",
    "SqliteDatabase", "SqliteEngine", "make_engine",
]
