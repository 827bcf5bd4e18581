"""Page -> text: one injected JS walk (a single evaluate call) builds an accessibility-tree-like
text with element ids, e.g. ``[12] button "Add to cart"``.

Ids are stored on the elements as ``data-agid``: an element keeps its id for as long as the page
lives, so ids are stable across observations of the same page and actions find elements by them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

ID_ATTR = "data-agid"
MAX_TEXT = 120  # characters of one name shown
MAX_LINES = 3000  # lines of one observation (the built-in sites' pages have a few hundred)
MAX_LEVEL = 150  # elements deep: a page nested deeper (a script can make one) is cut, not a stack overflow

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

# The walk: visible elements only; interactive ones and named landmarks get a line, generic
# containers only show their own text. Everything emitted carries an id.
WALK_JS = r"""
() => {
  const ATTR = 'data-agid', MAX = %d, MAX_LINES = %d, MAX_LEVEL = %d;
  let cutShort = false;
  if (window.__agNext === undefined) window.__agNext = 1;
  const SKIP = new Set(['SCRIPT','STYLE','TEMPLATE','NOSCRIPT','HEAD','META','LINK','svg','SVG','OPTION']);
  const ROLE = {A:'link',BUTTON:'button',SELECT:'combobox',TEXTAREA:'textbox',H1:'heading',H2:'heading',
    H3:'heading',H4:'heading',H5:'heading',H6:'heading',IMG:'img',TABLE:'table',TR:'row',TH:'columnheader',
    TD:'cell',UL:'list',OL:'list',LI:'listitem',NAV:'navigation',FORM:'form',LABEL:'label',FIELDSET:'group',
    LEGEND:'legend',MAIN:'main',HEADER:'banner',DIALOG:'dialog',SUMMARY:'button'};
  const INPUT = {checkbox:'checkbox',radio:'radio',submit:'button',button:'button',reset:'button',range:'slider',
    number:'spinbutton',hidden:null,file:'button',image:'button'};
  const FROM_CONTENT = new Set(['link','button','heading','columnheader','cell','listitem','label','legend','tab',
    'menuitem','option','clickable','draggable','text']);
  const clean = s => (s || '').replace(/\s+/g, ' ').trim();
  const cut = s => s.length > MAX ? s.slice(0, MAX - 3) + '...' : s;
  const q = s => '"' + cut(s).replace(/"/g, '\\"') + '"';
  function roleOf(el) {
    const r = el.getAttribute('role'); if (r) return r;
    if (el.tagName === 'A') return el.hasAttribute('href') ? 'link' : null;
    if (el.tagName === 'INPUT') { const t = (el.type || 'text').toLowerCase(); return t in INPUT ? INPUT[t] : 'textbox'; }
    if (el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) return 'textbox';
    if (ROLE[el.tagName]) return ROLE[el.tagName];
    if (el.getAttribute('draggable') === 'true') return 'draggable';
    if (el.hasAttribute('onclick') || el.getAttribute('tabindex') === '0') return 'clickable';
    if (el.hasAttribute('aria-label')) return 'group';
    return null;
  }
  function visible(el, st) {
    if (st.display === 'none' || st.visibility === 'hidden' || el.getAttribute('aria-hidden') === 'true') return false;
    if (el.tagName === 'INPUT' && el.type === 'hidden') return false;
    return true;
  }
  function nameOf(el, role) {
    let n = el.getAttribute('aria-label');
    if (n) return clean(n);
    const lb = el.getAttribute('aria-labelledby');
    if (lb) { const t = lb.split(/\s+/).map(i => document.getElementById(i)).filter(Boolean).map(e => e.innerText).join(' '); if (clean(t)) return clean(t); }
    if (el.labels && el.labels.length) { const t = clean(el.labels[0].innerText); if (t) return t; }
    if (el.tagName === 'IMG') return clean(el.getAttribute('alt') || el.getAttribute('title'));
    if (el.tagName === 'INPUT' && ['submit','button','reset'].includes(el.type)) return clean(el.value);
    if (['textbox','combobox','spinbutton','checkbox','radio','slider'].includes(role)) return clean(el.getAttribute('placeholder') || el.getAttribute('title') || el.getAttribute('name'));
    if (FROM_CONTENT.has(role)) return clean(el.innerText);
    return clean(el.getAttribute('title'));
  }
  function hasInteractive(el) {
    return !!el.querySelector('a[href],button,input:not([type=hidden]),select,textarea,[role],[onclick],[draggable=true],[tabindex="0"]');
  }
  function ownText(el) {
    let t = ''; for (const c of el.childNodes) if (c.nodeType === 3) t += c.textContent; return clean(t);
  }
  function idOf(el) {
    let id = el.getAttribute(ATTR);
    if (!id) { id = String(window.__agNext++); el.setAttribute(ATTR, id); }
    return id;
  }
  const lines = [];
  function props(el, role) {
    const p = [];
    if (['textbox','spinbutton','slider'].includes(role)) p.push('value=' + q(el.isContentEditable ? el.innerText : (el.value || '')));
    if (role === 'combobox' && el.tagName === 'SELECT') {
      const sel = [...el.selectedOptions].map(o => clean(o.text));
      p.push('value=' + q(sel.join(', ')));
      p.push('options=[' + [...el.options].slice(0, 40).map(o => q(clean(o.text))).join(', ') + (el.options.length > 40 ? ', ...' : '') + ']');
    }
    if (role === 'checkbox' || role === 'radio') p.push(el.checked ? 'checked' : 'unchecked');
    if (el.disabled) p.push('disabled');
    if (el.readOnly && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA')) p.push('readonly');
    const ex = el.getAttribute('aria-expanded'); if (ex) p.push('expanded=' + ex);
    const se = el.getAttribute('aria-selected'); if (se === 'true') p.push('selected');
    if (role === 'link') { const h = el.getAttribute('href'); if (h && !h.startsWith('javascript:')) p.push('url=' + q(h)); }
    if (role === 'heading') p.push('level=' + el.tagName.slice(1));
    return p.length ? ' ' + p.join(' ') : '';
  }
  function walk(el, depth, level) {
    if (lines.length >= MAX_LINES || level > MAX_LEVEL) { cutShort = true; return; }
    if (SKIP.has(el.tagName)) return;
    const st = getComputedStyle(el);
    if (!visible(el, st)) return;
    const role = roleOf(el);
    const pad = '  '.repeat(depth);
    if (role) {
      const leaf = FROM_CONTENT.has(role) && !hasInteractive(el);
      const name = nameOf(el, role);
      if (['row','list','table','form','group','navigation','main','banner'].includes(role) && !name) {
        for (const c of el.children) walk(c, depth, level + 1); return;  // structure without a name: no line of its own
      }
      lines.push(pad + '[' + idOf(el) + '] ' + role + (name && (leaf || !FROM_CONTENT.has(role)) ? ' ' + q(name) : '') + props(el, role));
      if (leaf || ['textbox','combobox','spinbutton','checkbox','radio','slider','img'].includes(role)) return;
      for (const c of el.children) walk(c, depth + 1, level + 1);
      return;
    }
    const t = ownText(el);
    if (t) lines.push(pad + '[' + idOf(el) + '] text ' + q(t));
    for (const c of el.children) walk(c, depth + (t ? 1 : 0), level + 1);
  }
  if (document.body) walk(document.body, 0, 0);
  if (cutShort) lines.push('(the page goes on: more than ' + MAX_LINES + ' lines or ' + MAX_LEVEL + ' elements deep; only this much is shown)');
  const a = document.activeElement;
  let focused = '';
  if (a && a !== document.body && a.getAttribute(ATTR)) focused = '[' + a.getAttribute(ATTR) + '] ' + (roleOf(a) || a.tagName.toLowerCase());
  return {text: lines.join('\n'), title: cut(clean(document.title)), focused: focused};
}
""" % (MAX_TEXT, MAX_LINES, MAX_LEVEL)

# Element info an action needs before it acts: does the id exist, is it visible, what is it.
PROBE_JS = r"""
(id) => {
  const el = document.querySelector('[data-agid="' + id + '"]');
  if (!el) return null;
  const r = el.getBoundingClientRect(), st = getComputedStyle(el);
  const shown = r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none';
  return {visible: shown, tag: el.tagName.toLowerCase(), type: (el.type || '').toLowerCase(),
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
