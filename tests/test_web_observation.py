"""The web observation on third-party markup (the minimal cases of pages nobody here wrote) and
what actions say when they cannot be done: a label behind role="presentation", inline text kept
in its sentence, nested list items and icon-only controls with ids, a blocked click that fails
fast naming the element on top, hidden and removed elements. One browser context per module."""

from __future__ import annotations

import re
import time

import pytest

from agentgym.envs.web.actionerrors import explain
from agentgym.envs.web.browser import BrowserHost
from agentgym.envs.web.pagecalls import BrowserActionError
from agentgym.envs.web.session import Session

pytestmark = pytest.mark.slow

PAGE = """<!doctype html><title>t</title>
<ul role=tablist><li role=tab><a role=presentation href="#t1">Tab #1</a></li><li role=tab><a role=presentation>Tab #2</a></li></ul>
<div id=task>Enter "<span class=bold>Bob</span>" into the text field</div><input id=field>
<ul><li>Fruit<ul><li>Apple</li><li><span>Pear</span></li></ul></li></ul>
<span id=close class=icon style="cursor:pointer"></span><i id=star class=star></i>
<style>.icon::before { content: "\\2716"; } .star { display: inline-block; width: 16px; height: 16px; } .star::before { content: url(star.png); }</style>
<script>document.getElementById('star').addEventListener('click', () => { document.title = 'starred'; });</script>
<p role=presentation>Shown text</p><p><b>Total</b>: 3 items</p>
<button id=go onclick="document.title = 'went'">Go</button>
<div id=cover style="position:fixed; left:0; top:0; width:100%; height:100%; display:none">Accept cookies</div>
"""


@pytest.fixture(scope="module")
def session():
    host = BrowserHost.acquire()
    s = host.call(Session.prepare(host.browser))
    try:
        yield host, s
    finally:
        host.call(s.close())
        BrowserHost.release(host)


def _load(session, html=PAGE):
    host, s = session
    host.call(s.page.set_content(html))
    return host.call(s.observe()).snapshot.text


def _id(text, pattern):
    m = re.search(r"\[(\d+)\] " + pattern, text)
    assert m, f"{pattern!r} not in:\n{text}"
    return m.group(1)


def test_third_party_markup_is_read_as_chromium_names_it(session):
    text = _load(session)
    assert re.search(r'\[\d+\] tab "Tab #1"\n\s+\[\d+\] link "Tab #1"', text), text  # presentation ignored on a link
    assert re.search(r'\[\d+\] tab "Tab #2"\n', text), text  # presentation: the text stays the tab's
    assert 'text "Enter \\"Bob\\" into the text field"' in text  # one sentence
    assert re.search(r'\[\d+\] listitem "Fruit"\n\s+\[\d+\] listitem "Apple"\n\s+\[\d+\] listitem "Pear"', text), text
    assert _id(text, 'clickable "\u2716"') and _id(text, "clickable")  # icon-only: CSS content, a listener
    assert 'text "Shown text"' in text and 'text "Total: 3 items"' in text


def test_inner_list_item_and_icon_controls_are_clickable_by_id(session):
    host, s = session
    text = _load(session)
    host.call(s.page.evaluate("() => document.querySelector('ul ul li').addEventListener('click', () => document.title = 'apple')"))
    host.call(s.click(_id(text, 'listitem "Apple"')))
    assert host.call(s.page.title()) == "apple"
    star = host.call(s.page.get_attribute("#star", "data-agid"))
    assert star and f"[{star}] clickable" in text
    host.call(s.click(star))
    assert host.call(s.page.title()) == "starred"


def test_a_blocked_click_fails_fast_naming_what_is_on_top(session):
    host, s = session
    text = _load(session)
    host.call(s.page.evaluate("() => document.getElementById('cover').style.display = 'block'"))
    t = time.monotonic()
    with pytest.raises(BrowserActionError) as err:
        host.call(s.click(_id(text, 'button "Go"')))
    assert time.monotonic() - t < 5, "a blocked click waited for Playwright's timeout"
    assert re.search(r'\[(\d+)\] div "Accept cookies" is on top of it', str(err.value)), err.value
    assert host.call(s.page.title()) == "t"  # nothing was clicked
    cover = re.search(r"\[(\d+)\] div", str(err.value)).group(1)  # the id it gave the cover works
    host.call(s.click(cover))


def test_hidden_and_removed_elements_say_so(session):
    host, s = session
    text = _load(session)
    go = _id(text, 'button "Go"')
    host.call(s.page.evaluate("() => document.getElementById('go').style.display = 'none'"))
    with pytest.raises(BrowserActionError, match=r"not visible \(it has display: none\)"):
        host.call(s.click(go))
    host.call(s.page.evaluate("() => document.getElementById('go').remove()"))
    with pytest.raises(BrowserActionError, match=r"no longer on the page \(removed or re-rendered"):
        host.call(s.click(go))


def test_playwright_call_logs_become_one_reason():
    log = ("Locator.click: Timeout 10000ms exceeded.\nCall log:\n  - waiting for locator('[data-agid=\"5\"]').first\n"
           "    - locator resolved to <button>Go</button>\n  - attempting click action\n"
           "      - <div class=\"overlay\">…</div> intercepts pointer events\n    - retrying click action\n")
    assert explain(log).startswith('<div class="overlay">…</div> is on top of it')
    assert "removed from the page" in explain("Locator.click: Element is not attached to the DOM\nCall log:\n  - x")
    assert "not visible" in explain("Locator.hover: Timeout 10000ms exceeded.\nCall log:\n  - element is not visible\n")
    assert explain("Locator.fill: Timeout 10000ms exceeded.\nCall log:\n  - waiting for locator('x')\n  - fill(\"a\")\n") == \
        'Timeout 10000ms exceeded. (last step: fill("a"))'


def test_a_click_under_a_sticky_header_is_not_blocked(session):
    """Playwright scrolls a covered element to the middle and tries again; the fast check does too."""
    host, s = session
    text = _load(session, "<title>s</title><div style='position:sticky; top:0; height:80px; background:#fff'>Header</div>"
                          "<div style='height:1500px'></div><button onclick=\"document.title = 'hit'\">Deep</button>"
                          "<div style='height:1500px'></div>")
    host.call(s.page.evaluate("() => window.scrollTo(0, document.querySelector('button').offsetTop - 20)"))
    host.call(s.click(_id(text, 'button "Deep"')))
    assert host.call(s.page.title()) == "hit"


SVG = """<!doctype html><title>svg</title><p>Pick <b>2</b></p>
<svg id=pic width=200 height=80><title>Numbers</title><defs><style>rect { fill: #ccc }</style></defs>
<text x=10 y=20>1</text><text id=two x=40 y=20>2</text><rect id=box x=70 y=5 width=20 height=20></rect>
<circle id=dot cx=120 cy=15 r=8 style="cursor:pointer"></circle><text x=150 y=20>plain</text></svg>
<svg width=20 height=20 aria-label="Logo"><circle id=logo cx=10 cy=10 r=5></circle></svg>
<button>Save <svg width=10 height=10><path d="M0 0L10 10"></path></svg> now</button>
<script>
document.getElementById('two').addEventListener('click', () => document.title = 'two');
document.getElementById('box').addEventListener('mousedown', () => document.title = 'box');
</script>"""


def test_svg_shapes_and_texts_with_handlers_or_a_pointer_have_ids(session):
    """Pages draw targets in SVG (MiniWoB's shapes, pie menus, grids): a shape or text with a
    listener or a pointer cursor gets an id and can be clicked; each text is a run of its own; a
    named <svg> with nothing to act on stays one picture; an icon inside a button leaves its name whole."""
    host, s = session
    text = _load(session, SVG)
    assert re.search(r'\[\d+\] img "Numbers"\n  \[\d+\] text "1"\n  \[\d+\] clickable "2"\n  \[\d+\] clickable\n'
                     r'  \[\d+\] clickable\n  \[\d+\] text "plain"', text), text
    assert text.count("Numbers") == 1 and "fill" not in text
    assert re.search(r'\[\d+\] img "Logo"\n', text) and not host.call(s.page.get_attribute("#logo", "data-agid"))
    assert re.search(r'\[\d+\] button "Save now"$', text, re.M), text
    for ident, title in ((_id(text, 'clickable "2"'), "two"), (host.call(s.page.get_attribute("#box", "data-agid")), "box")):
        host.call(s.click(ident))
        assert host.call(s.page.title()) == title
    assert host.call(s.page.get_attribute("#dot", "data-agid")) in text
