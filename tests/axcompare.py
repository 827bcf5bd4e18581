"""Compare the web observation's ids and names with Chromium's own accessibility tree (CDP
Accessibility.getFullAXTree): every interactive element the tree lists must have a line with an
id in the observation, with the same accessible name and a matching role. And with Chromium's own
list of event listeners (CDP DOMDebugger.getEventListeners): every rendered element with a
click-like listener (SVG shapes, icons, divs: what the tree does not call interactive) must have
an id too. A helper for tests/test_web_observation_ax.py (and for checking any other page by hand)."""

from __future__ import annotations

import re
from typing import Any

from agentgym.envs.web.observation import MAX_TEXT, WALK_JS

# Chromium's roles of elements an agent acts on (a focusable node of any other role counts too).
INTERACTIVE = {"button", "link", "textbox", "searchbox", "combobox", "listbox", "checkbox", "radio", "slider",
               "spinbutton", "switch", "tab", "menuitem", "menuitemcheckbox", "menuitemradio", "option", "treeitem",
               "DisclosureTriangle", "ColorWell", "Date", "DateTime", "InputTime", "gridcell"}
# Chromium's role -> the roles our observation may show for it.
SAME_ROLE = {"DisclosureTriangle": {"button"}, "ColorWell": {"button"}, "Date": {"textbox"}, "DateTime": {"textbox"},
             "InputTime": {"textbox"}, "image": {"img"}, "generic": {"clickable", "textbox", "draggable"},
             "LabelText": {"label"}, "paragraph": {"clickable"}}
# Listener types that make an element something to click (as the observation's init script counts them).
CLICK_TYPES = {"click", "dblclick", "mousedown", "mouseup", "pointerdown", "pointerup"}
RENDERED_JS = ("function () { const r = this.getBoundingClientRect(), st = getComputedStyle(this);"
               " return r.width > 0 && r.height > 0 && st.visibility === 'visible' && !this.closest('[aria-hidden=true]'); }")
LINE = re.compile(r'^\s*\[(\d+)\] (\S+)(?: "((?:[^"\\]|\\.)*)")?')


def clean(s: str) -> str:
    s = " ".join((s or "").split())
    return s[:MAX_TEXT - 3] + "..." if len(s) > MAX_TEXT else s


def parse(text: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m and m.group(2) != "text":
            out.setdefault(m.group(1), (m.group(2), (m.group(3) or "").replace('\\"', '"')))
    return out


def _dom_index(node: dict[str, Any], out: dict[int, dict[str, Any]], ua: bool = False, select: bool = False) -> None:
    attrs = node.get("attributes") or []
    out[node["backendNodeId"]] = {"attrs": dict(zip(attrs[::2], attrs[1::2])), "ua": ua, "select": select,
                                  "tag": node.get("nodeName", "")}
    in_select = select or node.get("nodeName") == "SELECT"
    for c in node.get("children") or []:
        _dom_index(c, out, ua, in_select)
    for c in node.get("shadowRoots") or []:
        _dom_index(c, out, ua or c.get("shadowRootType") == "user-agent", in_select)
    if node.get("contentDocument"):
        pass  # frames are not walked by the observation


async def compare(page: Any, cdp: Any) -> tuple[list[str], int, str]:
    """(mismatches, interactive elements checked, observation text) for the page as it is now."""
    walk = await page.evaluate(WALK_JS)
    ours = parse(walk["text"])
    ax = (await cdp.send("Accessibility.getFullAXTree"))["nodes"]
    dom: dict[int, dict[str, Any]] = {}
    _dom_index((await cdp.send("DOM.getDocument", {"depth": -1, "pierce": True}))["root"], dom)
    bad, checked = [], 0
    for n in ax:
        role = n.get("role", {}).get("value", "")
        props = {p["name"]: p["value"].get("value") for p in n.get("properties", [])}
        if n.get("ignored") or role == "RootWebArea" or not (role in INTERACTIVE or props.get("focusable")):
            continue
        d = dom.get(n.get("backendDOMNodeId"))
        if d is None or d["ua"] or d["select"] or d["tag"] in ("HTML", "BODY", "IFRAME", "#document"):
            continue
        checked += 1
        name = clean(n.get("name", {}).get("value", ""))
        ident = d["attrs"].get("data-agid")
        desc = f'{role} "{name}" <{d["tag"].lower()} {" ".join(f"{k}={v!r}" for k, v in d["attrs"].items())[:120]}>'
        if ident is None or ident not in ours:
            bad.append(f"no id for {desc}")
            continue
        our_role, our_name = ours[ident]
        if our_role != role and our_role not in SAME_ROLE.get(role, ()):
            bad.append(f"[{ident}] role {our_role} for {desc}")
        if role != "generic" and our_name != name:
            bad.append(f'[{ident}] name "{our_name}" for {desc}')
    more, n = await listener_gaps(cdp, dom, ours)
    return bad + more, checked + n, walk["text"]


async def listener_gaps(cdp: Any, dom: dict[int, dict[str, Any]], ours: dict[str, tuple[str, str]]) -> tuple[list[str], int]:
    """(elements with a click-like listener, rendered, that have no id; how many were checked)."""
    doc = await cdp.send("Runtime.evaluate", {"expression": "document"})
    found = await cdp.send("DOMDebugger.getEventListeners", {"objectId": doc["result"]["objectId"], "depth": -1, "pierce": True})
    nodes: dict[int, set[str]] = {}
    for ls in found["listeners"]:
        if ls["type"] in CLICK_TYPES and ls.get("backendNodeId"):
            nodes.setdefault(ls["backendNodeId"], set()).add(ls["type"])
    bad, checked = [], 0
    for backend, types in nodes.items():
        d = dom.get(backend)
        if d is None or d["ua"] or d["select"] or d["tag"] in ("HTML", "BODY", "#document"):
            continue
        obj = await cdp.send("DOM.resolveNode", {"backendNodeId": backend})
        shown = await cdp.send("Runtime.callFunctionOn", {"objectId": obj["object"]["objectId"],
                                                          "functionDeclaration": RENDERED_JS, "returnByValue": True})
        if not shown["result"].get("value"):
            continue
        checked += 1
        if d["attrs"].get("data-agid") not in ours:
            attrs = " ".join(f"{k}={v!r}" for k, v in d["attrs"].items())[:120]
            bad.append(f"no id for <{d['tag'].lower()} {attrs}> with a {'/'.join(sorted(types))} listener")
    return bad, checked
