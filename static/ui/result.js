// A finished run's outcome: its error, data as a collapsible JSON tree, the raw output and
// files as downloads (fetched with the key), and stderr.

import { h, toast, bytes, copyButton } from './dom.js';
import { download } from './api.js';

export function resultView(run) {
  return h('div', { class: 'result' },
    run.error ? h('p', { class: 'error', role: 'alert' }, h('strong', {}, run.error.code || 'error'), ': ', run.error.message || '') : null,
    'data' in run && run.data !== undefined ? h('section', {}, h('h3', {}, 'Data'), jsonTree(run.data)) : null,
    run.type === 'file' || run.url ? outputSection(run) : null,
    run.files?.length ? h('section', {}, h('h3', {}, 'Files'),
      h('ul', { class: 'files' }, run.files.map((f) => h('li', {}, downloadButton(f.url, f.name), ' ', h('span', { class: 'muted' }, bytes(f.size)))))) : null,
    run.stderr ? h('section', {}, h('h3', {}, 'Stderr'), h('pre', { class: 'out stderr' }, run.stderr)) : null);
}

function outputSection(run) {
  return h('section', {}, h('h3', {}, 'Output'),
    h('p', {}, downloadButton(run.url, run.filename || 'output'), ' ',
      h('span', { class: 'muted' }, [run.content_type, bytes(run.size)].filter(Boolean).join(' · '))),
    run.stdout_preview ? h('pre', { class: 'out' }, run.stdout_preview) : null);
}

/** A real link (it can be copied or opened elsewhere); a click fetches it with the key. */
export function downloadButton(url, name) {
  return h('a', {
    href: url, class: 'download', download: name,
    onclick: (event) => {
      event.preventDefault();
      download(url, name).catch((error) => toast(error.message, 'error'));
    },
  }, `⤓ ${name}`);
}

/** JSON as nested <details>: objects and arrays fold, the top two levels start open. */
export function jsonTree(value, depth = 0) {
  if (value === null || typeof value !== 'object') {
    return h('span', { class: `j-${value === null ? 'null' : typeof value}` }, JSON.stringify(value));
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  const brackets = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  if (!entries.length) return h('span', {}, brackets.join(''));
  const noun = Array.isArray(value) ? 'item' : 'key';
  const summary = `${brackets[0]} ${entries.length} ${noun}${entries.length === 1 ? '' : 's'} ${brackets[1]}`;
  const tree = h('details', { class: 'json', open: depth < 2 },
    h('summary', {}, summary),
    h('ul', {}, entries.map(([key, v]) => h('li', {},
      h('span', { class: 'j-key' }, Array.isArray(value) ? `${key}: ` : `${JSON.stringify(key)}: `),
      jsonTree(v, depth + 1)))));
  return depth ? tree : h('div', { class: 'json-root' }, tree,
    copyButton(() => JSON.stringify(value, null, 2), 'Copy JSON'));
}
