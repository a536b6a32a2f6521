// Every runtime setting with its value, source, default and range; changed values are sent
// together and the API's per-key errors appear beside their rows.

import { h, mount, errorBox, toast, table } from '../dom.js';
import { api } from '../api.js';

export async function render(main) {
  const { settings } = await api('/api/settings');
  const rows = Object.values(settings).map(settingRow);
  const outcome = h('div', { 'aria-live': 'polite' });
  const form = h('form', {
    novalidate: true, id: 'settings-form',
    onsubmit: async (event) => {
      event.preventDefault();
      const changed = {};
      for (const row of rows) if (row.changed()) changed[row.key] = row.value();
      rows.forEach((row) => row.error(''));
      if (!Object.keys(changed).length) { mount(outcome, h('p', { class: 'muted' }, 'Nothing changed.')); return; }
      try {
        await api('/api/settings', { method: 'PATCH', body: changed });
        toast(`Saved ${Object.keys(changed).join(', ')}`);
        await render(main);
      } catch (error) {
        for (const d of error.details || []) rows.find((r) => r.key === d.key)?.error(d.message);
        mount(outcome, errorBox(error));
        rows.find((r) => r.hasError())?.input.focus();
      }
    },
  },
  table(['Setting', 'Value', 'Source', 'Default', 'Range'], rows.map((r) => r.element)),
  outcome, h('div', { class: 'actions sticky' }, h('button', { type: 'submit', class: 'primary', id: 'save-settings' }, 'Save changes')));
  mount(main, h('h1', {}, 'Settings'),
    h('p', { class: 'muted' }, 'Stored values beat flags, the environment and defaults, and apply without a restart.'), form);
}

function settingRow(s) {
  const id = `set-${s.key}`;
  const isBool = s.type === 'boolean';
  const isNumber = s.type === 'number' || s.type === 'integer';
  const input = isBool
    ? h('input', { type: 'checkbox', id, checked: Boolean(s.value) })
    : s.choices
    ? h('select', { id }, ...s.choices.map((c) => h('option', { value: c, selected: c === s.value }, c)))
    : h('input', { id, type: isNumber ? 'number' : 'text', step: s.type === 'integer' ? '1' : 'any', value: s.value ?? '' });
  const original = isBool ? Boolean(s.value) : String(s.value ?? '');
  const errorEl = h('div', { class: 'field-error', id: `${id}-error`, role: 'alert' });
  input.setAttribute('aria-describedby', `${id}-desc ${id}-error`);
  const reset = s.source === 'db' ? h('button', {
    type: 'button', class: 'small link',
    onclick: async () => {
      try { await api(`/api/settings/${encodeURIComponent(s.key)}`, { method: 'DELETE' }); toast(`${s.key} reset`); location.reload(); } catch (error) { toast(error.message, 'error'); }
    },
  }, 'Reset') : null;
  const range = s.min != null || s.max != null ? `${s.min ?? '…'} – ${s.max ?? '…'}` : '—';
  const read = () => (isBool ? input.checked : input.value);
  return {
    key: s.key,
    input,
    element: h('tr', {},
      h('td', {}, h('label', { for: id, class: 'strong mono' }, s.key), h('div', { class: 'muted small', id: `${id}-desc` }, s.description)),
      h('td', { 'data-label': 'Value' }, input, errorEl),
      h('td', { 'data-label': 'Source' }, h('span', { class: `badge src-${s.source}` }, s.source), ' ', reset),
      h('td', { 'data-label': 'Default', class: 'mono' }, JSON.stringify(s.default)),
      h('td', { 'data-label': 'Range', class: 'mono' }, range)),
    changed: () => read() !== original,
    value() {
      if (isBool) return input.checked;
      if (isNumber && input.value.trim() !== '' && !Number.isNaN(Number(input.value))) return Number(input.value);
      return input.value;
    },
    error(message) { errorEl.textContent = message; input.toggleAttribute('aria-invalid', Boolean(message)); },
    hasError: () => Boolean(errorEl.textContent),
  };
}
