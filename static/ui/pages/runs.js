// The run history: filters by script, status and time range (kept in the address, so a
// filtered view can be shared), pages, duration and exit code.

import { h, mount, badge, when, duration, table, field } from '../dom.js';
import { api, allScripts } from '../api.js';

const PAGE_SIZE = 25;
const STATUSES = ['', 'queued', 'running', 'success', 'error', 'timeout', 'limit_exceeded', 'cancelled', 'interrupted'];

/** A `datetime-local` value (the browser's local time) as an ISO instant in UTC. */
const toIso = (local) => (local ? new Date(local).toISOString() : '');
function toLocal(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function render(main, _params, query) {
  const scripts = await allScripts();
  const names = new Map(scripts.map((s) => [s.id, s.alias || s.name]));
  const script = h('select', { id: 'f-script' }, h('option', { value: '' }, 'All scripts'),
    scripts.map((s) => h('option', { value: String(s.id), selected: String(s.id) === query.get('script_id') }, `${s.alias || s.name} (${s.path})`)));
  const status = h('select', { id: 'f-status' }, STATUSES.map((v) =>
    h('option', { value: v, selected: v === (query.get('status') || '') }, v || 'Any status')));
  const since = h('input', { type: 'datetime-local', id: 'f-since', value: toLocal(query.get('since')) });
  const until = h('input', { type: 'datetime-local', id: 'f-until', value: toLocal(query.get('until')) });
  const page = Math.max(1, Number(query.get('page')) || 1);
  const results = h('div', { id: 'run-rows', 'aria-live': 'polite' });

  const go = (toPage) => {
    const q = new URLSearchParams();
    if (script.value) q.set('script_id', script.value);
    if (status.value) q.set('status', status.value);
    if (since.value) q.set('since', toIso(since.value));
    if (until.value) q.set('until', toIso(until.value));
    if (toPage > 1) q.set('page', String(toPage));
    location.hash = `#/runs${q.toString() ? `?${q}` : ''}`;
  };
  const filters = h('form', {
    class: 'filters', role: 'search',
    onsubmit: (event) => { event.preventDefault(); go(1); },
  },
  field('Script', script), field('Status', status), field('From', since), field('Until', until),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Filter'),
    h('a', { href: '#/runs', class: 'button' }, 'Clear')));
  mount(main, h('h1', {}, 'Runs'), filters, results);

  const q = new URLSearchParams({ page: String(page), page_size: String(PAGE_SIZE) });
  for (const key of ['script_id', 'status', 'since', 'until']) if (query.get(key)) q.set(key, query.get(key));
  const found = await api(`/api/runs?${q}`);
  const pages = Math.max(1, Math.ceil(found.total / PAGE_SIZE));
  mount(results,
    h('p', { class: 'muted' }, `${found.total} runs`),
    found.items.length ? table(['Run', 'Script', 'Status', 'Queued', 'Duration', 'Exit'], found.items.map((r) => h('tr', {},
      h('td', {}, h('a', { href: `#/runs/${r.id}` }, `#${r.id}`)),
      h('td', { 'data-label': 'Script' }, r.script_id == null ? h('span', { class: 'mono' }, r.script_path)
        : h('a', { href: `#/scripts/${r.script_id}` }, names.get(r.script_id) || r.script_path)),
      h('td', { 'data-label': 'Status' }, badge(r.status)),
      h('td', { 'data-label': 'Queued' }, when(r.queued_at)),
      h('td', { 'data-label': 'Duration' }, duration(r.duration_ms)),
      h('td', { 'data-label': 'Exit' }, r.exit_code ?? '—')))) : h('p', { class: 'empty' }, 'No run matches.'),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      h('button', { type: 'button', disabled: page <= 1, onclick: () => go(page - 1) }, '← Newer'),
      h('span', {}, `Page ${page} of ${pages}`),
      h('button', { type: 'button', disabled: page >= pages, onclick: () => go(page + 1) }, 'Older →')));
}
