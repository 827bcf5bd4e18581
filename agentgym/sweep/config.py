"""Sweep configuration: envs x agents x models x budgets, k samples per task.

A SweepConfig is loaded from YAML. Its cross product is a list of RunConfigs, each with a
stable id; every (config_id, task_id, sample) is one episode with a deterministic seed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from agentgym.budget import Budget
from agentgym.parallel import derive_seed
from agentgym.paths import beside


class EnvSel(BaseModel):
    """One env of the sweep (a registered id, or just the id as a string), with an optional task
    subset and constructor options."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(..., description="a registered env id (`agentgym list`), plugins' included")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="options passed to the env's constructor, as "
                                   "`-e KEY=VALUE` does on the command line (e.g. dataset, split, browser, tasks); "
                                   "checked before any episode runs; `agentgym info ID` lists them. A value that looks like a path (a '/', "
                                   "a leading '.' or '~', an extension: data.jsonl, ./data) is read from the config file's folder first")
    tasks: list[str] | None = Field(None, description="task ids to run (default: all of the env's tasks)")
    max_tasks: int | None = Field(None, ge=1, description="keep the first N tasks (after `tasks`)")
    k: int | None = Field(None, ge=1, description="samples per task for this env (default: the sweep's k)")

    #: the kwargs as the config file wrote them (relative paths unresolved): what the config id hashes,
    #: so a run and its config moved or copied elsewhere keep their ids (and resume)
    _written_kwargs: dict[str, Any] | None = PrivateAttr(None)

    @field_validator("kwargs")
    @classmethod
    def _no_runtime(cls, v: dict[str, Any]) -> dict[str, Any]:
        if "runtime" in v:
            raise ValueError("runtime is the sweep's (top-level `runtime:` or `--runtime`), not an env option")
        return v


class AgentSel(BaseModel):
    """An agent by registry name, with its constructor kwargs (e.g. simulated: {p: 0.3})."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., description="a registered agent (`agentgym run --help` lists them; plugins' included); "
                      "quote \"null\" in YAML, where a bare null is no value")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="the agent's constructor options (e.g. simulated: {p: 0.3})")
    label: str | None = Field(None, description="name shown in reports (default: name + kwargs)")

    def display(self) -> str:
        if self.label:
            return self.label
        if not self.kwargs:
            return self.name
        return self.name + "(" + ",".join(f"{k}={v}" for k, v in sorted(self.kwargs.items())) + ")"


class ModelSel(BaseModel):
    """Backend settings passed to model-driven agents (react, budget-aware) as kwargs. Any other key
    is passed on too (api_key, backend_kind, backend_kwargs, temperature, max_tokens, ...)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(..., description="the model name the endpoint serves (as in its /v1/models)")
    base_url: str | None = Field(None, description="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (vLLM); "
                                 "default: $OPENAI_BASE_URL, else http://127.0.0.1:8000/v1")
    label: str | None = Field(None, description="name shown in reports (default: model)")

    def display(self) -> str:
        return self.label or self.model

    def agent_kwargs(self) -> dict[str, Any]:
        return self.model_dump(exclude={"label"}, exclude_none=True)


class RunConfig(BaseModel):
    """One point of the cross product: env x agent x model x budget."""

    config_id: str
    env: str
    env_kwargs: dict[str, Any] = Field(default_factory=dict, description="the env entry's kwargs (constructor options)")
    agent: AgentSel
    model: ModelSel | None = None
    budget: Budget | None = None

    @property
    def agent_label(self) -> str:
        return self.agent.display()

    @property
    def model_label(self) -> str:
        return self.model.display() if self.model else "-"

    @property
    def budget_label(self) -> str:
        return budget_label(self.budget)


def budget_label(budget: Budget | None) -> str:
    if budget is None:
        return "default"
    d = budget.model_dump(exclude_none=True, exclude_defaults=False)
    d = {k: v for k, v in d.items() if v not in ({}, None)}
    if list(d) == ["max_turns"]:
        return f"turns={d['max_turns']}"
    return ",".join(f"{k.removeprefix('max_')}={v}" for k, v in sorted(d.items()))


class SweepConfig(BaseModel):
    """A sweep: every env x agent (x model, for agents that take one) x budget, k samples per task."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$", description="run name; the store goes under runs/<name>/")
    envs: list[EnvSel] = Field(..., min_length=1, description="env entries, or plain env ids; each env listed once")
    agents: list[AgentSel] = Field(..., min_length=1, description="agent entries, or plain agent names")
    models: list[ModelSel] = Field(default_factory=list, description="crossed with agents that take a model (react, budget-aware)")
    budgets: list[Budget | None] = Field(default_factory=lambda: [None], description="Budget dicts, or plain max_turns ints; null = env default")
    k: int = Field(1, ge=1, description="samples per task")
    seed: int = Field(0, description="base seed: each episode's seed derives from (seed, env, task, sample)")
    runtime: str = Field("local", description="docker, local or auto (docker when an engine answers); --runtime overrides")
    concurrency: int = Field(4, ge=1, description="episodes in flight")
    max_steps: int = Field(10_000, ge=1, description="safety net; the budget is what ends episodes")
    prices: str | None = Field(None, description="price table for episode costs: a shipped name ('default') or a YAML/JSON "
                               "path (relative paths: from the config file's folder, then the working directory)")

    @field_validator("envs", mode="before")
    @classmethod
    def _envs(cls, v: Any) -> Any:
        return [{"id": e} if isinstance(e, str) else e for e in (v or [])]

    @field_validator("envs")
    @classmethod
    def _envs_once(cls, v: list[EnvSel]) -> list[EnvSel]:
        seen = [e.id for e in v]
        twice = sorted({i for i in seen if seen.count(i) > 1})
        if twice:
            raise ValueError(f"env {', '.join(twice)} is listed more than once: list each env once (its tasks and kwargs "
                             "on that entry); to compare two option sets of one env, run two sweeps")
        return v

    @field_validator("agents", mode="before")
    @classmethod
    def _agents(cls, v: Any) -> Any:
        if any(a is None for a in (v or [])):
            raise ValueError('an agent is empty: YAML reads a bare null as no value; write the null agent quoted, "null"')
        return [{"name": a} if isinstance(a, str) else a for a in (v or [])]

    @field_validator("budgets", mode="before")
    @classmethod
    def _budgets(cls, v: Any) -> Any:
        if v is None:
            return [None]
        return [{"max_turns": b} if isinstance(b, int) else b for b in v]

    @classmethod
    def from_yaml(cls, path: str | Path) -> SweepConfig:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"sweep config {p} not found; pass the path to a YAML file (see demos/demo.yaml)")
        data = yaml.safe_load(p.read_text()) or {}
        if not isinstance(data, dict):  # ValueError, not TypeError: a bad file, reported like any other
            raise ValueError(f"{p}: a sweep config is a YAML mapping with name, envs, agents, k, ... (see demos/demo.yaml)")  # noqa: TRY004
        prices = data.get("prices")
        if isinstance(prices, str) and not Path(prices).is_absolute() and (p.parent / prices).is_file():
            data["prices"] = str((p.parent / prices).resolve())
        written = []
        for env in data.get("envs") or []:
            written.append(dict(env["kwargs"]) if isinstance(env, dict) and isinstance(env.get("kwargs"), dict) else None)
            if written[-1] is not None:
                env["kwargs"] = {k: beside(p.parent, v) for k, v in env["kwargs"].items()}
        try:
            cfg = cls.model_validate(data)
        except ValidationError as exc:
            raise ValueError(f"{p}: invalid sweep config: {_errors_line(exc)} (fields: {', '.join(cls.model_fields)}; "
                             "docs/sweep-config.md)") from exc
        for sel, kw in zip(cfg.envs, written):
            sel._written_kwargs = kw
        if cfg.prices is not None:
            try:
                cfg.price_table()
            except (OSError, ValueError) as exc:
                raise ValueError(f"{p}: prices: {exc}") from exc
        cfg.check(where=str(p))
        return cfg

    def check(self, where: str | None = None) -> None:
        """Every env id and agent name known (plugins' included) and every env option one the env
        takes, without building anything: ValueError with one line otherwise."""
        from agentgym import plugins
        from agentgym.agents import AGENTS
        from agentgym.registry import UnknownEnvError, check_options

        at = f"{where or 'sweep ' + self.name}: "
        for i, env in enumerate(self.envs):
            try:
                check_options(env.id, env.kwargs)
            except UnknownEnvError as exc:
                raise ValueError(f"{at}envs[{i}]: {exc}") from None
            except ImportError as exc:  # its domain's extra is not installed
                raise ValueError(f"{at}envs[{i}]: env {env.id} cannot be loaded ({type(exc).__name__}: {exc}); "
                                 "install the extra it needs, e.g. pip install 'agentgym[web]'") from None
            except ValueError as exc:
                raise ValueError(f"{at}envs[{i}].kwargs: {exc}") from None
        unknown = [a.name for a in self.agents if a.name not in AGENTS]
        if unknown:
            plugins.load(plugins.AGENT_GROUP)
            unknown = [n for n in unknown if n not in AGENTS]
        if unknown:
            raise ValueError(f"{at}no agent {unknown[0]!r}; available: {', '.join(sorted(AGENTS))}."
                             + plugins.failure_hint(plugins.AGENT_GROUP))

    def price_table(self) -> Any:
        """The PriceTable named by `prices`, or None."""
        from agentgym.models.pricing import PriceTable

        return PriceTable.load(self.prices) if self.prices is not None else None

    def configs(self) -> list[RunConfig]:
        """The cross product, in a stable order."""
        from agentgym import plugins
        from agentgym.agents import AGENTS

        if any(a.name not in AGENTS for a in self.agents):
            plugins.load(plugins.AGENT_GROUP)
        out: list[RunConfig] = []
        for env in self.envs:
            for agent in self.agents:
                if agent.name not in AGENTS:
                    raise ValueError(f"sweep {self.name}: no agent {agent.name!r}; available: {', '.join(sorted(AGENTS))}")
                takes_model = agent.name in ("react", "budget-aware") or agent.kwargs.get("model") is not None
                models: list[ModelSel | None] = list(self.models) if (takes_model and self.models) else [None]
                for model in models:
                    for budget in self.budgets:
                        key = {"env": env.id, "agent": agent.model_dump(), "model": model.model_dump() if model else None,
                               "budget": budget.model_dump() if budget else None}
                        id_kwargs = env._written_kwargs if env._written_kwargs is not None else env.kwargs
                        if id_kwargs:  # only then: the ids of sweeps stored before kwargs existed stay the same
                            key["env_kwargs"] = id_kwargs
                        h = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:8]
                        rc = RunConfig(config_id="", env=env.id, env_kwargs=env.kwargs, agent=agent, model=model, budget=budget)
                        rc.config_id = f"{env.id}/{rc.agent_label}/{rc.model_label}/{rc.budget_label}#{h}"
                        out.append(rc)
        return out


def _errors_line(exc: ValidationError, most: int = 3) -> str:
    """pydantic's errors as 'where: what; ...' (its own text spans lines and links its docs)."""
    errs = exc.errors()
    parts = [f"{'.'.join(str(x) for x in e.get('loc', ())) or 'config'}: {e.get('msg')}" for e in errs[:most]]
    return "; ".join(parts) + (f" (and {len(errs) - most} more)" if len(errs) > most else "")


class Episode(BaseModel):
    """One unit of work: (config, task, sample), with its seed."""

    config_id: str
    task_id: str
    sample: int
    seed: int


def episode_seed(base_seed: int, env_id: str, task_id: str, sample: int) -> int:
    """Seeds depend on (env, task, sample), not on the agent: configs see common random numbers."""
    return derive_seed(base_seed, env_id, task_id, sample)


__all__ = ["AgentSel", "EnvSel", "Episode", "ModelSel", "RunConfig", "SweepConfig", "budget_label", "episode_seed"]
