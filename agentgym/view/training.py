"""Training curves of a run (its ``train_steps``: one row per optimizer step, written by
``agentgym train``), for the static report and the viewer alike.

Why its own module: the report shows them next to the evaluation tables and the viewer on a page
of its own, and both must draw the same thing: one chart per metric (env reward, pass rate, mean
turns, tokens, loss; a metric no step logged is named, not drawn empty) against the step, one line per algorithm, with
the chart code the scaling plots use (inline SVG, no network assets). A summary table says how
many steps each algorithm ran, where its reward started and ended, and how many episodes ended in
infrastructure errors (left out of the batch, never trained on as a zero).
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
    ("mean_turns", "mean turns", "turns per scored episode", None),
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
                    f"<td>{max(r.seconds for r in rows):.1f}</td></tr>")
    return ("<table class=training><tr><th class=l>algorithm</th><th>steps logged</th><th>last step</th><th>first reward</th>"
            "<th>last reward</th><th>episodes</th><th>infra errors (dropped, not trained on)</th><th>seconds</th></tr>"
            f"{''.join(body)}</table>")


def training_section(steps: list[Any]) -> str:
    """The table and the charts (no heading), or one line when the run has no training steps."""
    if not steps:
        return "<p>No training steps in this run (`agentgym train` logs them).</p>"
    charts, missing = training_charts(steps)
    none = f" Not logged by this run: {', '.join(missing)}." if missing else ""
    return (f"<p>{len(steps)} logged steps. One chart per metric against the optimizer step, one line per algorithm; "
            "reward and pass rate are the env's own (a shaping reward is logged apart); tokens are what each trainer "
            f"logs (GRPO: mean completion length of the step's rollouts; SFT: TRL's running count of tokens trained on).{_e(none)}</p>"
            + training_table(steps) + "".join(charts))


__all__ = ["METRICS", "training_charts", "training_section", "training_table"]
