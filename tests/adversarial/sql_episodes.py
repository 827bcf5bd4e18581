"""Shared episodes and an agent's moves for the SQL attacks (test_sql_*.py).

Why: every attack used to make, reset and close its own envs in a try/finally of its own (the
same six lines again and again). `episodes(n)` gives n envs reset on TASK; envs with the default
options come from the module's pool (env_pool.py; each module's autouse `shared_envs`, imported
into it, closes them at its end), envs with other engine options are made for the test.
PostgreSQL attacks use SMALL (320 MB data disk, 24 MB episode quota) so that filling is quick.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

import agentgym
from agentgym.envs.sql import register_sql_envs
from agentgym.envs.sql.bird import task_from_bird
from tests.adversarial.env_pool import EnvPool

register_sql_envs()

TASK = "retail_lite.top_entities.2022-top5"
SMALL = {"data_tmpfs": "320m", "memory": "1g", "episode_disk_mb": 24, "disk_reserve_mb": 64, "spares": 0}

POOL = EnvPool()


def make(runtime: str = "local", env_id: str = "sql-a-lite", **kw):
    if runtime == "docker":
        kw.setdefault("engine_options", SMALL)
    return agentgym.make(env_id, runtime=runtime, **kw)


@contextlib.contextmanager
def episodes(n: int = 1, runtime: str = "local", env_id: str = "sql-a-lite", **kw) -> Iterator[Any]:
    """One env (n=1) or a list of n, each reset on TASK: pooled with the default options, else
    made for the call and closed after it."""
    with contextlib.ExitStack() as stack:
        envs = []
        for _ in range(n):
            if kw:
                env = stack.enter_context(make(runtime, env_id, **kw))
            else:
                env = stack.enter_context(POOL.borrow((runtime, env_id), lambda: make(runtime, env_id)))
            envs.append(env)
            env.reset(options={"task_id": TASK})
        yield envs[0] if n == 1 else envs


@pytest.fixture(scope="module", autouse=True)
def shared_envs() -> Iterator[None]:
    """Import into a test module (autouse): closes the module's pooled envs at its end."""
    yield
    POOL.close()


def sql(env, text: str):
    """One execute_sql call: (text, reward, terminated, info)."""
    obs, reward, term, _, info = env.step({"name": "execute_sql", "arguments": {"sql": text}})
    return obs["text"], reward, term, info


def submit(env, text: str, tool: str = "submit"):
    obs, reward, term, _, info = env.step({"name": tool, "arguments": {"sql": text}})
    return obs["text"], reward, term, info


def play_gold(env) -> float:
    obs, info = env.reset(options={"task_id": TASK})
    policy = env.reference_policy()
    policy.reset(obs, info)
    total, done = 0.0, False
    while not done:
        obs, reward, term, trunc, info = env.step(policy.act(obs, info))
        assert "error" not in info and "agent_failure" not in info
        total += reward
        done = term or trunc
    return total


def rss_mb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 // 2**20


@contextlib.contextmanager
def bird_episode(gold: str, decimal: int = -1, order: bool = False) -> Iterator[Any]:
    """A c-Interact env on one BIRD-format task over retail_lite (gold results computed at grading)."""
    raw = {"instance_id": "attack_1", "selected_database": "retail_lite", "query": "q", "amb_user_query": "q",
           "sol_sql": [gold], "conditions": {"decimal": decimal, "order": order},
           "follow_up": {"query": "f", "sol_sql": ["SELECT 1"]}}
    with agentgym.make("sql-c-lite", runtime="local", tasks=[task_from_bird(raw, {})]) as env:
        env.reset(options={"task_id": "attack_1"})
        yield env
