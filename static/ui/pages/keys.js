// Named API keys: the list (never the secrets), creating one (its secret shown this once,
// with a copy button), and revoking.

import { h, mount, when, table, errorBox, field, toast, copyButton, confirmButton } from '../dom.js';
import { api } from '../api.js';

const SCOPES = {
  run: 'run scripts, read scripts and runs',
  metrics: 'read /metrics',
  admin: 'everything',
};

export async function render(main) {
  const keys = await api('/api/keys');
  const created = h('div', { id: 'new-key', 'aria-live': 'polite' });
  mount(main,
    h('h1', {}, 'API keys'),
    h('p', { class: 'muted' }, 'Once any key exists, every API call needs one. The master key given at start-up is not listed.'),
    created,
    keys.items.length ? table(['Name', 'Prefix', 'Scope', 'Created', 'Last used', ''], keys.items.map((k) => h('tr', {},
      h('td', { class: 'strong' }, k.name),
      h('td', { class: 'mono', 'data-label': 'Prefix' }, `${k.prefix}…`),
      h('td', { 'data-label': 'Scope' }, k.scope),
      h('td', { 'data-label': 'Created' }, when(k.created_at)),
      h('td', { 'data-label': 'Last used' }, when(k.last_used_at)),
      h('td', {}, k.revoked_at ? h('span', { class: 'badge' }, `revoked ${when(k.revoked_at)}`)
        : confirmButton('Revoke', `Revoke ${k.name}?`, async () => {
          try { await api(`/api/keys/${k.id}`, { method: 'DELETE' }); toast(`Revoked ${k.name}`); await render(main); } catch (error) { toast(error.message, 'error'); }
        }))))) : h('p', { class: 'empty' }, 'No named keys yet.'),
    createForm(main, created));
}

function createForm(main, created) {
  const name = h('input', { id: 'key-name', required: true, autocomplete: 'off' });
  const scope = h('select', { id: 'key-scope' }, Object.entries(SCOPES).map(([v, what]) => h('option', { value: v }, `${v} — ${what}`)));
  const outcome = h('div');
  return h('form', {
    class: 'card',
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const key = await api('/api/keys', { method: 'POST', body: { name: name.value.trim(), scope: scope.value } });
        await render(main);
        const box = document.getElementById('new-key');
        mount(box, h('div', { class: 'card secret' },
          h('h2', {}, `Key “${key.name}” created`),
          h('p', {}, 'Copy it now: it is shown this one time only.'),
          h('div', { class: 'secret-row' }, h('code', { id: 'secret' }, key.key), copyButton(() => key.key))));
      } catch (error) { mount(outcome, errorBox(error)); }
    },
  }, h('h2', {}, 'Create a key'), field('Name', name), field('Scope', scope), outcome,
  h('button', { type: 'submit', class: 'primary' }, 'Create key'));
}
