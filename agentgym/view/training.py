"""Training curves of a run (its ``train_steps``: one row per optimizer step, written by
``agentgym train``), for the static report and the viewer alike.

Why its own module: the report shows them next to the evaluation tables and the viewer on a page
of its own, and both must draw the same thing: one chart per metric (env reward, pass rate, mean
turns, tokens, loss; a metric no step logged is named, not drawn empty) against the step, one line per algorithm, with
the chart code the scaling plots use (inline SVG, no network assets). A summary table says how
many steps each algorithm ran, where its reward started and ended, and how many episodes ended in
infrastructure errors (left out of the batch, never trained on as a zero). Above them: the run's
config as `agentgym train` stored it (model, env, split, the algorithm's settings), and a GRPO
step that carried no gradient (every group's rewards equal: TRL's frac_reward_zero_std = 1) is
counted; a run where every step was one says so in bold: such a run learned nothing, however long
it ran. "mean turns" counts the tool calls the env ran (env.step calls): in TRL's loop a reply
with no tool call never reaches the env, so an episode of one such reply has 0 turns.
"""

from __future__ import annotations

import html
import math
from typing import Any

from agentgym.view.charts import line_chart, y_ticks

#: (StepRow field, chart title, y axis label, fixed y range or None for round ticks from zero)
METRICS: list[tuple[str, str, str, tuple[float, float] | None]] = [
    ("reward", "env reward", "mean env reward per episode", None),
    ("pass_rate", "pass rate", "passed episodes / scored episodes", (0.0, 1.0)),
    ("mean_turns", "mean turns", "tool calls the env ran per scored episode", None),
    ("tokens", "tokens", "tokens (as the trainer logs them)", None),
]
LOSS = ("loss", "loss", "training loss", None)
# A metric no step logged (SFT logs loss and tokens, no reward) gets no empty chart: the section names it.


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _series(steps: list[Any], field: str) -> list[tuple[str, list[tuple[float, float, float, float]]]]:
    by_alg: dict[str, list[tuple[float, float, float, float]]] = {}
    for s in steps:
        v = getattr(s, field, None)
        by_alg.setdefault(s.algorithm, [])
        if v is not None and math.isfinite(v):  # a diverged step's inf has no place on an axis
            by_alg[s.algorithm].append((float(s.step), float(v), float(v), float(v)))
    return [(alg, pts) for alg, pts in by_alg.items() if pts]


def training_charts(steps: list[Any]) -> tuple[list[str], list[str]]:
    """(one chart per logged metric vs step, the titles of metrics no step logged); `steps` are
    trl_log.StepRow rows."""
    charts, missing = [], []
    for field, title, ylabel, fixed in [*METRICS, LOSS]:
        series = _series(steps, field)
        if not series:
            missing.append(title)
            continue
        y_range = fixed
        if fixed is None:
            ys = [p[1] for _, pts in series for p in pts]
            ticks = y_ticks(min(0.0, min(ys)), max(0.0, max(ys))) if any(ys) else [0.0, 1.0]  # all zero: 0 at the bottom
            y_range = (ticks[0], ticks[-1])
        charts.append(line_chart(title, series, "step", ylabel, y_range=y_range))
    return charts, missing


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def no_gradient(step: Any) -> bool:
    """Whether a GRPO step carried no gradient: every group's rewards were equal (TRL logs the
    fraction of groups with reward std 0 as frac_reward_zero_std)."""
    v = (getattr(step, "extra", None) or {}).get("frac_reward_zero_std")
    return isinstance(v, (int, float)) and v >= 1 - 1e-9


def gradient_note(steps: list[Any]) -> str:
    """A paragraph on GRPO steps with no gradient ('' when every step had one or none logged it)."""
    grpo = [s for s in steps if s.algorithm == "grpo" and "frac_reward_zero_std" in (s.extra or {})]
    flat = [s for s in grpo if no_gradient(s)]
    if not flat:
        return ""
    if len(flat) == len(grpo):
        at = "its one step" if len(grpo) == 1 else f"all {len(grpo)} steps"
        return (f"<p class=warn style=\"color:#a60\"><b>GRPO learned nothing: every group's rewards were equal</b> at {at} "
                "(frac_reward_zero_std = 1: zero advantages, no gradient). A model that passes some but not all rollouts "
                "of a task is what GRPO needs: SFT first, more rollouts per group, or a format_reward.</p>")
    return (f"<p class=warn style=\"color:#a60\">{len(flat)} of {len(grpo)} GRPO steps carried no gradient (every group's rewards equal, "
            f"frac_reward_zero_std = 1): steps {', '.join(str(s.step) for s in flat[:20])}{' ...' if len(flat) > 20 else ''}.</p>")


def config_table(config: dict[str, Any] | None) -> str:
    """The run's config as stored when training started (meta 'train_config'); '' when absent."""
    if not isinstance(config, dict):
        return ""
    tasks = config.get("tasks")
    rows = [("model", config.get("model")), ("env", config.get("env")), ("split", config.get("split")),
            ("tasks", f"{len(tasks)}: {', '.join(map(str, tasks[:8]))}{' ...' if len(tasks) > 8 else ''}" if isinstance(tasks, list) else tasks),
            ("env_kwargs", config.get("env_kwargs")), ("algorithm", config.get("algorithm")), ("sft_data", config.get("sft_data"))]
    settings = config.get("settings")
    if isinstance(settings, dict):
        rows.append((f"{config.get('algorithm')} settings", ", ".join(f"{k}={v}" for k, v in settings.items())))
    body = "".join(f"<tr><th class=l>{_e(k)}</th><td class=l>{_e(v)}</td></tr>" for k, v in rows if v not in (None, "", {}))
    return f"<table class=train-config>{body}</table>"


def training_table(steps: list[Any]) -> str:
    by_alg: dict[str, list[Any]] = {}
    for s in steps:
        by_alg.setdefault(s.algorithm, []).append(s)
    body = []
    for alg, rows in by_alg.items():
        rewards = [r.reward for r in rows if r.reward is not None]
        body.append(f"<tr><td class=l>{_e(alg)}</td><td>{len(rows)}</td><td>{rows[-1].step}</td>"
                    f"<td>{_fmt(rewards[0] if rewards else None)}</td><td>{_fmt(rewards[-1] if rewards else None)}</td>"
                    f"<td>{sum(r.episodes for r in rows)}</td><td>{sum(r.infra_errors for r in rows)}</td>"
                    f"<td>{sum(map(no_gradient, rows)) if alg == 'grpo' else '-'}</td>"
                    f"<td>{max(r.seconds for r in rows):.1f}</td></tr>")
    return ("<table class=training><tr><th class=l>algorithm</th><th>steps logged</th><th>last step</th><th>first reward</th>"
            "<th>last reward</th><th>episodes</th><th>infra errors (dropped, not trained on)</th>"
            "<th>steps with no gradient (all groups all-equal)</th><th>seconds</th></tr>"
            f"{''.join(body)}</table>")


def training_section(steps: list[Any], config: dict[str, Any] | None = None) -> str:
    """The run's config (`config`: meta 'train_config'), the table and the charts (no heading), or
    one line when the run has no training steps."""
    if not steps:
        return config_table(config) + "<p>No training steps in this run (`agentgym train` logs them).</p>"
    charts, missing = training_charts(steps)
    none = f" Not logged by this run: {', '.join(missing)}." if missing else ""
    return (f"<p>{len(steps)} logged steps. One chart per metric against the optimizer step, one line per algorithm; "
            "reward and pass rate are the env's own (a shaping reward is logged apart); tokens are what each trainer "
            f"logs (GRPO: mean completion length of the step's rollouts; SFT: TRL's running count of tokens trained on); "
            f"mean turns counts the tool calls the env ran (a reply with no tool call is 0 turns).{_e(none)}</p>"
            + config_table(config) + gradient_note(steps) + training_table(steps) + "".join(charts))


__all__ = ["METRICS", "config_table", "gradient_note", "no_gradient", "training_charts", "training_section", "training_table"]
