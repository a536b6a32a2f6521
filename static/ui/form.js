// A run form generated from a script's ARGS_MAP: one control per parameter type, defaults
// filled in, required marks, help text, and the server's `invalid_params` details shown
// beside their fields. Browser validation is off: the API is the one judge of a value.

import { h, uid } from './dom.js';

/** Builds the form's fields; returns {element, values(), setErrors(), prefill(), hasFiles()}. */
export function paramForm(schema) {
  const entries = Object.entries(schema || {});
  const fields = entries.map(([name, spec]) => paramField(name, spec || {}));
  const element = h('div', { class: 'params' },
    fields.length ? fields.map((f) => f.element) : h('p', { class: 'muted' }, 'This script takes no parameters.'));
  return {
    element,
    values: () => collect(fields),
    setErrors(details) {
      for (const f of fields) f.error((details || []).filter((d) => d.param === f.name).map((d) => d.message).join('; '));
    },
    prefill(params) {
      for (const f of fields) if (params && f.name in params) f.set(params[f.name]);
    },
    hasFiles: () => fields.some((f) => f.type === 'file' && f.control.files?.length),
    focusFirstError: () => fields.find((f) => f.hasError())?.control.focus(),
  };
}

function paramField(name, spec) {
  const type = spec.type || 'str';
  const id = uid('p');
  const control = makeControl(type, spec, id);
  const errorEl = h('div', { class: 'field-error', id: `${id}-error`, role: 'alert' });
  const note = h('div', { class: 'hint', id: `${id}-hint` },
    spec.help ? String(spec.help) : null,
    h('span', { class: 'type' }, `${spec.help ? ' · ' : ''}${type}${'default' in spec ? ` · default ${JSON.stringify(spec.default)}` : ''}`));
  control.setAttribute('aria-describedby', `${id}-hint ${id}-error`);
  const jsonNote = type === 'json' ? h('div', { class: 'json-state', 'aria-live': 'polite' }) : null;
  if (jsonNote) control.addEventListener('input', () => checkJson(control, jsonNote));
  const label = h('label', { for: id }, name, spec.required ? h('span', { class: 'req', title: 'required' }, ' *') : null);
  const element = h('div', { class: `field param t-${type.replace(/[^a-z]/g, '')}`, 'data-param': name },
    type === 'bool' ? h('div', { class: 'check' }, control, label) : [label, control],
    jsonNote, note, errorEl);
  return {
    name, type, spec, control, element,
    error(message) {
      errorEl.textContent = message || '';
      control.toggleAttribute('aria-invalid', Boolean(message));
    },
    hasError: () => Boolean(errorEl.textContent),
    set(value) {
      if (type === 'bool') control.checked = Boolean(value);
      else if (type === 'json') { control.value = JSON.stringify(value, null, 2); checkJson(control, jsonNote); }
      else if (type !== 'file' && value !== null && value !== undefined) control.value = String(value);
    },
  };
}

function makeControl(type, spec, id) {
  const has = 'default' in spec && spec.default !== null;
  const text = (v) => (has ? String(v) : undefined);
  switch (type) {
    case 'int':
      return h('input', { id, type: 'number', step: '1', inputmode: 'numeric', value: text(spec.default) });
    case 'float':
      return h('input', { id, type: 'number', step: 'any', inputmode: 'decimal', value: text(spec.default) });
    case 'bool':
      return h('input', { id, type: 'checkbox', checked: Boolean(spec.default) });
    case 'choice': {
      const choices = Array.isArray(spec.choices) ? spec.choices : [];
      const blank = spec.required && has ? [] : [h('option', { value: '' }, '—')];
      return h('select', { id }, blank, choices.map((c) =>
        h('option', { value: JSON.stringify(c), selected: has && c === spec.default }, String(c))));
    }
    case 'json':
      return h('textarea', { id, rows: 4, class: 'mono', spellcheck: 'false', value: has ? JSON.stringify(spec.default, null, 2) : undefined });
    case 'url':
      return h('input', { id, type: 'url', placeholder: 'https://', value: text(spec.default) });
    case 'file':
      return h('input', { id, type: 'file' });
    default:
      return h('input', { id, type: 'text', value: text(spec.default) });
  }
}

function checkJson(control, note) {
  const text = control.value.trim();
  if (!text) { note.textContent = ''; note.className = 'json-state'; return true; }
  try {
    JSON.parse(text);
    note.textContent = '✓ valid JSON';
    note.className = 'json-state ok';
    return true;
  } catch (error) {
    note.textContent = `✗ ${error.message}`;
    note.className = 'json-state bad';
    return false;
  }
}

/** {values, files, problems}: typed values for JSON, File objects apart, local JSON errors. */
function collect(fields) {
  const values = {};
  const files = {};
  const problems = [];
  for (const f of fields) {
    const { control, type, name } = f;
    if (type === 'file') {
      if (control.files.length) files[name] = control.files[0];
    } else if (type === 'bool') {
      values[name] = control.checked;
    } else if (type === 'choice') {
      if (control.value !== '') values[name] = JSON.parse(control.value);
    } else if (type === 'json') {
      const text = control.value.trim();
      if (!text) continue;
      try { values[name] = JSON.parse(text); } catch (error) {
        problems.push({ param: name, message: `is not valid JSON: ${error.message}` });
      }
    } else if (control.value !== '') {
      const number = Number(control.value);
      values[name] = (type === 'int' || type === 'float') && !Number.isNaN(number) ? number : control.value;
    }
  }
  return { values, files, problems };
}

/** The body for POST /run: JSON, or multipart with a `payload` field when files are chosen. */
export function runBody({ values, files }) {
  if (!Object.keys(files).length) return values;
  const form = new FormData();
  form.append('payload', JSON.stringify(values));
  for (const [name, file] of Object.entries(files)) form.append(name, file, file.name);
  return form;
}

/** A copyable curl command for these values (the key left as $SG_API_KEY). */
export function curlCommand(url, { values, files }, needsKey) {
  const quote = (s) => `'${String(s).replace(/'/g, "'\\''")}'`;
  const parts = ['curl', '-X', 'POST'];
  if (needsKey) parts.push('-H', '"X-API-Key: $SG_API_KEY"');
  if (Object.keys(files).length) {
    parts.push('-F', quote(`payload=${JSON.stringify(values)}`));
    for (const [name, file] of Object.entries(files)) parts.push('-F', quote(`${name}=@${file.name}`));
  } else {
    parts.push('-H', quote('Content-Type: application/json'), '-d', quote(JSON.stringify(values)));
  }
  parts.push(quote(url));
  return parts.join(' ');
}
