"""make / register / list_envs on top of gymnasium's registry.

Namespacing: an agentgym env with short id ``sql-lite`` is registered in gymnasium as
``agentgym/sql-lite-v0``. ``agentgym.make("sql-lite")`` and
``gymnasium.make("agentgym/sql-lite-v0")`` (after ``import agentgym``) build the same env;
agentgym.make returns the bare AgentEnv (so fork(), tools and task_ids are at hand), while
gymnasium.make adds gymnasium's usual wrappers.

Envs of other packages come in through the ``agentgym.envs`` entry-point group (agentgym.plugins),
loaded the first time a name is not found here or the whole list is asked for. Options given to
make() are checked against the entry point's signature first (agentgym.env_options), so a
misspelt one is one line naming the options that exist.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import gymnasium
from gymnasium.envs.registration import load_env_creator
from pydantic import BaseModel, Field

from agentgym import env_options as _opts
from agentgym import plugins
from agentgym.env_options import EnvOptionError  # re-exported (__all__) for callers that catch it

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
    entry_point: str | Callable[..., Any],
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
    domain costs nothing until it is used; a script may pass the class (or a factory) itself.
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
    text = entry_point if isinstance(entry_point, str) else \
        f"{getattr(entry_point, '__module__', '?')}:{getattr(entry_point, '__qualname__', repr(entry_point))}"
    info = EnvInfo(id=id, gym_id=gid, entry_point=text, description=description,
                   kwargs=dict(kwargs or {}), tags=list(tags or []),
                   runtimes=list(runtimes or ["local", "docker"]))
    _ENVS[id] = info
    return info


def list_envs() -> list[str]:
    """Every registered short id, plugins' included."""
    plugins.load(plugins.ENV_GROUP)
    return sorted(_ENVS)


def env_info(id: str) -> EnvInfo:
    return _ENVS[_resolve(id)]


def _resolve(id: str) -> str:
    found = _find(id)
    if found is None:  # not built in or registered in this process: maybe a plugin's
        plugins.load(plugins.ENV_GROUP)
        found = _find(id)
    if found is not None:
        return found
    close = difflib.get_close_matches(id.removeprefix(f"{NAMESPACE}/"), list(_ENVS), n=5, cutoff=0.4)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownEnvError(f"no agentgym env {id!r}.{hint} Registered: {', '.join(list_envs()) or '(none)'}."
                          + plugins.failure_hint(plugins.ENV_GROUP))


def _find(id: str) -> str | None:
    if id in _ENVS:
        return id
    for short, info in _ENVS.items():  # accept the gymnasium form too
        if id in (info.gym_id, f"{NAMESPACE}/{short}"):
            return short
    return None


def _creator(short: str) -> tuple[Any, Any]:
    spec = gymnasium.spec(_ENVS[short].gym_id)
    creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    return spec, creator


def env_options(id: str) -> tuple[dict[str, Any], bool]:
    """The options env `id` takes: ({name: default or '(required)'}, closed). closed=False: its entry
    point passes **kwargs on where they cannot be followed, so other names may be accepted too.
    Imports the env's module (not its data)."""
    return _opts.options_of(_creator(_resolve(id))[1])


def describe_options(id: str) -> str:
    """env_options(id) as one line: name=default, ... (for `agentgym info`)."""
    return _opts.describe(*env_options(id))


def check_options(id: str, kwargs: dict[str, Any]) -> None:
    """Raise EnvOptionError (a ValueError) when env `id` takes no option of that name."""
    short = _resolve(id)
    _opts.check(short, _creator(short)[1], kwargs)


def _without_foreign_runtime(short: str, creator: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """kwargs less `runtime` (which the CLI, sweeps and validate always pass) when the env takes no
    such option: it has no sandbox to place and runs in this process, so auto and local mean it;
    any other runtime is one clear error."""
    if "runtime" not in kwargs:
        return kwargs
    opts, closed = _opts.options_of(creator)
    if not closed or "runtime" in opts:
        return kwargs
    if kwargs["runtime"] not in (None, "auto", "local"):
        raise EnvOptionError(f"env {short} takes no runtime option (it runs in this process), so runtime "
                             f"{kwargs['runtime']!r} cannot apply; use auto or local (see `agentgym info {short}`)")
    return {k: v for k, v in kwargs.items() if k != "runtime"}


def make(id: str, **kwargs: Any):
    """Build a registered env. kwargs override the registered ones (runtime=, budget=, ...)."""
    short = _resolve(id)
    spec, creator = _creator(short)
    kwargs = _without_foreign_runtime(short, creator, kwargs)
    _opts.check(short, creator, kwargs)
    try:
        env = creator(**{**spec.kwargs, **kwargs})
    except TypeError as exc:
        better = _opts.explain_type_error(short, exc, kwargs, creator)
        if better is None:
            raise
        raise better from exc
    env.spec = spec
    return env


__all__ = ["NAMESPACE", "EnvInfo", "EnvOptionError", "UnknownEnvError", "check_options", "describe_options", "env_info",
           "env_options", "gym_id", "list_envs", "make", "register"]
