"""`agentgym view` in a real browser (Playwright over Debian's Chromium, never a downloaded one),
on a demo-shaped run and on a run with real ReAct transcripts and infra errors: pages load,
filters work, a failing (and an errored) episode is reached in at most three clicks from the
index, charts keep their legends whole and their ticks apart. Screenshots are kept as artifacts
under $AGENTGYM_TEST_ARTIFACTS (else a pytest tmp dir); the path is printed."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from view_runs import DEMO_ENVS, LONG_AGENT, demo_like_run, errors_run

from agentgym.envs.web.browser import CHROMIUM_ARGS, chromium_path
from agentgym.view import make_server

pytest.importorskip("playwright")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    base = Path(os.environ["AGENTGYM_TEST_ARTIFACTS"]) / "view" if os.environ.get("AGENTGYM_TEST_ARTIFACTS") else tmp_path_factory.mktemp("shots")
    base.mkdir(parents=True, exist_ok=True)
    print(f"\nviewer screenshots: {base}")
    return base


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("viewruns")
    demo_like_run(base / "demo")
    errors_run(base / "err")
    urls, running = {}, []
    for name in ("demo", "err"):
        srv = make_server(base / name, 0)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        running.append(srv)
        urls[name] = f"http://127.0.0.1:{srv.server_address[1]}"
        urls[f"{name}_dir"] = base / name
    yield urls
    for srv in running:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            yield ctx.new_page()
        finally:
            browser.close()


class Clicks:
    def __init__(self, page):
        self.page, self.n = page, 0

    def __call__(self, selector: str) -> None:
        self.n += 1
        with self.page.expect_navigation():
            self.page.click(selector)


def cells(page, col: int) -> list[str]:
    return page.eval_on_selector_all(f"#episodes tr.ep td:nth-child({col})", "tds => tds.map(t => t.innerText.trim())")


def test_index_filters_and_charts_on_the_demo_like_run(servers, page, shots):
    page.goto(servers["demo"] + "/")
    assert page.title().startswith("agentgym run") and page.locator("#episodes tr.ep").count() == 100
    assert cells(page, 1)[0] == "error", "errors come first"
    page.screenshot(path=str(shots / "demo-index.png"))
    page.select_option("#f-env", "sql-a")
    page.select_option("#f-outcome", "failed")
    with page.expect_navigation():
        page.click("#apply")
    envs, outcomes = cells(page, 2), cells(page, 1)
    assert envs and set(envs) == {"sql-a"} and set(outcomes) == {"failed"}
    page.fill("#f-task", "task-1")
    with page.expect_navigation():
        page.click("#apply")
    tasks = cells(page, 4)
    assert tasks and set(tasks) == {"sql-a-task-1"} and set(cells(page, 2)) == {"sql-a"}
    page.screenshot(path=str(shots / "demo-filtered.png"), full_page=True)

    page.goto(servers["demo"] + "/plots")
    assert page.locator("figure.chart").count() == 3 * len(DEMO_ENVS)
    overlapping = page.evaluate("""() => [...document.querySelectorAll('svg')].filter(svg => {
        const r = [...svg.querySelectorAll('text.xtick')].map(t => t.getBoundingClientRect()).sort((a, b) => a.left - b.left);
        return r.some((b, i) => i > 0 && b.left < r[i - 1].right);
    }).length""")
    assert overlapping == 0, "x tick labels overlap"
    legend = page.eval_on_selector_all("ul.legend li", "lis => lis.map(li => [li.innerText.trim(), li.scrollWidth <= li.clientWidth + 1])")
    assert any(text == LONG_AGENT + " · turns=16" for text, _ in legend), "legend labels are whole"
    assert all(fits for _, fits in legend), "a legend label is cut off"
    page.screenshot(path=str(shots / "demo-plots.png"), full_page=True)

    page.goto(servers["demo"] + "/")
    click = Clicks(page)
    click("text=/\\d+ failed/")
    click("#episodes tr.ep.failed a.open")
    assert click.n <= 3 and "failed" in page.inner_text("#verdict")


def test_static_report_links_open_the_trajectory_on_its_page(servers, page, shots, tmp_path):
    from agentgym.report import write_report

    path = write_report(servers["demo_dir"], tmp_path / "r.html", max_trajectories=100)
    page.goto(path.resolve().as_uri())
    failed = page.locator("table.index tr:has(.badge.failed) a")
    failed.nth(150).click()  # an episode on a later page
    page.wait_for_load_state()
    assert "r_files/page-" in page.url
    opened = page.evaluate("() => [...document.querySelectorAll('details[open] > div')].map(d => d.id)")
    assert opened == [page.url.split("#")[1]], "the linked trajectory is opened"
    assert "Grader verdict" in page.inner_text(f"#{opened[0]}")
    page.screenshot(path=str(shots / "report-linked-trajectory.png"))


def test_a_failing_and_an_errored_episode_within_three_clicks_and_compare(servers, page, shots):
    page.goto(servers["err"] + "/")
    click = Clicks(page)
    click("text=/\\d+ failed/")
    click("#episodes tr.ep.failed a.open")
    assert click.n <= 3
    verdict = page.inner_text("#verdict")
    assert "failed" in verdict and "wrong" in verdict  # the grader said why
    assert page.locator(".msg.assistant").count() >= 2 and "<script>alert('x')</script>" in page.inner_text("#transcript")
    assert page.locator("script").count() == 0  # the model's text is shown, never run
    assert page.locator("table.budget tr").count() == 3
    page.screenshot(path=str(shots / "err-failed-episode.png"), full_page=True)

    click("text=compare with another config")
    assert page.locator(".side-a").count() == 1 and "Grader verdict" in page.inner_text(".side-b")
    page.screenshot(path=str(shots / "err-compare.png"), full_page=True)

    page.goto(servers["err"] + "/")
    click = Clicks(page)
    click("text=/\\d+ infra errors/")
    click("#episodes tr.ep.error a.open")
    assert click.n <= 3 and "Infrastructure error" in page.inner_text("#verdict") and "HTTP 500" in page.inner_text("#verdict")
    page.screenshot(path=str(shots / "err-errored-episode.png"), full_page=True)
