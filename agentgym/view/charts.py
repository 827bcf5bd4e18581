"""Scaling charts as inline SVG (no plotting dependency, no network assets), one chart per env.

Legends are HTML beside the chart, so labels are never cut and wrap when long; x ticks are
thinned until their labels (at an estimated width per character) cannot overlap.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from typing import Any

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
           "#393b79", "#ad494a", "#637939", "#e7969c", "#7b4173", "#3182bd"]
DASHES = ["", "6 3", "2 3"]  # past the palette, styles repeat with a dash: every series stays distinct
CHAR_W = 6.2  # px per character of a 10px tick label (generous, so estimates err toward space)

Point = tuple[float, float, float, float]  # x, y, low, high


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def style(i: int) -> tuple[str, str]:
    return PALETTE[i % len(PALETTE)], DASHES[(i // len(PALETTE)) % len(DASHES)]


def _fmt_tick(v: float) -> str:
    """Short enough for the margin: 1000, 0.125, 250k, 1.5M."""
    a = abs(v)
    if a < 1e4:
        return str(int(v)) if float(v).is_integer() else f"{v:.3g}"
    return f"{v / 1e3:.3g}k" if a < 1e6 else f"{v / 1e6:.3g}M" if a < 1e9 else f"{v:.2e}"


def thin_ticks(values: list[float], pos: Any, min_gap: float = 8.0) -> list[float]:
    """Keep ticks, left to right, whose labels do not overlap the last kept one."""
    kept: list[float] = []
    right = -math.inf
    for v in sorted(set(values)):
        w = len(_fmt_tick(v)) * CHAR_W
        x = pos(v)
        if x - w / 2 >= right + min_gap:
            kept.append(v)
            right = x + w / 2
    return kept


def y_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """About n+1 round ticks spanning [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9) * step
    count = math.ceil((hi - first) / step - 1e-9)
    return [round(first + i * step, 12) for i in range(count + 1)]


def line_chart(title: str, series: list[tuple[str, list[Point]]], xlabel: str, ylabel: str = "pass rate",
               logx: bool = False, w: int = 560, h: int = 300, y_range: tuple[float, float] | None = (0.0, 1.0)) -> str:
    """A <figure>: the SVG (lines with interval bars) and an HTML legend with full labels. y spans
    `y_range` (values outside it are drawn at its edge); None: round ticks around the data."""
    pts = [p for _, s in series for p in s]
    ml, mr, mt, mb = 48, 16, 26, 42
    pw, ph = w - ml - mr, h - mt - mb
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="{_e(title)}">',
           f'<text x="{ml}" y="16" font-size="13" font-weight="bold">{_e(title)}</text>']
    if not pts:
        out.append(f'<text x="{ml}" y="{h // 2}" font-size="12">no data</text></svg>')
        return f'<figure class=chart>{"".join(out)}</figure>'
    tx = (lambda v: math.log2(max(v, 1e-9))) if logx else (lambda v: v)
    xs = [tx(p[0]) for p in pts]
    x0, x1 = min(xs), max(xs)
    if x1 - x0 < 1e-12:
        x0, x1 = x0 - 1, x1 + 1
    pad = (x1 - x0) * 0.04
    x0, x1 = x0 - pad, x1 + pad

    def X(v: float) -> float:
        return ml + (tx(v) - x0) / (x1 - x0) * pw

    yt = y_ticks(*(y_range or (min(p[2] for p in pts), max(p[3] for p in pts))))
    y0, y1 = y_range or (yt[0], yt[-1])
    yt = [v for v in yt if y0 - 1e-9 <= v <= y1 + 1e-9]

    def Y(v: float) -> float:
        return mt + (1 - (max(y0, min(y1, v)) - y0) / (y1 - y0)) * ph

    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for yv in yt:
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{Y(yv):.1f}" y2="{Y(yv):.1f}" stroke="#eee"/>'
                   f'<text x="{ml - 6}" y="{Y(yv) + 4:.1f}" font-size="10" text-anchor="end">{_e(_fmt_tick(yv))}</text>')
    for xv in thin_ticks([p[0] for p in pts], X):
        out.append(f'<text class=xtick x="{X(xv):.1f}" y="{mt + ph + 14}" font-size="10" text-anchor="middle">{_e(_fmt_tick(xv))}</text>')
    out.append(f'<text x="{ml + pw / 2:.0f}" y="{h - 6}" font-size="11" text-anchor="middle">{_e(xlabel)}</text>'
               f'<text x="12" y="{mt + ph / 2:.0f}" font-size="11" transform="rotate(-90 12 {mt + ph / 2:.0f})" '
               f'text-anchor="middle">{_e(ylabel)}</text>')
    legend = []
    for i, (label, s) in enumerate(series):
        col, dash = style(i)
        s = sorted(s)
        r = 3 if len(s) <= 60 else 1.5  # a long training curve stays a line, not a band of dots
        if len(s) > 1:
            d = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y, _, _ in s)
            out.append(f'<polyline points="{d}" fill="none" stroke="{col}" stroke-width="2" stroke-dasharray="{dash}"/>')
        for x, y, lo, hi in s:
            out.append(f'<line x1="{X(x):.1f}" x2="{X(x):.1f}" y1="{Y(lo):.1f}" y2="{Y(hi):.1f}" stroke="{col}" opacity="0.5"/>'
                       f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="{r}" fill="{col}"><title>{_e(label)}: '
                       f'{f"{y:.4g}" if lo == hi == y else f"{y:.3f} [{lo:.3f}, {hi:.3f}]"} at {_e(_fmt_tick(x))}</title></circle>')
        swatch = (f'<svg width="22" height="10"><line x1="0" x2="22" y1="5" y2="5" stroke="{col}" stroke-width="3" '
                  f'stroke-dasharray="{dash}"/></svg>')
        legend.append(f"<li>{swatch} {_e(label)}</li>")
    out.append("</svg>")
    return f'<figure class=chart>{"".join(out)}<ul class=legend>{"".join(legend)}</ul></figure>'


def _label(r: dict[str, Any], *keys: str) -> str:
    return " · ".join(str(r[k]) for k in keys if r.get(k) not in (None, "", "-"))


def env_charts(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per env: pass@k vs k, pass@1 vs turn budget, pass@1 vs cost (or turns). `rows` from summarize()."""
    by_env: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("pass1") is not None:
            by_env[r["env"]].append(r)
    out: dict[str, list[str]] = {}
    for env, rs in sorted(by_env.items()):
        vs_k = [(_label(r, "agent", "model", "budget"), [(k, e.mean, e.low, e.high) for k, e in r["curve"]]) for r in rs]
        by_turns: dict[str, list[Point]] = defaultdict(list)
        for r in rs:
            if r.get("max_turns"):
                by_turns[_label(r, "agent", "model")].append((r["max_turns"], r["pass1"].mean, r["pass1"].low, r["pass1"].high))
        costs_known = any((r.get("cost") or 0) > 0 for r in rs)
        by_cost: dict[str, list[Point]] = defaultdict(list)
        for r in rs:
            x = r["cost"] if costs_known else r["turns"]
            by_cost[_label(r, "agent", "model")].append((x, r["pass1"].mean, r["pass1"].low, r["pass1"].high))
        charts = [line_chart(f"{env}: pass@k vs k", vs_k, "k (samples per task)", "pass@k", logx=True)]
        if by_turns:
            charts.append(line_chart(f"{env}: pass@1 vs turn budget", list(by_turns.items()), "max turns"))
        charts.append(line_chart(f"{env}: pass@1 vs {'cost' if costs_known else 'turns used'}", list(by_cost.items()),
                                 "mean cost per episode" if costs_known else "mean turns per episode (no cost recorded)"))
        out[env] = charts
    return out


CHART_CSS = """
figure.chart{display:inline-flex;flex-wrap:wrap;align-items:flex-start;gap:8px;margin:8px 16px 8px 0;vertical-align:top}
ul.legend{list-style:none;padding:0;margin:20px 0 0 0;font-size:12px;max-width:360px}
ul.legend li{margin:2px 0;overflow-wrap:anywhere}ul.legend svg{vertical-align:middle}
"""

__all__ = ["CHART_CSS", "env_charts", "line_chart", "thin_ticks", "y_ticks"]
