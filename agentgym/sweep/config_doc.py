"""The sweep config reference (docs/sweep-config.md), generated from the pydantic models.

Why generated: a hand-written reference drifts from agentgym/sweep/config.py the first time a field
is added; this one is written from the models' fields, types, defaults and descriptions, and
tests/test_sweep_config_doc.py fails when the committed file differs from what this writes (and
loads the example through SweepConfig, so the example cannot rot either).

    python -m agentgym.sweep.config_doc            # rewrite docs/sweep-config.md
    python -m agentgym.sweep.config_doc --check    # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from agentgym.budget import Budget
from agentgym.sweep.config import AgentSel, EnvSel, ModelSel, SweepConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "sweep-config.md"
REGENERATE = "python -m agentgym.sweep.config_doc"

EXAMPLE = """\
# Two model-driven agents over an OpenAI-compatible endpoint, the null baseline, four budgets.
name: qwen-mixed
runtime: docker            # or local / auto; `agentgym sweep --runtime` overrides
seed: 0
k: 4                       # samples per task: pass@1..pass@4
concurrency: 8
envs:
  - shell-fixture          # a plain id: every task, the sweep's k
  - {id: sql-c-lite, max_tasks: 10}
  - id: swe-verified
    kwargs:                # constructor options, as `-e KEY=VALUE` (see `agentgym info swe-verified`)
      dataset: swe_verified.jsonl     # relative paths: from this file's folder first
      instance_ids: [astropy__astropy-12907, django__django-11099]
    k: 2
  - {id: web-lite, kwargs: {browser: container}}
agents:
  - "null"                 # quoted: a bare null is YAML's empty value
  - {name: react, label: react}
  - {name: budget-aware, kwargs: {temperature: 0.2}}
models:                    # crossed with react and budget-aware only
  - {model: Qwen/Qwen2.5-7B-Instruct, base_url: "http://127.0.0.1:8000/v1", label: qwen-7b}   # vLLM
  - {model: gpt-4o-mini, base_url: "https://api.openai.com/v1"}   # key: $OPENAI_API_KEY
budgets: [10, 20, {max_turns: 30, max_cost: 0.5}, null]
prices: default
"""

NOTES = """\
## Notes

- **How many episodes.** Every env x agent x budget is one config; agents that take a model
  (react, budget-aware, or any agent given a `model` kwarg) are crossed with every `models:` entry
  too. Each config runs `k` samples (the env's `k`, else the sweep's) of each selected task.
- **Config ids.** Each config has a stable id (`env/agent/model/budget#hash` of its settings). Changing
  an entry's settings (kwargs, model, budget) makes a new config; re-running an unchanged config
  resumes it (stored episodes are skipped).
- **Env options.** `kwargs:` are checked against the env's constructor when the config loads: an
  unknown one is one line naming the options that exist, before any episode runs.
  `agentgym info ID` prints an env's options; `-e KEY=VALUE` passes the same on the command line.
  `runtime` is not an env option: it is the sweep's.
- **Quoting.** YAML reads a bare `null` (and `~`) as no value: the null agent is `"null"`. In
  `budgets:` a bare `null` is meant: the env's default budget.
- **Secrets.** The config is stored with the run (`runs/<name>/results.sqlite`), the values of
  secret-looking keys (`api_key`, `token`, `password`, `authorization`, ...) replaced by
  `<redacted>`. Still give API keys through `OPENAI_API_KEY`, not an `api_key:` in `models:`: a key
  written there is part of its config's id, so a changed key makes a new config (a resume runs its
  episodes again).
- **Plugins.** Env ids and agent names of installed plugins (entry points `agentgym.envs`,
  `agentgym.agents`) work here; a script's are imported with `agentgym --import my_envs sweep ...`.
"""


def _type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        names = [_type(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin in (list, tuple, set):
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping {_type(args[0])} -> {_type(args[1])}" if args else "mapping"
    if origin is typing.Literal:
        return " / ".join(repr(a) for a in args)
    if annotation is Any:
        return "any"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return f"`{_yaml(field.default_factory())}`"
    return f"`{_yaml(field.default)}`" if field.default is not PydanticUndefined else ""


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _constraints(field: Any) -> str:
    out = []
    for m in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "at least"),
                           ("pattern", "matches")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sign} `{v}`" if attr != "min_length" else f"{sign} {v} item{'s' if v != 1 else ''}")
    return f" ({', '.join(out)})" if out else ""


def table(model: type[BaseModel]) -> str:
    rows = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        desc = (field.description or "").replace("|", "\\|") + _constraints(field)
        rows.append(f"| `{name}` | {_type(field.annotation)} | {_default(field)} | {desc.strip()} |")
    extra = model.model_config.get("extra")
    if extra == "allow":
        rows.append("| *any other key* | any | | passed to the agent as a keyword argument |")
    return "\n".join(rows)


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def agents_table() -> str:
    from agentgym.agents import AGENTS

    rows = ["| name | what |", "|---|---|"]
    rows += [f"| `{name}` | {desc} |" for name, (factory, desc) in sorted(AGENTS.items())
             if getattr(factory, "__module__", "").startswith("agentgym.")]  # not plugins' (this install's)
    return "\n".join(rows)


def render() -> str:
    blocks = [
        "# Sweep config reference",
        f"<!-- Generated by `{REGENERATE}` from the models in agentgym/sweep/config.py. Edit those, then "
        "regenerate; tests/test_sweep_config_doc.py fails when this file is out of date. -->",
        "`agentgym sweep CONFIG.yaml` runs every (config, task, sample) episode of a sweep into a resumable "
        "store under `runs/<name>/`; re-running the same command resumes it. A config is one YAML mapping:",
        f"```yaml\n{EXAMPLE.rstrip()}\n```",
        f"## Top level\n\n{_doc(SweepConfig)} Unknown keys are refused.\n\n{table(SweepConfig)}",
        f"## `envs:` entries\n\n{_doc(EnvSel)} A plain string is the id.\n\n{table(EnvSel)}",
        f"## `agents:` entries\n\n{_doc(AgentSel)} A plain string is the name.\n\n{table(AgentSel)}\n\n"
        f"Built-in agents (plugins add theirs):\n\n{agents_table()}",
        f"## `models:` entries\n\n{_doc(ModelSel)}\n\n{table(ModelSel)}",
        f"## `budgets:` entries\n\n{_doc(Budget)} A plain integer is `max_turns`; `null` is the env's default "
        f"budget. Unknown keys are refused.\n\n{table(Budget)}",
        NOTES.rstrip(),
    ]
    return "\n\n".join(blocks) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file differs")
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date; run `{REGENERATE}`", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
