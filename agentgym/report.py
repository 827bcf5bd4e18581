"""A static, self-contained HTML report of a sweep store (no network assets, no plotting deps).

Tables per env x agent x model x budget (pass@1, pass@k, pass^k with confidence intervals, mean turns,
mean cost, infra errors), scaling plots drawn as inline SVG (score vs k, score vs turns budget,
score vs cost) and a trajectory viewer (one collapsible <details> per episode, all text escaped).
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from agentgym.metrics import Estimate, pass_at_k_estimate, pass_hat_k_estimate

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.ci{color:#777;font-size:12px}
details{border:1px solid #ddd;margin:4px 0;padding:4px 8px;border-radius:4px}summary{cursor:pointer}
pre{white-space:pre-wrap;background:#f8f8f8;padding:6px;margin:4px 0;font-size:12px;max-height:30em;overflow:auto}
.pass{color:#2a2}.fail{color:#c22}.err{color:#a60}.plots{display:flex;flex-wrap:wrap;gap:1em}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(est: Estimate | None) -> str:
    if est is None:
        return "-"
    mark = "" if est.method in ("bootstrap", "hybrid") else f'<sup title="{_e(est.method)} interval">{_e(est.method[0])}</sup>'
    return f"{est.mean:.3f} <span class=ci>[{est.low:.3f}, {est.high:.3f}]{mark}</span>"


def _ks(n_min: int) -> list[int]:
    ks, k = [], 1
    while k <= n_min:
        ks.append(k)
        k *= 2
    if n_min not in ks and n_min > 0:
        ks.append(n_min)
    return ks


def summarize(configs: list[dict[str, Any]], episodes: list[dict[str, Any]], n_boot: int = 1000) -> list[dict[str, Any]]:
    """One row per config with its metrics; k is the smallest sample count over its tasks."""
    by_cfg: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ep in episodes:
        by_cfg[ep["config_id"]].append(ep)
    rows = []
    for c in configs:
        eps = by_cfg.get(c["config_id"], [])
        results: dict[str, list[bool]] = defaultdict(list)
        for ep in eps:
            results[ep["task_id"]].append(bool(ep["passed"]))
        row = {**c, "episodes": len(eps), "tasks": len(results), "k": 0, "pass1": None, "passk": None, "passhatk": None,
               "curve": [], "turns": None, "cost": None, "infra": sum(e["infra_error"] for e in eps)}
        if results:
            k = min(len(v) for v in results.values())
            row["k"] = k
            row["pass1"] = pass_at_k_estimate(results, 1, n_boot=n_boot)
            row["passk"] = pass_at_k_estimate(results, k, n_boot=n_boot)
            row["passhatk"] = pass_hat_k_estimate(results, k, n_boot=n_boot)
            row["curve"] = [(kk, pass_at_k_estimate(results, kk, n_boot=n_boot)) for kk in _ks(k)]
            row["turns"] = sum(e["turns"] for e in eps) / len(eps)
            row["cost"] = sum(e["cost"] or 0.0 for e in eps) / len(eps)
        rows.append(row)
    return rows


# -- SVG --------------------------------------------------------------------------------------
def svg_plot(title: str, series: list[tuple[str, list[tuple[float, float, float, float]]]], xlabel: str, ylabel: str = "pass rate",
             logx: bool = False, w: int = 520, h: int = 320) -> str:
    """Lines with error bars: series = [(label, [(x, y, low, high), ...])]. y is in [0, 1]."""
    import math

    pts = [p for _, s in series for p in s]
    ml, mr, mt, mb = 50, 150, 30, 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{_e(title)}">',
           f'<text x="{ml}" y="18" font-size="14" font-weight="bold">{_e(title)}</text>']
    if not pts:
        out.append(f'<text x="{ml}" y="{h // 2}" font-size="12">no data</text></svg>')
        return "".join(out)
    tx = (lambda v: math.log2(max(v, 1e-9))) if logx else (lambda v: v)
    xs = [tx(p[0]) for p in pts]
    x0, x1 = min(xs), max(xs)
    if x1 - x0 < 1e-12:
        x0, x1 = x0 - 1, x1 + 1
    pw, ph = w - ml - mr, h - mt - mb

    def X(v: float) -> float:
        return ml + (tx(v) - x0) / (x1 - x0) * pw

    def Y(v: float) -> float:
        return mt + (1 - max(0.0, min(1.0, v))) * ph

    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for yv in (0, 0.25, 0.5, 0.75, 1.0):
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{Y(yv):.1f}" y2="{Y(yv):.1f}" stroke="#eee"/>'
                   f'<text x="{ml - 6}" y="{Y(yv) + 4:.1f}" font-size="10" text-anchor="end">{yv:g}</text>')
    ticks = sorted({p[0] for p in pts})
    if len(ticks) > 8:
        ticks = ticks[:: max(1, len(ticks) // 8)]
    for xv in ticks:
        out.append(f'<text x="{X(xv):.1f}" y="{mt + ph + 14}" font-size="10" text-anchor="middle">{xv:g}</text>')
    out.append(f'<text x="{ml + pw / 2:.0f}" y="{h - 6}" font-size="11" text-anchor="middle">{_e(xlabel)}</text>'
               f'<text x="12" y="{mt + ph / 2:.0f}" font-size="11" transform="rotate(-90 12 {mt + ph / 2:.0f})" text-anchor="middle">{_e(ylabel)}</text>')
    for i, (label, s) in enumerate(series):
        col = PALETTE[i % len(PALETTE)]
        s = sorted(s)
        if len(s) > 1:
            d = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y, _, _ in s)
            out.append(f'<polyline points="{d}" fill="none" stroke="{col}" stroke-width="2"/>')
        for x, y, lo, hi in s:
            out.append(f'<line x1="{X(x):.1f}" x2="{X(x):.1f}" y1="{Y(lo):.1f}" y2="{Y(hi):.1f}" stroke="{col}" opacity="0.6"/>'
                       f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3" fill="{col}"><title>{_e(label)}: {y:.3f} [{lo:.3f}, {hi:.3f}]</title></circle>')
        ly = mt + 12 + 14 * i
        out.append(f'<rect x="{ml + pw + 8}" y="{ly - 8}" width="10" height="10" fill="{col}"/>'
                   f'<text x="{ml + pw + 22}" y="{ly + 1}" font-size="10">{_e(label[:26])}</text>')
    out.append("</svg>")
    return "".join(out)


def _plots(rows: list[dict[str, Any]]) -> list[str]:
    rows = [r for r in rows if r["pass1"] is not None]
    vs_k = [(f'{r["env"]} {r["agent"]} {r["model"] if r["model"] != "-" else ""} {r["budget"]}'.replace("  ", " "),
             [(k, e.mean, e.low, e.high) for k, e in r["curve"]]) for r in rows]
    by_series: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for r in rows:
        if r["max_turns"]:
            by_series[f'{r["env"]} {r["agent"]} {r["model"] if r["model"] != "-" else ""}'.strip()].append(
                (r["max_turns"], r["pass1"].mean, r["pass1"].low, r["pass1"].high))
    costs_known = any((r["cost"] or 0) > 0 for r in rows)
    by_cost: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for r in rows:
        x = r["cost"] if costs_known else r["turns"]
        by_cost[f'{r["env"]} {r["agent"]}'].append((x, r["pass1"].mean, r["pass1"].low, r["pass1"].high))
    return [
        svg_plot("pass@k vs k", vs_k, "k (samples per task)", "pass@k", logx=True),
        svg_plot("pass@1 vs turn budget", list(by_series.items()), "max turns"),
        svg_plot("pass@1 vs cost", list(by_cost.items()), "mean cost per episode" if costs_known else "mean turns per episode (no cost recorded)"),
    ]


def _table(rows: list[dict[str, Any]]) -> str:
    head = ("<tr><th class=l>env</th><th class=l>agent</th><th class=l>model</th><th class=l>budget</th><th>tasks</th><th>episodes</th>"
            "<th>k</th><th>pass@1</th><th>pass@k</th><th>pass^k</th><th>mean turns</th><th>mean cost</th><th>infra errors</th></tr>")
    body = []
    for r in rows:
        turns = "-" if r["turns"] is None else f'{r["turns"]:.2f}'
        cost = "-" if r["cost"] is None else f'{r["cost"]:.4g}'
        body.append(f'<tr><td class=l>{_e(r["env"])}</td><td class=l>{_e(r["agent"])}</td><td class=l>{_e(r["model"])}</td>'
                    f'<td class=l>{_e(r["budget"])}</td><td>{r["tasks"]}</td><td>{r["episodes"]}</td><td>{r["k"]}</td>'
                    f'<td>{_fmt(r["pass1"])}</td><td>{_fmt(r["passk"])}</td><td>{_fmt(r["passhatk"])}</td>'
                    f'<td>{turns}</td><td>{cost}</td><td>{r["infra"]}</td></tr>')
    return f"<table>{head}{''.join(body)}</table>"


def _trajectory(ep: dict[str, Any], traj: dict[str, Any]) -> str:
    status = ("<span class=err>infra error</span>" if ep["infra_error"] else
              "<span class=pass>passed</span>" if ep["passed"] else "<span class=fail>failed</span>")
    parts = [(f'<details><summary>{_e(ep["config_id"])} · task {_e(ep["task_id"])} · sample {ep["sample"]} · {status} · '
              f'{ep["turns"]} turns · reward {ep["reward"]:g}</summary>'),
             f'<div><b>first observation</b><pre>{_e(traj.get("first_observation", ""))}</pre>']
    for i, s in enumerate(traj.get("steps", []), 1):
        parts.append(f'<b>turn {i} action</b><pre>{_e(json.dumps(s.get("action"), ensure_ascii=False)[:4000])}</pre>'
                     f'<b>observation</b> (reward {s.get("reward", 0):g})<pre>{_e(str(s.get("observation", ""))[:8000])}</pre>')
    if traj.get("error"):
        parts.append(f'<b>error</b><pre>{_e(traj["error"])}</pre>')
    parts.append("</div></details>")
    return "".join(parts)


def render(configs: list[dict[str, Any]], episodes: list[dict[str, Any]], title: str = "agentgym sweep",
           max_trajectories: int = 500, prices: dict[str, Any] | None = None) -> str:
    rows = summarize(configs, episodes)
    envs = sorted({r["env"] for r in rows})
    parts = [f"<!doctype html><html><head><meta charset=utf-8><title>{_e(title)}</title><style>{CSS}</style></head><body>",
             (f"<h1>{_e(title)}</h1><p>{len(episodes)} episodes over {len(rows)} configs. Scores are means over tasks with 95% "
              "intervals: for pass@k and pass^k the union of a percentile bootstrap over tasks and a binomial bootstrap "
              "within tasks (the task bootstrap alone undercovers when most tasks score exactly 1 or 0), for the rest "
              "a bootstrap over tasks; where every task scores the same (all pass, or none) a bootstrap would collapse "
              "to a point, and a Wilson interval over tasks is shown instead (marked <sup>w</sup>); "
              "pass@k is unbiased (Chen et al.), pass^k = C(c,k)/C(n,k); k is the samples per task.</p>")]
    if prices:
        parts.append(f"<p>Costs in {_e(prices.get('currency', ''))} from price table {_e(prices.get('version', '?'))}"
                     f"{' of ' + _e(prices['date']) if prices.get('date') else ''} ({_e(prices.get('source', ''))}).</p>")
    for env in envs:
        parts.append(f"<h2>{_e(env)}</h2>" + _table([r for r in rows if r["env"] == env]))
    parts.append("<h2>Scaling</h2><div class=plots>" + "".join(_plots(rows)) + "</div>")
    shown = [e for e in episodes if "trajectory" in e][:max_trajectories]
    parts.append(f"<h2>Trajectories</h2><p>{len(shown)} of {len(episodes)} episodes shown.</p>")
    parts.extend(_trajectory(e, e["trajectory"]) for e in shown)
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: str | Path, out: str | Path | None = None, max_trajectories: int = 500) -> Path:
    """Read a sweep store and write its HTML report (default RUN_DIR/report.html)."""
    from agentgym.sweep.store import Store

    store = Store.open_existing(run_dir)
    try:
        sweep = store.meta("sweep") or {}
        prices = store.meta("prices")
        configs = store.configs()
        episodes = list(store.episodes(with_trajectory=True))
    finally:
        store.close()
    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(configs, episodes, title=f"agentgym sweep: {sweep.get('name', Path(run_dir).name)}",
                           max_trajectories=max_trajectories, prices=prices), encoding="utf-8")
    return path


__all__ = ["render", "summarize", "svg_plot", "write_report"]
