"""MiniWoB++ solvers for the app-like tasks: menus, dates, sliders, search, social media, email.

The simpler widgets, the helpers and the tasks left out are in miniwob_tasks.py.
"""

from __future__ import annotations

import re

from agentgym.actions import ToolCall
from agentgym.envs.web.miniwob_solvers import Page, solves
from agentgym.envs.web.miniwob_tasks import T, by_text, icon_click, wait_until


@solves("click-collapsible-2", "click-collapsible-2-nodelay", family_name="click-collapsible-2")
def click_collapsible_2(p: Page) -> T:
    want = p.quoted()[0]
    # the section (h3) right before the block that holds the link
    header = p.read("(() => { const l = $$('#area span.alink').find((e) => txt(e) === a[0]); return path(l.closest('div').previousElementSibling); })()", want)
    yield p.click("a[0]", header)
    yield p.click(by_text("#area span.alink"), want)


@solves("click-menu")
def click_menu(p: Page) -> T:
    names = re.match(r"Select (.*)", p.query()).group(1).split(">")
    scope = "#menu"
    for i, name in enumerate(names):
        item = p.read("path($$(a[0] + ' > li').find((li) => txt(li.querySelector(':scope > div')) === a[1]))", scope, name)
        if i < len(names) - 1:
            yield ToolCall(name="hover", arguments={"id": p.id("a[0] + ' > div'", item)})
            scope = item + " > ul"
            yield from wait_until(p, "vis(document.querySelector(a[0]))", scope)
        else:
            yield p.click("a[0] + ' > div'", item)


@solves("click-menu-2")
def click_menu_2(p: Page) -> T:
    icons = {"ui-icon-disk": "Save", "ui-icon-seek-start": "Prev", "ui-icon-stop": "Stop", "ui-icon-play": "Play",
             "ui-icon-seek-end": "Next", "ui-icon-zoomin": "Zoom In", "ui-icon-zoomout": "Zoom Out"}
    quoted = [q for q in p.quoted() if q != "Menu"]
    label = quoted[0] if quoted else icons[p.read("document.querySelector('#query .ui-icon').classList[1]")]
    yield p.click("'#open-menu'")
    if label in ("Prev", "Stop", "Play", "Next"):
        yield ToolCall(name="hover", arguments={"id": p.id(by_text("#menu > li > div"), "Playback")})
        yield from wait_until(p, "vis(document.querySelector('#menu > li > ul'))")
    yield p.click(by_text("#menu li > div"), label)


@solves("click-shades")
def click_shades(p: Page) -> T:
    color = re.search(r"shades of (\w+)", p.query()).group(1)
    count = p.read("$$('#area span').length")
    for i in range(count):
        if p.read("$$('#area span')[a[0]].getAttribute('data-color')", i) == color:
            yield p.click("$$('#area span')[a[0]]", i)
    yield p.click("'#submit'")


@solves("click-color")
def click_color(p: Page) -> T:
    color = re.search(r"Click on the (.*) colored box", p.read("core.getUtterance()")).group(1).strip()
    yield p.click("$$('#area .color').find((e) => e.getAttribute('data-color') === a[0])", color)


@solves("copy-paste")
def copy_paste(p: Page) -> T:
    yield p.fill("'#answer-input'", p.read("document.getElementById('to-copy').value"))
    yield p.click("'#subbtn'")


@solves("copy-paste-2")
def copy_paste_2(p: Page) -> T:
    n = int(re.search(r"(\d)(st|nd|rd) text area", p.query()).group(1))
    yield p.fill("'#answer-input'", p.read("document.getElementById('text-' + a[0]).value", n))
    yield p.click("'#subbtn'")


@solves("ascending-numbers")
def ascending_numbers(p: Page) -> T:
    yield p.click("$$('svg text').find((e) => txt(e) === '1')")  # the numbers hide behind boxes, in place
    while p.read("$$('svg rect').length"):
        yield p.click("$$('svg rect').sort((x, y) => x.getAttribute('data-index') - y.getAttribute('data-index'))[0]")
        if p.read("WOB_DONE_GLOBAL"):
            return


def slide_to(p: Page, slider: str, want: int) -> T:
    """Move a jQuery UI slider to a value with its keyboard on the focused handle: Home or End,
    then PageUp/PageDown (a fifth of the range), then the arrows."""
    handle = f"{slider!r} + ' .ui-slider-handle'"
    lo, hi = p.read("[$(a[0]).slider('option', 'min'), $(a[0]).slider('option', 'max')]", slider)
    yield p.click(f"document.querySelector({handle})")
    yield p.press("Home" if want - lo <= hi - want else "End", f"document.querySelector({handle})")
    for _ in range(40):
        diff = want - int(p.read("$(a[0]).slider('value')", slider))
        if diff == 0:
            return
        big = abs(diff) >= (hi - lo) / 5
        key = ("PageUp" if big else "ArrowRight") if diff > 0 else ("PageDown" if big else "ArrowLeft")
        yield p.press(key, f"document.querySelector({handle})")


@solves("form-sequence")
def form_sequence(p: Page) -> T:
    n, box = re.search(r"Select (-?\d+) with the slider, click the (\d)", p.query()).groups()
    yield from slide_to(p, "#slider", int(n))
    yield p.click(f"'#checkbox-{box}'")
    yield p.click("'#subbtn'")


@solves("form-sequence-2")
def form_sequence_2(p: Page) -> T:
    radio, number, box = re.search(r"the (\d)\w\w radio button and enter the number \"(-?\d+)\" into the (\d)", p.query()).groups()
    yield p.click(f"'#area input[type=radio][value=\"{radio}\"]'")
    yield p.fill(f"'#input-{box}'", number)
    yield p.click("'#subbtn'")


@solves("form-sequence-3")
def form_sequence_3(p: Page) -> T:
    choice, button = re.search(r"Choose (.*) from the dropdown, then click the button labeled \"(\w+)\"", p.query()).groups()
    yield p.click("'.selectric'")  # the styled dropdown over the hidden <select>
    yield from wait_until(p, "vis(document.querySelector('.selectric-items'))")
    yield p.click(by_text(".selectric-items li"), choice)
    yield p.click(by_text("#buttons button"), button)


@solves("multi-orderings")
def multi_orderings(p: Page) -> T:
    genre, name, year = p.read("$$('#query b').map(txt)")
    for label, value in (("Genre", genre), ("Director", name), ("Year", year)):
        yield p.fill("$$('#area tr').find((r) => txt(r.querySelector('th')) === a[0]).querySelector('input')", value, label)
    yield p.click("'#area .final'")


@solves("scroll-text")
def scroll_text(p: Page) -> T:
    words = p.read("document.getElementById('text-area').value").split()
    yield p.fill("'#answer-input'", re.sub(r"[^a-zA-Z0-9]", "", words[-1]))
    yield p.click("'#subbtn'")


@solves("scroll-text-2")
def scroll_text_2(p: Page) -> T:
    down = "bottom" in p.query()
    yield ToolCall(name="hover", arguments={"id": p.id("'#text-area'")})  # the wheel scrolls what is under the mouse
    yield ToolCall(name="scroll", arguments={"dx": 0, "dy": 20000 if down else -20000})
    yield p.click("'#subbtn'")


@solves("text-transform")
def text_transform(p: Page) -> T:
    yield p.fill("'#tt'", p.read("txt(document.getElementById('captcha')).replace(/ /g, '')"))
    yield p.click("'#subbtn'")


@solves("choose-date", "choose-date-easy", "choose-date-medium", "choose-date-nodelay")
def choose_date(p: Page) -> T:
    month, day, year = (int(x) for x in re.search(r"Select (\d+)/(\d+)/(\d+)", p.query()).groups())
    yield from pick_date(p, "#datepicker", month, day, year)
    yield p.click("'#subbtn'")


def pick_date(p: Page, field: str, month: int, day: int, year: int) -> T:
    """Open a jQuery UI datepicker from its field, page to the month, click the day."""
    yield p.click(repr(field))
    yield from wait_until(p, "vis(document.getElementById('ui-datepicker-div'))")
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December"]
    for _ in range(30):
        shown = p.read("[txt(document.querySelector('.ui-datepicker-month')), txt(document.querySelector('.ui-datepicker-year'))]")
        at = (int(shown[1]), months.index(shown[0]) + 1)
        if at == (year, month):
            break
        yield p.click("'.ui-datepicker-prev'" if at > (year, month) else "'.ui-datepicker-next'")
    yield p.click("$$('#ui-datepicker-div td a').find((e) => txt(e) === String(a[0]))", day)


@solves("use-slider")
def use_slider(p: Page) -> T:
    yield from slide_to(p, "#slider", int(re.search(r"Select (-?\d+)", p.query()).group(1)))
    yield p.click("'#subbtn'")


@solves("use-slider-2")
def use_slider_2(p: Page) -> T:
    combo = [int(x) for x in re.search(r"\[([\d,]+)\]", p.query()).group(1).split(",")]
    for i, want in enumerate(combo, 1):
        yield from slide_to(p, f"#slider-{i}", want)
    yield p.click("'#subbtn'")


@solves("visual-addition")
def visual_addition(p: Page) -> T:
    yield p.fill("'#math-answer'", str(p.read("$$('#math-problem .addition-block').length")))
    yield p.click("'#subbtn'")


@solves("find-greatest")
def find_greatest(p: Page) -> T:
    yield p.click("$$('#cardholder .card').sort((x, y) => +txt(y) - +txt(x))[0]")
    yield p.click("'#submit'")


@solves("generate-number")
def generate_number(p: Page) -> T:
    q = p.query()
    less, more = re.search(r"less than (\d+)", q), re.search(r"greater than (\d+)", q)
    ok = ((lambda n: n < int(less.group(1))) if less else (lambda n: n > int(more.group(1))) if more
          else (lambda n: n % 2 == 1) if "odd" in q else (lambda n: n % 2 == 0))
    for _ in range(25):
        yield p.click("'#generate'")
        if ok(int(p.read("txt(document.getElementById('display-number'))"))):
            break
    yield p.click("'#submit'")


@solves("identify-shape")
def identify_shape(p: Page) -> T:
    kind = p.read("""(() => { const t = document.querySelector('#area_svg text');
      if (t) return /^[0-9]$/.test(txt(t)) ? 'digit' : 'letter';
      const e = document.querySelector('#area_svg rect, #area_svg circle, #area_svg polygon');
      return { rect: 'rectangle', circle: 'circle', polygon: 'triangle' }[e.tagName]; })()""")
    yield p.click("$$('#area-buttons button').find((b) => b.getAttribute('data-type') === a[0])", kind)


@solves("search-engine")
def search_engine(p: Page) -> T:
    term, pos = p.read("$$('#query .bold').map(txt)")
    k = int(re.match(r"\d+", pos).group(0))
    yield p.fill("'#search-text'", term)
    yield p.click("'#search'")
    page = (k - 1) // 3 + 1
    if page > 1:
        yield p.click(by_text("#pagination a"), str(page))
    yield p.click("$$('#page-content a').find((e) => e.getAttribute('data-result') === a[0])", str(k - 1))


SOCIAL = {"Share via DM": "share", "Copy link to Tweet": "copy", "Embed Tweet": "embed", "Mute": "menu-user",
          "Block": "block-user", "Report": "report", "Reply": "reply", "Retweet": "retweet", "Like": "like"}


def social_click(p: Page, index: int, action: str) -> T:
    """Click an action of the index-th post: a button of its own, or an item of its 'more' menu."""
    post = f"$$('#area .media')[{index}]"
    if action in ("reply", "retweet", "like"):
        yield from icon_click(p, f"{post}.querySelector('.{action}')")
    else:
        yield from icon_click(p, f"{post}.querySelector('.more')")
        yield p.click(f"{post}.querySelector('li.{action}')")


@solves("social-media")
def social_media(p: Page) -> T:
    user, label = p.read("$$('#query .bold').map(txt)")
    index = p.read("$$('#area .media').findIndex((m) => txt(m.querySelector('.username')) === a[0])", user)
    yield from social_click(p, index, SOCIAL[label])


@solves("social-media-all", "social-media-some")
def social_media_all(p: Page) -> T:
    bold = p.read("$$('#query .bold').map(txt)")
    action, user = bold[0].lower(), bold[-1]
    amount = int(bold[1]) if len(bold) == 3 else None  # -some: how many of the user's posts
    posts = p.read("$$('#area .media').map((m, i) => txt(m.querySelector('.username')) === a[0] ? i : -1).filter((i) => i >= 0)", user)
    for index in posts[:amount]:
        yield from icon_click(p, f"$$('#area .media')[{index}].querySelector('.{action}')")
    yield p.click("'#submitRow button'")


def email_task(p: Page) -> dict[str, str]:
    """What an email-inbox page asks: from its query, or (the natural-language variants) from the
    page's own utterance fields (core.currentFields, MiniWoB's annotation of the instruction)."""
    fields = p.read("core.currentFields || null")
    if fields:
        action = {"star": "important"}.get(fields.get("task", "forward"), fields.get("task", "forward"))
        return {"action": action, "name": fields["by"], "text": fields.get("message", ""), "to": fields.get("to", "")}
    q, bold = p.query(), p.read("$$('#query .bold').map(txt)")
    action = ("reply" if "reply to them" in q else "forward" if "forward" in q else "delete" if "trash" in q else "important")
    return {"action": action, "name": bold[0], "text": bold[1] if action == "reply" else "",
            "to": bold[1] if action == "forward" else ""}


@solves("email-inbox", "email-inbox-delete", "email-inbox-forward", "email-inbox-forward-nl", "email-inbox-forward-nl-turk",
        "email-inbox-important", "email-inbox-nl-turk", "email-inbox-noscroll", "email-inbox-reply", "email-inbox-star-reply")
def email_inbox(p: Page) -> T:
    t = email_task(p)
    thread = "$$('#main .email-thread').find((e) => txt(e.querySelector('.email-sender')) === a[0])"
    if t["action"] in ("delete", "important"):
        icon = "trash" if t["action"] == "delete" else "star"
        yield from icon_click(p, f"{thread.replace('a[0]', repr(t['name']))}.querySelector('.{icon}')")
        return
    yield p.click(thread, t["name"])  # the thread is what has the pointer (the sender inside it has no id)
    if t["action"] == "reply":
        yield p.click("'#email .email-reply'")
        yield p.fill("'#reply-text'", t["text"])
        yield from icon_click(p, "document.getElementById('send-reply')")
    else:
        yield p.click("'#email .email-forward'")
        yield p.fill("'#forward .forward-sender'", t["to"])
        yield from icon_click(p, "document.getElementById('send-forward')")


@solves("click-checkboxes-soft")
def click_checkboxes_soft(p: Page) -> T:
    words = [w.strip() for w in re.match(r"Select words similar to (.*) and click Submit\.", p.query()).group(1).split(",")]
    groups = [g for g in p.read("SYNONYMS") if any(w in g for w in words)]  # the page's own synonym lists
    labels = p.read("$$('#boxes label').map(txt)")
    for i, label in enumerate(labels):
        if any(label in g for g in groups):
            yield p.click("$$('#boxes label')[a[0]].querySelector('input')", i)
    yield p.click("'#subbtn'")
