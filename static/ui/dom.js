// Building the page without HTML strings: every piece of text, whoever wrote it, becomes a
// text node, so a script's name, help or output can never turn into markup.

/** h('a', {href, class, onclick}, 'text', child, [more]) → an element. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'value' || key === 'checked' || key === 'selected') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the content of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let fieldIds = 0;
/** A unique id for a label's `for`. */
export const uid = (prefix = 'f') => `${prefix}-${++fieldIds}`;

/** A labelled control: the label points at the control, the hint is its description. */
export function field(labelText, control, hint, extra) {
  control.id = control.id || uid();
  const hintEl = hint ? h('div', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' },
    h('label', { for: control.id }, labelText, extra || null), control, hintEl);
}

export function badge(status) {
  const text = status || '—';
  return h('span', { class: `badge s-${String(text).replace(/[^a-z_]/g, '')}` }, text);
}

/** A timestamp in the reader's time zone; `short` drops the seconds (for narrow columns). */
export function when(iso, short = false) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return short ? date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' }) : date.toLocaleString();
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toast');
  const item = h('div', { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), 5000);
}

/** An error from the API (or the network) as a paragraph. */
export function errorBox(error) {
  return h('p', { class: 'error', role: 'alert' }, error?.message || String(error));
}

/** Copies `text`; the clipboard API needs a secure context, so fall back to a selection. */
export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h('textarea', { class: 'offscreen', readonly: true }, text);
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  toast('Copied');
}

export function copyButton(getText, label = 'Copy') {
  return h('button', { type: 'button', class: 'small', onclick: () => copy(getText()) }, label);
}

/** A button that asks "sure?" in place (no browser dialog) before it acts. */
export function confirmButton(label, question, action) {
  const wrap = h('span', { class: 'confirm' });
  const ask = () => mount(wrap, h('span', {}, question, ' '),
    h('button', { type: 'button', class: 'danger', onclick: action }, `Yes, ${label.toLowerCase()}`),
    ' ', h('button', { type: 'button', onclick: reset }, 'Cancel'));
  const reset = () => mount(wrap, h('button', { type: 'button', class: 'danger', onclick: ask }, label));
  reset();
  return wrap;
}

export function table(headers, rows, caption) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows)));
}
