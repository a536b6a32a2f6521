// One script: the run form from its ARGS_MAP, the curl command, its source and editor, its
// own settings, and deleting it.

import { h, mount, badge, when, errorBox, toast, copy, confirmButton } from '../dom.js';
import { api, getKey, streamEvents } from '../api.js';
import { paramForm, runBody, curlCommand } from '../form.js';
import { resultView } from '../result.js';
import { sourceCard, settingsCard } from './script_edit.js';

/** How long Run waits on this page before handing the run to its own page. */
const WAIT_MS = 3000;

export async function render(main, [id], query) {
  let stopped = false;
  const abort = new AbortController();
  const draw = async () => {
    const script = await api(`/api/scripts/${id}`);
    const from = query.get('from') ? await api(`/api/runs/${query.get('from')}`).catch(() => null) : null;
    if (stopped) return;
    mount(main,
      header(script),
      runCard(script, from, abort.signal),
      sourceCard(script, draw),
      settingsCard(script, draw),
      h('section', { class: 'card danger-zone' }, h('h2', {}, 'Delete'),
        h('p', {}, 'Removes the file and its sidecar; its run history stays.'),
        confirmButton('Delete', `Delete ${script.path}?`, async () => {
          try {
            await api(`/api/scripts/${id}`, { method: 'DELETE' });
            toast(`Deleted ${script.path}`);
            location.hash = '#/';
          } catch (error) { toast(error.message, 'error'); }
        })));
  };
  await draw();
  return () => { stopped = true; abort.abort(); };
}

function header(s) {
  return h('div', { class: 'page-head' },
    h('div', {},
      h('p', { class: 'crumbs' }, h('a', { href: '#/' }, 'Scripts'), ' / ', h('span', { class: 'mono' }, s.path)),
      h('h1', {}, s.alias || s.name, ' ', badge(s.load_status), s.enabled ? null : h('span', { class: 'badge' }, 'disabled')),
      s.description ? h('p', { class: 'desc' }, s.description) : null,
      h('p', { class: 'muted' }, `${s.runtime} · ${plural(s.run_count ?? 0, 'run')} · last run `, when(s.last_run_at),
        s.last_run_status ? [' ', badge(s.last_run_status)] : null, ' · ',
        h('a', { href: `#/runs?script_id=${s.id}` }, 'history'))),
    s.load_error ? h('pre', { class: 'error block', role: 'alert' }, s.load_error) : null);
}

function runCard(script, from, signal) {
  if (script.load_status !== 'ok') {
    return h('section', { class: 'card' }, h('h2', {}, 'Run'), h('p', { class: 'muted' }, 'This script cannot run until its schema loads.'));
  }
  const form = paramForm(script.args_schema);
  if (from) form.prefill(from.params);
  const outcome = h('div', { class: 'outcome', 'aria-live': 'polite' });
  const curl = h('pre', { class: 'out curl', tabindex: '0' });
  const runUrl = new URL(`/api/scripts/${script.id}/run`, location.href).href;
  const refreshCurl = () => { curl.textContent = curlCommand(runUrl, form.values(), Boolean(getKey())); };
  const buttons = [
    h('button', { type: 'submit', class: 'primary', id: 'run' }, 'Run'),
    h('button', { type: 'button', id: 'run-bg', onclick: () => start(true) }, 'Run in background'),
  ];
  const start = async (background) => {
    const collected = form.values();
    form.setErrors(collected.problems);
    if (collected.problems.length) { form.focusFirstError(); return; }
    buttons.forEach((b) => { b.disabled = true; });
    mount(outcome, h('p', { class: 'muted' }, 'Starting…'));
    try {
      const accepted = await api(`/api/scripts/${script.id}/run?async=true`, { method: 'POST', body: runBody(collected) });
      const link = h('a', { href: `#/runs/${accepted.run_id}` }, `run #${accepted.run_id}`);
      if (background) {
        mount(outcome, h('p', {}, 'Started ', link, ' in the background.'));
      } else {
        mount(outcome, h('p', { class: 'muted' }, 'Running ', link, '…'));
        const run = await waitForEnd(accepted.run_id, signal);
        if (!run) { location.hash = `#/runs/${accepted.run_id}`; return; }
        mount(outcome, h('p', {}, badge(run.status), ' ', link, ` in ${run.duration_ms ?? '?'} ms, exit code ${run.exit_code ?? '—'}`), resultView(run));
      }
    } catch (error) {
      if (error.code === 'invalid_params') { form.setErrors(error.details); form.focusFirstError(); }
      mount(outcome, errorBox(error));
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
  const element = h('form', {
    class: 'card', novalidate: true, id: 'run-form',
    onsubmit: (event) => { event.preventDefault(); start(false); },
    oninput: refreshCurl, onchange: refreshCurl,
  },
  h('h2', {}, 'Run'),
  from ? h('p', { class: 'note' }, `Filled in from run #${from.id}.`, Object.values(from.params || {}).some(isFileParam) ? ' Files are not kept: choose them again.' : '') : null,
  form.element, h('div', { class: 'actions' }, buttons), outcome,
  h('details', { class: 'curl-box' }, h('summary', {}, 'curl for this form'), curl,
    h('button', { type: 'button', class: 'small', onclick: () => copy(curl.textContent) }, 'Copy curl')));
  refreshCurl();
  return element;
}

const plural = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const isFileParam = (v) => v && typeof v === 'object' && 'file' in v && 'size' in v;

/** The run once it ended, or null when it still runs after WAIT_MS. */
async function waitForEnd(runId, pageSignal) {
  const abort = new AbortController();
  const stop = () => abort.abort();
  pageSignal.addEventListener('abort', stop);
  const timer = setTimeout(stop, WAIT_MS);
  let ended = null;
  try {
    await streamEvents(runId, (event) => {
      if (event.event === 'end') { ended = JSON.parse(event.data); stop(); }
    }, abort.signal);
  } catch (error) {
    if (error.name !== 'AbortError') throw error;
  } finally {
    clearTimeout(timer);
    pageSignal.removeEventListener('abort', stop);
  }
  return ended;
}
