// The installable app in the page: registers the service worker (static/sw.js), opens the
// conversation a notification points at (a `?conversation=` link, or a message from the
// worker when a window was already open), and shows "Offline" while the server cannot be
// reached at start, trying again by itself.

import { h } from './dom.js';

const RETRY_MS = 5000;

let hooks = { open: () => {} };
let offline = null;

export function initPwa(options) {
  hooks = { ...hooks, ...options };
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return;
  const register = () => navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
  if (document.readyState === 'complete') register();
  else window.addEventListener('load', register, { once: true });
  navigator.serviceWorker.addEventListener('message', (event) => {
    const data = event.data || {};
    if (data.type === 'open-conversation' && data.conversationId != null) hooks.open(data.conversationId);
  });
  navigator.serviceWorker.startMessages();
}

/** After sign-in: the conversation a notification's link names, if any. */
export function openLinkedConversation() {
  const url = new URL(location.href);
  const id = url.searchParams.get('conversation');
  if (!id || !/^\d+$/.test(id)) return;
  url.searchParams.delete('conversation');
  history.replaceState(null, '', url.pathname + url.search + url.hash);
  hooks.open(id);
}

/** The server did not answer at start: say so, and call `retry()` once it answers again. */
export function waitForServer(retry) {
  if (!offline) {
    offline = h(
      'main',
      { id: 'offline-view', class: 'login-view offline-view', role: 'alert' },
      h(
        'div',
        { class: 'login-card' },
        h('h1', { text: 'Offline' }),
        h('p', { text: 'The inbox server cannot be reached. This page tries again every few seconds.' }),
        h('button', { type: 'button', class: 'primary', id: 'offline-retry', onclick: () => check() }, 'Try again')
      )
    );
    document.body.append(offline);
  }
  for (const id of ['login-view', 'app-view']) document.getElementById(id).hidden = true;
  offline.hidden = false;
  clearTimeout(offline.timer);
  const check = async () => {
    clearTimeout(offline.timer);
    try {
      const res = await fetch('/healthz', { cache: 'no-store' });
      if (res.ok) {
        offline.hidden = true;
        retry();
        return;
      }
    } catch {
      /* still unreachable */
    }
    offline.timer = setTimeout(check, RETRY_MS);
  };
  offline.timer = setTimeout(check, RETRY_MS);
}
