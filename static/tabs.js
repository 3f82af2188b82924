// The dashboard tabs of one user in this browser: which conversation each one shows, and
// which one of them notifies (the leader), so three open tabs ring once, not three times.
//
// The leader is whoever holds a Web Lock named after the user: when its tab closes the lock
// passes to a waiting tab by itself. Views travel over a BroadcastChannel; a tab that has not
// said anything for a while (frozen, crashed) no longer counts as looking. Without Web Locks
// (a plain-http address other than localhost is not a secure context) every tab leads.

const HEARTBEAT_MS = 10000;
const FRESH_MS = 25000;

let tabs = null;

function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Joins the user's tabs. `currentView()` -> { conversationId, visible } for this tab;
 * `onMessage(message)` receives what another tab posts to this one.
 */
export function startTabs(userId, { currentView, onMessage }) {
  stopTabs();
  const t = {
    id: randomId(),
    userId,
    currentView,
    onMessage,
    leader: false,
    release: null,
    abort: typeof AbortController === 'function' ? new AbortController() : null,
    channel: typeof BroadcastChannel === 'function' ? new BroadcastChannel(`inbox-tabs-${userId}`) : null,
    views: new Map(), // other tab id -> { conversationId, visible, at }
    last: '',
    timer: null,
  };
  tabs = t;
  if (navigator.locks && typeof navigator.locks.request === 'function') {
    navigator.locks
      .request(`inbox-notify-leader-${userId}`, { signal: t.abort ? t.abort.signal : undefined }, () => {
        if (tabs !== t) return null;
        t.leader = true;
        return new Promise((resolve) => {
          t.release = resolve;
        });
      })
      .catch(() => {}); // aborted: this tab left before it led
  } else {
    t.leader = true;
  }
  if (t.channel) {
    t.channel.onmessage = (e) => receive(t, e.data);
    t.channel.postMessage({ type: 'hello', tab: t.id });
  }
  announce(true);
  t.timer = setInterval(() => announce(), 1000);
  window.addEventListener('pagehide', leave);
  document.addEventListener('visibilitychange', onVisibility);
  return t;
}

export function stopTabs() {
  const t = tabs;
  if (!t) return;
  leave();
  tabs = null;
  clearInterval(t.timer);
  window.removeEventListener('pagehide', leave);
  document.removeEventListener('visibilitychange', onVisibility);
  if (t.release) t.release();
  if (t.abort) t.abort.abort();
  if (t.channel) t.channel.close();
}

function leave() {
  if (tabs && tabs.channel) tabs.channel.postMessage({ type: 'bye', tab: tabs.id });
}

function onVisibility() {
  announce(true);
}

function receive(t, m) {
  if (!m || typeof m !== 'object' || m.tab === t.id || tabs !== t) return;
  if (m.type === 'view') {
    t.views.set(m.tab, { conversationId: m.conversationId, visible: !!m.visible, at: Date.now() });
    if (m.nonce && t.waiting && t.waiting.nonce === m.nonce) t.waiting.answered(m.tab);
  } else if (m.type === 'bye') t.views.delete(m.tab);
  else if (m.type === 'hello') announce(true);
  else if (m.type === 'who') announce(true, m.nonce);
  else if (m.to === t.id || m.to == null) t.onMessage(m);
}

/** Tells the other tabs what this one shows: on change at once, otherwise as a heartbeat. */
export function announce(force = false, nonce = undefined) {
  const t = tabs;
  if (!t) return;
  const view = ownView(t);
  const key = `${view.conversationId}|${view.visible}`;
  const now = Date.now();
  if (!force && key === t.last && now - (t.lastAt || 0) < HEARTBEAT_MS) return;
  t.last = key;
  t.lastAt = now;
  if (t.channel) t.channel.postMessage({ type: 'view', tab: t.id, nonce, ...view });
}

/**
 * Asks every other tab what it shows right now and waits for their answers (at most
 * `timeoutMs`): a conversation opened a moment ago in another tab counts as looked at.
 */
export function refreshViews(timeoutMs = 1000) {
  const t = tabs;
  if (!t || !t.channel) return Promise.resolve();
  const expected = new Set(freshViews(t).map(([id]) => id));
  if (!expected.size) return Promise.resolve();
  const nonce = randomId();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      if (t.waiting && t.waiting.nonce === nonce) t.waiting = null;
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    t.waiting = {
      nonce,
      answered(id) {
        expected.delete(id);
        if (!expected.size) done();
      },
    };
    t.channel.postMessage({ type: 'who', tab: t.id, nonce });
  });
}

function ownView(t) {
  const v = t.currentView() || {};
  return { conversationId: v.conversationId == null ? null : String(v.conversationId), visible: !!v.visible };
}

function freshViews(t) {
  const now = Date.now();
  return Array.from(t.views.entries()).filter(([, v]) => now - v.at < FRESH_MS);
}

export function isLeader() {
  return !!tabs && tabs.leader;
}

export function tabId() {
  return tabs ? tabs.id : null;
}

/** Whether any tab of this user shows conversation `id` right now. */
export function someoneLooking(id) {
  const t = tabs;
  if (!t) return false;
  const key = String(id);
  const own = ownView(t);
  if (own.visible && own.conversationId === key) return true;
  return freshViews(t).some(([, v]) => v.visible && v.conversationId === key);
}

/** This tab if it is visible, else another visible tab's id, else null. */
export function visibleTab() {
  const t = tabs;
  if (!t) return null;
  if (ownView(t).visible) return t.id;
  const other = freshViews(t).find(([, v]) => v.visible);
  return other ? other[0] : null;
}

/** Sends `message` to the tab `to` (null: every other tab). */
export function postToTab(to, message) {
  if (tabs && tabs.channel) tabs.channel.postMessage({ ...message, tab: tabs.id, to });
}
