// The scripts list: every script fetched once, then searched and filtered in the browser
// (instant over a thousand), with creating from a template and uploading a file.

import { h, mount, badge, when, table, errorBox, field, toast } from '../dom.js';
import { api, allScripts } from '../api.js';

const ROWS_SHOWN = 200;

export async function render(main, _params, query) {
  const scripts = await allScripts();
  const search = h('input', { type: 'search', id: 'search', placeholder: 'name, path, description', value: query.get('q') || '' });
  const runtime = select('runtime', ['', 'python', 'js'], { '': 'All runtimes' }, query.get('type'));
  const status = select('status', ['', 'ok', 'error'], { '': 'Any status', ok: 'Loaded', error: 'Load error' }, query.get('status'));
  const count = h('p', { class: 'muted', id: 'count', 'aria-live': 'polite' });
  const body = h('div', { id: 'script-rows' });
  const index = scripts.map((s) => [s, [s.name, s.path, s.description, s.alias, s.group]
    .filter(Boolean).join(' ').toLowerCase()]);

  let limit = ROWS_SHOWN;
  const update = () => {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = index.filter(([s, text]) => (!runtime.value || s.runtime === runtime.value)
      && (!status.value || s.load_status === status.value)
      && words.every((w) => text.includes(w))).map(([s]) => s);
    count.textContent = `${shown.length} of ${scripts.length} scripts`;
    // The first rows draw at once; the rest only on request, so typing stays instant.
    const more = shown.length > limit ? h('button', {
      type: 'button', class: 'more', onclick: () => { limit = Infinity; update(); },
    }, `Show all ${shown.length} (${shown.length - limit} more)`) : null;
    mount(body, shown.length ? [scriptTable(shown.slice(0, limit)), more]
      : h('p', { class: 'empty' }, scripts.length ? 'No script matches.' : 'No scripts yet: create one below, or drop a file into the scripts folder.'));
  };
  for (const control of [search, runtime, status]) {
    control.addEventListener('input', () => { limit = ROWS_SHOWN; update(); });
  }

  mount(main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Scripts'),
      h('button', { type: 'button', onclick: () => rescan(main) }, 'Rescan')),
    h('div', { class: 'filters', role: 'search' },
      field('Search', search), field('Runtime', runtime), field('Status', status)),
    count, body,
    h('div', { class: 'grid2' }, createForm(), uploadForm()));
  update();
  search.focus();
}

function select(id, values, labels, current) {
  return h('select', { id }, values.map((v) => h('option', { value: v, selected: v === (current || '') }, labels[v] || v)));
}

function scriptTable(scripts) {
  return table(['Script', 'Runtime', 'Status', 'Dependencies', 'Last run', 'Runs'], scripts.map((s) => h('tr', {},
    h('td', {},
      h('a', { href: `#/scripts/${s.id}`, class: 'strong' }, s.alias || s.name),
      h('div', { class: 'muted mono' }, s.path, s.group ? ` · group ${s.group}` : ''),
      s.description ? h('div', { class: 'desc' }, s.description) : null,
      s.load_error ? h('div', { class: 'error small' }, s.load_error) : null),
    h('td', { 'data-label': 'Runtime' }, s.runtime),
    h('td', { 'data-label': 'Status' }, badge(s.load_status), s.enabled ? null : h('span', { class: 'badge' }, 'disabled')),
    h('td', { 'data-label': 'Dependencies' }, s.deps_file ? badge(s.deps_status || 'unknown') : h('span', { class: 'muted' }, 'none')),
    h('td', { 'data-label': 'Last run' }, s.last_run_status ? badge(s.last_run_status) : null, ' ', h('span', { class: 'muted', title: when(s.last_run_at) }, when(s.last_run_at, true))),
    h('td', { 'data-label': 'Runs' }, String(s.run_count ?? 0)))));
}

async function rescan(main) {
  try {
    const report = await api('/api/scan', { method: 'POST' });
    toast(`Rescanned: ${report.added} added, ${report.updated} updated, ${report.removed} removed`);
    render(main, [], new URLSearchParams());
  } catch (error) {
    toast(error.message, 'error');
  }
}

function createForm() {
  const runtime = h('select', { id: 'new-runtime' }, h('option', { value: 'python' }, 'Python'), h('option', { value: 'js' }, 'JavaScript'));
  const path = h('input', { id: 'new-path', required: true, placeholder: 'python/tools/new_tool.py' });
  const result = h('div');
  runtime.addEventListener('change', () => {
    path.placeholder = runtime.value === 'js' ? 'js/new_tool.js' : 'python/tools/new_tool.py';
  });
  return h('form', {
    class: 'card', id: 'create-form', 'aria-labelledby': 'create-title',
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const script = await api('/api/scripts', { method: 'POST', body: { path: path.value.trim(), template: runtime.value } });
        location.hash = `#/scripts/${script.id}`;
      } catch (error) { mount(result, errorBox(error)); }
    },
  }, h('h2', { id: 'create-title' }, 'New script from a template'),
  field('Template', runtime), field('Path', path, 'Relative to the scripts folder; .py under python/, .js under js/'),
  result, h('button', { type: 'submit', class: 'primary' }, 'Create'));
}

function uploadForm() {
  const file = h('input', { type: 'file', id: 'upload-file', required: true, accept: '.py,.js,.mjs,.cjs' });
  const path = h('input', { id: 'upload-path', placeholder: 'optional: python/tools/name.py' });
  const result = h('div');
  return h('form', {
    class: 'card', id: 'upload-form', 'aria-labelledby': 'upload-title',
    onsubmit: async (event) => {
      event.preventDefault();
      if (!file.files.length) { mount(result, errorBox('Choose a file first.')); return; }
      const form = new FormData();
      form.append('file', file.files[0]);
      if (path.value.trim()) form.append('path', path.value.trim());
      try {
        const script = await api('/api/scripts/upload', { method: 'POST', body: form });
        location.hash = `#/scripts/${script.id}`;
      } catch (error) { mount(result, errorBox(error)); }
    },
  }, h('h2', { id: 'upload-title' }, 'Upload a script'),
  field('File', file), field('Path', path, 'Default: the runtime folder and the file name'),
  result, h('button', { type: 'submit' }, 'Upload'));
}
