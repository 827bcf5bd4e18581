"""The built-in sites as a server process: admin endpoints need the token, reset restores the
seeded state, the pages work, and the task catalogue is well formed. No browser needed."""

from __future__ import annotations

import http.client
import json
from collections import Counter

import pytest

from agentgym.envs.web.hosting import LocalSiteHost, SiteSpec
from agentgym.envs.web.sites import BUILTIN_SITES
from agentgym.envs.web.tasks.catalog import build_tasks


@pytest.fixture(scope="module")
def host():
    h = LocalSiteHost([SiteSpec(name=n) for n in BUILTIN_SITES])
    yield h
    h.close()


def request(origin: str, method: str, path: str, body: str = "", headers: dict | None = None) -> tuple[int, str, dict]:
    hostname, port = origin.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(hostname, int(port), timeout=10)
    hdrs = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    conn.request(method, path, body=body.encode(), headers=hdrs)
    resp = conn.getresponse()
    data = resp.read().decode()
    conn.close()
    return resp.status, data, dict(resp.getheaders())


def test_admin_endpoints_need_the_token(host):
    origin = host.origins["shop"]
    assert request(origin, "GET", "/__state")[0] == 403
    assert request(origin, "POST", "/__reset", headers={"X-Agentgym-Token": "wrong" * 8})[0] == 403
    status, body, _ = request(origin, "GET", "/__state", headers={"X-Agentgym-Token": host.token})
    assert status == 200 and len(json.loads(body)["products"]) == 31


def test_reset_restores_the_seeded_state(host):
    origin = host.origins["shop"]
    host.reset("shop")
    seeded = host.state("shop")
    status, _, headers = request(origin, "POST", "/cart/add", "product_id=3&qty=2")
    assert status == 303 and headers["Location"] == "/cart"
    status, _, headers = request(origin, "POST", "/checkout", "customer=A+B&address=1+Road&shipping=express")
    assert status == 303
    after = host.state("shop")
    assert len(after["orders"]) == len(seeded["orders"]) + 1 and after["cart"] == []
    host.reset("shop")
    assert host.state("shop") == seeded


def test_bad_input_is_a_page_not_a_crash(host):
    origin = host.origins["tracker"]
    status, body, _ = request(origin, "POST", "/issues/new", "title=&label=bug")
    assert status == 400 and "title is required" in body
    assert request(origin, "GET", "/issues/999")[0] == 404
    assert request(origin, "GET", "/issues")[0] == 200  # the server is still up


@pytest.mark.parametrize("site, path, text", [
    ("shop", "/search?q=kettle", "Electric Kettle"), ("tracker", "/issues?status=all&label=docs", "issue(s)"),
    ("admin", "/employees?sort=salary&order=desc&page=2", "Page 2 of 5"), ("booking", "/calendar?day=2025-03-05", "Wednesday"),
    ("widgets", "/datepicker", "Open calendar"),
])
def test_pages_render(host, site, path, text):
    status, body, _ = request(host.origins[site], "GET", path)
    assert status == 200 and text in body


def test_catalogue_has_200_tasks_with_splits_and_kinds():
    tasks = build_tasks(BUILTIN_SITES)
    assert len(tasks) >= 200 and len({t.id for t in tasks}) == len(tasks)
    kinds = Counter(t.kind for t in tasks)
    assert {"info", "state", "navigation", "multi_tab", "infeasible", "widget"} <= set(kinds)
    by_template = {}
    for t in tasks:
        by_template.setdefault(t.template, set()).add(t.split)
        assert t.min_steps == len(t.oracle) >= 1
    assert all(len(s) == 1 for s in by_template.values()), "the split must be by template"
    assert {"train", "test"} == {s for v in by_template.values() for s in v}


def test_url_and_tab_checks_compare_whole_origins():
    """A page on another port that merely starts with the site's origin (the proxy's 'blocked' page
    is shown at the blocked URL) is not the site."""
    from agentgym.envs.web.tasks.checks import EpisodeEnd, run_checks
    from agentgym.envs.web.tasks.models import TabsCheck, UrlCheck

    origins = {"shop": "http://127.0.0.1:4000"}
    url, tabs = UrlCheck(site="shop", path="/cart"), TabsCheck(site="shop", paths=["/cart"])
    for check in (url, tabs):
        ok, _ = run_checks([check], EpisodeEnd(url="http://127.0.0.1:4000/cart", tab_urls=["http://127.0.0.1:4000/cart"]),
                           origins, {}, lambda s: {})
        assert ok
        ok, _ = run_checks([check], EpisodeEnd(url="http://127.0.0.1:40001/cart", tab_urls=["http://127.0.0.1:40001/cart"]),
                           origins, {}, lambda s: {})
        assert not ok
