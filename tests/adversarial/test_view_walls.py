"""Attacks on `agentgym view`'s server (agentgym/view/server.py), which serves a run's prompts,
model output, transcripts and grader reports on 127.0.0.1: what reaches it from outside the
machine's own pages, and what an error page shows. (Escaping of stored text in every page and
that no script runs are tests/test_view_app.py and tests/test_view_browser.py.)"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator

import pytest
from view_runs import demo_like_run


@pytest.fixture(scope="module")
def viewer_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    from agentgym.view.server import make_server

    root = tmp_path_factory.mktemp("view-walls") / "run"
    demo_like_run(root, tasks=1, k=1)
    server = make_server(root)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def get(port: int, path: str, host: str | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def test_attack_dns_rebinding_reads_the_run(viewer_port: int) -> None:
    """A web page at attacker.example whose name is re-bound to 127.0.0.1 fetches the viewer from
    the user's browser: same origin for the browser, so it could read every page of the run (the
    server answered any Host). Stopped: a Host that is not 127.0.0.1, localhost or [::1] gets 403."""
    status, page = get(viewer_port, "/", host=f"attacker.example:{viewer_port}")
    assert status == 403 and "demo-like" not in page and "simulated" not in page, page[:300]
    for host in (f"127.0.0.1:{viewer_port}", f"localhost:{viewer_port}", "LOCALHOST"):
        status, page = get(viewer_port, "/", host=host)
        assert status == 200 and "simulated" in page, (host, status)


def test_attack_markup_in_an_error_page(viewer_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page that raises showed the exception's message and traceback unescaped in a <pre>; a
    message can quote stored, agent-written text (a form or a link to javascript: survives the
    page's CSP, which only blocks scripts). Stopped: the 500 page escapes both."""
    import agentgym.view.server as server

    def broken(*_a: object) -> str:
        raise ValueError('<a href="javascript:alert(1)">click</a><form action="//evil.example">')

    monkeypatch.setattr(server, "plots_page", broken)
    status, page = get(viewer_port, "/plots")
    assert status == 500 and "&lt;a href=" in page and "<a href=\"javascript" not in page and "<form" not in page, page


#: Markup an agent (or a page it visited, or the code it ran) can leave in every stored field.
PAYLOAD = ('</pre></td></table><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
           '<svg onload="window.__pwned=3"></svg><a id=jslink href="javascript:window.__pwned=4">x</a>'
           '<iframe srcdoc="<script>parent.__pwned=5</script>"></iframe><form action="//evil.example"><input></form>'
           '<meta http-equiv="refresh" content="0;url=//evil.example"><base href="//evil.example/">'
           '<style>body{display:none}</style><object data="//evil.example"></object>')


def _payload_run(root) -> None:
    from types import SimpleNamespace

    from agentgym.rollout import StepRecord, Trajectory
    from agentgym.sweep.store import EpisodeRecord, Store
    from agentgym.transcript import Check, GradedTest, GraderReport, Transcript

    p = PAYLOAD
    traj = Trajectory(env_id="shell-fixture", task_id="hello", seed=0, first_observation=p, total_reward=0.0, terminated=True,
                      steps=[StepRecord(action={"name": p, "arguments": {p: p}}, observation=p, reward=0.0, terminated=True,
                                        truncated=False, info={"usage": {"tool_calls": {p: 1}}, "remaining": {p: p}})])
    traj.schema_version = 2
    traj.transcript = Transcript(model=p, tool_names=[p], tools_sha256=p, messages=[
        {"role": "system", "content": p}, {"role": "user", "content": p},
        {"role": "assistant", "content": p, "tool_calls": [{"id": p, "type": "function", "function": {"name": p, "arguments": p}}]},
        {"role": "tool", "tool_call_id": p, "content": p}])
    traj.grader_report = GraderReport(verdict="failed", summary=p, source=p, tests=[GradedTest(name=p, group=p, status=p)],
                                      checks=[Check(name=p, passed=False, expected=[[p]], got={p: p}, detail=p)], details={p: [p]})
    cfg = SimpleNamespace(config_id="c1", env="shell-fixture", agent_label="react", model_label="m", budget_label="turns=4",
                          budget=SimpleNamespace(max_turns=4), model_dump_json=lambda: "{}")
    store = Store(root)
    try:
        store.set_meta("sweep", {"name": "payloads"})
        store.add_config(cfg)
        store.record(EpisodeRecord(config_id="c1", task_id="hello", sample=0, seed=0, passed=False, reward=0.0, turns=1,
                                   cost=0.0, seconds=0.1, infra_error=False, error=None), traj)
    finally:
        store.close()


@pytest.mark.slow
def test_attack_markup_in_every_stored_field_in_a_browser(tmp_path) -> None:
    """Script, event handlers, a javascript: link, an iframe, a form, a meta refresh, a base and a
    style tag in every field an agent can fill (observations, the model's messages, tool names and
    arguments, call ids, grader summary, tests, checks, details), opened in Chromium in the viewer
    and in the static report: nothing of it runs or becomes an element, the text is shown as text."""
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    from agentgym.envs.web.browser import CHROMIUM_ARGS, chromium_path
    from agentgym.report import write_report
    from agentgym.view.server import make_server

    root = tmp_path / "run"
    _payload_run(root)
    report = tmp_path / "r.html"
    write_report(root, report)
    server = make_server(root)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/episode?config=c1&task=hello&sample=0"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                dialogs: list[str] = []
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                for target in (url, report.resolve().as_uri()):
                    page.goto(target)
                    page.wait_for_timeout(300)  # an onerror or a meta refresh would have fired by now
                    assert page.url == target and page.evaluate("window.__pwned") is None and not dialogs, target
                    for tag in ("script", "iframe", "form", "meta[http-equiv]", "base", "object", "svg[onload]", "img[onerror]", "#jslink"):
                        assert page.locator(tag).count() == 0, (target, tag)
                    assert page.locator('a[href^="javascript:" i]').count() == 0, target
                    assert "window.__pwned=4" in (page.text_content("body") or "") and page.is_visible("body"), target
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
