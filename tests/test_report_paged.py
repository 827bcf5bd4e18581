"""The static report covers every episode (paged), keeps infra errors out of pass@k and lists them
apart; every link from the episode index lands on an existing trajectory."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from view_runs import demo_like_run, errors_run

from agentgym.report import summarize, write_report
from agentgym.view.data import RunData


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("report") / "demo"
    return root, demo_like_run(root)


def test_every_episode_is_in_the_report_once_paged_and_every_link_resolves(demo, tmp_path):
    root, counts = demo
    total = sum(counts.values())
    path = write_report(root, tmp_path / "r.html", max_trajectories=100)
    pages = sorted((tmp_path / "r_files").glob("page-*.html"))
    assert len(pages) == -(-total // 100) - 1  # the first page is in the report itself
    texts = {path: path.read_text()} | {p: p.read_text() for p in pages}
    ids = [i for t in texts.values() for i in re.findall(r'<details class=ep><summary>.*?</summary><div id="ep-(\d+)">', t)]
    assert sorted(map(int, ids)) == list(range(total)), "each episode's trajectory exactly once"
    main = texts[path]
    assert f"All episodes ({total})" in main and f"Infrastructure errors ({counts['error']})" in main
    for href in set(re.findall(r'<a href="([^"]+#ep-\d+)"', main)):
        target, anchor = urlsplit(href.replace("&amp;", "&")).path, href.split("#")[1]
        file = path if not target else (path.parent / target).resolve()
        assert f'id="{anchor}"' in texts[file], href
    for p in pages[:2]:  # pages link back and to each other
        back = re.findall(r'<a href="([^"#]+)">', texts[p])
        assert "../r.html" in back and all((p.parent / b).resolve().is_file() for b in back)
    first_rows = re.findall(r'<tr><td class=l><span class="badge (\w+)"', main.split("All episodes")[1])
    assert first_rows[: counts["error"]] == ["error"] * counts["error"] and first_rows[counts["error"]] == "failed"
    assert _long_label_shown(main) and "<script" not in main


def _long_label_shown(html: str) -> bool:
    from view_runs import LONG_AGENT

    return LONG_AGENT in re.sub(r"<[^>]+>", "", html.split("<h2>All episodes")[0])  # full legend/table label


def test_errored_episodes_are_neither_pass_nor_fail(tmp_path):
    counts = errors_run(tmp_path / "run")
    data = RunData(tmp_path / "run")
    rows = {r["model"]: r for r in summarize(data.configs(), data.episodes(), n_boot=50)}
    bad = rows["bad"]  # sum-1, sum-2 failed; sum-3 all errored: left out, not a zero
    assert bad["errors"] == counts["error"] == 2 and bad["scored"] == 4 and bad["tasks"] == 2
    assert bad["pass1"].mean == 0.0 and rows["good"]["pass1"].mean == 1.0 and rows["good"]["errors"] == 0
    eps = [e for e in data.episodes() if e["outcome"] != "error"]
    all_err = summarize(data.configs(), [{**e, "infra_error": True} for e in eps if e["config_id"] == bad["config_id"]], n_boot=50)
    assert next(r for r in all_err if r["model"] == "bad")["pass1"] is None  # 4 of 4 errored: no score, never 0.000
    html = write_report(tmp_path / "run").read_text()
    errors = html[html.index("<h2 id=errors>"):html.index("<h2>All episodes")]
    assert errors.count('badge error') == 2 and "HTTP 500" in errors
    assert "Grader verdict" in html and "Transcript (as the model saw it)" in html and "infra errors (not scored)" in html
    assert not list(Path(tmp_path / "run").glob("report_files/page-*.html"))  # 12 episodes: one page


def test_the_report_reads_trajectories_a_page_at_a_time_and_renders_as_in_memory(demo, tmp_path, monkeypatch):
    """write_report reads and parses one page of trajectories at a time through one connection
    (it held every parsed trajectory at once and opened a connection per episode), and writes the
    same bytes as rendering every episode in memory."""
    from agentgym.report import render_pages

    root, counts = demo
    total, size = sum(counts.values()), 100
    data = RunData(root)
    keys = [(e["config_id"], e["task_id"], e["sample"]) for e in data.episodes()]
    main, others = render_pages(data.configs(), list(data.trajectories(keys)), title="agentgym sweep: demo-like",
                                page_size=size, prices=data.meta("prices"), stem="r")
    opened, asked = [], []
    conn, by_key = RunData._conn, RunData.episodes_by_key
    monkeypatch.setattr(RunData, "_conn", lambda self: (opened.append(1), conn(self))[1])
    monkeypatch.setattr(RunData, "episodes_by_key", lambda self, ks: (asked.append(len(ks)), by_key(self, ks))[1])
    path = write_report(root, tmp_path / "r.html", max_trajectories=size)
    pages = -(-total // size)
    assert asked == [size] * (pages - 1) + [total - size * (pages - 1)] and len(opened) <= pages + 10, (asked, len(opened))
    assert path.read_text(encoding="utf-8") == main and len(others) == pages - 1
    for p, page in others.items():
        assert (tmp_path / "r_files" / f"page-{p}.html").read_text(encoding="utf-8") == page, p
