"""Shared episodes and an agent's moves for the time-series attacks (test_timeseries_*.py).

`episode(task)` resets a pooled env of the task's id (env_pool.py: a time-series env and its
first reset cost seconds) on the task and gives it back afterwards; each module closes the
pool at its end (the autouse `shared_envs` fixture, imported into the module)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

import agentgym
from agentgym.envs.timeseries.catalog import all_specs
from tests.adversarial.env_pool import EnvPool

SPECS = {s.id: s for s in all_specs()}
ROLLING = "eng-translate-rolling-pandas-to-numpy"
SES = "eng-translate-ses-numpy-to-pandas"
IMPUTE = "imp-scattered-d-10"

POOL = EnvPool()


def _env_id(task: str) -> str:
    return "ts-engineering" if task.startswith("eng-") else "ts-impute" if task.startswith("imp-") else "ts-forecast"


@contextlib.contextmanager
def episode(task: str, runtime: str = "local") -> Iterator[Any]:
    """A pooled env of the task's id, reset on the task (max_turns 50)."""
    env_id = _env_id(task)
    with POOL.borrow((env_id, runtime), lambda: agentgym.make(env_id, runtime=runtime)) as env:
        env.reset(options={"task_id": task, "max_turns": 50})
        yield env


@pytest.fixture(scope="module", autouse=True)
def shared_envs() -> Iterator[None]:
    """Import into a test module (autouse): closes the module's pooled envs at its end."""
    yield
    POOL.close()


def call(env, name: str, **arguments):
    return env.step({"name": name, "arguments": arguments})


def zero(step, *expect: str) -> str:
    """The submit step ended the episode with reward 0 as an agent failure naming one of `expect`."""
    obs, reward, terminated, _truncated, info = step
    assert terminated and reward == 0.0, (reward, obs["text"][:500])
    assert "error" not in info, info.get("error")
    reason = info.get("agent_failure", "")
    assert reason and any(e in reason for e in expect), (reason, expect)
    return reason


def submit_module(env, path: str, source: str, *expect: str) -> str:
    call(env, "write_file", path=path, content=source)
    return zero(call(env, "submit"), *expect)


def neighbour(runtime: str) -> float:
    """A reference episode beside an attack: it must finish normally."""
    with episode(IMPUTE, runtime) as env:
        for path, text in env.instance.reference_files.items():
            call(env, "write_file", path=path, content=text)
        call(env, "bash", command=env.instance.reference_command)
        return call(env, "submit")[1]
