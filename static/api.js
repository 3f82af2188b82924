// REST access to the inbox server: the bearer token, JSON in/out and error handling.

const TOKEN_KEY = 'inbox.token';
// Media (<img>, <audio>, <video>, download links) is fetched by the browser itself, which
// cannot add an Authorization header. So the token is mirrored into a cookie that is only
// sent to /api/media/... (path-scoped, SameSite=Strict, no expiry: gone with the browser).
const MEDIA_COOKIE = 'inbox_token';

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  syncMediaCookie();
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  document.cookie = `${MEDIA_COOKIE}=; path=/api/media; max-age=0; SameSite=Strict`;
}

/** (Re)writes the media cookie from the stored token, e.g. after a page reload. */
export function syncMediaCookie() {
  const token = getToken();
  if (!token) return;
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `${MEDIA_COOKIE}=${encodeURIComponent(token)}; path=/api/media; SameSite=Strict${secure}`;
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
  const hdrs = { Accept: 'application/json', ...headers };
  const token = getToken();
  if (auth && token) hdrs.Authorization = `Bearer ${token}`;
  let payload = body;
  // FormData (a file upload) goes as it is: the browser writes its multipart Content-Type.
  if (body !== undefined && typeof body !== 'string' && !(body instanceof FormData)) {
    hdrs['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }

  let res;
  try {
    res = await fetch(path, { method, headers: hdrs, body: payload, cache: 'no-store' });
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

/** Best-effort server-side logout; never triggers the 401 handler. */
export function revokeToken() {
  const token = getToken();
  if (!token) return;
  fetch('/api/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${token}` }, keepalive: true }).catch(() => {});
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
