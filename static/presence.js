// Tells the server which conversation this tab shows (PUT /api/presence), so no Web Push
// reaches this user's devices about the conversation already in front of them. Sent when it
// changes, and every 20 s while a conversation is on screen (the server forgets a report
// after a minute); a hidden tab shows nothing.

import { api, CSRF_HEADERS } from './api.js';

const HEARTBEAT_MS = 20000;

let last = { key: null, at: 0, shown: false };

export function reportView(clientId, view) {
  if (!clientId) return;
  const conversationId = view && view.visible && view.conversationId != null ? Number(view.conversationId) : null;
  const key = `${clientId}|${conversationId}`;
  const now = Date.now();
  if (conversationId == null && !last.shown) return; // never showed one: nothing to take back
  if (key === last.key && (conversationId == null || now - last.at < HEARTBEAT_MS)) return;
  last = { key, at: now, shown: conversationId != null };
  api('/api/presence', { method: 'PUT', body: { clientId, conversationId } }).catch(() => {
    last.key = null; // try again at the next tick
  });
}

/** The tab is going away: take its view back (best effort, survives the unload). */
export function leaveView(clientId) {
  if (!clientId || !last.shown) return;
  last = { key: null, at: 0, shown: false };
  fetch('/api/presence', {
    method: 'PUT',
    keepalive: true,
    credentials: 'same-origin', // the session cookie
    headers: { ...CSRF_HEADERS, 'Content-Type': 'application/json' },
    body: JSON.stringify({ clientId, conversationId: null }),
  }).catch(() => {});
}

export function resetPresence() {
  last = { key: null, at: 0, shown: false };
}
