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

from agentgym.envs.swe import register_swe_envs  # noqa: E402
from agentgym.envs.web import register_web_envs  # noqa: E402
from agentgym.envs.timeseries import register_timeseries_envs  # noqa: E402

register_swe_envs()
register_web_envs()
register_timeseries_envs()
