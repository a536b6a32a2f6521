// One run, at its own shareable address: status, parameters, timing; live stdout and
// stderr while it runs (SSE read with fetch), Cancel; then its result, Rerun and Edit and rerun.

import { h, mount, badge, when, duration, errorBox, toast } from '../dom.js';
import { api, streamEvents } from '../api.js';
import { resultView, jsonTree } from '../result.js';

const LIVE = new Set(['queued', 'running']);

export async function render(main, [id]) {
  const abort = new AbortController();
  const run = await api(`/api/runs/${id}`);
  // An ad-hoc run (`kind: "exec"`) has no script behind it.
  const script = run.script_id == null ? null : await api(`/api/scripts/${run.script_id}`).catch(() => null);
  const status = h('span', { id: 'run-status' }, badge(run.status));
  const facts = h('div', { id: 'run-facts' }, factsTable(run));
  const body = h('div', { id: 'run-body' });
  const actions = h('div', { class: 'actions', id: 'run-actions' });
  mount(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/runs' }, 'Runs'), ' / ', `#${run.id}`),
    h('div', { class: 'page-head' }, h('h1', {}, `Run #${run.id} `, status), actions),
    run.kind === 'exec' ? h('p', {}, 'Ad-hoc code ', h('span', { class: 'mono' }, run.script_path))
      : h('p', {}, 'Script ', script ? h('a', { href: `#/scripts/${run.script_id}` }, script.alias || script.name)
        : h('span', { class: 'mono' }, run.script_path), ' ', h('span', { class: 'muted mono' }, run.script_path)),
    facts,
    run.params && Object.keys(run.params).length ? h('section', { class: 'card' }, h('h2', {}, 'Parameters'), jsonTree(run.params)) : null,
    body);

  const finish = (ended) => {
    mount(status, badge(ended.status));
    mount(facts, factsTable(ended));
    mount(actions, rerunButtons(ended, script));
    const live = body.querySelector('.live');
    mount(body, h('section', { class: 'card' }, h('h2', {}, 'Result'), resultView(ended)));
    if (live && !ended.data && !ended.stdout_preview && live.textContent) {
      body.append(h('section', { class: 'card' }, h('h2', {}, 'Output as it ran'), live));
    }
  };

  if (!LIVE.has(run.status)) {
    finish(run);
    return () => abort.abort();
  }
  const stdout = h('pre', { class: 'out', id: 'live-stdout', 'aria-live': 'off' });
  const stderr = h('pre', { class: 'out stderr', id: 'live-stderr' });
  const cancel = h('button', {
    type: 'button', class: 'danger', id: 'cancel',
    onclick: async () => {
      cancel.disabled = true;
      try { await api(`/api/runs/${id}/cancel`, { method: 'POST' }); toast('Cancelled'); } catch (error) { toast(error.message, 'error'); cancel.disabled = false; }
    },
  }, 'Cancel');
  mount(actions, cancel);
  mount(body, h('section', { class: 'card live' }, h('h2', {}, 'Live output'),
    h('h3', {}, 'stdout'), stdout, h('h3', {}, 'stderr'), stderr));
  follow(id, { stdout, stderr, status }, finish, abort.signal);
  return () => abort.abort();
}

/** Follows the run's events; a dropped stream is opened again (the server replays from the
 * start, so events already shown are skipped by id) until the run ends. */
async function follow(id, parts, finish, signal) {
  let seen = -1;
  let ended = false;
  for (let attempt = 0; !ended && attempt < 5; attempt += 1) {
    try {
      await streamEvents(id, (event) => {
        const n = Number(event.id);
        if (Number.isFinite(n) && n <= seen) return;
        if (Number.isFinite(n)) seen = n;
        if (event.event === 'stdout' || event.event === 'stderr') {
          parts[event.event].append(`${event.data}\n`);
          mount(parts.status, badge('running'));
        } else if (event.event === 'end') {
          ended = true;
          finish(JSON.parse(event.data));
        }
      }, signal);
    } catch (error) {
      if (error.name === 'AbortError' || error.status) {
        if (error.status) parts.stdout.after(errorBox(error));
        return;
      }
    }
    if (!ended) await new Promise((resolve) => { setTimeout(resolve, 1000); });
  }
  if (!ended && !signal.aborted) parts.stdout.after(errorBox('Lost the live output; reload the page to see the result.'));
}

function factsTable(run) {
  const row = (name, value) => h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, value));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'facts' }, h('tbody', {},
    row('Status', badge(run.status)),
    row('Queued', when(run.queued_at)),
    row('Started', when(run.started_at)),
    row('Finished', when(run.finished_at)),
    row('Duration', duration(run.duration_ms)),
    row('Exit code', run.exit_code ?? '—'),
    run.queue_position !== null && run.queue_position !== undefined ? row('Queue position', String(run.queue_position)) : null)));
}

const hasFiles = (params) => Object.values(params || {}).some((v) => v && typeof v === 'object' && 'file' in v && 'size' in v);

function rerunButtons(run, script) {
  if (run.kind === 'exec') return [h('a', { class: 'button', id: 'edit-rerun', href: `#/exec?from=${run.id}` }, 'Edit and rerun')];
  const canRerun = script && script.load_status === 'ok' && !hasFiles(run.params);
  return [
    h('button', {
      type: 'button', class: 'primary', id: 'rerun', disabled: !canRerun,
      title: canRerun ? 'Run again with the same parameters' : 'Runs with files need the files again: use Edit and rerun',
      onclick: async () => {
        try {
          const accepted = await api(`/api/scripts/${run.script_id}/run?async=true`, { method: 'POST', body: run.params || {} });
          location.hash = `#/runs/${accepted.run_id}`;
        } catch (error) { toast(error.message, 'error'); }
      },
    }, 'Rerun'),
    script ? h('a', { class: 'button', id: 'edit-rerun', href: `#/scripts/${run.script_id}?from=${run.id}` }, 'Edit and rerun') : null,
  ];
}
