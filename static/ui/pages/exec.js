// A console for ad-hoc code (`POST /api/exec`): runtime, code, arguments, variables,
// packages and input files; the run then opens on its own page, live. `?from=ID` starts
// from an earlier ad-hoc run (secret-looking variables were never recorded, so they are
// left blank).

import { h, mount, errorBox, field } from '../dom.js';
import { api } from '../api.js';

const STARTERS = {
  python: 'import json, sys\n\nprint(json.dumps({"args": sys.argv[1:]}))\n',
  node: 'console.log(JSON.stringify({ args: process.argv.slice(2) }));\n',
};

export async function render(main, _params, query) {
  const from = query.get('from') ? await api(`/api/runs/${query.get('from')}`).catch(() => null) : null;
  const earlier = from?.kind === 'exec' ? from.params || {} : {};
  const runtime = h('select', { id: 'exec-runtime', name: 'runtime' },
    h('option', { value: 'python', selected: earlier.runtime !== 'node' }, 'Python'),
    h('option', { value: 'node', selected: earlier.runtime === 'node' }, 'Node.js'));
  const code = h('textarea', {
    id: 'exec-code', class: 'mono code', rows: 14, spellcheck: 'false', required: true,
    value: earlier.code ?? STARTERS[runtime.value],
  });
  runtime.addEventListener('change', () => {
    if (Object.values(STARTERS).includes(code.value)) code.value = STARTERS[runtime.value];
  });
  const args = h('textarea', { id: 'exec-args', class: 'mono', rows: 3, value: (earlier.args || []).join('\n') });
  const env = h('textarea', {
    id: 'exec-env', class: 'mono', rows: 3,
    value: Object.entries(earlier.env || {}).map(([k, v]) => `${k}=${v === '***' ? '' : v}`).join('\n'),
  });
  const packages = h('input', { id: 'exec-packages', class: 'mono', value: (earlier.packages || []).join(' ') });
  const files = h('input', { id: 'exec-files', type: 'file', multiple: true });
  const timeout = h('input', { id: 'exec-timeout', type: 'number', min: '0.1', step: 'any' });
  const outcome = h('div', { id: 'exec-outcome' });
  const form = h('form', {
    class: 'card',
    onsubmit: async (event) => {
      event.preventDefault();
      mount(outcome);
      try {
        const accepted = await api('/api/exec?async=true', { method: 'POST', body: formData() });
        location.hash = `#/runs/${accepted.run_id}`;
      } catch (error) { mount(outcome, errorBox(error)); }
    },
  },
  field('Runtime', runtime),
  field('Code', code, 'Runs once as main.py or main.js, in a fresh working folder, with the limits of a script run.'),
  field('Arguments', args, 'One per line.'),
  field('Variables', env, 'NAME=value, one per line.'),
  field('Packages', packages, 'Separated by spaces, e.g. requests==2.32.3 or lodash@4; installed through the dependency caches.'),
  field('Input files', files, 'Put in the working folder under their names.'),
  field('Timeout (seconds)', timeout, 'Only shortens the gateway\u2019s timeout.'),
  outcome,
  h('button', { type: 'submit', class: 'primary', id: 'exec-run' }, 'Run'));

  function formData() {
    const data = new FormData();
    data.set('runtime', runtime.value);
    data.set('code', code.value);
    data.set('args', JSON.stringify(lines(args.value)));
    const variables = {};
    for (const line of lines(env.value)) {
      const cut = line.indexOf('=');
      variables[cut < 0 ? line : line.slice(0, cut)] = cut < 0 ? '' : line.slice(cut + 1);
    }
    data.set('env', JSON.stringify(variables));
    data.set('packages', JSON.stringify(packages.value.split(/[\s,]+/).filter(Boolean)));
    if (timeout.value) data.set('timeout', timeout.value);
    for (const file of files.files) data.append('inputs', file, file.name);
    return data;
  }

  mount(main,
    h('h1', {}, 'Run code'),
    h('p', { class: 'muted' }, 'Ad-hoc code runs like a script: its output, files and record appear on the run\u2019s page. ',
      'It needs the exec_enabled setting and a key with the exec scope.'),
    form);
}

const lines = (text) => text.split('\n').map((l) => l.trim()).filter(Boolean);
