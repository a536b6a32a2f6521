// The app shell: `#/...` routes to pages, the key prompt, sign-out. Each page is a module
// exporting `render(main, params, query)`; it may return a function that stops its work
// (a live stream) when the user leaves.

import { h, mount, errorBox } from './dom.js';
import { getKey, setKey, clearKey } from './api.js';

const ROUTES = [
  [/^\/?$/, 'scripts', () => import('./pages/scripts.js')],
  [/^\/scripts\/(\d+)$/, 'scripts', () => import('./pages/script.js')],
  [/^\/runs\/?$/, 'runs', () => import('./pages/runs.js')],
  [/^\/runs\/(\d+)$/, 'runs', () => import('./pages/run.js')],
  [/^\/deps\/?$/, 'deps', () => import('./pages/deps.js')],
  [/^\/settings\/?$/, 'settings', () => import('./pages/settings.js')],
  [/^\/keys\/?$/, 'keys', () => import('./pages/keys.js')],
  [/^\/templates\/?$/, 'templates', () => import('./pages/templates.js')],
  [/^\/exec\/?$/, 'exec', () => import('./pages/exec.js')],
];

const main = () => document.getElementById('main');
let stopPage = null;
let prompting = false;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const cut = raw.indexOf('?');
  const path = decodeURIComponent(cut < 0 ? raw : raw.slice(0, cut));
  return { path, query: new URLSearchParams(cut < 0 ? '' : raw.slice(cut + 1)) };
}

async function route() {
  if (typeof stopPage === 'function') stopPage();
  stopPage = null;
  prompting = false;
  updateSignOut();
  const { path, query } = parseHash();
  const found = ROUTES.find(([pattern]) => pattern.test(path));
  document.querySelectorAll('[data-nav]').forEach((a) => {
    a.toggleAttribute('aria-current', Boolean(found) && a.dataset.nav === found[1]);
    if (a.hasAttribute('aria-current')) a.setAttribute('aria-current', 'page');
  });
  if (!found) {
    mount(main(), h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, path), '. ',
      h('a', { href: '#/' }, 'Back to the scripts')));
    return;
  }
  const [pattern, , load] = found;
  const params = path.match(pattern).slice(1);
  try {
    const page = await load();
    stopPage = await page.render(main(), params, query);
  } catch (error) {
    if (error?.status === 401) return;
    mount(main(), errorBox(error));
  }
}

/** The key prompt: shown on the first 401 and whenever a key stops working. */
function promptForKey(refused) {
  if (prompting) return;
  prompting = true;
  if (typeof stopPage === 'function') stopPage();
  stopPage = null;
  const input = h('input', { type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', required: true });
  const form = h('form', {
    class: 'card narrow',
    onsubmit: (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      setKey(input.value.trim());
      route();
    },
  },
  h('h1', {}, 'Sign in'),
  h('p', {}, 'This gateway needs an API key. It is kept in this browser tab only and sent as the ',
    h('code', {}, 'X-API-Key'), ' header.'),
  refused ? h('p', { class: 'error', role: 'alert' }, 'That key was refused. Try another one.') : null,
  h('div', { class: 'field' }, h('label', { for: 'api-key' }, 'API key'), input),
  h('button', { type: 'submit', class: 'primary' }, 'Sign in'));
  mount(main(), form);
  updateSignOut();
  input.focus();
}

function updateSignOut() {
  document.getElementById('sign-out').hidden = !getKey();
}

window.addEventListener('sg:unauthorized', () => {
  const refused = Boolean(getKey());
  clearKey();
  promptForKey(refused);
});

window.addEventListener('hashchange', () => {
  route();
  main().focus({ preventScroll: true });
});

document.getElementById('sign-out').addEventListener('click', () => {
  clearKey();
  promptForKey(false);
});

// A gateway that needs a key says so on /health (open to all): ask for the key first rather
// than after a refused request.
fetch('/health')
  .then((response) => (response.ok ? response.json() : {}))
  .catch(() => ({}))
  .then((health) => (health.auth_required && !getKey() ? promptForKey(false) : route()));
