"""The results table of a run store: one row per config, infrastructure errors in a column of their
own and out of every score (what `agentgym sweep` and `agentgym eval` print).

Why a module: the CLI, scripts and reports should count the same way. An errored episode is
neither passed nor failed: pass@k's n is the scored samples only (metrics.task_outcomes), so a
row whose episodes all errored has no score at all rather than a 0.000 that reads as a weak agent.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agentgym.metrics import Estimate, pass_at_k_estimate, task_outcomes
from agentgym.sweep.store import Store


class ConfigRow(BaseModel):
    config_id: str
    env: str
    agent: str
    model: str
    budget: str
    tasks: int
    episodes: int
    passed: int
    failed: int
    errors: int = Field(..., description="infrastructure errors: neither passed nor failed, out of every score")
    k: int = Field(0, description="the largest k every scored task has samples for (0: nothing scored)")
    pass1: Estimate | None = None
    passk: Estimate | None = None
    mean_turns: float | None = Field(None, description="over scored episodes")
    mean_cost: float | None = Field(None, description="over all episodes (an errored one may have cost money too)")
    scored_tasks: int = Field(0, description="tasks with at least one scored episode")
    mean_cost_scored: float | None = Field(None, description="over scored episodes (the HTML report's column)")
    outcomes: dict[str, list[bool | None]] = Field(default_factory=dict, exclude=True, repr=False,
                                                   description="per task, its samples' outcomes (None: infra error), "
                                                               "for estimates built on this row (the report's pass^k)")


def config_rows(configs: list[dict[str, Any]], episodes: list[dict[str, Any]], n_boot: int = 1000) -> list[ConfigRow]:
    """Rows for `configs` (Store.configs()) from `episodes` (Store.episodes()): the one place episodes
    are grouped by config and errored ones split out (the HTML report builds on these rows)."""
    by_cfg: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ep in episodes:
        by_cfg[ep["config_id"]].append(ep)
    rows = []
    for c in configs:
        eps = by_cfg.get(c["config_id"], [])
        scored = [e for e in eps if not e["infra_error"]]
        passed = sum(bool(e["passed"]) for e in scored)
        row = ConfigRow(config_id=c["config_id"], env=c["env"], agent=c["agent"], model=c["model"], budget=c["budget"],
                        tasks=len({e["task_id"] for e in eps}), episodes=len(eps), passed=passed,
                        failed=len(scored) - passed, errors=len(eps) - len(scored))
        outcomes = task_outcomes(eps)
        counts = [sum(o is not None for o in v) for v in outcomes.values()]
        row.outcomes, row.scored_tasks = outcomes, sum(c > 0 for c in counts)
        if scored:
            row.k = min(c for c in counts if c > 0)
            row.pass1 = pass_at_k_estimate(outcomes, 1, n_boot=n_boot)
            row.passk = pass_at_k_estimate(outcomes, row.k, n_boot=n_boot) if row.k > 1 else row.pass1
            row.mean_turns = sum(e["turns"] for e in scored) / len(scored)
            row.mean_cost_scored = sum(e["cost"] or 0.0 for e in scored) / len(scored)
        if eps:
            row.mean_cost = sum(e["cost"] or 0.0 for e in eps) / len(eps)
        rows.append(row)
    return rows


def run_rows(run_dir: str | Path, n_boot: int = 1000) -> list[ConfigRow]:
    """Rows of a run directory written by `agentgym sweep` / `agentgym eval`."""
    store = Store.open_existing(run_dir)
    try:
        return config_rows(store.configs(), list(store.episodes()), n_boot=n_boot)
    finally:
        store.close()


def fmt(est: Estimate | None) -> str:
    if est is None:
        return "-"
    return f"{est.mean:.3f} [{est.low:.2f}, {est.high:.2f}]"


def rich_table(rows: list[ConfigRow], title: str | None = None) -> Any:
    """A rich Table of `rows` (pass@1 and pass@k with 95% intervals, errors apart); `title` is markup."""
    from rich.markup import escape
    from rich.table import Table

    table = Table("env", "agent", "model", "budget", "tasks", "passed", "failed", "errors", "pass@1", "k", "pass@k",
                  "turns", "cost", title=title, caption="errors: infrastructure errors, not scored (--retry-errors re-runs them)")
    for r in rows:
        # User text (labels, model names, budgets) is text, not markup: '[exp1] react' keeps its brackets.
        table.add_row(escape(r.env), escape(r.agent), escape(r.model), escape(r.budget), str(r.tasks), str(r.passed), str(r.failed),
                      f"[yellow]{r.errors}[/]" if r.errors else "0", fmt(r.pass1), str(r.k or "-"),
                      fmt(r.passk) if r.k > 1 else "-", "-" if r.mean_turns is None else f"{r.mean_turns:.1f}",
                      "-" if r.mean_cost is None else f"{r.mean_cost:.4g}")
    return table


__all__ = ["ConfigRow", "config_rows", "fmt", "rich_table", "run_rows"]
