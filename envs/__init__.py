"""Domain environments. Each registers here with a string entry point, so importing agentgym
registers every id (for gymnasium.make too) without importing any domain until it is made."""

from agentgym.registry import register

register(
    "shell-fixture",
    "agentgym.envs.shell.env:ShellEnv",
    description="Small shell tasks (files, text, a script run on hidden inputs) graded outside the sandbox; "
    "the core's fixture env.",
    tags=["fixture", "shell"],
)

from agentgym.envs.sql import register_sql_envs  # noqa: E402

register_sql_envs()
