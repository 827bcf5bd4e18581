"""Page -> text: one injected JS walk (a single evaluate call) builds an accessibility-tree-like
text with element ids, e.g. ``[12] button "Add to cart"``.

Ids are stored on the elements as ``data-agid``: an element keeps its id for as long as the page
lives, so ids are stable across observations of the same page and actions find elements by them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agentgym.envs.web.accname import AX_LIB_JS

ID_ATTR = "data-agid"
MAX_TEXT = 120  # characters of one name shown
MAX_LINES = 3000  # lines of one observation (the built-in sites' pages have a few hundred)
MAX_LEVEL = 150  # elements deep: a page nested deeper (a script can make one) is cut, not a stack overflow

# An init script: marks elements that get a click-like listener, so the walk can give such a control
# (an icon with a handler and no role) a line and an id, and an <a> without href the role link, as
# Chromium does. The mark is a registered symbol on the element; nothing else of the page changes.
LISTEN_JS = """(() => {
  const add = EventTarget.prototype.addEventListener, mark = Symbol.for('agentgym.clicks');
  const TYPES = new Set(['click', 'dblclick', 'mousedown', 'mouseup', 'pointerdown', 'pointerup']);
  EventTarget.prototype.addEventListener = function (type, ...rest) {
    try { if (TYPES.has(type) && this instanceof Element) this[mark] = true; } catch (e) {}
    return add.call(this, type, ...rest);
  };
})();"""

# Decode a PNG to RGBA bytes inside the browser (no image library needed on the host).
DECODE_PNG_JS = """
async (b64) => {
  const bin = atob(b64), buf = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
  const bmp = await createImageBitmap(new Blob([buf], {type: 'image/png'}));
  const c = new OffscreenCanvas(bmp.width, bmp.height), g = c.getContext('2d');
  g.drawImage(bmp, 0, 0);
  const d = g.getImageData(0, 0, bmp.width, bmp.height).data;
  let s = ''; for (let i = 0; i < d.length; i += 32768) s += String.fromCharCode.apply(null, d.subarray(i, i + 32768));
  return {w: bmp.width, h: bmp.height, data: btoa(s)};
}
"""

# The walk (its argument coords: each line ends with its box, see COORDS_NOTE): roles and names as
# Chromium computes them (accname.py); every element with a role, a
# click handler, a tabindex or a pointer cursor gets a line and an id (SVG shapes and texts too); text is gathered in runs, so
# inline elements (<span>, <b>, <a role=presentation>) stay in their sentence, and a run breaks only
# at a block or at an element with a line of its own. Everything emitted carries an id.
WALK_JS = r"""
(coords) => {
  const ATTR = 'data-agid', MAX = %d, MAX_LINES = %d, MAX_LEVEL = %d;
  %s
  let cutShort = false, made = 0;
  if (window.__agNext === undefined) window.__agNext = 1;
  const CLICKS = Symbol.for('agentgym.clicks');
  const cut = (s) => s.length > MAX ? s.slice(0, MAX - 3) + '...' : s;
  const q = (s) => '"' + cut(s).replace(/"/g, '\\"') + '"';
  const BR = 0;  // a block boundary inside a list of walk results
  const SEPARATOR = /^[|\u00b7\u2022]+$/;  // a run of only "|" or bullets between links says nothing
  // Structure that gets no line without a name of its own (its children are shown in its place).
  const STRUCT = new Set(['row','rowgroup','list','table','form','group','navigation','main','banner','contentinfo',
    'complementary','region','article','figure','tablist','menu','menubar','tree','toolbar','radiogroup','paragraph']);
  // Controls whose inside is not shown (a select's options are listed as its options=[...]).
  const SVG_INLINE = new Set(['tspan', 'textPath', 'a']);  // SVG elements that flow inside a text
  const LEAF = new Set(['INPUT','SELECT','TEXTAREA','IMG','PROGRESS','METER','IFRAME','VIDEO','AUDIO','CANVAS']);
  function idOf(el) {
    let id = el.getAttribute(ATTR);
    if (!id) { id = String(window.__agNext++); el.setAttribute(ATTR, id); }
    return id;
  }
  function clickable(el, st) {
    if (el === document.body || el === document.documentElement) return false;
    if (el.hasAttribute('onclick') || el.hasAttribute('onmousedown') || el.hasAttribute('onmouseup')) return true;
    if (typeof el.onclick === 'function' || el[CLICKS]) return true;
    if (el.hasAttribute('tabindex') && el.tabIndex >= 0) return true;
    const p = el.parentElement;
    return st.cursor === 'pointer' && !!p && style(p).cursor !== 'pointer';
  }
  function props(el, role) {
    const p = [];
    if (['textbox','searchbox','spinbutton','slider'].includes(role) && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.isContentEditable))
      p.push('value=' + q(clean(el.isContentEditable ? el.innerText : (el.value || ''))));
    else if (role === 'slider' || role === 'spinbutton') { const v = el.getAttribute('aria-valuetext') || el.getAttribute('aria-valuenow'); if (v) p.push('value=' + q(v)); }
    if (el.tagName === 'SELECT') {
      const sel = [...el.selectedOptions].map((o) => clean(o.text));
      p.push('value=' + q(sel.join(', ')));
      p.push('options=[' + [...el.options].slice(0, 40).map((o) => q(clean(o.text))).join(', ') + (el.options.length > 40 ? ', ...' : '') + ']');
    } else if (role === 'combobox' && el.tagName === 'INPUT') p.push('value=' + q(clean(el.value || '')));
    if (el.tagName === 'INPUT' && (el.type === 'checkbox' || el.type === 'radio')) p.push(el.checked ? 'checked' : 'unchecked');
    else { const c = el.getAttribute('aria-checked'); if (c) p.push(c === 'true' ? 'checked' : c === 'mixed' ? 'mixed' : 'unchecked'); }
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') p.push('disabled');
    if (el.readOnly && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA')) p.push('readonly');
    const ex = el.getAttribute('aria-expanded'); if (ex) p.push('expanded=' + ex);
    if (el.getAttribute('aria-selected') === 'true') p.push('selected');
    if (el.getAttribute('aria-pressed') === 'true') p.push('pressed');
    if (!WIDGETS.has(role) && role !== 'clickable' && hasClick(el)) p.push('clickable');
    if (role === 'link') { const h = el.getAttribute('href'); if (h && !h.startsWith('javascript:')) p.push('url=' + q(h)); }
    if (role === 'heading') p.push('level=' + (/^H[1-6]$/.test(el.tagName) ? el.tagName.slice(1) : (el.getAttribute('aria-level') || '2')));
    return p.length ? ' ' + p.join(' ') : '';
  }
  // Text pieces (strings), BR and nodes ({el, head, kids} or {el, text}) -> nodes, the pieces joined into runs owned by el.
  function runs(items, owner) {
    const out = []; let buf = '';
    const flush = () => { const t = clean(buf); if (t && !SEPARATOR.test(t)) { out.push({el: owner, text: t}); made++; } buf = ''; };
    for (const it of items) {
      if (typeof it === 'string') buf += it;
      else { flush(); if (it !== BR) out.push(it); }
    }
    flush();
    return out;
  }
  function children(el, level) {
    const out = [];
    const kids = el.tagName === 'SLOT' ? el.assignedNodes({flatten: true}) : (el.shadowRoot || el).childNodes;
    const shows = style(el).visibility === 'visible';
    for (const c of kids) {
      if (c.nodeType === 3) { if (shows) out.push(transform(c.data, el)); }
      else if (c.nodeType === 1) { if (c.tagName === 'BR') out.push(' '); else for (const x of walk(c, level + 1)) out.push(x); }
    }
    if (el.tagName === 'SLOT' && !out.length) for (const c of el.children) for (const x of walk(c, level + 1)) out.push(x);
    return out;
  }
  function walk(el, level) {
    if (made >= MAX_LINES || level > MAX_LEVEL) { cutShort = true; return []; }
    if (SKIP.has(el.tagName)) return [];
    const st = style(el);
    if (st.display === 'none' || el.getAttribute('aria-hidden') === 'true' || (el.tagName === 'INPUT' && el.type === 'hidden')) return [];
    if (st.visibility !== 'visible') return LEAF.has(el.tagName) ? [] : children(el, level);
    let role = el.tagName === 'svg' ? (el.getAttribute('aria-label') || el.querySelector(':scope > title') ? 'img' : null) : roleOf(el);
    if (!role && clickable(el, st)) role = 'clickable';
    if (!role && el.getAttribute('draggable') === 'true') role = 'draggable';
    // An <svg>'s shapes and texts are walked: the ones with a handler or a pointer cursor get ids, each
    // text is a run of its own (placed, not flowed). A named one is an img line (with those, if any).
    const leaf = LEAF.has(el.tagName) && el.tagName !== 'svg';
    if (!role) {
      if (leaf) return [];
      const kids = children(el, level);
      if (el instanceof SVGElement && !SVG_INLINE.has(el.tagName)) return kids.length ? [BR, ...runs(kids, el), BR] : [];
      if (st.display === 'inline' || st.display === 'contents') return kids;
      if (st.display.startsWith('inline')) return [' ', ...kids, ' '];
      return [BR, ...runs(kids, el), BR];
    }
    made++;
    const generic = role === 'clickable' || role === 'draggable';
    let name = generic ? '' : (STRUCT.has(role) ? explicitName(el, role) : nameOf(el, role));
    if (leaf) return [{el, name, head: role + (name ? ' ' + q(name) : '') + props(el, role), kids: []}];
    const kids = children(el, level);
    // (a container with a click handler of its own keeps its line: a sortable list, a clickable row)
    if (STRUCT.has(role) && !name && !(el.hasAttribute('tabindex') && el.tabIndex >= 0) && !hasClick(el)) { made--; return [BR, ...runs(kids, el), BR]; }
    const nodes = runs(kids, el);
    const lined = nodes.some((n) => n.text === undefined);
    if (!lined && !STRUCT.has(role)) {  // nothing inside has a line: one line, its text as the name
      if (!name) name = nodes.map((n) => n.text).join(' ') || (generic ? shownText(el) || clean(el.getAttribute('title')) : '');
      return [{el, name, head: role + (name ? ' ' + q(name) : '') + props(el, role), kids: []}];
    }
    // A name from this content already says what its own runs say; otherwise the first run names the line.
    const own = FROM_CONTENT.has(role) && name && !el.hasAttribute('aria-label') && !el.hasAttribute('aria-labelledby');
    const shown = own ? nodes.filter((n) => n.text === undefined || n.el !== el) : nodes;
    if (!name && !STRUCT.has(role) && shown.length && shown[0].text !== undefined) name = shown.shift().text;
    // A cell or heading named by the one link it holds: the name is said once, on the link.
    if (own && !WIDGETS.has(role) && shown.map((n) => n.text !== undefined ? n.text : n.name).join(' ') === name) name = '';
    return [{el, name, head: role + (name ? ' ' + q(name) : '') + props(el, role), kids: shown}];
  }
  // The name of a container without its content (a row, a list): only what names it explicitly.
  function explicitName(el, role) {
    if (el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby') || ['FIELDSET','TABLE','FIGURE'].includes(el.tagName)) return nameOf(el, role);
    return clean(el.getAttribute('title'));
  }
  const lines = [];
  // coords: each line ends with its element's box, ' @x,y,w,h' (viewport CSS pixels, rounded).
  const R = Math.round;
  const box = (el) => { if (!coords) return ''; const r = el.getBoundingClientRect(); return ' @' + R(r.left) + ',' + R(r.top) + ',' + R(r.width) + ',' + R(r.height); };
  function render(nodes, depth) {
    const pad = '  '.repeat(depth);
    for (const n of nodes) {
      if (lines.length >= MAX_LINES) { cutShort = true; return; }
      if (n.text !== undefined) lines.push(pad + '[' + idOf(n.el) + '] text ' + q(n.text) + box(n.el));
      else { lines.push(pad + '[' + idOf(n.el) + '] ' + n.head + box(n.el)); render(n.kids, depth + 1); }
    }
  }
  if (document.body) render(runs(walk(document.body, 0), document.body), 0);
  if (cutShort) lines.push('(the page goes on: more than ' + MAX_LINES + ' lines or ' + MAX_LEVEL + ' elements deep; only this much is shown)');
  const a = document.activeElement;
  let focused = '';
  if (a && a !== document.body && a.getAttribute(ATTR)) focused = '[' + a.getAttribute(ATTR) + '] ' + (roleOf(a) || a.tagName.toLowerCase());
  return {text: lines.join('\n'), title: cut(clean(document.title)), focused: focused};
}
""" % (MAX_TEXT, MAX_LINES, MAX_LEVEL, AX_LIB_JS)

COORDS_NOTE = ("Each element line ends with its box @x,y,w,h: left, top, width and height in viewport CSS pixels "
               "(the mouse_* and wheel tools take points in the same pixels; scroll to reach what lies outside the viewport).")

# Element info an action needs before it acts: does the id exist, is it visible, what is it.
PROBE_JS = r"""
(id) => {
  const el = document.querySelector('[data-agid="' + id + '"]');
  if (!el) return {missing: true, known: +id < (window.__agNext || 1)};  // known: this document gave that id out
  const r = el.getBoundingClientRect(), st = getComputedStyle(el);
  let why = '';
  if (st.display === 'none') why = 'it has display: none';
  else if (st.visibility !== 'visible') why = 'it has visibility: ' + st.visibility;
  else if (!(r.width > 0 && r.height > 0)) {
    let p = el.parentElement;
    while (p && getComputedStyle(p).display !== 'none') p = p.parentElement;
    why = p ? 'it is inside a hidden element' + (p.getAttribute('data-agid') ? ' [' + p.getAttribute('data-agid') + ']' : '') : 'its size is 0x0';
  }
  return {visible: !why, why: why, tag: el.tagName.toLowerCase(), type: (el.type || '').toLowerCase(),
          editable: el.isContentEditable, disabled: !!el.disabled};
}
"""


class PageSnapshot(BaseModel):
    """What one observation of the active page found."""

    text: str
    title: str = ""
    focused: str = ""


def parse_walk(result: dict[str, Any] | None) -> PageSnapshot:
    if not result:
        return PageSnapshot(text="")
    return PageSnapshot(text=result.get("text", ""), title=result.get("title", ""), focused=result.get("focused", ""))
