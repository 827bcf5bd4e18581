"""MiniWoB++ solvers for the tasks web-miniwob took in last: SVG shapes and grids, checkbox
drawings, a terminal, ticket and food orders, a flight search, a form in random layouts.

Why a module of its own: miniwob_tasks.py and miniwob_apps.py hold the earlier families; these
need the observation to list SVG shapes (observation.py walks into <svg>), and every element they
act on is one the observation lists (MiniwobPolicy checks it).
"""

from __future__ import annotations

import re

from agentgym.actions import ToolCall

from agentgym.envs.web.miniwob_apps import pick_date
from agentgym.envs.web.miniwob_solvers import Page, solves
from agentgym.envs.web.miniwob_tasks import T, activate, by_text, wait_until

# The shapes of MiniWoB's shapes.js as drawn in #area_svg: what each is, read from its attributes
# (size 1 is drawn 20 px wide, size 0 10 px), in document order.
SHAPE_ELEMS = "$$('#area_svg > *').filter((e) => ['text', 'rect', 'circle', 'polygon'].includes(e.tagName))"
SHAPES_JS = SHAPE_ELEMS + """.map((e) => {
  let type = 'shape', text = e.tagName, w = 0;
  if (e.tagName === 'text') { text = txt(e); type = /^[0-9]$/.test(text) ? 'digit' : 'letter'; w = parseFloat(e.getAttribute('font-size')); }
  else if (e.tagName === 'rect') { text = 'rectangle'; w = +e.getAttribute('width'); }
  else if (e.tagName === 'circle') { w = 2 * e.getAttribute('r'); }
  else { text = 'triangle'; const xs = e.getAttribute('points').trim().split(/\\s+/).map((p) => +p.split(',')[0]); w = Math.max(...xs) - Math.min(...xs); }
  return {type, text, color: e.getAttribute('fill'), size: w >= 15 ? 'large' : 'small'};
})"""
COLORS = {"red", "green", "blue", "aqua", "black", "magenta", "yellow"}


def shape_matches(shape: dict[str, str], desc: str) -> bool:
    """shapes.shapeMatchesText on a description such as 'large red circle', 'small item', 'digit'."""
    words = desc.split()
    size = words.pop(0) if words and words[0] in ("large", "small") and len(words) > 1 else ""
    color = words.pop(0) if words and words[0] in COLORS and len(words) > 1 else ""
    what = " ".join(words)
    return ((not size or shape["size"] == size) and (not color or shape["color"] == color)
            and (what == "item" or what in (shape["text"], shape["type"])))


@solves("click-shape")
def click_shape(p: Page) -> T:
    desc = re.match(r"Click on a (.*)", p.query()).group(1).strip()
    index = next(i for i, s in enumerate(p.read(SHAPES_JS)) if shape_matches(s, desc))
    yield p.click(f"{SHAPE_ELEMS}[a[0]]", index)


@solves("count-shape")
def count_shape(p: Page) -> T:
    desc = re.search(r"How many (.*)s are there\?", p.query()).group(1).strip()
    count = sum(shape_matches(s, desc) for s in p.read(SHAPES_JS))
    yield p.click(by_text("#count-buttons button"), str(count))


@solves("grid-coordinate")
def grid_coordinate(p: Page) -> T:
    yield p.click("document.getElementById(a[0])", re.search(r"\(-?\d,-?\d\)", p.query()).group(0))


@solves("number-checkboxes")
def number_checkboxes(p: Page) -> T:
    n = int(re.search(r'number "(\d)"', p.query()).group(1))
    pattern = p.read("PATTERNS[a[0]]", n)  # the page's own drawing of each digit (its example shows the same)
    for i, row in enumerate(pattern):
        for j, on in enumerate(row):
            if on:
                yield p.click("$$('#checkboxes input')[a[0]]", i * 4 + j)
    yield p.click("'#subbtn'")


@solves("buy-ticket")
def buy_ticket(p: Page) -> T:
    want = p.read("txt(document.querySelector('#query .bold'))")
    key, attr = ("data-price", ".buy-ticket") if "cost" in want else ("data-duration", ".time-duration")
    values = p.read("$$('#area .flight').map((f) => +f.querySelector(a[1]).getAttribute(a[0]))", key, attr)
    best = (max if want.startswith(("most", "longest")) else min)(values)
    yield p.click("$$('#area .flight')[a[0]].querySelector('.buy-ticket')", values.index(best))


@solves("order-food")
def order_food(p: Page) -> T:
    q = p.query()
    m = re.match(r"Order (\d+) items that are (.*)", q)
    if m:
        count, kind = int(m.group(1)), m.group(2).strip()
        name = p.read("MENU.find((it) => it.types.includes(a[0])).name", kind)
        orders = [(name, count)]
    else:
        # (a menu name may carry a space the page's text does not show: ' Coconut mango tart')
        orders = [(n, 1) for n in p.read("MENU.map((it) => it.name).filter((n) => a[0].split(': ')[1].split(', ').includes(n.trim()))", q)]
    for name, count in orders:
        for _ in range(count):
            yield p.click("$$('.food-item').find((e) => e.getAttribute('data-item') === a[0]).querySelector('.add')", name)
    yield p.click("'#submit-order button'")


@solves("multi-layouts")
def multi_layouts(p: Page) -> T:
    genre, name, year = p.read("$$('#query b').map(txt)")
    labels = p.read("$$('#area input').map((i) => txt(i.parentElement.closest('p, .row, tr, .field, .ui-entry')))")
    for i, label in enumerate(labels):
        value = genre if "Genre" in label else name if "Director" in label else year
        yield p.fill("$$('#area input')[a[0]]", value, i)
    yield activate(p, "$$('#area button, #area .final, #area .ui-submit')[0]")


@solves("terminal")
def terminal(p: Page) -> T:
    ext = p.read("txt(document.querySelector('#query .bold'))")
    yield from type_line(p, "ls")
    files = p.read("txt($$('#terminal-contents .output').slice(-1)[0])").split()
    want = next(f for f in files if (("." not in f) if ext == "no file extension" else f.endswith(ext)))
    yield from type_line(p, f"rm {want}")


def type_line(p: Page, line: str) -> T:
    """Type a command into the terminal key by key (it reads keydown events), then Enter."""
    for key in [*line, "Enter"]:
        yield p.press(key, "'#terminal-target'")


@solves("book-flight", "book-flight-nodelay", family_name="book-flight")
def book_flight(p: Page) -> T:
    kind, origin, dest, date = p.read("$$('#query .bold').map(txt)")
    for field, want in (("#flight-from", origin), ("#flight-to", dest)):
        full = p.read("DOMESTIC_FLIGHTS.find((f) => f.replace(/(\\s\\()|(\\))/g, '_').split('_').slice(0, 2).includes(a[0]))", want)
        yield p.fill(repr(field), full)
        menu = "$$('.ui-autocomplete').find(vis)"  # the suggestions open after a moment, over what is below
        yield from wait_until(p, f"!!{menu}", tries=20)
        if p.read(f"!!{menu}"):
            yield p.click(f"$$('.ui-autocomplete li').find((e) => vis(e) && txt(e) === a[0])", full)
            yield from wait_until(p, f"!{menu}", tries=20)
    month, day, year = (int(x) for x in date.split("/"))
    yield from pick_date(p, "#datepicker", month, day, year)
    yield activate(p, "document.getElementById('search')")
    yield from wait_until(p, "$$('#results .flight').length > 0")
    key, attr = ("data-price", ".flight-price") if kind == "cheapest" else ("data-duration", ".time-duration")
    values = p.read("$$('#results .flight').map((f) => +f.querySelector(a[1]).getAttribute(a[0]))", key, attr)
    yield p.click("$$('#results .flight')[a[0]].querySelector('.flight-price')", values.index(min(values)))


@solves("daily-calendar")
def daily_calendar(p: Page) -> T:
    length, unit, name, window = re.search(r"Create a ([\d.]+) (hours?|mins) event named \"(\w+)\", between (\S+ and \S+)\.",
                                           p.query()).groups()
    slots = round(float(length) / 30) if unit == "mins" else round(float(length) * 2)  # half hours
    lo = {"8AM and 12PM": 16, "12PM and 4PM": 24, "4PM and 8PM": 32}[window]
    # the page counts an event right when it ends inside the window; pick slots no other event covers
    free = p.read("""$$('.half-hour').filter((h) => { const r = h.getBoundingClientRect(), y = r.y + r.height / 2;
      return !$$('.event').some((e) => { const o = e.getBoundingClientRect(); return o.top < y + 2 && o.bottom > y - 2; }); }).map((h) => h.id)""")
    start = next(s for s in range(lo - slots, lo + 8 - slots + 1)
                 if all(f"hh-{i}" in free for i in range(s, s + slots)))
    source, target = p.id("document.getElementById(a[0])", f"hh-{start}"), p.id("document.getElementById(a[0])", f"hh-{start + slots - 1}")
    yield ToolCall(name="drag", arguments={"source": source, "target": target})
    yield from wait_until(p, "!!document.getElementById('event-name')")
    yield p.fill("'#event-name'", name)
    yield p.click("'#controls .create'")


def drag(p: Page, source: str, target: str, *args: object) -> ToolCall:
    return ToolCall(name="drag", arguments={"source": p.id(source, *args), "target": p.id(target, *args)})


@solves("drag-box")
def drag_box(p: Page) -> T:
    """Grabbed at its centre and dropped on the large box's centre, the small box lands inside it.
    The boxes are placed at random: when they overlap, the one on top may hide the other's centre
    (a drop there is refused), so the hidden one is dragged, or the small one moved off first."""
    small, large = "'#draggableSmall'", "'#draggableLarge'"
    state = p.read("""(() => { const s = document.getElementById('draggableSmall').getBoundingClientRect(),
        l = document.getElementById('draggableLarge').getBoundingClientRect();
      const top = (r) => document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
      const dx = s.left - l.left, dy = s.top - l.top;
      return dx > 0 && dx < 30 && dy > 0 && dy < 30 ? 'inside' : top(s) && top(s).id === 'draggableLarge' ? 'small hidden'
        : top(l) && top(l).id === 'draggableSmall' ? 'large hidden' : 'apart'; })()""")
    if state == "small hidden":
        yield drag(p, large, small)
    elif state == "large hidden":
        yield drag(p, small, "'#subbtn'")
        yield drag(p, small, large)
    elif state == "apart":
        yield drag(p, small, large)
    yield activate(p, "document.getElementById('subbtn')")


@solves("text-editor")
def text_editor(p: Page) -> T:
    """Select the text with the keyboard (all of it, or the word: Home, arrows, Shift+arrows), then
    the toolbar's style button or colour."""
    bold = p.read("$$('#query .bold').map(txt)")
    what, style = bold[0], bold[1]
    text = p.read("editor.getText().replace(/\\n+$/, '')")
    editor = "'#editor .ql-editor'"
    words = text.split(" ")
    start, length = (0, len(text)) if what == "everything" else (sum(len(w) + 1 for w in words[:words.index(what)]), len(what))
    selected = "(() => { const r = editor.getSelection(); return !!r && r.index === a[0] && r.length === a[1]; })()"
    yield p.click(editor)
    for _ in range(3):  # MiniWoB marks the clicked paragraph (data-tampered); Quill may redo its selection after
        if what == "everything":
            yield p.press("Control+a", editor)
        elif start <= len(text) - start - length:  # from whichever end is nearer (the episode has 30 turns)
            yield p.press("Control+Home", editor)
            for _ in range(start):
                yield p.press("ArrowRight", editor)
            for _ in range(length):
                yield p.press("Shift+ArrowRight", editor)
        else:
            yield p.press("Control+End", editor)
            for _ in range(len(text) - start - length):
                yield p.press("ArrowLeft", editor)
            for _ in range(length):
                yield p.press("Shift+ArrowLeft", editor)
        yield from wait_until(p, selected, start, length, tries=5)
        if p.read(selected, start, length):
            break
    button = {"bold": "ql-bold", "italics": "ql-italic", "underlined": "ql-underline"}.get(style)
    if button:
        yield p.click(f"'.ql-toolbar .{button}'")
    else:  # a colour: the first (strongest) of its column in Quill's palette
        value = p.read("COLOR_MAP[a[0]][0]", style)
        yield p.click("'.ql-toolbar .ql-color .ql-picker-label'")
        yield p.click("document.querySelector(a[0])", f".ql-toolbar .ql-color .ql-picker-item[data-value='{value}']")
    yield p.click("'#subbtn'")


# count-sides draws a regular polygon (3 to 7 sides, turned 0-180 degrees) on a canvas: what a
# screenshot shows. The solver reads the canvas's pixels and finds the drawing that matches them.
SIDES_JS = """(() => {
  const src = document.getElementById('c'), W = src.width, H = src.height;
  const want = src.getContext('2d').getImageData(0, 0, W, H).data;
  const g = new OffscreenCanvas(W, H).getContext('2d');
  let best = null;
  for (let n = 3; n <= 7; n++) for (let deg = 0; deg <= 180; deg++) {
    g.setTransform(1, 0, 0, 1, 0, 0); g.clearRect(0, 0, W, H); g.translate(75, 50); g.rotate(deg * Math.PI / 180);
    g.beginPath(); g.moveTo(35, 0);
    for (let i = 1; i <= n; i++) g.lineTo(35 * Math.cos(i * 2 * Math.PI / n), 35 * Math.sin(i * 2 * Math.PI / n));
    g.strokeStyle = '#000000'; g.lineWidth = 3; g.stroke();
    const d = g.getImageData(0, 0, W, H).data; let diff = 0;
    for (let k = 3; k < d.length; k += 4) diff += Math.abs(d[k] - want[k]);
    if (!best || diff < best[0]) best = [diff, n];
  }
  return best[1];
})()"""


@solves("count-sides")
def count_sides(p: Page) -> T:
    yield p.click("$$('#form button').find((b) => b.getAttribute('data-sides') === String(a[0]))", p.read(SIDES_JS))


@solves("use-colorwheel", "use-colorwheel-2", family_name="use-colorwheel")
def use_colorwheel(p: Page) -> T:
    """The colour picker's own text field takes the colour as hex (what the wheel would set)."""
    if p.read("!!document.querySelector('#query .cc')"):  # -2: the colour is shown as a swatch
        rgb = p.read("getComputedStyle(document.querySelector('#query .cc')).backgroundColor")
        hex_value = "#" + "".join(f"{int(v):02x}" for v in re.findall(r"\d+", rgb)[:3])
    else:
        hex_value = p.read("ui_utils.colorNameToHex(a[0])", re.match(r"Select (.+?) with the color picker", p.query()).group(1))
    yield p.fill("'#col'", hex_value.lstrip("#"))
    yield p.click("'#subbtn'")
