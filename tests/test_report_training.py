"""Training curves in `agentgym report` and `agentgym view`: run stores whose train_steps are written
by the trainer's own writer (agentgym.rl.trl_log.TrainLog), alone and next to evaluation episodes
(the sweep store's API), -> one chart per metric vs step with one point per logged step and value,
the evaluation tables beside them; a viewer page of its own linked from the index; a run with
neither is one line, exit 2."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner
from view_runs import demo_like_run

from agentgym.report import write_report
from agentgym.rl.trl_log import StepRow, TrainLog
from agentgym.sweep.store import Store
from agentgym.view import Viewer

GRPO = [StepRow(algorithm="grpo", step=s, reward=0.1 * s, pass_rate=min(1.0, 0.2 * s), mean_turns=1 + s % 3,
                tokens=40.0 + 15 * s, loss=0.5 - 0.01 * s, episodes=8, infra_errors=s % 2) for s in range(1, 8)]
SFT = [StepRow(algorithm="sft", step=s, loss=2.0 / s, tokens=300.0 * s) for s in range(1, 4)]


def _log(root, rows):
    log = TrainLog(root)
    try:
        for r in rows:
            log.add(r)
    finally:
        log.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("train-report")
    _log(base / "train", GRPO + SFT)  # `agentgym train` alone
    _log(base / "sft", [*SFT, StepRow(algorithm="sft", step=4, loss=float("inf"), tokens=1200.0)])  # a diverged step
    _log(base / "both", GRPO)  # trained, then evaluated into the same run directory
    demo_like_run(base / "both", tasks=1, k=2)
    demo_like_run(base / "sweep", tasks=1, k=2)
    return base


def charts(page: str) -> dict[str, list[tuple[str, float, float]]]:
    """chart title -> [(series, step, value)] from each circle's tooltip."""
    out = {}
    for fig in re.findall(r"<figure class=chart>(.*?)</figure>", page, re.S):
        title = re.search(r'aria-label="([^"]+)"', fig).group(1)
        out[title] = [(s, float(x), float(y)) for s, y, x in re.findall(r"<title>(\w+): ([-\d.e+]+) at ([-\d.e+]+)</title>", fig)]
    return out


def expected(rows, field):
    return sorted((r.algorithm, float(r.step), float(f"{getattr(r, field):.4g}")) for r in rows if getattr(r, field) is not None)


def test_report_shows_training_curves_next_to_the_evaluation_tables(runs, tmp_path):
    html = write_report(runs / "both", tmp_path / "r.html").read_text()
    got = charts(html)
    for field, title in (("reward", "env reward"), ("pass_rate", "pass rate"), ("mean_turns", "mean turns"),
                         ("tokens", "tokens"), ("loss", "loss")):
        assert sorted(got[title]) == expected(GRPO, field), title  # one point per logged step, its value
    assert html.index("<h2 id=training>") < html.index("<h2>Evaluation</h2>") < html.index("<h2>shell-fixture</h2>")
    assert "pass@1" in html and "shell-fixture: pass@k vs k" in got and "All episodes (144)" in html
    table = html[html.index("<table class=training>"):]
    assert re.search(r"<td class=l>grpo</td><td>7</td><td>7</td><td>0.1</td><td>0.7</td><td>56</td><td>4</td>", table)
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from a CDN


def test_a_training_run_alone_gets_a_report_and_an_empty_run_one_line(runs, tmp_path):
    html = write_report(runs / "train", tmp_path / "t.html").read_text()
    got = charts(html)
    assert sorted(got["loss"]) == expected(GRPO + SFT, "loss") and sorted(got["tokens"]) == expected(GRPO + SFT, "tokens")
    assert sorted(got["env reward"]) == expected(GRPO, "reward"), "SFT logs no reward: no point of its own"
    assert "agentgym training run: train" in html and "No evaluation episodes" in html and "Trajectories" not in html
    sft = write_report(runs / "sft", tmp_path / "s.html").read_text()
    assert set(charts(sft)) == {"tokens", "loss"} and "Not logged by this run: env reward, pass rate, mean turns." in sft
    assert len(charts(sft)["loss"]) == 3 and len(charts(sft)["tokens"]) == 4, "the inf loss is left out, not drawn"
    from agentgym.cli.app import app

    Store(tmp_path / "empty").close()  # a sweep store that has run nothing yet
    for empty in (tmp_path / "empty", tmp_path / "nothing"):
        r = CliRunner().invoke(app, ["report", str(empty)])
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert r.exit_code == 2 and len(lines) <= 2 and "holds no" in r.output, r.output  # rich may wrap the one line
    assert not (tmp_path / "empty" / "report.html").exists()


def test_viewer_training_page_is_linked_from_the_index(runs):
    v = Viewer(runs / "both")
    status, index = v.handle("/")
    assert status == 200 and '<a href="/training">7 logged steps</a>' in index and "144 episodes" in index
    status, page = v.handle("/training")
    assert status == 200 and sorted(charts(page)["mean turns"]) == expected(GRPO, "mean_turns")
    sweep = Viewer(runs / "sweep")
    assert 'href="/training"' not in sweep.handle("/")[1] and "No training steps" in sweep.handle("/training")[1]
    only = Viewer(runs / "train")
    assert "0 episodes" in only.handle("/")[1] and "no scored episodes" in only.handle("/plots")[1]


@pytest.mark.slow
def test_training_page_in_a_browser(runs, tmp_path):
    """The viewer's training page as a browser draws it (the existing browser test's Chromium): reached
    from the index in one click, one chart per metric, every step's point drawn inside its plot."""
    import threading

    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    from agentgym.envs.web.browser import CHROMIUM_ARGS, chromium_path
    from agentgym.view import make_server

    srv = make_server(runs / "both", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"http://127.0.0.1:{srv.server_address[1]}/")
                with page.expect_navigation():
                    page.click("#training a")
                assert page.url.endswith("/training") and page.locator("figure.chart").count() == 5
                inside = page.evaluate("""() => [...document.querySelectorAll('figure.chart svg[role=img]')].map(svg => {
                    const box = svg.querySelector('rect').getBoundingClientRect();
                    return [...svg.querySelectorAll('circle')].filter(c => { const r = c.getBoundingClientRect();
                        const x = r.left + r.width / 2, y = r.top + r.height / 2;
                        return x >= box.left && x <= box.right && y >= box.top - 0.5 && y <= box.bottom + 0.5; }).length; })""")
                assert inside == [7] * 5, inside
                page.screenshot(path=str(tmp_path / "training.png"), full_page=True)
            finally:
                browser.close()
    finally:
        srv.shutdown()
        srv.server_close()
