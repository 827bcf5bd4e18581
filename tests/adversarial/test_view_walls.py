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
