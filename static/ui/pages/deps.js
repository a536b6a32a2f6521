// Dependencies: every cache (runtime, key, status, size, users, last use), each script's
// dependency file with its install log and install / reinstall, and cleanup of unused caches.

import { h, mount, badge, when, bytes, table, errorBox, field, toast } from '../dom.js';
import { api, allScripts } from '../api.js';

export async function render(main) {
  const [status, scripts] = await Promise.all([api('/api/dependencies/cache/status'), allScripts()]);
  const withDeps = scripts.filter((s) => s.deps_file);
  const log = h('div', { id: 'install-log', 'aria-live': 'polite' });
  mount(main,
    h('h1', {}, 'Dependencies'),
    h('section', { class: 'card' }, h('h2', {}, 'Scripts with dependency files'),
      withDeps.length ? table(['Script', 'File', 'Status', ''], withDeps.map((s) => scriptRow(s, log)))
        : h('p', { class: 'empty' }, 'No script has a requirements.txt or package.json.'),
      log),
    h('section', { class: 'card' }, h('h2', {}, `Caches (${status.count}, ${bytes(status.total_size_bytes)})`),
      status.caches.length ? table(['Runtime', 'Key', 'Status', 'Size', 'Used by', 'Last used'], status.caches.map(cacheRow))
        : h('p', { class: 'empty' }, 'No caches yet.')),
    cleanupForm(main));
}

function scriptRow(s, log) {
  const show = async (install, force) => {
    mount(log, h('p', { class: 'muted' }, install ? `Installing for ${s.path}…` : 'Loading…'));
    try {
      const view = install
        ? await api(`/api/scripts/${s.id}/dependencies/install${force ? '?force=true' : ''}`, { method: 'POST' })
        : await api(`/api/scripts/${s.id}/dependencies`);
      const last = install ? view : view.last_install;
      mount(log, h('h3', {}, `Install log of ${s.path}`),
        h('p', {}, badge(install ? view.status : (view.installed ? 'ready' : last?.status || 'not installed')), ' ',
          h('span', { class: 'muted' }, (view.deps || []).join(', ')),
          last?.duration_ms != null ? h('span', { class: 'muted' }, ` · ${last.duration_ms} ms`) : null),
        view.error ? h('pre', { class: 'error block' }, view.error) : null,
        h('pre', { class: 'out', id: 'install-log-text' }, last?.log || 'No install has run yet.'));
      if (install) toast(`Install for ${s.path}: ${view.status}`);
    } catch (error) { mount(log, errorBox(error)); }
  };
  return h('tr', {},
    h('td', {}, h('a', { href: `#/scripts/${s.id}` }, s.alias || s.name), h('div', { class: 'muted mono' }, s.path)),
    h('td', { class: 'mono', 'data-label': 'File' }, s.deps_file),
    h('td', { 'data-label': 'Status' }, badge(s.deps_status || 'unknown')),
    h('td', { class: 'row-actions' },
      h('button', { type: 'button', class: 'small', onclick: () => show(false) }, 'Log'),
      h('button', { type: 'button', class: 'small', onclick: () => show(true, false) }, 'Install'),
      h('button', { type: 'button', class: 'small', onclick: () => show(true, true) }, 'Reinstall')));
}

function cacheRow(c) {
  return h('tr', {},
    h('td', {}, c.runtime, c.shared ? h('span', { class: 'badge' }, 'shared') : null),
    h('td', { 'data-label': 'Key' }, h('code', { title: c.cache_dir }, c.hash.slice(0, 12)),
      h('div', { class: 'muted small' }, c.deps.join(', '))),
    h('td', { 'data-label': 'Status' }, badge(c.status), c.active_runs ? h('span', { class: 'badge' }, 'in use') : null,
      c.error ? h('div', { class: 'error small' }, c.error) : null),
    h('td', { 'data-label': 'Size' }, bytes(c.size_bytes)),
    h('td', { 'data-label': 'Used by' }, c.scripts.length ? c.scripts.map((u) => h('div', {}, h('a', { href: `#/scripts/${u.id}` }, u.path))) : h('span', { class: 'muted' }, 'nobody')),
    h('td', { 'data-label': 'Last used' }, when(c.last_used_at)));
}

function cleanupForm(main) {
  const days = h('input', { type: 'number', id: 'cleanup-days', min: '0', step: 'any', value: '30' });
  const outcome = h('div', { 'aria-live': 'polite' });
  return h('form', {
    class: 'card',
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const result = await api('/api/dependencies/cache/cleanup', { method: 'POST', body: { older_than_days: Number(days.value) } });
        toast(`Removed ${result.removed.length} caches, freed ${bytes(result.freed_bytes)}`);
        await render(main);
      } catch (error) { mount(outcome, errorBox(error)); }
    },
  }, h('h2', {}, 'Clean up'),
  h('p', {}, 'Removes caches that no script, shared set or run uses.'),
  field('Idle for at least (days)', days, '0 removes every unused cache'), outcome,
  h('button', { type: 'submit' }, 'Clean up unused caches'));
}
