"""The viewer's pages, as functions of a RunData and the query string: the episode list (filters
by env, config, task and outcome; errors, then failures first; paged), per-env scaling charts,
one episode, two configs side by side on one task, and a training run's curves (linked from the
index when the run has them). Plain HTML forms and links, no script:
every page is a URL that can be shared with whoever has the run directory.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from agentgym.view.charts import CHART_CSS, env_charts
from agentgym.view.data import OUTCOMES, RunData, config_label, filter_episodes
from agentgym.view.episode import EPISODE_CSS, badge, e, episode_body
from agentgym.view.training import training_section

PAGE_SIZE = 100
CSS = """
body{font-family:system-ui,sans-serif;margin:1em 2em;color:#222}
nav a{margin-right:1.2em}table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}th{background:#f3f3f3}
td.l,th.l{text-align:left}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f8f8f8;padding:5px;margin:3px 0;
font-size:12px;max-height:32em;overflow:auto}form.filters{background:#f6f6f6;padding:6px 10px;display:inline-block}
form.filters label{margin-right:10px}.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}.cols>div{min-width:0}
.ci{color:#777;font-size:11px}
""" + CHART_CSS + EPISODE_CSS


def link(path: str, **q: Any) -> str:
    return e(f"{path}?{urlencode({k: v for k, v in q.items() if v not in (None, '')})}")


def layout(title: str, body: str, run: str) -> str:
    nav = (f'<nav><a href="/">Episodes</a><a href="/plots">Scaling</a><a href="/compare">Compare</a>'
           f'<span class=muted>run: {e(run)}</span></nav>')
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{e(title)}</title><style>{CSS}</style></head>"
            f"<body>{nav}<h1>{e(title)}</h1>{body}</body></html>")


def _select(name: str, options: list[tuple[str, str]], chosen: str) -> str:
    opts = "".join(f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(label)}</option>' for v, label in options)
    return f'<label>{e(name)} <select name="{e(name)}" id="f-{e(name)}">{opts}</select></label>'


def _fmt(est: Any) -> str:
    return "-" if est is None else f"{est.mean:.3f} <span class=ci>[{est.low:.3f}, {est.high:.3f}]</span>"


def _turns(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def summary_tables(rows: list[dict[str, Any]]) -> str:
    out = []
    for env in sorted({r["env"] for r in rows}):
        body = "".join(
            f'<tr><td class=l><a href="{link("/", config=r["config_id"])}">{e(r["agent"])}</a></td><td class=l>{e(r["model"])}</td>'
            f'<td class=l>{e(r["budget"])}</td><td>{r["tasks"]}</td><td>{r["scored"]}</td><td>{r["k"]}</td><td>{_fmt(r["pass1"])}</td>'
            f'<td>{_fmt(r["passk"])}</td><td>{_turns(r["turns"])}</td>'
            f'<td><a href="{link("/", config=r["config_id"], outcome="error")}">{r["errors"]}</a></td></tr>'
            for r in rows if r["env"] == env)
        out.append(f"<h3>{e(env)}</h3><table><tr><th class=l>agent</th><th class=l>model</th><th class=l>budget</th><th>tasks</th>"
                   f"<th>scored episodes</th><th>k</th><th>pass@1</th><th>pass@k</th><th>mean turns</th><th>infra errors "
                   f"(not scored)</th></tr>{body}</table>")
    return "".join(out)


def index_page(data: RunData, q: dict[str, str], rows: list[dict[str, Any]]) -> str:
    eps = data.episodes()
    configs = data.configs()
    f_env, f_cfg, f_task, f_out = q.get("env", ""), q.get("config", ""), q.get("task", ""), q.get("outcome", "")
    shown = filter_episodes(eps, f_env, f_cfg, f_task, f_out)
    page = max(1, int(q.get("page", "1") or 1) if str(q.get("page", "1")).isdigit() else 1)
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page = min(page, pages)
    counts = {o: sum(r["outcome"] == o for r in eps) for o in OUTCOMES}
    label = {c["config_id"]: config_label(c) for c in configs}
    form = ('<form class=filters method=get action="/">'
            + _select("env", [("", "all envs")] + [(x, x) for x in sorted({c["env"] for c in configs})], f_env)
            + _select("config", [("", "all configs")] + [(c["config_id"], label[c["config_id"]]) for c in configs], f_cfg)
            + f'<label>task <input name=task id=f-task value="{e(f_task)}" size=18 placeholder="task id contains"></label>'
            + _select("outcome", [("", "all outcomes")] + [(o, o) for o in OUTCOMES], f_out)
            + '<button type=submit id=apply>Filter</button> <a href="/">clear</a></form>')
    steps = data.train_step_count()
    body = [f'<p id=training>Training curves: <a href="/training">{steps} logged steps</a>.</p>' if steps else "",
            f'<p>{len(eps)} episodes: <a href="{link("/", outcome="error")}">{counts["error"]} infra errors</a> (not scored), '
            f'<a href="{link("/", outcome="failed")}">{counts["failed"]} failed</a>, '
            f'<a href="{link("/", outcome="passed")}">{counts["passed"]} passed</a>.</p>', form,
            f"<p id=count>{len(shown)} episodes match; errors first, then failures. Page {page} of {pages}.</p>"]
    trs = []
    for r in shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]:
        href = link("/episode", config=r["config_id"], task=r["task_id"], sample=r["sample"])
        why = (r["error"] or "").strip().splitlines()[0][:160] if r["error"] else ""
        trs.append(f'<tr class="ep {e(r["outcome"])}"><td class=l>{badge(r["outcome"])}</td><td class=l>{e(r["env"])}</td>'
                   f'<td class=l>{e(label.get(r["config_id"], r["config_id"]))}</td><td class=l>{e(r["task_id"])}</td><td>{r["sample"]}</td>'
                   f'<td>{r["turns"]}</td><td>{float(r["reward"] or 0):g}</td><td class=l><a class=open href="{href}">open</a> · '
                   f'<a href="{link("/compare", task=r["task_id"], a=r["config_id"])}">compare</a></td><td class=l>{e(why)}</td></tr>')
    body.append("<table id=episodes><tr><th class=l>outcome</th><th class=l>env</th><th class=l>config</th><th class=l>task</th>"
                f"<th>sample</th><th>turns</th><th>reward</th><th class=l></th><th class=l>error</th></tr>{''.join(trs)}</table>")
    nav = [f'<a href="{link("/", env=f_env, config=f_cfg, task=f_task, outcome=f_out, page=p)}">{p}</a>' if p != page else f"<b>{p}</b>"
           for p in range(1, pages + 1)]
    body.append(f"<p class=pager>pages: {' '.join(nav)}</p>")
    body.append("<h2>Scores</h2><p class=muted>pass@k over scored episodes only: infrastructure errors are counted apart.</p>"
                + summary_tables(rows))
    return layout(f"agentgym run: {data.root.name}", "".join(body), str(data.root))


def plots_page(data: RunData, rows: list[dict[str, Any]]) -> str:
    charts = env_charts(rows)
    toc = " · ".join(f'<a href="#env-{e(env)}">{e(env)}</a>' for env in charts)
    body = "".join(f'<h2 id="env-{e(env)}">{e(env)}</h2>' + "".join(cs) for env, cs in charts.items()) or "<p>no scored episodes yet</p>"
    return layout(f"scaling: {data.root.name}", f"<p class=muted>One chart per env; intervals are 95%. {toc}</p>" + body, str(data.root))


def training_page(data: RunData) -> str:
    return layout(f"training: {data.root.name}", training_section(data.train_steps(), data.meta("train_config")), str(data.root))


def episode_page(data: RunData, q: dict[str, str]) -> tuple[int, str]:
    try:
        ep = data.episode(q.get("config", ""), q.get("task", ""), int(q.get("sample", "0")))
    except ValueError:
        ep = None
    if ep is None:
        return 404, layout("no such episode", "<p>No episode with that config, task and sample; go back to the list.</p>", str(data.root))
    cfg = next((c for c in data.configs() if c["config_id"] == ep["config_id"]), {})
    head = (f'<p>{badge(ep["outcome"])} env <b>{e(cfg.get("env", "?"))}</b> · agent {e(cfg.get("agent", "?"))} · model '
            f'{e(cfg.get("model", "?"))} · budget {e(cfg.get("budget", "?"))} · task <b>{e(ep["task_id"])}</b> · sample {ep["sample"]} · '
            f'seed {e(ep["seed"])} · {ep["turns"]} turns · reward {float(ep["reward"] or 0):g} · cost {float(ep["cost"] or 0):.6g} · '
            f'{float(ep["seconds"] or 0):.1f} s · <a href="{link("/compare", task=ep["task_id"], a=ep["config_id"])}">compare with another config</a></p>')
    return 200, layout(f"{ep['task_id']} · {config_label(cfg) or ep['config_id']} · sample {ep['sample']}", head + episode_body(ep),
                       str(data.root))


def compare_page(data: RunData, q: dict[str, str]) -> str:
    eps = data.episodes()
    configs = data.configs()
    label = {c["config_id"]: config_label(c) for c in configs}
    task, a, b = q.get("task", ""), q.get("a", ""), q.get("b", "")
    tasks = sorted({str(r["task_id"]) for r in eps})
    on_task = [r for r in eps if str(r["task_id"]) == task]
    cfgs = [c for c in configs if any(r["config_id"] == c["config_id"] for r in on_task)] if task else configs
    if not b and a:  # default partner: another config of the same env on this task
        env = next((c["env"] for c in configs if c["config_id"] == a), None)
        b = next((c["config_id"] for c in cfgs if c["config_id"] != a and c["env"] == env), "")
    form = ('<form class=filters method=get action="/compare">' + _select("task", [("", "pick a task")] + [(t, t) for t in tasks], task)
            + _select("a", [("", "config A")] + [(c["config_id"], label[c["config_id"]]) for c in cfgs], a)
            + _select("b", [("", "config B")] + [(c["config_id"], label[c["config_id"]]) for c in cfgs], b)
            + '<button type=submit id=apply>Compare</button></form>')
    cols = []
    for side, cid in (("A", a), ("B", b)):
        if not (task and cid):
            cols.append(f"<div><h2>{side}</h2><p class=muted>pick a task and a config</p></div>")
            continue
        mine = [r for r in on_task if r["config_id"] == cid]
        want = q.get(f"s{side.lower()}")
        pick = next((r for r in mine if str(r["sample"]) == want), None) or next((r for r in mine if r["outcome"] != "passed"), None) \
            or (mine[0] if mine else None)
        samples = " ".join(
            f'<a href="{link("/compare", **{**q, "task": task, "a": a, "b": b, f"s{side.lower()}": r["sample"]})}">{badge(r["outcome"])} '
            f'{r["sample"]}</a>' for r in sorted(mine, key=lambda r: r["sample"]))
        passed = sum(r["outcome"] == "passed" for r in mine)
        scored = sum(r["outcome"] != "error" for r in mine)
        body = f"<h2>{side}: {e(label.get(cid, cid))}</h2><p>{passed} of {scored} scored samples passed. Samples: {samples}</p>"
        if pick is not None:
            ep = data.episode(pick["config_id"], pick["task_id"], pick["sample"])
            body += f"<h3>sample {pick['sample']}</h3>" + episode_body(ep or {})
        cols.append(f'<div class="side side-{side.lower()}">{body}</div>')
    return layout(f"compare on task {task}" if task else "compare two configs", form + f'<div class=cols>{"".join(cols)}</div>', str(data.root))


__all__ = ["compare_page", "episode_page", "index_page", "layout", "plots_page", "training_page"]
