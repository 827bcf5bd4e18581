"""The SQL domain (BIRD-Interact style): generated databases with knowledge bases, ambiguous
tasks with a simulated user, two engines (PostgreSQL in a container for runtime="docker", the
default when Docker answers; embedded SQLite for runtime="local"), and two modes.

    from agentgym.envs.sql import register_sql_envs
    register_sql_envs()   # sql-c-lite, sql-a-lite, sql-c, sql-a
"""

from __future__ import annotations

from agentgym.registry import register

SQL_ENVS = {
    "sql-c-lite": ("agentgym.envs.sql.c_interact:CInteractEnv", "lite", "c-Interact (ask or submit) on the lite databases"),
    "sql-a-lite": ("agentgym.envs.sql.a_interact:AInteractEnv", "lite", "a-Interact (tools + coin budget) on the lite databases"),
    "sql-c": ("agentgym.envs.sql.c_interact:CInteractEnv", "full", "c-Interact (ask or submit) on the full databases"),
    "sql-a": ("agentgym.envs.sql.a_interact:AInteractEnv", "full", "a-Interact (tools + coin budget) on the full databases"),
}


def register_sql_envs() -> list[str]:
    """Register the SQL ids (string entry points: nothing heavy is imported until make())."""
    for env_id, (entry, suite, desc) in SQL_ENVS.items():
        register(env_id, entry, description=f"BIRD-Interact style SQL: {desc}; PostgreSQL (docker) or SQLite (local).",
                 kwargs={"suite": suite}, runtimes=["local", "docker"], tags=["sql", suite, env_id.split("-")[1] + "-interact"])
    return list(SQL_ENVS)
