"""MiniWoB++ solvers that need the pointer at a place: drags through sortable lists and of SVG
shapes, points on a picture, a resize handle, the wheel, a text selection (env option coords=True).

Why a module of its own: these tasks were left out until the env had coordinate tools; their
solvers share one rule on top of miniwob_solvers.py's (targets are listed ids): a point is taken
only from what the agent is shown, the box (@x,y,w,h) the observation gives a listed element
(Page.box), or the picture the agent gets with screenshot=True (Page.picture) for a dot drawn in
an SVG the text cannot show. Reading the page says WHAT to do (which item, which direction), never
WHERE: no coordinates from the page's scripts or the SVG's attributes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

import numpy as np

from agentgym.actions import ToolCall
from agentgym.envs.web.miniwob_solvers import Page, solves

T = Iterator[ToolCall]
Box = tuple[float, float, float, float]


def centre(b: Box) -> tuple[float, float]:
    return b[0] + b[2] / 2, b[1] + b[3] / 2


def drag(p: Page, fx: float, fy: float, tx: float, ty: float) -> ToolCall:
    return p.pointer("mouse_drag", from_x=fx, from_y=fy, to_x=tx, to_y=ty)


def noop(ms: int = 100) -> ToolCall:
    return ToolCall(name="noop", arguments={"wait_ms": ms})


# ---- sortable lists (jQuery UI sortable): an item moves once the pointer passes the middle of the
# item it goes to, so the drop aims a quarter of an item past that middle, on the far side.

def sort_drag(p: Page, item: str, to: str, *args: object) -> ToolCall:
    src, dst = p.box(item, *args), p.box(to, *args)
    (sx, sy), (tx, ty) = centre(src), centre(dst)
    ty += math.copysign(dst[3] / 4, ty - sy) if abs(ty - sy) > 1 else 0
    return drag(p, sx, sy, tx, ty)


ITEM = "$$('#sortable li')[a[0]]"


def sortable_position(q: str, index: int, n: int, grid: bool) -> int:
    """The 0-based place the query asks for (index: the item's own place)."""
    words = {"top": 0, "bottom": n - 1} if not grid else {}
    if grid:
        rows, cols = {"top": 0, "center": 1, "bottom": 2}, {"left": 0, "center": 1, "right": 2}
        m = re.search(r"to the (top|center|bottom)? ?(left|center|right)?\.", q)
        if m and (m.group(1) or m.group(2)):
            return rows[m.group(1) or "center"] * 3 + cols[m.group(2) or "center"]
        step = {"up": -3, "down": 3, "left": -1, "right": 1}[re.search(r"(up|down|left|right) by one", q).group(1)]
        return index + step
    if m := re.search(r"to the (\d+)", q):
        return int(m.group(1)) - 1
    if m := re.search(r"to the (top|bottom)", q):
        return words[m.group(1)]
    return index + (1 if "down by one" in q else -1)


@solves("drag-items", "drag-items-grid")
def drag_items(p: Page) -> T:
    q = p.query()
    grid = p.read("$$('#sortable li').length") == 9
    name = re.match(r"Drag (.+?) (to the|up|down|left|right)", q).group(1)
    names = p.read("$$('#sortable li').map(txt)")
    i = names.index(name)
    j = sortable_position(q, i, len(names), grid)
    if not grid:
        yield sort_drag(p, ITEM, ITEM.replace("a[0]", "a[1]"), i, j)
        return
    # a grid of floats: where the item lands depends on the direction of the last move, so the pointer
    # goes off the grid first (above it to go later in the order, below it to go earlier), then
    # straight down or up onto the far half of the target: after it (down) or before it (up)
    (sx, sy), (x, y, w, h) = centre(p.box(ITEM, i)), p.box(ITEM, j)
    items = [p.box(ITEM, k) for k in range(len(names))]  # (the list itself has no height: its items float)
    later = j > i
    stage_y = min(b[1] for b in items) - 6 if later else max(b[1] + b[3] for b in items) + 6
    end_y = y + h * (0.75 if later else 0.25)
    yield p.pointer("mouse_down", x=sx, y=sy)
    yield p.pointer("mouse_move", x=x + w / 2, y=stage_y)
    yield p.pointer("mouse_move", x=x + w / 2, y=end_y)
    yield p.pointer("mouse_up", x=x + w / 2, y=end_y)


@solves("drag-sort-numbers")
def drag_sort_numbers(p: Page) -> T:
    n = p.read("$$('#sortable li').length")
    for k in range(n):  # selection sort, every move upwards: the smallest of the rest to place k
        values = [int(v) for v in p.read("$$('#sortable li').map(txt)")]
        i = min(range(k, n), key=lambda x: values[x])
        if i != k:
            yield sort_drag(p, ITEM, ITEM.replace("a[0]", "a[1]"), i, k)
    yield p.click("'#subbtn'")


# ---- text selection, resize handle, wheel --------------------------------------------------------

@solves("highlight-text", "highlight-text-2")
def highlight_text(p: Page) -> T:
    m = re.search(r"the (\d)(st|nd|rd) paragraph", p.query())
    el = f"$$('#randomText p')[{int(m.group(1)) - 1}]" if m else "document.getElementById('randomText')"
    yield ToolCall(name="select_text", arguments={"id": p.id(el), "text": p.read(f"txt({el})")})
    yield p.click("'#subbtn'")


@solves("resize-textarea")
def resize_textarea(p: Page) -> T:
    dim, way = re.search(r"the (width|height) is (smaller|larger)", p.query()).groups()
    x, y, w, h = p.box("'#tt'")
    d = 20 if way == "larger" else -20
    fx, fy = x + w - 4, y + h - 4  # the corner handle (ui-resizable-se) sits in the box's bottom right
    yield drag(p, fx, fy, fx + (d if dim == "width" else 0), fy + (d if dim == "height" else 0))
    yield p.click("'#submit'")


@solves("sign-agreement")
def sign_agreement(p: Page) -> T:
    q = p.query()
    if q.startswith("Click the cancel"):
        yield p.click("'#cancel'")
        return
    x, y = centre(p.box("'#text-area'"))
    for _ in range(5):  # the wheel over the (disabled) text until the page unlocks the form
        yield p.pointer("wheel", x=x, y=y, dy=3000)
        if p.read("!document.getElementById('name').disabled"):
            break
    yield p.fill("'#name'", p.quoted()[0])
    yield p.click("'#agree'" if q.endswith('"Agree"') else "'#cancel'")


# ---- SVG shapes listed in the observation ----------------------------------------------------------

@solves("drag-circle", "drag-single-shape")
def drag_shape(p: Page) -> T:
    way = re.search(r"Drag the \w+ (left|right|up|down)", p.query()).group(1)
    shape = "$$('#area svg .black-shape, #area svg .black-circle')[0]"
    x, y = centre(p.box(shape))
    dx, dy = {"left": (-15, 0), "right": (15, 0), "up": (0, -15), "down": (0, 15)}[way]
    yield drag(p, x, y, x + dx, y + dy)
    yield p.click("'#subbtn'")


@solves("click-pie", "click-pie-nodelay", family_name="click-pie")
def click_pie(p: Page) -> T:
    x, y = centre(p.box("'#wheelnav-divWheel-spreader'"))
    yield p.pointer("mouse_click", x=x, y=y)  # its "+" lies over it: a click at the point reaches either
    label = "$$('#area svg text').find((e) => /title-\\d+$/.test(e.id) && txt(e) === a[0])"
    want, last = p.quoted()[0], None
    for _ in range(30):  # the menu opens in an animation: wait until the label's box is full size and still
        b = p.box(label, want)
        if b == last and b[2] >= 5:
            break
        last = b
        yield noop()
    x, y = centre(p.box(label, want))
    yield p.pointer("mouse_click", x=x, y=y)  # on the glyph or, in a hole of it, on the slice under it: both pick the item


# ---- dots drawn in an SVG: found in the picture the agent is shown -------------------------------

def _pixels(p: Page, area: Box, colour: str) -> np.ndarray:
    """(x, y) viewport points of the picture inside area whose colour is dark ('black'), 'blue',
    'green' or 'purple'."""
    img = p.picture().astype(int)
    x, y, w, h = (int(round(v)) for v in area)
    crop = img[max(y, 0):y + h, max(x, 0):x + w]
    r, g, b = crop[..., 0], crop[..., 1], crop[..., 2]
    mask = {"black": (r < 90) & (g < 90) & (b < 90),
            "blue": (b > 150) & (r < 90) & (g < 90),
            "green": (g > 90) & (r < 60) & (b < 60),
            "purple": (r > 90) & (b > 90) & (g < 60)}[colour]
    ys, xs = np.nonzero(mask)
    return np.stack([xs + max(x, 0), ys + max(y, 0)], axis=1).astype(float)


def _two_blobs(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = pts[0]
    b = pts[np.argmax(((pts - a) ** 2).sum(1))]
    near_b = ((pts - b) ** 2).sum(1) < ((pts - a) ** 2).sum(1)
    return pts[~near_b].mean(0), pts[near_b].mean(0)


SVG = "document.querySelector('#area svg')"


@solves("circle-center")
def circle_center(p: Page) -> T:
    pts = _pixels(p, p.box(SVG), "black")  # the circle's outline
    x, y = (pts.min(0) + pts.max(0)) / 2
    yield p.pointer("mouse_click", x=float(x), y=float(y))
    yield p.click("'#subbtn'")


@solves("find-midpoint")
def find_midpoint(p: Page) -> T:
    a, b = _two_blobs(_pixels(p, p.box(SVG), "black"))
    x, y = (a + b) / 2
    yield p.pointer("mouse_click", x=float(x), y=float(y))
    yield p.click("'#subbtn'")


def _inside(area: Box, x: float, y: float, margin: float = 4) -> bool:
    return area[0] + margin <= x <= area[0] + area[2] - margin and area[1] + margin <= y <= area[1] + area[3] - margin


def _ray_end(pts: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The unit direction from v to the dark pixel farthest from it (a line's far end)."""
    d = pts - v
    k = np.argmax((d ** 2).sum(1))
    return d[k] / np.linalg.norm(d[k])


def _free(p: Page, area: Box) -> Callable[[float, float], bool]:
    """Whether a point is on the picture and clear of the Submit button (it overlaps the bottom edge)."""
    x, y, w, h = p.box("'#subbtn'")
    return lambda px, py: _inside(area, px, py) and not _inside((x - 4, y - 4, w + 8, h + 8), px, py, margin=0)


@solves("right-angle")
def right_angle(p: Page) -> T:
    area = p.box(SVG)
    v = _pixels(p, area, "blue").mean(0)  # the vertex; the black dot ends the line from it
    u = _ray_end(_pixels(p, area, "black"), v)
    free = _free(p, area)
    for r in (35, 25, 15, 10):
        for s in (1, -1):
            x, y = v + r * s * np.array([-u[1], u[0]])
            if free(x, y):
                yield p.pointer("mouse_click", x=float(x), y=float(y))
                yield p.click("'#subbtn'")
                return


def _dots(pts: np.ndarray) -> np.ndarray:
    """The points of pts inside a filled dot (every 8-neighbour in pts too): a line's 1-2 px do not pass."""
    have = {(int(x), int(y)) for x, y in pts}
    keep = [all((int(x) + dx, int(y) + dy) in have for dx in (-1, 0, 1) for dy in (-1, 0, 1)) for x, y in pts]
    return pts[np.array(keep, dtype=bool)] if len(pts) else pts


@solves("bisect-angle")
def bisect_angle(p: Page) -> T:
    """Aim along the bisector, as far out as the picture allows (small angles need precision), then
    look where the page drew the dot (it places it by its own reckoning, a pixel or two off the
    pointer) and press again, corrected by that difference."""
    area = p.box(SVG)
    v = _pixels(p, area, "blue").mean(0)  # the vertex (a blue dot, nothing else blue yet)
    a, b = _two_blobs(_dots(_pixels(p, area, "black")))  # the two black dots; their lines do not pass
    m = (a - v) / np.linalg.norm(a - v) + (b - v) / np.linalg.norm(b - v)
    m = m / np.linalg.norm(m)
    free = _free(p, area)
    aim = next((v + r * m for r in range(100, 6, -2) if free(*(v + r * m))), v + 6 * m)
    yield p.pointer("mouse_click", x=float(aim[0]), y=float(aim[1]))
    blue = _dots(_pixels(p, area, "blue"))
    if len(blue):
        drawn = blue[((blue - v) ** 2).sum(1) > 25]  # the new dot, away from the vertex
        if len(drawn):
            off = drawn.mean(0) - aim
            if np.abs(off).max() >= 0.5:
                yield p.pointer("mouse_click", x=float(aim[0] - off[0]), y=float(aim[1] - off[1]))
    yield p.click("'#subbtn'")


@solves("draw-line")
def draw_line(p: Page) -> T:
    area = p.box(SVG)
    x, y = _pixels(p, area, "purple").mean(0)
    if "vertical" in p.query():
        y0, y1 = max(area[1] + 4, y - 30), min(area[1] + area[3] - 4, y + 30)
        yield drag(p, x, y0, x, y1)
    else:
        x0, x1 = max(area[0] + 4, x - 30), min(area[0] + area[2] - 4, x + 30)
        yield drag(p, x0, y, x1, y)
    yield p.click("'#controls button'")


@solves("draw-circle")
def draw_circle(p: Page) -> T:
    area = p.box(SVG)
    cx, cy = _pixels(p, area, "green").mean(0)
    r = min(20.0, cx - area[0] - 4, area[0] + area[2] - 4 - cx, cy - area[1] - 4, area[1] + area[3] - 4 - cy)
    ring = [(cx + r * math.cos(t), cy + r * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 13)]
    yield p.pointer("mouse_down", x=ring[0][0], y=ring[0][1])
    for x, y in ring[1:]:
        yield p.pointer("mouse_move", x=float(x), y=float(y))
    yield p.pointer("mouse_up", x=ring[-1][0], y=ring[-1][1])
    yield p.click("'#controls button'")


# ---- shapes dragged into boxes that only the picture shows -----------------------------------------

def _outlines(p: Page, shapes: list[Box]) -> list[Box]:
    """The black outlines drawn in the task area (between the query and the Submit button, as wide
    as the query), found in the picture apart from the listed shapes: one box, or two side by side."""
    q, sub = p.box("'#query'"), p.box("'#subbtn'")
    top = q[1] + q[3]
    img = p.picture().astype(int)[int(top):int(sub[1]), int(q[0]):int(q[0] + q[2])]
    dark = (img < 60).all(axis=2)
    for x, y, w, h in shapes:  # a black shape is not an outline
        dark[max(int(y - top) - 3, 0):int(y - top + h) + 3, max(int(x - q[0]) - 3, 0):int(x - q[0] + w) + 3] = False
    ys, xs = np.nonzero(dark)
    cols = np.unique(xs)
    gaps = np.nonzero(np.diff(cols) > 4)[0]
    groups = np.split(cols, gaps + 1)
    out = []
    for g in groups:
        sel = (xs >= g[0]) & (xs <= g[-1])
        out.append((q[0] + g[0], top + ys[sel].min(), float(g[-1] - g[0]), float(ys[sel].max() - ys[sel].min())))
    return out


TAGS = {"circles": "circle", "rectangles": "rect", "triangles": "polygon"}
SHAPES = "$$('#area svg > *').filter((e) => e.id !== 'shape-container')"


@solves("drag-shapes", "drag-shapes-2")
def drag_shapes(p: Page) -> T:
    word = re.search(r"Drag all (\w+)", p.query()).group(1)  # a kind of shape, or a colour (-2: "all red shapes")
    seen = p.read(f"{SHAPES}.map((e) => [e.tagName, e.getAttribute('fill')])")  # what each shape looks like
    wanted = [(tag == TAGS[word]) if word in TAGS else (fill == word) for tag, fill in seen]
    into = _outlines(p, [p.box(f"{SHAPES}[a[0]]", i) for i in range(len(seen))])
    for i, want in enumerate(wanted):
        if len(into) == 1 and not want:
            continue  # drag-shapes: the others stay out
        target = into[0] if want else into[-1]
        x, y = centre(p.box(f"{SHAPES}[a[0]]", i))
        yield drag(p, x, y, *centre(target))
    yield p.click("'#subbtn'")


# ---- hot-cold: a search by the page's own feedback ------------------------------------------------
BANDS = {"ICE COLD": 0, "COLD": 1, "WARM": 2, "HOT": 3}  # distance under 40, 10, 5 px: COLD and up pay > 0


@solves("hot-cold")
def hot_cold(p: Page) -> T:
    """Move over a 3 x 3 grid (every point of the area is within 34 px of one) until the page says
    COLD or better, then a pattern search with halving steps for a hotter band; click the best.
    COLD pays 0.25, WARM 0.5, HOT 1: any of them is solved as BrowserGym reads the reward (> 0)."""
    x0, y0, w, h = p.box("'#touch-area'")
    best, band = (x0 + w / 2, y0 + h / 2), -1

    def probe(x: float, y: float) -> T:
        nonlocal best, band
        x, y = min(max(x, x0 + 2), x0 + w - 2), min(max(y, y0 + 2), y0 + h - 2)
        yield p.pointer("mouse_move", x=x, y=y)
        seen = BANDS.get(p.read("txt(document.getElementById('display'))"), -1)  # the signal the page shows
        if seen > band:
            best, band = (x, y), seen

    for fy in (1 / 6, 3 / 6, 5 / 6):
        for fx in (1 / 6, 3 / 6, 5 / 6):
            if band < 1:
                yield from probe(x0 + w * fx, y0 + h * fy)
    step, moves = 16.0, 9
    while band < 3 and step >= 2 and moves <= 24:  # within the episode's 30 turns
        moves += 4
        before = band
        for dx, dy in ((step, 0), (-step, 0), (0, step), (0, -step)):
            cx, cy = best
            yield from probe(cx + dx, cy + dy)
            if band > before:
                break
        if band == before:
            step /= 2
    yield p.pointer("mouse_click", x=best[0], y=best[1])


# ---- drag-cube: the page's cube turns with momentum from the mouse ----------------------------------
# It samples the pointer every 20 ms while the button is down and keeps turning after, slowing down:
# one press, one move and a wait turn it by a fixed amount for a given move. Each drag below, from
# the cube's reset pose (face 6 in front), brings one face to the front with ~40 degrees to spare.
CUBE_DRAGS = {"1": (0, -120), "2": (-120, 0), "3": (-40, 0), "4": (40, 0), "5": (120, 0)}
FRONT = "txt(document.querySelector('.cube .active'))"  # the face the cube shows in front


@solves("drag-cube")
def drag_cube(p: Page) -> T:
    want = p.read("txt(document.querySelector('#query .bold'))")
    if want in CUBE_DRAGS:
        x, y = centre(p.box("$$('.cube-image')[5]"))
        x, y = x + 130, y + 130  # the page follows the mouse anywhere on it: start off the cube, room every way
        dx, dy = CUBE_DRAGS[want]
        yield p.pointer("mouse_move", x=x, y=y)  # the first move is sampled with the button up: no turn
        yield noop(300)
        yield p.pointer("mouse_down", x=x, y=y)
        yield p.pointer("mouse_move", x=x + dx, y=y + dy)  # one move: sampled once, as one push
        yield noop(1000)
        yield p.pointer("mouse_up", x=x + dx, y=y + dy)
        last = None
        for _ in range(10):  # until the cube has stopped on a face
            now = p.read(FRONT)
            if now == last:
                break
            last = now
            yield noop(500)
    yield p.click("'#subbtn'")
