"""Page observation: a flattened accessibility tree as text, with stable element ids.

One injected script walks the DOM below a root element, gives every element worth acting on a
`data-agentgym-id` attribute (kept for the page's lifetime, so ids stay stable across steps; apps
may author their own ids), and prints one line per element:

    [12] button "Submit"
      [13] textbox "Email" value="a@b.c" required focused
    [14] link "Cart (2)"
    text "Total: $40.00"

Elements without own text and without a role are skipped (their children are lifted). Hidden
elements are left out. The whole walk is one `page.evaluate` round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ID_ATTR = "data-agentgym-id"

TREE_JS = r"""
(args) => {
  const ID = 'data-agentgym-id';
  const root = (args.root && document.querySelector(args.root)) || document.body;
  if (!root) return {lines: [], title: document.title, scroll: [0, 0]};
  if (window.__agNext === undefined) window.__agNext = 1;
  const maxLines = args.maxLines || 400;
  const SKIP = new Set(['SCRIPT','STYLE','NOSCRIPT','TEMPLATE','HEAD','META','LINK','BR','HR']);
  const ROLE = {A:'link', BUTTON:'button', SELECT:'combobox', TEXTAREA:'textbox', OPTION:'option',
    H1:'heading', H2:'heading', H3:'heading', H4:'heading', H5:'heading', H6:'heading', IMG:'img',
    LABEL:'label', LI:'listitem', UL:'list', OL:'list', TABLE:'table', TR:'row', TD:'cell', TH:'columnheader',
    FORM:'form', NAV:'navigation', SUMMARY:'button', P:'paragraph', CANVAS:'canvas', svg:'svg'};
  const INPUT_ROLE = {checkbox:'checkbox', radio:'radio', button:'button', submit:'button', reset:'button',
    range:'slider', number:'spinbutton', search:'searchbox'};
  const SVG_SHAPES = new Set(['circle','rect','polygon','ellipse','path','text','line','polyline']);
  const active = document.activeElement;
  const lines = [];
  function clip(s, n) { s = (s || '').replace(/\s+/g, ' ').trim(); return s.length > n ? s.slice(0, n - 1) + '…' : s; }
  function visible(el) {
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true})) return false;
    if (el.tagName === 'OPTION') return true;
    const r = el.getBoundingClientRect();
    return r.width > 0 || r.height > 0 || el.tagName === 'svg';
  }
  function ownText(el) {
    let t = '';
    for (const n of el.childNodes) if (n.nodeType === 3) t += n.textContent + ' ';
    return clip(t, 120);
  }
  function labelFor(el) {
    if (el.getAttribute('aria-label')) return el.getAttribute('aria-label');
    if (el.id) { const l = document.querySelector('label[for="' + CSS.escape(el.id) + '"]'); if (l) return l.textContent; }
    const wrap = el.closest('label');
    if (wrap && wrap !== el) {
      let t = '';
      for (const n of wrap.childNodes) {
        if (n.nodeType === 3) t += n.textContent + ' ';
        else if (n.nodeType === 1 && !['SELECT','INPUT','TEXTAREA','OPTION','BUTTON'].includes(n.tagName)) t += n.textContent + ' ';
      }
      if (t.trim()) return t;
    }
    return el.getAttribute('placeholder') || el.getAttribute('title') || el.getAttribute('name') || '';
  }
  function roleOf(el) {
    const r = el.getAttribute('role'); if (r) return r;
    const tag = el.tagName;
    if (tag === 'INPUT') return INPUT_ROLE[(el.type || 'text').toLowerCase()] || 'textbox';
    if (el instanceof SVGElement) return 'svg-' + el.tagName.toLowerCase();
    if (el.isContentEditable && el.getAttribute('contenteditable') !== null) return 'textbox';
    return ROLE[tag] || ROLE[el.tagName] || null;
  }
  function interesting(el, role, text) {
    const tag = el.tagName;
    if (role && !['list','table','row','form','navigation','paragraph','svg'].includes(role)) return true;
    if (el.hasAttribute(ID) && el.getAttribute(ID).match(/[a-z]/)) return true;
    if (text) return true;
    if (el.onclick || el.hasAttribute('onclick') || el.hasAttribute('tabindex')) return true;
    return false;
  }
  function idOf(el) {
    let id = el.getAttribute(ID);
    if (!id) { id = String(window.__agNext++); el.setAttribute(ID, id); }
    return id;
  }
  function props(el, role) {
    const p = [];
    const tag = el.tagName;
    if (tag === 'INPUT' || tag === 'TEXTAREA') {
      const type = (el.type || 'text').toLowerCase();
      if (type === 'checkbox' || type === 'radio') { if (el.checked) p.push('checked'); }
      else if (type !== 'submit' && type !== 'button') {
        if (type !== 'text' && type !== 'search' && tag === 'INPUT') p.push('type=' + type);
        if (type === 'password') p.push('value="' + '*'.repeat((el.value || '').length) + '"');
        else if (el.value) p.push('value=' + JSON.stringify(clip(el.value, 200)));
      }
      if (el.required) p.push('required');
      if (el.readOnly) p.push('readonly');
    }
    if (tag === 'SELECT') { const o = el.options[el.selectedIndex]; if (o) p.push('value=' + JSON.stringify(clip(o.text, 80))); }
    if (tag === 'OPTION' && el.selected) p.push('selected');
    if (tag === 'A' && el.getAttribute('href') && !el.getAttribute('href').startsWith('javascript')) p.push('href=' + JSON.stringify(clip(el.getAttribute('href'), 100)));
    if (el.disabled) p.push('disabled');
    if (el.getAttribute('aria-expanded')) p.push('expanded=' + el.getAttribute('aria-expanded'));
    if (el.getAttribute('aria-checked') === 'true') p.push('checked');
    if (el.getAttribute('aria-selected') === 'true') p.push('selected');
    if (el instanceof SVGElement) { const f = el.getAttribute('fill'); if (f) p.push('fill=' + f); }
    if (el === active && el !== document.body) p.push('focused');
    return p.length ? ' ' + p.join(' ') : '';
  }
  function walk(el, depth) {
    for (const child of el.children) {
      if (lines.length >= maxLines) return;
      const tag = child.tagName;
      if (SKIP.has(tag) || (child.id && args.hide && args.hide.includes(child.id))) continue;
      if (!visible(child)) continue;
      const isSvg = child instanceof SVGElement;
      if (isSvg && tag !== 'svg' && tag !== 'g' && !SVG_SHAPES.has(tag)) continue;
      const role = roleOf(child);
      let text = (tag === 'SELECT' || tag === 'TEXTAREA') ? '' : ownText(child);
      if (isSvg && tag === 'text') text = clip(child.textContent, 80);
      if (isSvg && SVG_SHAPES.has(tag) && tag !== 'text') { text = ''; }
      let name = text;
      if (['textbox','searchbox','combobox','checkbox','radio','slider','spinbutton'].includes(role) ||
          (tag === 'INPUT')) name = clip(labelFor(child), 80) || text;
      if (tag === 'INPUT' && ['submit','button','reset'].includes((child.type||'').toLowerCase())) name = child.value || name;
      if (tag === 'IMG') name = clip(child.getAttribute('alt') || child.getAttribute('title') || '', 80);
      if ((role === 'link' || role === 'button') && !name) name = clip(child.textContent, 80) || clip(child.getAttribute('aria-label') || child.getAttribute('title') || '', 80);
      const show = interesting(child, role, text) || (isSvg && SVG_SHAPES.has(tag));
      if (show) {
        const id = idOf(child);
        const label = role || 'text';
        lines.push('  '.repeat(depth) + '[' + id + '] ' + label + (name ? ' ' + JSON.stringify(name) : '') + props(child, role));
        if (tag === 'SELECT') {
          for (const o of child.options) {
            lines.push('  '.repeat(depth + 1) + '[' + idOf(o) + '] option ' + JSON.stringify(clip(o.text, 80)) + (o.selected ? ' selected' : ''));
          }
          continue;
        }
        if (role === 'link' || role === 'button' || tag === 'LABEL' || tag === 'OPTION') {
          // names already include the text of their children; still list interactive children
          walkInteractiveOnly(child, depth + 1);
          continue;
        }
        walk(child, depth + 1);
      } else {
        walk(child, depth);
      }
    }
  }
  function walkInteractiveOnly(el, depth) {
    for (const c of el.querySelectorAll('input,select,textarea,button,a')) {
      if (!visible(c)) continue;
      const role = roleOf(c);
      lines.push('  '.repeat(depth) + '[' + idOf(c) + '] ' + role + ' ' + JSON.stringify(clip(labelFor(c) || c.textContent, 80)) + props(c, role));
    }
  }
  walk(root, 0);
  const truncated = lines.length >= maxLines;
  return {lines: lines, truncated: truncated, title: document.title,
          scroll: [Math.round(window.scrollY), Math.max(0, document.documentElement.scrollHeight - window.innerHeight)]};
}
"""


@dataclass
class PageState:
    url: str
    title: str
    tree: str
    scroll_y: int = 0
    scroll_max: int = 0

    def signature(self) -> str:
        """What a no-op check compares: URL, tree (values and focus included) and scroll."""
        return f"{self.url}\n{self.scroll_y}\n{self.tree}"


def read_page(page: Any, *, root: str | None = None, hide: list[str] | None = None,
              max_lines: int = 400) -> PageState:
    data = page.evaluate(TREE_JS, {"root": root, "hide": hide or [], "maxLines": max_lines})
    tree = "\n".join(data["lines"])
    if data.get("truncated"):
        tree += f"\n[... tree cut at {max_lines} elements; scroll or act to see more ...]"
    scroll_y, scroll_max = data.get("scroll", [0, 0])
    return PageState(url=page.url, title=data.get("title", ""), tree=tree, scroll_y=scroll_y, scroll_max=scroll_max)


def format_observation(state: PageState, *, error: str | None = None, result: str | None = None,
                       show_url: bool = True) -> str:
    parts = []
    if result:
        parts.append(result)
    if show_url:
        parts.append(f"URL: {state.url}")
    parts.append(f"Title: {state.title}")
    parts.append(f"Last action error: {error or 'none'}")
    if state.scroll_max > 0:
        parts.append(f"Scroll: {state.scroll_y}/{state.scroll_max} px")
    parts.append("Page:")
    parts.append(state.tree or "(empty page)")
    return "\n".join(parts)
