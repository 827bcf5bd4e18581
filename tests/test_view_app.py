"""`agentgym view` without a browser: the app's pages over a demo-shaped run and a run with real
ReAct transcripts and infra errors (tests/view_runs.py), the charts' legends and ticks, and the
CLI (prints the URL, serves 127.0.0.1, Ctrl-C stops it, a bad run directory is one line, exit 2)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from view_runs import DEMO_ENVS, LONG_AGENT, demo_like_run, errors_run

from agentgym.view import Viewer
from agentgym.view.charts import CHAR_W, line_chart, thin_ticks

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("view")
    counts = {"demo": demo_like_run(base / "demo"), "err": errors_run(base / "err")}
    return base, counts


def outcomes_in_order(page: str) -> list[str]:
    return re.findall(r'<tr class="ep (\w+)">', page)


def test_index_lists_errors_then_failures_and_filters_work(runs):
    base, counts = runs
    v = Viewer(base / "demo")
    status, page = v.handle("/")
    assert status == 200 and f"{sum(counts['demo'].values())} episodes" in page
    order = outcomes_in_order(page)
    assert order[: counts["demo"]["error"]] == ["error"] * counts["demo"]["error"] and order[counts["demo"]["error"]] == "failed"
    _, page = v.handle("/?env=sql-a&outcome=passed")
    rows = re.findall(r'<tr class="ep (\w+)"><td class=l>.*?</td><td class=l>([^<]+)</td>', page)
    assert rows and all(o == "passed" and env == "sql-a" for o, env in rows)
    _, page = v.handle("/?task=ts-lite-task-1&outcome=failed")
    tasks = re.findall(r"<td class=l>(\w[\w-]*-task-\d+)</td>", page)
    assert tasks and set(tasks) == {"ts-lite-task-1"}
    m = re.search(r"<p id=count>(\d+) episodes match", page)
    assert m and 0 < int(m.group(1)) < 72
    _, page = v.handle("/?page=6")
    assert "Page 6 of 6" in page and "<b>6</b>" in page
    cfg = next(c for c in v.data.configs() if c["env"] == "web-lite" and c["budget"] == "turns=16")
    _, page = v.handle(f"/?config={cfg['config_id']}")
    assert re.search(r"<p id=count>8 episodes match", page) and outcomes_in_order(page)[0] == "error"
    old = re.search(r'<a class=open href="([^"]+sample=0)"', page).group(1).replace("&amp;", "&")  # a v1 record
    status, page = v.handle(old)
    assert status == 200 and "No model transcript stored" in page and "no grader report" in page and "Solve web-lite-task" in page


def test_episode_page_shows_verdict_budget_per_turn_and_escaped_transcript(runs):
    base, _ = runs
    v = Viewer(base / "err")
    _, index = v.handle("/?outcome=failed")
    href = re.search(r'<a class=open href="([^"]+)"', index).group(1).replace("&amp;", "&")
    status, page = v.handle(href)
    assert status == 200 and "Grader verdict" in page and 'badge failed' in page
    assert "Transcript (as the model saw it)" in page and "You are an agent acting in an environment" in page
    assert "&lt;script&gt;alert(" in page and "<script" not in page.replace("&lt;script", "")
    budget = page[page.index("Budget per turn"):page.index("</table>", page.index("Budget per turn"))]
    assert budget.count("<tr>") == 3 and "in 120, out 11" in budget and "in 300, out 17" in budget  # header + 2 turns
    assert "tool schemas sha256" in page and "wrong" in page  # ToyEnv's submit says why
    _, index = v.handle("/?outcome=error")
    href = re.search(r'<a class=open href="([^"]+)"', index).group(1).replace("&amp;", "&")
    _, page = v.handle(href)
    assert "Infrastructure error" in page and "HTTP 500" in page and "badge error" in page
    assert v.handle("/episode?config=x&task=y&sample=0")[0] == 404 and v.handle("/episode?sample=zz")[0] == 404


def test_compare_shows_two_configs_side_by_side(runs):
    base, _ = runs
    v = Viewer(base / "err")
    cfgs = {c["model"]: c["config_id"] for c in v.data.configs()}
    _, page = v.handle(f"/compare?task=sum-2&a={cfgs['good']}")
    a, b = page.index('class="side side-a"'), page.index('class="side side-b"')
    assert a < b and "react · good" in page[a:b] and "react · bad" in page[b:]
    assert "2 of 2 scored samples passed" in page[a:b] and "0 of 2 scored samples passed" in page[b:]
    assert "Grader verdict" in page[a:b] and "Grader verdict" in page[b:]


def test_scaling_charts_one_per_env_with_full_legends_and_no_overlapping_ticks(runs):
    base, _ = runs
    _, page = Viewer(base / "demo").handle("/plots")
    for env in DEMO_ENVS:
        assert f"{env}: pass@k vs k" in page and f"{env}: pass@1 vs turn budget" in page
    assert page.count("<figure class=chart>") == 3 * len(DEMO_ENVS)
    assert "<li>" in page and LONG_AGENT in re.sub(r"<[^>]+>", "", page)  # the legend keeps the whole label
    xs = list(range(1, 101))
    kept = thin_ticks(xs, lambda v: 48 + v * 4.96)
    assert 2 < len(kept) < len(xs)
    for lo, hi in zip(kept, kept[1:]):
        assert (hi - lo) * 4.96 >= (len(str(lo)) + len(str(hi))) / 2 * CHAR_W
    assert "no data" in line_chart("t", [], "x")


def test_cli_prints_url_serves_locally_and_stops_on_ctrl_c(runs, tmp_path):
    base, _ = runs
    env = {**os.environ, "COLUMNS": "300"}
    proc = subprocess.Popen([sys.executable, "-m", "agentgym", "view", str(base / "err"), "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and b"agentgym run" in r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        out, errs = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "viewer stopped" in out, errs
    bad = subprocess.run([sys.executable, "-m", "agentgym", "view", str(tmp_path / "nope")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "results.sqlite" in bad.stderr


def test_a_sweep_stores_the_transcript_and_grader_report_the_viewer_shows(tmp_path):
    """End to end through the sweep runner (react agent, HTTP test server, shell-fixture on the
    local runtime): what the store keeps is what the model saw, and the grader's reason shows."""
    from agentgym.models.testing import OpenAITestServer, Reply
    from agentgym.sweep import SweepConfig, run_sweep

    def script(req):
        if len(req["messages"]) <= 2:
            return Reply.call("bash", {"command": "echo hi"}) if req.get("tools") else Reply.text("ok")
        return Reply.call("submit", {})

    with OpenAITestServer(script) as srv:
        cfg = SweepConfig.model_validate({"name": "e2e", "envs": [{"id": "shell-fixture", "tasks": ["hello"]}], "agents": ["react"],
                                          "models": [{"model": "m", "base_url": srv.base_url}], "budgets": [5], "k": 1,
                                          "runtime": "local", "concurrency": 1})
        run_sweep(cfg, out=tmp_path / "run", progress=False)
    v = Viewer(tmp_path / "run")
    (row,) = v.data.episodes()
    ep = v.data.episode(row["config_id"], row["task_id"], row["sample"])
    traj = ep["trajectory"]
    sent = [r for r in srv.requests if r.get("tools")][-1]["messages"]
    assert traj["schema_version"] == 2 and traj["transcript"]["messages"][: len(sent)] == sent
    g = traj["grader_report"]
    # the shell env reports its own check (expected vs got) after the episode: the source is "env"
    assert g["verdict"] == "failed" and g["source"] == "env" and g["checks"] and g["summary"]
    assert g["summary"].lower() in ep["trajectory"]["steps"][-1]["observation"].lower()
    _, index = v.handle("/")
    href = re.search(r'<a class=open href="([^"]+)"', index).group(1).replace("&amp;", "&")
    _, page = v.handle(href)
    assert "echo hi" in page and "Grader verdict" in page and "badge failed" in page
