// REST access to the inbox server: the session, JSON in/out and error handling.
//
// The session is an HttpOnly cookie the server sets at login (no script can read it): every
// tab of the browser shares it, it outlives a browser restart, and <img>/<audio>/download
// links to /api/media carry it by themselves. Requests that change something also send
// X-Inbox-CSRF, which a page of another site cannot add (server/sessions.py).

const CSRF_HEADER = 'X-Inbox-CSRF';
/** For a fetch() of its own (keepalive on unload): the headers api() adds. */
export const CSRF_HEADERS = { [CSRF_HEADER]: '1' };
// Tabs tell each other when the user signs in or out (the server closes the websockets of an
// ended session with 4401 as well; this also reaches a tab whose socket is down).
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('inbox-session') : null;

/** fn(kind) is called with 'login' or 'logout' when another tab of this browser did that. */
export function onOtherTab(fn) {
  if (channel) channel.onmessage = (e) => fn(e.data && e.data.kind);
}

export function tellOtherTabs(kind) {
  if (channel) channel.postMessage({ kind });
}

export function mediaUrl(mediaId) {
  return `/api/media/${encodeURIComponent(mediaId)}`;
}

let unauthorizedHandler = () => {};

/** Called once per 401 answer (except from the login call itself). */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

export class ApiError extends Error {
  /** status 0 means the server could not be reached at all. */
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

/**
 * Calls the API. Objects in `body` are sent as JSON; strings are sent as they are (give a
 * Content-Type header then). Resolves with the parsed JSON answer (or null when empty),
 * rejects with an ApiError carrying the server's `error` text.
 */
export async function api(path, { method = 'GET', body, headers = {}, auth = true } = {}) {
  const hdrs = { Accept: 'application/json', [CSRF_HEADER]: '1', ...headers };
  let payload = body;
  // FormData (a file upload) goes as it is: the browser writes its multipart Content-Type.
  if (body !== undefined && typeof body !== 'string' && !(body instanceof FormData)) {
    hdrs['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }

  let res;
  try {
    res = await fetch(path, { method, headers: hdrs, body: payload, cache: 'no-store', credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'Cannot reach the server. Check your connection.', null);
  }

  const text = await res.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }

  if (!res.ok) {
    const message = (data && typeof data.error === 'string' && data.error) || `Request failed (HTTP ${res.status})`;
    const err = new ApiError(res.status, message, data);
    if (res.status === 401 && auth) unauthorizedHandler(err);
    throw err;
  }
  return data;
}

/** Ends the session on the server (every tab's); resolves once it has answered, or failed. */
export async function logoutRequest() {
  try {
    await fetch('/api/auth/logout', { method: 'POST', headers: { [CSRF_HEADER]: '1' }, credentials: 'same-origin', keepalive: true });
  } catch {
    /* offline: the session still expires on its own */
  }
}

/** RFC 4122 v4 id. crypto.randomUUID only exists on https/localhost; a LAN http:// install lacks it. */
export function uuid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
