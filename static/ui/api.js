// The JSON API, called with the key kept for this tab. A 401 anywhere sends the user back to
// the key prompt (the `sg:unauthorized` event the app listens for).

const KEY = 'sg-api-key';

export const getKey = () => sessionStorage.getItem(KEY);
export const setKey = (key) => sessionStorage.setItem(KEY, key);
export const clearKey = () => sessionStorage.removeItem(KEY);

export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.details = error.details;
  }
}

function headers(extra) {
  const all = { ...extra };
  const key = getKey();
  if (key) all['X-API-Key'] = key;
  return all;
}

/** fetch() with the key; JSON bodies for plain objects, FormData as multipart. */
export async function request(path, { method = 'GET', body, signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent('sg:unauthorized'));
  }
  return response;
}

/** The parsed JSON answer; a non-2xx answer throws an ApiError with the server's details. */
export async function api(path, options) {
  const response = await request(path, options);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** Every script, fetched in pages of the API's largest size, in parallel after the first. */
export async function allScripts() {
  const size = 500;
  const first = await api(`/api/scripts?page_size=${size}&page=1`);
  const pages = Math.ceil(first.total / size);
  const rest = await Promise.all(Array.from({ length: Math.max(0, pages - 1) },
    (_, i) => api(`/api/scripts?page_size=${size}&page=${i + 2}`)));
  return first.items.concat(...rest.map((p) => p.items));
}

/**
 * Reads a run's Server-Sent Events with fetch (EventSource cannot send the key header),
 * calling onEvent({event, data, id}) for each, until the stream ends or `signal` aborts.
 */
export async function streamEvents(runId, onEvent, signal) {
  const response = await request(`/api/runs/${runId}/events`, { signal });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = { event: 'message', data: [], id: null };
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon);
        const text = line.slice(colon + 1).replace(/^ /, '');
        if (name === 'data') event.data.push(text);
        else if (name === 'event') event.event = text;
        else if (name === 'id') event.id = text;
      }
      event.data = event.data.join('\n');
      onEvent(event);
    }
  }
}

/** Downloads a protected file: fetched with the key, then saved from a blob URL. */
export async function download(url, filename) {
  const response = await request(url);
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const blob = await response.blob();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = filename || url.split('/').pop();
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
