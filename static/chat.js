// The "WhatsApp Chat" tab: conversation list, open thread, composer, new-conversation dialog,
// and applying live events to all of them.

import { api, uuid } from './api.js';
import { $, h, reconcile, debounce, parseDate, relativeTime, dayKey, dayLabel, fullDateTime } from './dom.js';
import { renderMessage, previewText, conversationTitle, tickGlyph } from './messages.js';
import { initTemplates, resetTemplates, updateTemplateComposer } from './templates.js';
import { initAttach, updateAttach } from './attach.js';

const PAGE_SIZE = 50;
const NEAR_EDGE_PX = 80;
const WINDOW_MS = 24 * 60 * 60 * 1000;

const el = {}; // DOM elements, filled by initChat()
let isTabActive = () => true;

let state = freshState();

function freshState() {
  return {
    me: null,
    // conversation list (keys are String(id) so number/string ids from different sources match)
    conversations: new Map(),
    search: '',
    listSeq: 0, // newest list request; older answers are dropped
    listHasMore: false,
    listLoadingMore: false,
    listLoaded: false,
    listError: null,
    convNodes: new Map(), // id -> { sig, node }
    // open thread
    openId: null,
    openConv: null,
    messages: new Map(), // 'id:<id>' | 'tmp:<clientId>' -> message
    msgNodes: new Map(), // same keys -> { sig, node }
    dayNodes: new Map(),
    threadSeq: 0, // bumps when another conversation is opened; stale answers are dropped
    hasOlder: false,
    loadingOlder: false,
    threadError: null,
    pinnedBottom: true, // user is looking at the newest messages: keep them in view
    sendError: null,
  };
}

// ---- setup -------------------------------------------------------------------------------

/** Binds the static DOM once per page load. `isActive()` tells whether the chat tab is shown. */
export function initChat({ isActive }) {
  isTabActive = isActive;
  for (const id of [
    'chat-panel', 'conversation-list', 'conversation-list-status', 'conversation-search', 'new-conversation',
    'thread-empty', 'thread-view', 'thread', 'thread-older', 'thread-messages', 'thread-back', 'thread-title',
    'thread-subtitle', 'thread-avatar', 'composer-input', 'composer-send', 'composer-notice',
    'new-conversation-dialog', 'new-conversation-form', 'new-conversation-phone', 'new-conversation-content',
    'new-conversation-error', 'new-conversation-cancel', 'new-conversation-submit',
  ]) {
    el[id] = document.getElementById(id);
  }

  const onSearch = debounce(() => {
    state.search = el['conversation-search'].value.trim();
    reloadList({ replace: true }).catch(() => {});
  }, 300);
  el['conversation-search'].addEventListener('input', onSearch);

  el['conversation-list'].addEventListener('scroll', () => {
    const list = el['conversation-list'];
    if (list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_EDGE_PX) loadMoreConversations();
  });

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

  const input = el['composer-input'];
  input.addEventListener('keydown', (e) => {
    // Enter sends, Shift+Enter is a newline; never send in the middle of an IME composition.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  });
  input.addEventListener('input', () => {
    autoGrow(input);
    if (state.sendError) {
      state.sendError = null;
      updateComposer();
    }
  });
  el['composer-send'].addEventListener('click', () => send());

  el['new-conversation'].addEventListener('click', openNewConversationDialog);
  el['new-conversation-cancel'].addEventListener('click', () => el['new-conversation-dialog'].close());
  el['new-conversation-form'].addEventListener('submit', (e) => {
    e.preventDefault();
    submitNewConversation();
  });

  // Times in the list ("2 min") and the 24-hour window age while the page stays open.
  setInterval(() => {
    if (!state.me) return;
    renderList();
    updateComposer();
  }, 30000);

  document.addEventListener('visibilitychange', () => onChatShown());

  // The template picker (closed window) and the attach button post sends of their own.
  const composerHooks = { conversation: () => state.openConv, onSent: acceptSent };
  initTemplates(composerHooks);
  initAttach({ ...composerHooks, input: el['composer-input'], onError: showSendError });
}

/** Starts the tab for a signed-in user. */
export function startChat(me) {
  state = freshState();
  state.me = me;
  el['conversation-search'].value = '';
  renderList();
  showThread(false);
  reloadList({ replace: true }).catch(() => {});
}

/** Forgets everything (logout). */
export function resetChat() {
  state = freshState();
  resetTemplates();
  el['conversation-list'].replaceChildren();
  el['thread-messages'].replaceChildren();
  el['conversation-list-status'].textContent = '';
  if (el['new-conversation-dialog'].open) el['new-conversation-dialog'].close();
  showThread(false);
  document.title = 'WhatsApp Inbox';
}

/** The chat tab (or the browser tab) became visible: catch up on read state. */
export function onChatShown() {
  const row = state.openId != null ? state.conversations.get(String(state.openId)) : null;
  if (row && row.unreadCount > 0 && threadVisible()) markRead(state.openId);
}

function threadVisible() {
  return state.openId != null && isTabActive() && document.visibilityState !== 'hidden';
}

// ---- conversation list -------------------------------------------------------------------

function conversationQuery(extra = {}) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), ...extra });
  if (state.search) params.set('search', state.search);
  return `/api/conversations?${params}`;
}

/**
 * Loads the first page of the list. replace: drop rows not in the answer (new search,
 * resync); otherwise merge (polling), which keeps rows from further pages.
 * Throws on failure (polling uses that to show "Offline").
 */
async function reloadList({ replace = false } = {}) {
  const seq = ++state.listSeq;
  const owner = state;
  try {
    const rows = await api(conversationQuery());
    if (owner !== state || seq !== state.listSeq) return;
    if (replace) {
      state.conversations.clear();
      state.listHasMore = rows.length >= PAGE_SIZE;
    } else if (!state.listLoaded) {
      state.listHasMore = rows.length >= PAGE_SIZE;
    }
    for (const row of rows) upsertConversation(row, { insert: true });
    state.listLoaded = true;
    state.listError = null;
    renderList();
  } catch (err) {
    if (owner === state && seq === state.listSeq) {
      state.listError = err.message;
      renderList();
    }
    throw err;
  }
}

async function loadMoreConversations() {
  if (!state.listHasMore || state.listLoadingMore || !state.listLoaded) return;
  const rows = sortedConversations();
  if (!rows.length) return;
  const owner = state;
  const seq = state.listSeq;
  state.listLoadingMore = true;
  try {
    const more = await api(conversationQuery({ before: String(rows[rows.length - 1].id) }));
    if (owner !== state || seq !== state.listSeq) return;
    state.listHasMore = more.length >= PAGE_SIZE;
    for (const row of more) upsertConversation(row, { insert: true });
    renderList();
  } catch {
    /* shown again on the next scroll */
  } finally {
    if (owner === state) state.listLoadingMore = false;
  }
}

function upsertConversation(row, { insert }) {
  const key = String(row.id);
  const isOpen = state.openId != null && key === String(state.openId);
  const existing = state.conversations.get(key);
  const merged = { ...existing, ...row };
  // The open, visible conversation stays read: the read call for it is on its way.
  if (isOpen && merged.unreadCount > 0 && threadVisible()) {
    merged.unreadCount = 0;
    scheduleMarkRead();
  }
  if (existing || insert) state.conversations.set(key, merged);
  if (isOpen) {
    state.openConv = { ...state.openConv, ...merged };
    renderThreadHeader();
    updateComposer();
  }
}

function sortedConversations() {
  const time = (c) => (parseDate(c.lastMessageAt) || 0) - 0;
  return Array.from(state.conversations.values()).sort((a, b) => time(b) - time(a) || Number(b.id) - Number(a.id));
}

const scheduleListReload = debounce(() => reloadList().catch(() => {}), 500);

function renderList() {
  const rows = sortedConversations();
  const now = new Date();
  const nodes = rows.map((row) => conversationNode(row, now));
  reconcile(el['conversation-list'], nodes);

  const status = el['conversation-list-status'];
  if (state.listError && !rows.length) status.textContent = `Could not load conversations: ${state.listError}`;
  else if (!state.listLoaded) status.textContent = state.me ? 'Loading…' : '';
  else if (!rows.length) status.textContent = state.search ? `No conversations match “${state.search}”.` : 'No conversations yet.';
  else status.textContent = '';

  const unread = rows.reduce((n, r) => n + (r.unreadCount > 0 ? 1 : 0), 0);
  document.title = unread ? `(${unread}) WhatsApp Inbox` : 'WhatsApp Inbox';
}

function conversationNode(row, now) {
  const key = String(row.id);
  const active = key === String(state.openId);
  const time = relativeTime(row.lastMessageAt, now);
  const sig = JSON.stringify([row, time, active]);
  const cached = state.convNodes.get(key);
  if (cached && cached.sig === sig) return cached.node;

  const title = conversationTitle(row);
  const last = row.lastMessage;
  const node = h(
    'li',
    {
      class: `conversation-item${active ? ' active' : ''}${row.unreadCount > 0 ? ' unread' : ''}`,
      dataset: { id: row.id },
      role: 'button',
      tabindex: '0',
      'aria-current': active ? 'true' : null,
      onclick: () => openConversation(row.id),
      onkeydown: (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), openConversation(row.id)),
    },
    h('div', { class: 'avatar', 'aria-hidden': 'true', text: initial(title) }),
    h(
      'div',
      { class: 'conv-main' },
      h(
        'div',
        { class: 'conv-top' },
        h('span', { class: 'conv-name', text: title }),
        h('time', { class: 'conv-time', datetime: row.lastMessageAt, title: fullDateTime(row.lastMessageAt), text: time }),
      ),
      h(
        'div',
        { class: 'conv-bottom' },
        h(
          'span',
          { class: 'conv-preview' },
          last && last.direction === 'outbound' && h('span', { class: 'preview-tick', dataset: { status: last.status }, text: `${tickGlyph(last.status)} ` }),
          previewText(last),
        ),
        row.ownerId == null && h('span', { class: 'unassigned-tag', text: 'Unassigned' }),
        row.unreadCount > 0 && h('span', { class: 'unread-badge', 'aria-label': `${row.unreadCount} unread`, text: row.unreadCount > 99 ? '99+' : row.unreadCount }),
      ),
    ),
  );
  state.convNodes.set(key, { sig, node });
  return node;
}

function initial(name) {
  const ch = Array.from(String(name).replace(/^\+/, ''))[0] || '?';
  return ch.toUpperCase();
}

// ---- open thread -------------------------------------------------------------------------

function showThread(open) {
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
  el['composer-input'].value = '';
  autoGrow(el['composer-input']);
  showThread(true);
  renderThreadHeader();
  updateComposer();
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
  updateComposer();
  if (window.matchMedia('(min-width: 601px)').matches) el['composer-input'].focus();
  fillViewport();
}

function closeConversation() {
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
async function reloadThread() {
  if (state.openId == null) return;
  const seq = state.threadSeq;
  const msgs = await api(`/api/conversations/${encodeURIComponent(state.openId)}/messages?limit=${PAGE_SIZE}`);
  if (seq !== state.threadSeq) return;
  for (const key of Array.from(state.messages.keys())) if (key.startsWith('id:')) state.messages.delete(key);
  for (const m of msgs) upsertMessage(m);
  state.hasOlder = msgs.length >= PAGE_SIZE;
  renderThread();
  updateComposer();
}

/**
 * REST-only polling: picks up new messages with `after=`. Without events nobody tells us
 * about status changes, so the query starts just before the oldest recent outbound message
 * that can still change (pending/sent/delivered), re-reading a bounded tail of the thread.
 */
async function pollThread() {
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

const msgKey = (m) => (m.id != null ? `id:${m.id}` : `tmp:${m.clientId}`);
const STATUS_RANK = { pending: 0, sent: 1, delivered: 2, read: 3 };

/** Adds or updates a message of the open thread; never regresses an outbound status. */
function upsertMessage(m) {
  if (m.clientId) state.messages.delete(`tmp:${m.clientId}`); // our optimistic copy
  const key = msgKey(m);
  const old = state.messages.get(key);
  let next = m;
  if (old && m.direction === 'outbound' && m.status !== 'failed' && (STATUS_RANK[old.status] ?? -1) > (STATUS_RANK[m.status] ?? -1)) {
    // An older snapshot (e.g. a REST answer racing a websocket update): keep the newer status.
    next = { ...m, status: old.status, deliveredAt: old.deliveredAt || m.deliveredAt, readAt: old.readAt || m.readAt };
  }
  state.messages.set(key, next);
}

/**
 * Whether a message belongs in the loaded part of the thread. An update to an old message
 * whose page is not loaded (e.g. a late reaction) must not appear above the loaded ones.
 */
function inLoadedRange(m) {
  if (state.messages.has(`id:${m.id}`) || !state.hasOlder) return true;
  const oldest = oldestId();
  return oldest == null || Number(m.id) >= oldest;
}

function serverMessages() {
  return Array.from(state.messages.values()).filter((m) => m.id != null);
}

function oldestId() {
  const ids = serverMessages().map((m) => Number(m.id));
  return ids.length ? Math.min(...ids) : null;
}

function newestId() {
  const ids = serverMessages().map((m) => Number(m.id));
  return ids.length ? Math.max(...ids) : null;
}

/** Server messages by id (the order the API pages in), then unsent ones by creation. */
function sortedMessages() {
  return Array.from(state.messages.values()).sort((a, b) => {
    if (a.id != null && b.id != null) return Number(a.id) - Number(b.id);
    if (a.id != null) return -1;
    if (b.id != null) return 1;
    return String(a.createdAt).localeCompare(String(b.createdAt));
  });
}

function setOlderStatus(text) {
  el['thread-older'].textContent = text;
}

function scrollToBottom() {
  el.thread.scrollTop = el.thread.scrollHeight;
}

/** scroll: 'bottom' (always), 'keep' (caller handles it), default: follow if pinned. */
function renderThread({ scroll } = {}) {
  if (state.openId == null) return;
  const now = new Date();
  const ctx = {
    lookup: (id) => state.messages.get(`id:${id}`),
    onQuoteClick: jumpTo,
    contactName: conversationTitle(state.openConv),
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
  const sig = JSON.stringify([m, quoted ? quoted.direction : null]);
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

function renderThreadHeader() {
  const conv = state.openConv;
  if (!conv) return;
  const title = conversationTitle(conv);
  el['thread-title'].textContent = title;
  el['thread-avatar'].textContent = initial(title);
  const sub = [];
  if (conv.contactName && conv.phoneNumber) sub.push(conv.phoneNumber);
  if (conv.ownerId === null) sub.push('Unassigned');
  el['thread-subtitle'].textContent = sub.join(' · ');
}

/** An inbound message opens (or extends) WhatsApp's 24-hour customer service window. */
function noteInbound(m) {
  if (!m || !state.openConv) return;
  state.openConv.hasInbound = true;
  const created = parseDate(m.createdAt);
  if (created) {
    const until = new Date(created.getTime() + WINDOW_MS);
    const current = parseDate(state.openConv.windowOpenUntil);
    if (!current || until > current) state.openConv.windowOpenUntil = until.toISOString();
  }
  updateComposer();
}

// ---- composer ----------------------------------------------------------------------------

function windowState() {
  const conv = state.openConv;
  if (!conv) return 'none';
  const hasInbound = !!conv.hasInbound || serverMessages().some((m) => m.direction === 'inbound');
  if (!hasInbound) return 'never';
  const until = parseDate(conv.windowOpenUntil);
  return until && until.getTime() > Date.now() ? 'open' : 'closed';
}

function updateComposer() {
  if (!state.openConv) return;
  const ws = windowState();
  updateTemplateComposer(ws);
  updateAttach(ws);
  const closed = ws === 'closed';
  el['composer-input'].disabled = closed;
  el['composer-send'].disabled = closed;
  el['composer-input'].placeholder = closed ? 'Reply window closed' : 'Type a message';

  let text = '';
  let kind = '';
  if (state.sendError) {
    text = state.sendError;
    kind = 'error';
  } else if (closed) {
    text =
      'The 24-hour reply window is closed: the customer last wrote more than 24 hours ago. ' +
      'WhatsApp only allows template messages until they write again.';
    kind = 'closed';
  } else if (ws === 'never') {
    text =
      'This contact has not written to you yet. WhatsApp may refuse free-form text ' +
      'without an approved template.';
    kind = 'hint';
  }
  const notice = el['composer-notice'];
  notice.textContent = text;
  notice.dataset.kind = kind;
  notice.hidden = !text;
}

function autoGrow(input) {
  input.style.height = '';
  // A hidden textarea measures 0: leave it at its natural one-line height then.
  if (!input.value || !input.scrollHeight) return;
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

async function send() {
  const conv = state.openConv;
  const input = el['composer-input'];
  if (!conv || input.disabled) return;
  const content = input.value.trim();
  if (!content) return;

  const clientId = uuid();
  const convId = conv.id;
  const owner = state;
  state.messages.set(`tmp:${clientId}`, {
    id: null,
    clientId,
    conversationId: convId,
    direction: 'outbound',
    type: 'text',
    content,
    media: null,
    data: null,
    replyTo: null,
    reactions: [],
    status: 'pending',
    error: null,
    createdAt: new Date().toISOString(),
  });
  input.value = '';
  autoGrow(input);
  state.sendError = null;
  updateComposer();
  renderThread({ scroll: 'bottom' });

  try {
    const msg = await api('/api/conversations/send', { method: 'POST', body: { conversationId: convId, content, clientId } });
    if (owner !== state) return;
    if (String(state.openId) === String(convId)) {
      state.messages.delete(`tmp:${clientId}`);
      upsertMessage(msg);
      renderThread();
    }
    touchListRow(msg);
  } catch (err) {
    if (owner !== state || err.status === 401) return;
    if (String(state.openId) !== String(convId)) return;
    // Not accepted: drop the bubble, give the text back so it can be fixed and resent.
    state.messages.delete(`tmp:${clientId}`);
    if (!input.value) {
      input.value = content;
      autoGrow(input);
    }
    state.sendError = err.message;
    renderThread();
    updateComposer();
  }
}

/** A message sent from the template picker or the attach button: into the thread and list. */
function acceptSent(msg) {
  if (!msg || msg.id == null) return;
  if (String(state.openId) === String(msg.conversationId)) {
    upsertMessage(msg);
    state.sendError = null;
    renderThread({ scroll: 'bottom' });
    updateComposer();
  }
  touchListRow(msg);
}

function showSendError(text) {
  state.sendError = text;
  updateComposer();
}

/** Reflects a message in its conversation's list row (preview, time, ordering). */
function touchListRow(msg, { created = true } = {}) {
  const row = state.conversations.get(String(msg.conversationId));
  if (!row) {
    if (created && !state.search) scheduleListReload();
    return;
  }
  if (!row.lastMessage || row.lastMessage.id == null || Number(msg.id) >= Number(row.lastMessage.id)) {
    row.lastMessage = { id: msg.id, type: msg.type, content: msg.content, direction: msg.direction, status: msg.status };
    const at = parseDate(msg.createdAt);
    if (at && (!parseDate(row.lastMessageAt) || at > parseDate(row.lastMessageAt))) row.lastMessageAt = msg.createdAt;
  }
  if (msg.direction === 'inbound') row.hasInbound = true;
  renderList();
}

// ---- new conversation --------------------------------------------------------------------

function openNewConversationDialog() {
  el['new-conversation-form'].reset();
  el['new-conversation-error'].hidden = true;
  el['new-conversation-error'].textContent = '';
  el['new-conversation-submit'].disabled = false;
  el['new-conversation-dialog'].showModal();
  el['new-conversation-phone'].focus();
}

async function submitNewConversation() {
  const phoneNumber = el['new-conversation-phone'].value.trim();
  const content = el['new-conversation-content'].value.trim();
  const errorEl = el['new-conversation-error'];
  if (!phoneNumber || !content) {
    errorEl.textContent = 'Enter a phone number and a message.';
    errorEl.hidden = false;
    return;
  }
  const owner = state;
  el['new-conversation-submit'].disabled = true;
  try {
    const msg = await api('/api/conversations/send', { method: 'POST', body: { phoneNumber, content, clientId: uuid() } });
    if (owner !== state) return;
    el['new-conversation-dialog'].close();
    // Show the list unfiltered so the new (newest) conversation is in it.
    if (state.search) {
      el['conversation-search'].value = '';
      state.search = '';
    }
    await reloadList({ replace: !state.listLoaded }).catch(() => {});
    const fallback = { id: msg.conversationId, phoneNumber, contactName: null, hasInbound: false, windowOpenUntil: null, ownerId: state.me && state.me.id };
    await openConversation(msg.conversationId, fallback);
    if (String(state.openId) === String(msg.conversationId)) {
      upsertMessage(msg);
      renderThread({ scroll: 'bottom' });
    }
  } catch (err) {
    if (owner !== state || err.status === 401) return;
    errorEl.textContent = err.message;
    errorEl.hidden = false;
  } finally {
    el['new-conversation-submit'].disabled = false;
  }
}

// ---- read state --------------------------------------------------------------------------

async function markRead(id) {
  if (id == null) return;
  const row = state.conversations.get(String(id));
  if (row && row.unreadCount) {
    row.unreadCount = 0;
    renderList();
  }
  try {
    await api(`/api/conversations/${encodeURIComponent(id)}/read`, { method: 'POST' });
  } catch {
    /* not fatal: the badge comes back with the next update if it really failed */
  }
}

const scheduleMarkRead = debounce(() => {
  if (threadVisible()) markRead(state.openId);
}, 250);

// ---- live events -------------------------------------------------------------------------

/** Applies one event from the websocket or /api/events. Safe to apply twice. */
export function applyEvent(event) {
  if (!state.me) return;
  const data = event.data || {};
  switch (event.type) {
    case 'message.created':
    case 'message.updated': {
      const msg = { ...data, conversationId: data.conversationId ?? event.conversationId };
      if (msg.id == null) return;
      const isOpen = state.openId != null && String(msg.conversationId) === String(state.openId);
      if (isOpen && inLoadedRange(msg)) {
        const wasShown = state.messages.has(`id:${msg.id}`);
        upsertMessage(msg);
        renderThread();
        if (msg.direction === 'inbound' && !wasShown) {
          noteInbound(msg);
          if (threadVisible()) scheduleMarkRead();
        }
      }
      touchListRow(msg, { created: event.type === 'message.created' });
      break;
    }
    case 'conversation.updated':
      if (data.id == null) return;
      // While searching, a row that is not in the results may not match: don't add it.
      upsertConversation(data, { insert: !state.search });
      renderList();
      break;
    case 'conversation.read': {
      const row = state.conversations.get(String(data.conversationId ?? event.conversationId));
      if (row) {
        row.unreadCount = data.unreadCount ?? 0;
        renderList();
      }
      break;
    }
    case 'resync':
      resync();
      break;
    default:
      break; // unknown event types are ignored so the server can add new ones
  }
}

async function resync() {
  await Promise.allSettled([reloadList({ replace: true }), reloadThread()]);
}

/** REST-only refresh for servers without /api/events. Throws if the server is unreachable. */
export async function pollFallback() {
  if (!state.me) return;
  await reloadList();
  await pollThread();
}
