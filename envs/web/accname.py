"""Roles and accessible names the way Chromium computes them, as JavaScript run in the page.

Why: third-party pages name their controls in every way ARIA allows (aria-labelledby, labels
around or beside a field, alt text, CSS ::before/::after content, role="presentation" links inside
tabs), and an agent can only act on what it can read. The reference is Chromium's own
accessibility tree (W3C accname 1.2 and HTML-AAM as Chromium implements them), which
tests/test_web_observation_ax.py compares against on the MiniWoB++ pages and our sites.

``AX_LIB_JS`` is a block of function declarations pasted into the body of each script that
needs it (the observation walk, the element probe): one ``evaluate`` call, no global the page
could change. Computed styles are cached for the duration of one call.
"""

from __future__ import annotations

AX_LIB_JS = r"""
  const CS = new Map();
  const style = (el) => { let s = CS.get(el); if (!s) { s = getComputedStyle(el); CS.set(el, s); } return s; };
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const SKIP = new Set(['SCRIPT','STYLE','TEMPLATE','NOSCRIPT','HEAD','META','LINK','TITLE','OPTION','OPTGROUP','DATALIST','PARAM','SOURCE','TRACK',
    // SVG's (lower case): definitions and metadata, never drawn where they stand
    'script','style','title','desc','metadata','defs','clipPath','mask','pattern','linearGradient','radialGradient','symbol','marker','filter']);
  const INPUT_ROLE = {button:'button', submit:'button', reset:'button', image:'button', file:'button', checkbox:'checkbox',
    radio:'radio', range:'slider', number:'spinbutton', search:'searchbox', hidden:null, color:'button'};
  const TAG_ROLE = {BUTTON:'button', TEXTAREA:'textbox', H1:'heading', H2:'heading', H3:'heading', H4:'heading',
    H5:'heading', H6:'heading', UL:'list', OL:'list', MENU:'list', LI:'listitem', NAV:'navigation', MAIN:'main',
    ASIDE:'complementary', TABLE:'table', TR:'row', TD:'cell', FIELDSET:'group', DETAILS:'group', LEGEND:'legend',
    LABEL:'label', DIALOG:'dialog', SUMMARY:'button', PROGRESS:'progressbar', METER:'meter', ARTICLE:'article',
    CAPTION:'caption', FIGURE:'figure'};
  // Roles whose name comes from their content (ARIA 1.2 as Chromium applies it).
  const FROM_CONTENT = new Set(['button','cell','checkbox','columnheader','gridcell','heading','link','menuitem',
    'menuitemcheckbox','menuitemradio','option','radio','row','rowheader','switch','tab','tooltip','treeitem','term']);
  // Containers whose content Chromium leaves out of an ancestor's name (a menu item's submenu, a tab's panel).
  const NOT_IN_NAME = new Set(['group','menu','menubar','tabpanel','tree','treegrid','listbox','grid','radiogroup',
    'toolbar','tablist','dialog','alertdialog']);
  const TEXT_INPUTS = new Set(['text','email','tel','url','password','search','number','']);
  const WIDGETS = new Set(['button','link','textbox','searchbox','combobox','listbox','checkbox','radio','slider',
    'spinbutton','switch','tab','menuitem','menuitemcheckbox','menuitemradio','option','treeitem','gridcell']);

  // A click handler Chromium knows of: an on* attribute or property, or a listener (marked by LISTEN_JS).
  const hasClick = (el) => el.hasAttribute('onclick') || typeof el.onclick === 'function' || !!el[Symbol.for('agentgym.clicks')];
  function focusable(el) {
    const t = el.tagName;
    if ((t === 'A' || t === 'AREA') && el.hasAttribute('href')) return true;
    if (['BUTTON','SELECT','TEXTAREA','SUMMARY','IFRAME'].includes(t) || (t === 'INPUT' && el.type !== 'hidden')) return !el.disabled;
    return el.hasAttribute('tabindex') || el.isContentEditable;
  }
  function inputRole(el) {
    const t = (el.getAttribute('type') || 'text').toLowerCase();
    if (t in INPUT_ROLE) return INPUT_ROLE[t];
    if (el.hasAttribute('list') && TEXT_INPUTS.has(t)) return 'combobox';
    return 'textbox';
  }
  function implicitRole(el) {
    const t = el.tagName;
    if (t === 'A' || t === 'AREA') return el.hasAttribute('href') || hasClick(el) ? 'link' : null;
    if (t === 'INPUT') return inputRole(el);
    if (t === 'SELECT') return (el.multiple || el.size > 1) ? 'listbox' : 'combobox';
    if (t === 'IMG') return (el.getAttribute('alt') === '' && !el.getAttribute('title') && !el.getAttribute('aria-label')) ? null : 'img';
    if (t === 'TH') return el.getAttribute('scope') === 'row' ? 'rowheader' : 'columnheader';
    if (t === 'FORM') return 'form';
    if (t === 'SECTION') return (el.hasAttribute('aria-label') || el.hasAttribute('aria-labelledby')) ? 'region' : null;
    if (t === 'HEADER' || t === 'FOOTER') return el.closest('article,aside,main,nav,section') ? null : (t === 'HEADER' ? 'banner' : 'contentinfo');
    if (TAG_ROLE[t]) return TAG_ROLE[t];
    if (el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) return 'textbox';
    return null;
  }
  // The element's role: its explicit role (presentation/none is ignored on a focusable element, as Chromium does), else the HTML one.
  function roleOf(el) {
    const r = (el.getAttribute('role') || '').trim().split(/\s+/)[0].toLowerCase();
    if (r === 'presentation' || r === 'none') return focusable(el) ? implicitRole(el) : null;
    if (r === 'generic') return null;
    return r || implicitRole(el);
  }
  function hidden(el) {
    const st = style(el);
    return st.display === 'none' || st.visibility === 'hidden' || st.visibility === 'collapse'
      || el.getAttribute('aria-hidden') === 'true' || (el.tagName === 'INPUT' && el.type === 'hidden');
  }
  function isBlock(el) {
    const d = style(el).display;
    return !(d === 'inline' || d === 'contents');
  }
  function transform(text, el) {
    const tt = el ? style(el).textTransform : 'none';
    if (tt === 'uppercase') return text.toUpperCase();
    if (tt === 'lowercase') return text.toLowerCase();
    if (tt === 'capitalize') return text.replace(/(^|\s)(\S)/g, (m, a, b) => a + b.toUpperCase());
    return text;
  }
  // The text of CSS content (::before / ::after): quoted strings, or the alternative text after a slash.
  function pseudoText(el, which) {
    const c = getComputedStyle(el, which).content;
    if (!c || c === 'none' || c === 'normal') return '';
    const slash = c.lastIndexOf(' / ');
    const part = slash >= 0 ? c.slice(slash + 3) : c;
    let out = '';
    part.replace(/"((?:[^"\\]|\\.)*)"/g, (m, s) => { out += s.replace(/\\(.)/g, '$1'); return m; });
    return out;
  }
  // A form control's value as part of another element's name (accname step 2C).
  function controlValue(el, role) {
    if (role === 'textbox' || role === 'searchbox') return el.isContentEditable ? el.innerText : (el.value || '');
    if (el.tagName === 'SELECT') return [...el.selectedOptions].map((o) => o.text).join(' ');
    if (role === 'combobox') return el.value || '';
    if (role === 'slider' || role === 'spinbutton')
      return el.getAttribute('aria-valuetext') || el.getAttribute('aria-valuenow') || el.value || '';
    return null;
  }
  function labelsText(el, ctx) {
    if (!el.labels || !el.labels.length) return '';
    return [...el.labels].map((l) => textAlt(l, ctx, true)).join(' ');
  }
  // Native names (accname step 2E): alt, value, labels, legend, caption, svg title.
  function nativeName(el, role, ctx) {
    const t = el.tagName;
    if (t === 'INPUT') {
      const type = (el.getAttribute('type') || 'text').toLowerCase();
      if (['button','submit','reset'].includes(type)) {
        const v = el.getAttribute('value');
        return v !== null ? v : (type === 'submit' ? 'Submit' : type === 'reset' ? 'Reset' : labelsText(el, ctx));
      }
      if (type === 'image') return el.getAttribute('alt') || el.getAttribute('value') || 'Submit';
      const l = labelsText(el, ctx);
      if (clean(l)) return l;
      if (type === 'file') return el.multiple ? 'Choose Files' : 'Choose File';
      return '';
    }
    if (t === 'SELECT' || t === 'TEXTAREA' || t === 'BUTTON' || t === 'METER' || t === 'PROGRESS' || t === 'OUTPUT') return labelsText(el, ctx);
    if (t === 'IMG' || t === 'AREA') return el.getAttribute('alt') || '';
    if (t === 'FIELDSET') { const g = [...el.children].find((c) => c.tagName === 'LEGEND'); return g ? textAlt(g, ctx, true) : ''; }
    if (t === 'TABLE') { const c = el.querySelector(':scope > caption'); return c ? textAlt(c, ctx, true) : ''; }
    if (t === 'FIGURE') { const c = el.querySelector(':scope > figcaption'); return c ? textAlt(c, ctx, true) : ''; }
    if (t === 'svg') { const c = [...el.children].find((c) => c.tagName === 'title'); return c ? c.textContent : ''; }
    return '';
  }
  // Text alternative of a node (W3C accname 1.2, as Chromium computes it). ctx: {root, seen, ref}.
  function textAlt(node, ctx, inner) {
    if (node.nodeType === 3) return transform(node.data, node.parentElement);
    if (node.nodeType !== 1 || ctx.seen.has(node)) return '';
    const el = node;
    ctx.seen.add(el);
    if (SKIP.has(el.tagName)) return '';
    if (!(ctx.ref && !inner) && hidden(el)) return '';
    const role = roleOf(el);
    if (!ctx.ref || inner) {  // 2B: aria-labelledby, not followed twice
      const lb = el.getAttribute('aria-labelledby');
      if (lb && !ctx.ref) {
        const refs = lb.split(/\s+/).map((i) => document.getElementById(i)).filter(Boolean);
        if (refs.length) {
          const sub = {root: ctx.root, seen: ctx.seen, ref: true};
          const s = refs.map((r) => textAlt(r, sub, false)).join(' ');
          if (clean(s)) return s;
        }
      }
    }
    if (inner || ctx.ref) {  // 2C: a control inside another element's name gives its value
      if (el === ctx.root) return '';
      const v = controlValue(el, role);
      if (v !== null) return v;
      if (role === 'checkbox' || role === 'radio') return '';
    }
    const al = el.getAttribute('aria-label');  // 2D
    if (al && clean(al)) return al;
    if (role !== 'presentation') {  // 2E
      const n = nativeName(el, role, ctx);
      if (clean(n)) return n;
    }
    if (FROM_CONTENT.has(role) || inner || ctx.ref) {  // 2F: name from content
      if (inner && NOT_IN_NAME.has(role)) return '';
      const s = contentText(el, ctx);
      if (clean(s)) return s;
    }
    return el.getAttribute('title') || (role === 'textbox' || role === 'searchbox' || role === 'combobox' ? el.getAttribute('placeholder') || '' : '');
  }
  function contentText(el, ctx) {
    if ((ctx.depth = (ctx.depth || 0) + 1) > 200) { ctx.depth--; return ''; }  // a page nested deeper: its name is cut, not a stack overflow
    let s = pseudoText(el, '::before');
    for (const c of el.shadowRoot ? el.shadowRoot.childNodes : el.childNodes) {
      if (c.nodeType === 1 && c.tagName === 'BR') { s += ' '; continue; }
      const t = textAlt(c, ctx, true);
      if (c.nodeType === 1 && t && isBlock(c)) s += ' ' + t + ' '; else s += t;
    }
    ctx.depth--;
    return s + pseudoText(el, '::after');
  }
  // The accessible name of an element with the given role, whitespace collapsed.
  function nameOf(el, role) {
    const n = textAlt(el, {root: el, seen: new Set(), ref: false}, false);
    return clean(n);
  }
  // A name shown for elements Chromium gives none (generic clickables): what they show.
  function shownText(el) {
    return clean(contentText(el, {root: el, seen: new Set([el]), ref: false}));
  }
"""
