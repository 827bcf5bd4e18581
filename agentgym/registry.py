"""make / register / list_envs on top of gymnasium's registry.

Namespacing: an agentgym env with short id ``sql-lite`` is registered in gymnasium as
``agentgym/sql-lite-v0``. ``agentgym.make("sql-lite")`` and
``gymnasium.make("agentgym/sql-lite-v0")`` (after ``import agentgym``) build the same env;
agentgym.make returns the bare AgentEnv (so fork(), tools and task_ids are at hand), while
gymnasium.make adds gymnasium's usual wrappers.
"""

from __future__ import annotations

import difflib
from typing import Any

import gymnasium
from gymnasium.envs.registration import load_env_creator
from pydantic import BaseModel, Field

NAMESPACE = "agentgym"


class EnvInfo(BaseModel):
    id: str
    gym_id: str
    entry_point: str
    description: str = ""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    runtimes: list[str] = Field(default_factory=lambda: ["local", "docker"], description="sandbox runtimes it runs on")


class UnknownEnvError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0])


_ENVS: dict[str, EnvInfo] = {}


def gym_id(short_id: str, version: int = 0) -> str:
    return f"{NAMESPACE}/{short_id}-v{version}"


def register(
    id: str,
    entry_point: str,
    *,
    description: str = "",
    kwargs: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    runtimes: list[str] | None = None,
    version: int = 0,
    nondeterministic: bool = False,
) -> EnvInfo:
    """Register an env under a short id (and in gymnasium as agentgym/<id>-v<version>).

    entry_point is "module:Class" and is imported only when the env is made, so registering a
    domain costs nothing until it is used.
    """
    if "/" in id or id.endswith(tuple(f"-v{i}" for i in range(10))):
        raise ValueError(f"give the short id (like 'sql-lite'), not {id!r}")
    gid = gym_id(id, version)
    if gid in gymnasium.registry:
        del gymnasium.registry[gid]  # re-registration replaces, as a user redefining a task expects
    gymnasium.register(
        id=gid,
        entry_point=entry_point,
        kwargs=dict(kwargs or {}, env_id=id),
        nondeterministic=nondeterministic,
    )
    info = EnvInfo(id=id, gym_id=gid, entry_point=entry_point, description=description,
                   kwargs=dict(kwargs or {}), tags=list(tags or []),
                   runtimes=list(runtimes or ["local", "docker"]))
    _ENVS[id] = info
    return info


def list_envs() -> list[str]:
    return sorted(_ENVS)


def env_info(id: str) -> EnvInfo:
    return _ENVS[_resolve(id)]


def _resolve(id: str) -> str:
    if id in _ENVS:
        return id
    for short, info in _ENVS.items():  # accept the gymnasium form too
        if id in (info.gym_id, f"{NAMESPACE}/{short}"):
            return short
    close = difflib.get_close_matches(id.removeprefix(f"{NAMESPACE}/"), list(_ENVS), n=5, cutoff=0.4)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownEnvError(f"no agentgym env {id!r}.{hint} Registered: {', '.join(list_envs()) or '(none)'}")


def make(id: str, **kwargs: Any):
    """Build a registered env. kwargs override the registered ones (runtime=, budget=, ...)."""
    short = _resolve(id)
    info = _ENVS[short]
    spec = gymnasium.spec(info.gym_id)
    creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    env = creator(**{**spec.kwargs, **kwargs})
    env.spec = spec
    return env
