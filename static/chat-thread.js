// The open conversation of the WhatsApp Chat tab: opening and closing it, loading its pages
// (newest first, older ones on scroll, polling without events) and drawing its messages.

import { api } from './api.js';
import { dayKey, dayLabel, h, reconcile } from './dom.js';
import { conversationTitle, renderMessage } from './messages.js';
import {
  el, extendWindow, msgKey, NEAR_EDGE_PX, newestId, oldestId, PAGE_SIZE, serverMessages, sortedMessages, state,
  threadVisible, upsertMessage,
} from './chat-state.js';
import { initial, markRead, renderList, scheduleMarkRead, upsertConversation } from './chat-list.js';
import { failureContext } from './chat-retry.js';
import { headerExtras } from './identity.js';

// Set by chat.js: the composer empties for a newly opened conversation (reset) and follows
// the 24-hour window whenever it may have moved (changed).
let hooks = { reset: () => {}, changed: () => {} };

export function initThread(options) {
  hooks = { ...hooks, ...options };
  const thread = el.thread;
  thread.addEventListener('scroll', () => {
    state.pinnedBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < NEAR_EDGE_PX;
    if (thread.scrollTop < NEAR_EDGE_PX) loadOlder();
  });
  // Media finishing to load grows the thread; stay at the bottom if the user was there.
  const keepPinned = () => state.pinnedBottom && scrollToBottom();
  thread.addEventListener('load', keepPinned, true);
  thread.addEventListener('loadedmetadata', keepPinned, true);

  el['thread-back'].addEventListener('click', closeConversation);
}

export function showThread(open) {
  el['thread-empty'].hidden = open;
  el['thread-view'].hidden = !open;
  // On phones only one column is visible; this attribute picks which (see style.css).
  el['chat-panel'].dataset.view = open ? 'thread' : 'list';
}

export async function openConversation(id, fallbackConv = null) {
  if (state.openId != null && String(state.openId) === String(id)) {
    showThread(true);
    return;
  }
  state.openId = id;
  state.openConv = state.conversations.get(String(id)) || fallbackConv || { id, hasInbound: false, windowOpenUntil: null };
  state.messages.clear();
  state.msgNodes.clear();
  state.dayNodes.clear();
  state.hasOlder = false;
  state.loadingOlder = false;
  state.threadError = null;
  state.pinnedBottom = true;
  state.sendError = null;
  const seq = ++state.threadSeq;

  el.thread.dataset.conversationId = String(id);
  el['thread-messages'].replaceChildren();
  showThread(true);
  renderThreadHeader();
  hooks.reset();
  renderList();
  setOlderStatus('Loading messages…');
  markRead(id);

  if (!state.conversations.has(String(id))) {
    // Not in the (filtered or paged) list: its row tells the 24-hour window state.
    api(`/api/conversations/${encodeURIComponent(id)}`)
      .then((row) => seq === state.threadSeq && row && upsertConversation(row, { insert: !state.search }))
      .then(() => renderList())
      .catch(() => {});
  }

  try {
    const msgs = await api(`/api/conversations/${encodeURIComponent(id)}/messages?limit=${PAGE_SIZE}`);
    if (seq !== state.threadSeq) return;
    for (const m of msgs) upsertMessage(m);
    state.hasOlder = msgs.length >= PAGE_SIZE;
  } catch (err) {
    if (seq !== state.threadSeq) return;
    state.threadError = err.message;
  }
  renderThread({ scroll: 'bottom' });
  hooks.changed();
  if (window.matchMedia('(min-width: 601px)').matches) el['composer-input'].focus();
  fillViewport();
}

export function closeConversation() {
  state.openId = null;
  state.openConv = null;
  state.threadSeq++;
  state.messages.clear();
  state.msgNodes.clear();
  el['thread-messages'].replaceChildren();
  delete el.thread.dataset.conversationId;
  showThread(false);
  renderList();
}

/** Reloads the newest page of the open thread (resync), keeping unsent messages. */
export async function reloadThread() {
  if (state.openId == null) return;
  const seq = state.threadSeq;
  const msgs = await api(`/api/conversations/${encodeURIComponent(state.openId)}/messages?limit=${PAGE_SIZE}`);
  if (seq !== state.threadSeq) return;
  for (const key of Array.from(state.messages.keys())) if (key.startsWith('id:')) state.messages.delete(key);
  for (const m of msgs) upsertMessage(m);
  state.hasOlder = msgs.length >= PAGE_SIZE;
  renderThread();
  hooks.changed();
}

/**
 * REST-only polling: picks up new messages with `after=`. Without events nobody tells us
 * about status changes, so the query starts just before the oldest recent outbound message
 * that can still change (pending/sent/delivered), re-reading a bounded tail of the thread.
 */
export async function pollThread() {
  if (state.openId == null) return;
  const seq = state.threadSeq;
  const recent = serverMessages().sort((a, b) => Number(a.id) - Number(b.id)).slice(-20);
  const unsettled = recent.find((m) => m.direction === 'outbound' && m.status !== 'read' && m.status !== 'failed');
  const after = unsettled ? Number(unsettled.id) - 1 : newestId();
  const query = after != null ? `after=${encodeURIComponent(after)}` : `limit=${PAGE_SIZE}`;
  const msgs = await api(`/api/conversations/${encodeURIComponent(state.openId)}/messages?${query}`);
  if (seq !== state.threadSeq || !msgs.length) return;
  const newInbound = msgs.filter((m) => m.direction === 'inbound' && !state.messages.has(`id:${m.id}`));
  for (const m of msgs) upsertMessage(m);
  renderThread();
  if (newInbound.length) {
    noteInbound(newInbound[newInbound.length - 1]);
    if (threadVisible()) scheduleMarkRead();
  }
}

async function loadOlder() {
  if (!state.hasOlder || state.loadingOlder || state.openId == null) return;
  const oldest = oldestId();
  if (oldest == null) return;
  const seq = state.threadSeq;
  state.loadingOlder = true;
  setOlderStatus('Loading older messages…');
  try {
    const msgs = await api(`/api/conversations/${encodeURIComponent(state.openId)}/messages?limit=${PAGE_SIZE}&before=${encodeURIComponent(oldest)}`);
    if (seq !== state.threadSeq) return;
    state.hasOlder = msgs.length >= PAGE_SIZE;
    // Keep what the user is looking at in place while content is added above it.
    const thread = el.thread;
    const fromBottom = thread.scrollHeight - thread.scrollTop;
    for (const m of msgs) upsertMessage(m);
    renderThread({ scroll: 'keep' });
    thread.scrollTop = thread.scrollHeight - fromBottom;
  } catch (err) {
    if (seq === state.threadSeq) setOlderStatus(`Could not load older messages: ${err.message}`);
    return;
  } finally {
    if (seq === state.threadSeq) state.loadingOlder = false;
  }
  fillViewport();
}

/** Without a scrollbar there is no scroll event: load older pages until there is one. */
function fillViewport() {
  const thread = el.thread;
  if (state.hasOlder && !state.loadingOlder && thread.scrollHeight <= thread.clientHeight + NEAR_EDGE_PX) loadOlder();
}

function setOlderStatus(text) {
  el['thread-older'].textContent = text;
}

function scrollToBottom() {
  el.thread.scrollTop = el.thread.scrollHeight;
}

/** scroll: 'bottom' (always), 'keep' (caller handles it), default: follow if pinned. */
export function renderThread({ scroll } = {}) {
  if (state.openId == null) return;
  const now = new Date();
  const ctx = {
    lookup: (id) => state.messages.get(`id:${id}`),
    onQuoteClick: jumpTo,
    contactName: conversationTitle(state.openConv),
    ...failureContext(), // Retry / a template under failed replies
  };
  const nodes = [];
  let lastDay = null;
  for (const m of sortedMessages()) {
    const day = dayKey(m.createdAt);
    if (day !== lastDay) {
      nodes.push(daySeparator(day, m.createdAt, now));
      lastDay = day;
    }
    nodes.push(messageNode(m, ctx));
  }
  reconcile(el['thread-messages'], nodes);
  for (const key of state.msgNodes.keys()) if (!state.messages.has(key)) state.msgNodes.delete(key);

  if (state.threadError) setOlderStatus(`Could not load messages: ${state.threadError}`);
  else if (state.loadingOlder) setOlderStatus('Loading older messages…');
  else if (state.hasOlder) setOlderStatus('');
  else setOlderStatus(nodes.length ? 'Beginning of the conversation' : 'No messages yet');

  if (scroll === 'bottom' || (scroll !== 'keep' && state.pinnedBottom)) {
    scrollToBottom();
    state.pinnedBottom = true;
  }
}

function daySeparator(day, iso, now) {
  let node = state.dayNodes.get(day);
  if (!node) {
    node = h('div', { class: 'day-separator', role: 'separator' }, h('span'));
    state.dayNodes.set(day, node);
  }
  node.firstChild.textContent = dayLabel(iso, now); // "Today" becomes "Yesterday" at midnight
  return node;
}

function messageNode(m, ctx) {
  const key = msgKey(m);
  const quoted = m.replyTo && m.replyTo.id != null ? state.messages.get(`id:${m.replyTo.id}`) : null;
  const sig = JSON.stringify([m, quoted ? quoted.direction : null, m.status === 'failed' && ctx.windowClosed]);
  const cached = state.msgNodes.get(key);
  if (cached && cached.sig === sig) return cached.node;
  const node = renderMessage(m, ctx);
  state.msgNodes.set(key, { sig, node });
  return node;
}

function jumpTo(messageId) {
  const entry = state.msgNodes.get(`id:${messageId}`);
  if (!entry || !entry.node.isConnected) return;
  entry.node.scrollIntoView({ block: 'center', behavior: 'smooth' });
  entry.node.classList.remove('flash');
  void entry.node.offsetWidth; // restart the animation
  entry.node.classList.add('flash');
}

export function renderThreadHeader() {
  const conv = state.openConv;
  if (!conv) return;
  const title = conversationTitle(conv);
  el['thread-title'].textContent = title;
  el['thread-avatar'].textContent = initial(title);
  const sub = [];
  if (conv.contactName && conv.phoneNumber) sub.push(conv.phoneNumber);
  sub.push(...headerExtras(conv));
  if (conv.ownerId === null) sub.push('Unassigned');
  else if (conv.assigneeName) sub.push(`Assigned to ${conv.assigneeName}`);
  el['thread-subtitle'].textContent = sub.join(' · ');
}

/** An inbound message opens (or extends) WhatsApp's 24-hour customer service window. */
export function noteInbound(m) {
  if (extendWindow(m)) hooks.changed();
}
