// The conversation list of the WhatsApp Chat tab: loading and paging it, searching, drawing
// rows, and the read state (unread badges, the page title).

import { api } from './api.js';
import { debounce, fullDateTime, parseDate, relativeTime, reconcile, h } from './dom.js';
import { conversationTitle, previewText, tickGlyph } from './messages.js';
import { numberTag, profileTag } from './identity.js';
import { el, listParams, matchesView, NEAR_EDGE_PX, PAGE_SIZE, state, threadVisible, userName } from './chat-state.js';
import { closingSoonTag } from './chat-window.js';
import { isDeleted } from './message-marks.js';

// Set by chat.js: opening a row is the thread's job, and a change to the open row's
// conversation redraws the thread header and the composer.
let hooks = { open: () => {}, openRowChanged: () => {} };

export function initList(options) {
  hooks = { ...hooks, ...options };
  const onSearch = debounce(() => {
    state.search = el['conversation-search'].value.trim();
    reloadList({ replace: true }).catch(() => {});
  }, 300);
  el['conversation-search'].addEventListener('input', onSearch);

  el['conversation-list'].addEventListener('scroll', () => {
    const list = el['conversation-list'];
    if (list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_EDGE_PX) loadMoreConversations();
  });
}

function conversationQuery(extra = {}) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), ...listParams(), ...extra });
  if (state.search) params.set('search', state.search);
  return `/api/conversations?${params}`;
}

/**
 * Loads the first page of the list. replace: drop rows not in the answer (new search,
 * resync); otherwise merge (polling), which keeps rows from further pages.
 * Throws on failure (polling uses that to show "Offline").
 */
export async function reloadList({ replace = false } = {}) {
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

export function upsertConversation(row, { insert }) {
  const key = String(row.id);
  const isOpen = state.openId != null && key === String(state.openId);
  const existing = state.conversations.get(key);
  const merged = { ...existing, ...row };
  // The open, visible conversation stays read: the read call for it is on its way.
  if (isOpen && merged.unreadCount > 0 && threadVisible()) {
    merged.unreadCount = 0;
    scheduleMarkRead();
  }
  // A row that no longer fits the view (assigned away, resolved, label removed) leaves the list.
  if (!matchesView(merged)) state.conversations.delete(key);
  else if (existing || insert) state.conversations.set(key, merged);
  if (isOpen) {
    state.openConv = { ...state.openConv, ...merged };
    hooks.openRowChanged();
  }
}

function sortedConversations() {
  const time = (c) => (parseDate(c.lastMessageAt) || 0) - 0;
  return Array.from(state.conversations.values()).sort((a, b) => time(b) - time(a) || Number(b.id) - Number(a.id));
}

const scheduleListReload = debounce(() => reloadList().catch(() => {}), 500);

export function renderList() {
  const rows = sortedConversations();
  const now = new Date();
  const nodes = rows.map((row) => conversationNode(row, now));
  reconcile(el['conversation-list'], nodes);

  const status = el['conversation-list-status'];
  if (state.listError && !rows.length) status.textContent = `Could not load conversations: ${state.listError}`;
  else if (!state.listLoaded) status.textContent = state.me ? 'Loading…' : '';
  else if (!rows.length && state.search) status.textContent = `No conversations match “${state.search}”.`;
  else if (!rows.length) status.textContent = emptyText();
  else status.textContent = '';

  const unread = rows.reduce((n, r) => n + (r.unreadCount > 0 ? 1 : 0), 0);
  document.title = unread ? `(${unread}) WhatsApp Inbox` : 'WhatsApp Inbox';
}

function emptyText() {
  const filtered = state.statusTab !== 'open' || state.label || state.view !== (state.me && state.me.isAdmin ? 'all' : 'mine');
  if (filtered && state.statusTab !== 'all') return `No ${state.statusTab} conversations here.`;
  return filtered ? 'No conversations here.' : 'No conversations yet.';
}

function conversationNode(row, now) {
  const key = String(row.id);
  const active = key === String(state.openId);
  const time = relativeTime(row.lastMessageAt, now);
  const soon = closingSoonTag(row, now.getTime());
  const sig = JSON.stringify([row, time, active, userName(row.ownerId), state.labels, soon && soon.textContent]);
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
      onclick: () => hooks.open(row.id),
      onkeydown: (e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), hooks.open(row.id)),
    },
    h('div', { class: 'avatar', 'aria-hidden': 'true', text: initial(title) }),
    h(
      'div',
      { class: 'conv-main' },
      h(
        'div',
        { class: 'conv-top' },
        h('span', { class: 'conv-name', text: title }),
        profileTag(row),
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
        numberTag(row),
        (row.labels || []).map((name) => labelChip(name, name)),
        row.ownerId == null && h('span', { class: 'unassigned-tag', text: 'Unassigned' }),
        row.ownerId != null && state.me && String(row.ownerId) !== String(state.me.id) &&
          h('span', { class: 'assignee-tag', title: 'Assigned to', text: row.assigneeName || userName(row.ownerId) }),
        soon,
        row.unreadCount > 0 && h('span', { class: 'unread-badge', 'aria-label': `${row.unreadCount} unread`, text: row.unreadCount > 99 ? '99+' : row.unreadCount }),
      ),
    ),
  );
  state.convNodes.set(key, { sig, node });
  return node;
}

/** A label chip in the label's colour (set through CSSOM: the CSP allows no inline style). */
export function labelChip(name, ...children) {
  const node = h('span', { class: 'label-chip', dataset: { label: name } }, ...children);
  const label = state.labels.find((l) => l.name === name);
  if (label) node.style.setProperty('--label-color', label.color);
  return node;
}

/** Drops a conversation from the list (assigned away from this user). */
export function removeConversation(id) {
  state.conversations.delete(String(id));
  renderList();
}

/** The letter in a conversation's avatar (list row and thread header). */
export function initial(name) {
  const ch = Array.from(String(name).replace(/^\+/, ''))[0] || '?';
  return ch.toUpperCase();
}

/** Reflects a message in its conversation's list row (preview, time, ordering). */
export function touchListRow(msg, { created = true } = {}) {
  const row = state.conversations.get(String(msg.conversationId));
  if (!row) {
    if (created && !state.search) scheduleListReload();
    return;
  }
  if (!row.lastMessage || row.lastMessage.id == null || Number(msg.id) >= Number(row.lastMessage.id)) {
    row.lastMessage = { id: msg.id, type: msg.type, content: msg.content, direction: msg.direction, status: msg.status, deleted: isDeleted(msg) };
    const at = parseDate(msg.createdAt);
    if (at && (!parseDate(row.lastMessageAt) || at > parseDate(row.lastMessageAt))) row.lastMessageAt = msg.createdAt;
  }
  if (msg.direction === 'inbound') row.hasInbound = true;
  renderList();
}

// ---- read state --------------------------------------------------------------------------

export async function markRead(id) {
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

export const scheduleMarkRead = debounce(() => {
  if (threadVisible()) markRead(state.openId);
}, 250);

/** Sets a conversation's unread count from a `conversation.read` event. */
export function setUnread(conversationId, unreadCount) {
  const row = state.conversations.get(String(conversationId));
  if (row) {
    row.unreadCount = unreadCount;
    renderList();
  }
}
