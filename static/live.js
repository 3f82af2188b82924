// Live updates: a websocket when possible, polling every 3 s while it is not.
//
// Events carry increasing ids. We remember the highest one seen and hand it back as `since`
// (websocket reconnects and /api/events polls), so nothing is lost across drops; events we
// already applied are skipped, and the views apply the rest idempotently anyway.

import { api } from './api.js';

const POLL_MS = 3000;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const CLOSE_BAD_TOKEN = 4401;

let session = null;

/**
 * handlers:
 *   onEvent(event)       apply one event
 *   onFallbackPoll()     refresh via plain REST when /api/events is unavailable (throws on
 *                        failure); also used to catch up when the stream starts from "now"
 *   onUnauthorized()     the session was refused or ended (closed 4401)
 *   onStatus(mode)       'live' | 'polling' | 'offline'
 */
export function startLive(handlers) {
  stopLive();
  session = {
    ...handlers,
    ws: null,
    lastId: null,
    backoff: BACKOFF_FIRST_MS,
    reconnectTimer: null,
    pollTimer: null,
    pollGen: 0, // bumps on every start/stop so a stale poll loop ends itself
    polling: false,
    eventsUnsupported: false,
    mode: null,
  };
  window.addEventListener('online', onOnline);
  window.addEventListener('offline', onOffline);
  setStatus('offline');
  connect(session);
}

export function stopLive() {
  const s = session;
  if (!s) return;
  session = null;
  window.removeEventListener('online', onOnline);
  window.removeEventListener('offline', onOffline);
  clearTimeout(s.reconnectTimer);
  clearTimeout(s.pollTimer);
  s.pollGen++;
  if (s.ws) {
    const ws = s.ws;
    s.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(1000, 'logout');
    } catch {
      /* already closed */
    }
  }
}

function isLive(s) {
  return !!s.ws && s.ws.readyState === WebSocket.OPEN;
}

function setStatus(mode) {
  if (!session || session.mode === mode) return;
  session.mode = mode;
  session.onStatus(mode);
}

// ---- websocket ---------------------------------------------------------------------------

function connect(s) {
  if (s !== session || s.ws) return;
  clearTimeout(s.reconnectTimer);

  const url = new URL('/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // No token in the URL (URLs end up in logs): the handshake carries the session cookie.
  // Without a since the server streams from "now": whatever happened between the page's REST
  // load and this moment is fetched once the socket is open (see onopen).
  const fromNow = s.lastId == null;
  if (!fromNow) url.searchParams.set('since', String(s.lastId));

  let ws;
  try {
    ws = new WebSocket(url.href);
  } catch {
    onSocketDown(s);
    return;
  }
  s.ws = ws;

  ws.onopen = () => {
    if (s !== session) return;
    s.backoff = BACKOFF_FIRST_MS;
    stopPolling(s);
    setStatus('live');
    if (fromNow) catchUp(s);
  };
  ws.onmessage = (e) => {
    if (s !== session) return;
    let event;
    try {
      event = JSON.parse(e.data);
    } catch {
      return; // not ours; ignore rather than break the stream
    }
    deliver(s, event);
  };
  // 'error' is always followed by 'close', which does the work.
  ws.onclose = (e) => {
    if (s !== session || s.ws !== ws) return;
    s.ws = null;
    if (e.code === CLOSE_BAD_TOKEN) {
      s.onUnauthorized(e.reason || '');
      return;
    }
    onSocketDown(s);
  };
}

function onSocketDown(s) {
  s.ws = null;
  if (s.mode === 'live') setStatus('offline');
  startPolling(s);
  scheduleReconnect(s);
}

function scheduleReconnect(s) {
  clearTimeout(s.reconnectTimer);
  const delay = s.backoff;
  s.backoff = Math.min(s.backoff * 2, BACKOFF_MAX_MS);
  s.reconnectTimer = setTimeout(() => connect(s), delay);
}

function onOnline() {
  const s = session;
  if (!s || s.ws) return;
  s.backoff = BACKOFF_FIRST_MS;
  connect(s);
}

function onOffline() {
  if (session && !isLive(session)) setStatus('offline');
}

// ---- events ------------------------------------------------------------------------------

function deliver(s, event) {
  if (!event || typeof event !== 'object') return;
  const id = typeof event.id === 'number' ? event.id : null;
  if (event.type === 'resync') {
    // A resync is a fresh starting point (the server may also have restarted its ids).
    if (id != null) s.lastId = id;
  } else if (id != null) {
    if (s.lastId != null && id <= s.lastId) return; // already applied
    s.lastId = id;
  }
  try {
    s.onEvent(event);
  } catch (err) {
    console.error('Failed to apply event', event, err);
  }
}

/** Refreshes the views over REST (errors are left to the next poll). */
async function catchUp(s) {
  try {
    await s.onFallbackPoll();
  } catch {
    /* the next poll or event brings it */
  }
}

// ---- polling fallback --------------------------------------------------------------------

function startPolling(s) {
  if (s.polling) return;
  s.polling = true;
  const gen = ++s.pollGen;
  const loop = async () => {
    if (s !== session || gen !== s.pollGen) return;
    await pollOnce(s);
    if (s === session && gen === s.pollGen) s.pollTimer = setTimeout(loop, POLL_MS);
  };
  loop();
}

function stopPolling(s) {
  s.polling = false;
  s.pollGen++;
  clearTimeout(s.pollTimer);
}

async function pollOnce(s) {
  const stillPolling = () => s === session && s.polling && !isLive(s);

  if (!s.eventsUnsupported) {
    try {
      const baseline = s.lastId == null;
      const query = baseline ? '' : `?since=${encodeURIComponent(s.lastId)}`;
      const res = await api(`/api/events${query}`);
      if (s !== session) return;
      if (baseline) {
        // First poll of a page that has just loaded everything over REST: what it returns is
        // history, not news. Take the cursor and catch up over REST instead.
        if (res && typeof res.lastId === 'number') s.lastId = res.lastId;
        await catchUp(s);
        if (stillPolling()) setStatus('polling');
        return;
      }
      for (const event of (res && res.events) || []) deliver(s, event);
      // Only move forward: a lastId of 0/null on an empty answer must not replay history.
      if (res && typeof res.lastId === 'number' && (s.lastId == null || res.lastId > s.lastId)) s.lastId = res.lastId;
      if (stillPolling()) setStatus('polling');
      return;
    } catch (err) {
      if (s !== session || err.status === 401) return;
      // No events endpoint on this server: stop asking, use plain REST from now on.
      if (err.status === 404 || err.status === 405) s.eventsUnsupported = true;
    }
  }

  try {
    await s.onFallbackPoll();
    if (stillPolling()) setStatus('polling');
  } catch (err) {
    if (s === session && err.status !== 401 && !isLive(s)) setStatus('offline');
  }
}
