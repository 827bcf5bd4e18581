"""A static, self-contained HTML report of a sweep store (no network assets, no plotting deps).

Tables per env x agent x model x budget (pass@1, pass@k, pass^k with confidence intervals, mean turns,
mean cost over scored episodes; infrastructure errors counted apart, never scored), scaling charts per
env drawn as inline SVG with full legends, the errored episodes listed apart, every episode listed
(errors and failures first) and linked to its trajectory (grader's verdict, budget per turn,
transcript), paged: the first page in the report, the rest in REPORT_files/page-N.html. All text escaped.
A run with training steps (`agentgym train`) gets its training curves first, next to the evaluation
tables; a training run with no episodes gets the curves alone. For browsing a run interactively,
`agentgym view RUN`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agentgym.metrics import Estimate, pass_at_k_estimate, pass_hat_k_estimate
from agentgym.sweep.table import config_rows
from agentgym.view.charts import CHART_CSS, env_charts
from agentgym.view.data import OUTCOME_RANK, config_label, outcome
from agentgym.view.episode import EPISODE_CSS, badge, episode_body
from agentgym.view.training import training_section

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.ci{color:#777;font-size:12px}
details{border:1px solid #ddd;margin:4px 0;padding:4px 8px;border-radius:4px}summary{cursor:pointer}
pre{white-space:pre-wrap;background:#f8f8f8;padding:6px;margin:4px 0;font-size:12px;max-height:30em;overflow:auto}
.pass{color:#2a2}.fail{color:#c22}.err{color:#a60}
""" + CHART_CSS + EPISODE_CSS


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(est: Estimate | None) -> str:
    if est is None:
        return "-"
    mark = "" if est.method in ("bootstrap", "hybrid") else f'<sup title="{_e(est.method)} interval">{_e(est.method[0])}</sup>'
    dropped = getattr(est, "tasks_dropped", 0)
    note = f' <span class=ci title="tasks left out: fewer than k scored samples">({dropped} tasks left out)</span>' if dropped else ""
    return f"{est.mean:.3f} <span class=ci>[{est.low:.3f}, {est.high:.3f}]{mark}</span>{note}"


def _ks(n_min: int) -> list[int]:
    ks, k = [], 1
    while k <= n_min:
        ks.append(k)
        k *= 2
    if n_min not in ks and n_min > 0:
        ks.append(n_min)
    return ks


def summarize(configs: list[dict[str, Any]], episodes: list[dict[str, Any]], n_boot: int = 1000) -> list[dict[str, Any]]:
    """One row per config with its metrics over its scored episodes, built on the sweep table's
    config_rows (one grouping by config, one split of errored episodes): an infrastructure error is
    neither a pass nor a fail (metrics leaves it out of n; a task left with fewer than k scored
    samples is left out of that k's mean) and is counted in "errors". Here k is the smallest number of
    samples per task (errored ones included); tasks, mean turns and cost are over scored episodes."""
    rows = []
    for c, t in zip(configs, config_rows(configs, episodes, n_boot=n_boot)):
        row = {**c, "episodes": t.episodes, "scored": t.passed + t.failed, "tasks": t.scored_tasks, "k": 0, "pass1": None,
               "passk": None, "passhatk": None, "curve": [], "turns": None, "cost": None, "errors": t.errors, "infra": t.errors}
        if t.passed + t.failed:
            results, k = t.outcomes, min(len(v) for v in t.outcomes.values())
            known = {1: t.pass1, t.k: t.passk}  # the table's estimates (same n_boot and seed): not bootstrapped twice

            def at_k(kk: int) -> Estimate | None:
                return known[kk] if kk in known else _estimate(pass_at_k_estimate, results, kk, n_boot)

            row.update(k=k, pass1=t.pass1, passk=at_k(k), passhatk=_estimate(pass_hat_k_estimate, results, k, n_boot),
                       curve=[(kk, est) for kk in _ks(k) if (est := at_k(kk)) is not None],
                       turns=t.mean_turns, cost=t.mean_cost_scored)
        rows.append(row)
    return rows


def _estimate(fn: Any, results: dict[str, list[Any]], k: int, n_boot: int) -> Estimate | None:
    try:
        return fn(results, k, n_boot=n_boot)
    except ValueError:  # no task has k scored samples (errors took them): no score, never a zero
        return None


def _table(rows: list[dict[str, Any]]) -> str:
    head = ("<tr><th class=l>agent</th><th class=l>model</th><th class=l>budget</th><th>tasks</th><th>scored episodes</th>"
            "<th>k</th><th>pass@1</th><th>pass@k</th><th>pass^k</th><th>mean turns</th><th>mean cost</th>"
            "<th>infra errors (not scored)</th></tr>")
    body = []
    for r in rows:
        turns = "-" if r["turns"] is None else f'{r["turns"]:.2f}'
        cost = "-" if r["cost"] is None else f'{r["cost"]:.4g}'
        err = f'<a href="#errors">{r["errors"]}</a>' if r["errors"] else "0"
        body.append(f'<tr><td class=l>{_e(r["agent"])}</td><td class=l>{_e(r["model"])}</td><td class=l>{_e(r["budget"])}</td>'
                    f'<td>{r["tasks"]}</td><td>{r["scored"]}</td><td>{r["k"]}</td><td>{_fmt(r["pass1"])}</td><td>{_fmt(r["passk"])}</td>'
                    f'<td>{_fmt(r["passhatk"])}</td><td>{turns}</td><td>{cost}</td><td>{err}</td></tr>')
    return f"<table>{head}{''.join(body)}</table>"


def _page_name(stem: str, page: int) -> str:
    return f"{stem}_files/page-{page}.html"


def _href(stem: str, page: int, idx: int, here: int) -> str:
    """Link from trajectory page `here` (1 is the report itself) to episode `idx` (-1: the page) on `page`."""
    anchor = f"#ep-{idx}" if idx >= 0 else ""
    if page == here:
        return anchor or "#"
    if page == 1:
        return f"../{stem}.html{anchor}"
    return (f"page-{page}.html" if here >= 2 else _page_name(stem, page)) + anchor


def _episode_index(eps: list[dict[str, Any]], labels: dict[str, str], stem: str, page_size: int, idx: dict[int, int]) -> str:
    rows = []
    for ep in eps:
        why = (ep.get("error") or "").strip().splitlines()[0][:160] if ep.get("error") else ""
        rows.append(f'<tr><td class=l>{badge(ep["outcome"])}</td><td class=l>{_e(labels.get(ep["config_id"], ep["config_id"]))}</td>'
                    f'<td class=l><a href="{_e(_href(stem, idx[id(ep)] // page_size + 1, idx[id(ep)], 1))}">{_e(ep["task_id"])}</a></td>'
                    f'<td>{ep["sample"]}</td><td>{ep["turns"]}</td><td class=l>{_e(why)}</td></tr>')
    return ("<table class=index><tr><th class=l>outcome</th><th class=l>config</th><th class=l>task</th><th>sample</th>"
            f"<th>turns</th><th class=l>error</th></tr>{''.join(rows)}</table>")


def _trajectories(eps: list[dict[str, Any]], labels: dict[str, str], start: int) -> str:
    out = []
    for i, ep in enumerate(eps, start):
        traj = ep.get("trajectory") or {}
        # The anchor is inside the collapsed body: following a link to it opens the <details> (no script needed).
        out.append(f'<details class=ep><summary>{badge(ep["outcome"])} {_e(labels.get(ep["config_id"], ep["config_id"]))} · task '
                   f'{_e(ep["task_id"])} · sample {ep["sample"]} · {ep["turns"]} turns · reward {float(ep["reward"] or 0):g}</summary>'
                   f'<div id="ep-{i}">{episode_body({**ep, "trajectory": traj})}</div></details>')
    return "".join(out)


def _pager(stem: str, pages: int, here: int) -> str:
    links = [f"<b>{p}</b>" if p == here else f'<a href="{_e(_href(stem, p, -1, here))}">{p}</a>' for p in range(1, pages + 1)]
    return f"<p class=pager>trajectory pages: {' '.join(links)}</p>"


class EmptyRunError(FileNotFoundError):
    """A run store with nothing to report: no episodes and no training steps."""


def _training_only(title: str, steps: list[Any], train_config: dict[str, Any] | None = None) -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{_e(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1><p>No evaluation episodes in this run: its training curves only.</p>"
            f"<h2 id=training>Training</h2>{training_section(steps, train_config)}</body></html>")


def render_pages(configs: list[dict[str, Any]], episodes: list[dict[str, Any]], title: str = "agentgym sweep",
                 page_size: int = 200, prices: dict[str, Any] | None = None, stem: str = "report",
                 steps: list[Any] | None = None, train_config: dict[str, Any] | None = None) -> tuple[str, dict[int, str]]:
    """The report's main HTML (training curves where the run has `steps` (trl_log.StepRow), tables,
    charts, every episode listed, the first page of trajectories) and the other trajectory pages by
    number (written to STEM_files/page-N.html); `train_config`: the training run's stored config."""
    main, others = _render(configs, episodes, title, page_size, prices, stem, steps, load=list, train_config=train_config)
    return main, dict(others)


Loader = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def _render(configs: list[dict[str, Any]], episodes: list[dict[str, Any]], title: str, page_size: int,
            prices: dict[str, Any] | None, stem: str, steps: list[Any] | None, load: Loader,
            train_config: dict[str, Any] | None = None) -> tuple[str, Iterator[tuple[int, str]]]:
    """render_pages, the pages past the first as an iterator: `episodes` need not hold their
    trajectories; `load(rows)` gives those rows with them, called once per page as it is rendered,
    so a large run never holds more than one page of parsed trajectories."""
    if steps and not episodes:
        return _training_only(title, steps, train_config), iter(())
    rows = summarize(configs, episodes)
    labels = {c["config_id"]: config_label(c) for c in configs}
    eps = sorted(episodes, key=lambda e: (OUTCOME_RANK[outcome(e)], labels.get(e["config_id"], ""), str(e["task_id"]), e["sample"]))
    for ep in eps:
        ep["outcome"] = outcome(ep)
    page_size = max(1, page_size)
    pages = max(1, -(-len(eps) // page_size))
    errors = [e for e in eps if e["outcome"] == "error"]
    idx = {id(ep): i for i, ep in enumerate(eps)}  # position in the paged trajectories
    charts = env_charts(rows)
    head = f"<!doctype html><html><head><meta charset=utf-8><title>{_e(title)}</title><style>{CSS}</style></head><body>"
    parts = [head, (f"<h1>{_e(title)}</h1><p>{len(episodes)} episodes over {len(rows)} configs: {len(errors)} infrastructure "
                    "errors, shown apart and left out of every score (neither pass nor fail). Scores are means over tasks with 95% "
                    "intervals: for pass@k and pass^k the union of a percentile bootstrap over tasks and a binomial bootstrap "
                    "within tasks (the task bootstrap alone undercovers when most tasks score exactly 1 or 0), for the rest "
                    "a bootstrap over tasks; where every task scores the same (all pass, or none) a bootstrap would collapse "
                    "to a point, and a Wilson interval over tasks is shown instead (marked <sup>w</sup>); "
                    "pass@k is unbiased (Chen et al.), pass^k = C(c,k)/C(n,k); k is the samples per task.</p>")]
    if prices:
        parts.append(f"<p>Costs in {_e(prices.get('currency', ''))} from price table {_e(prices.get('version', '?'))}"
                     f"{' of ' + _e(prices['date']) if prices.get('date') else ''} ({_e(prices.get('source', ''))}).</p>")
    if steps:
        parts.append(f'<h2 id=training>Training</h2>{training_section(steps, train_config)}<h2>Evaluation</h2>')
    for env in sorted({r["env"] for r in rows}):
        parts.append(f"<h2>{_e(env)}</h2>" + _table([r for r in rows if r["env"] == env]) + "".join(charts.get(env, [])))
    parts.append(f'<h2 id=errors>Infrastructure errors ({len(errors)})</h2>')
    parts.append(_episode_index(errors, labels, stem, page_size, idx) if errors else "<p>none</p>")
    parts.append(f"<h2>All episodes ({len(eps)})</h2><p>Errors first, then failures, then passes; "
                 f"each links to its trajectory ({page_size} per page).</p>" + _episode_index(eps, labels, stem, page_size, idx))
    parts.append(f"<h2>Trajectories</h2><p>Page 1 of {pages}: episodes 1-{min(page_size, len(eps))} of {len(eps)}.</p>"
                 + _pager(stem, pages, 1) + _trajectories(load(eps[:page_size]), labels, 0))
    parts.append("</body></html>")

    def others() -> Iterator[tuple[int, str]]:
        for p in range(2, pages + 1):
            chunk = load(eps[(p - 1) * page_size: p * page_size])
            yield p, (f"{head}<h1>{_e(title)}: trajectories, page {p} of {pages}</h1><p><a href=\"../{_e(stem)}.html\">back to the "
                      f"report</a></p>{_pager(stem, pages, p)}{_trajectories(chunk, labels, (p - 1) * page_size)}</body></html>")

    return "\n".join(parts), others()


def render(configs: list[dict[str, Any]], episodes: list[dict[str, Any]], title: str = "agentgym sweep",
           max_trajectories: int = 200, prices: dict[str, Any] | None = None) -> str:
    """The main page only (tables, charts, index, first page of trajectories)."""
    return render_pages(configs, episodes, title, page_size=max_trajectories, prices=prices)[0]


def write_report(run_dir: str | Path, out: str | Path | None = None, max_trajectories: int = 200) -> Path:
    """Read a sweep store and write its HTML report (default RUN_DIR/report.html), every episode's
    trajectory included: `max_trajectories` per page, pages past the first in OUT_STEM_files/.
    Trajectories are read and parsed one page at a time (one connection per page), each page
    written as it is rendered: memory stays at one page's worth however large the run."""
    from agentgym.view.data import RunData

    data = RunData(run_dir)
    sweep = data.meta("sweep") or {}
    configs = data.configs()
    rows = data.episodes()  # without trajectories: each page reads its own when it is rendered
    steps = data.train_steps()
    if not rows and not steps:
        raise EmptyRunError(f"{run_dir} holds no episodes and no training steps yet: nothing to report (run `agentgym sweep`, "
                            "`agentgym eval` or `agentgym train` into it first)")

    def load(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
        eps = data.episodes_by_key([(e["config_id"], e["task_id"], e["sample"]) for e in chunk])
        return [ep for ep in eps if ep is not None]

    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    kind = "sweep" if rows else "training run"
    main, others = _render(configs, rows, f"agentgym {kind}: {sweep.get('name', Path(run_dir).name)}", max_trajectories,
                           data.meta("prices"), path.stem, steps, load, train_config=data.meta("train_config"))
    path.parent.mkdir(parents=True, exist_ok=True)
    files = path.parent / f"{path.stem}_files"
    for p, page in others:  # written as rendered, then dropped
        if p == 2:
            files.mkdir(exist_ok=True)
            for old in files.glob("page-*.html"):
                old.unlink()
        (files / f"page-{p}.html").write_text(page, encoding="utf-8")
    path.write_text(main, encoding="utf-8")
    return path


__all__ = ["EmptyRunError", "render", "render_pages", "summarize", "write_report"]
