// The script page's editing cards: the source (saved through the API, which extracts the
// schema again) and the script's own settings.

import { h, mount, errorBox, toast, field } from '../dom.js';
import { api } from '../api.js';

export function sourceCard(script, redraw) {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Open to load the source.'));
  const details = h('details', { class: 'card', id: 'source' }, h('summary', {}, h('h2', {}, 'Source')), body);
  let loaded = false;
  details.addEventListener('toggle', async () => {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      const { content } = await api(`/api/scripts/${script.id}/content`);
      mount(body, editor(script, content, redraw));
    } catch (error) { mount(body, errorBox(error)); loaded = false; }
  });
  return details;
}

function editor(script, content, redraw) {
  const area = h('textarea', { id: 'source-text', class: 'mono code', rows: 18, spellcheck: 'false', value: content });
  const outcome = h('div', { 'aria-live': 'polite' });
  area.addEventListener('keydown', (event) => {
    // Tab indents in the editor; Escape then Tab leaves it, so keyboard users are not trapped.
    if (event.key === 'Tab' && !event.shiftKey && area.dataset.escaped !== '1') {
      event.preventDefault();
      area.setRangeText('    ', area.selectionStart, area.selectionEnd, 'end');
    }
    area.dataset.escaped = event.key === 'Escape' ? '1' : '';
  });
  const save = async () => {
    mount(outcome, h('p', { class: 'muted' }, 'Saving and extracting the schema…'));
    try {
      const updated = await api(`/api/scripts/${script.id}/content`, { method: 'PUT', body: { content: area.value } });
      if (updated.load_status === 'ok') {
        toast('Saved; the form shows the new parameters');
        await redraw();
        document.getElementById('run-form')?.scrollIntoView();
      } else {
        mount(outcome, h('p', { class: 'error', role: 'alert' }, 'Saved, but the schema did not load: '),
          h('pre', { class: 'error block' }, updated.load_error || 'unknown error'));
      }
    } catch (error) { mount(outcome, errorBox(error)); }
  };
  return h('div', {},
    field('Content', area, 'Tab indents; press Escape then Tab to move on.'),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', id: 'save-source', onclick: save }, 'Save')),
    outcome);
}

export function settingsCard(script, redraw) {
  const enabled = h('input', { type: 'checkbox', id: 'set-enabled', checked: script.enabled });
  const notify = h('input', { type: 'checkbox', id: 'set-notify', checked: script.notify_enabled });
  const alias = h('input', { id: 'set-alias', value: script.alias ?? '' });
  const timeout = h('input', { id: 'set-timeout', type: 'number', min: '1', step: '1', value: script.timeout_sec ?? '' });
  const concurrent = h('input', { id: 'set-concurrent', type: 'number', min: '1', step: '1', value: script.max_concurrent ?? '' });
  const outcome = h('div', { 'aria-live': 'polite' });
  const number = (input) => (input.value === '' ? null : Number(input.value));
  return h('form', {
    class: 'card', id: 'script-settings', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api(`/api/scripts/${script.id}`, {
          method: 'PATCH',
          body: {
            enabled: enabled.checked, notify_enabled: notify.checked, alias: alias.value.trim() || null,
            timeout_sec: number(timeout), max_concurrent: number(concurrent),
          },
        });
        toast('Script settings saved');
        await redraw();
      } catch (error) { mount(outcome, errorBox(error)); }
    },
  },
  h('h2', {}, 'Script settings'),
  h('div', { class: 'grid2' },
    h('div', { class: 'check' }, enabled, h('label', { for: 'set-enabled' }, 'Enabled (can be run)')),
    h('div', { class: 'check' }, notify, h('label', { for: 'set-notify' }, 'Notify the webhook when a run ends')),
    field('Alias', alias, 'A friendlier name; empty for none'),
    field('Timeout (seconds)', timeout, 'Empty: the global timeout'),
    field('Max concurrent runs', concurrent, 'Empty: no per-script limit')),
  outcome, h('button', { type: 'submit' }, 'Save settings'));
}
