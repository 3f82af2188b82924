// The WhatsApp Chat tab's shared state: the loaded conversations, the open thread's messages
// and the DOM elements, read by the list (chat-list.js), thread (chat-thread.js) and composer
// (chat-composer.js) modules. It imports no view, so the views never import each other in a
// circle: a view that must redraw another calls a hook chat.js hands it.

import { parseDate } from './dom.js';

export const PAGE_SIZE = 50;
export const NEAR_EDGE_PX = 80;
const WINDOW_MS = 24 * 60 * 60 * 1000;

export const el = {}; // DOM elements, filled by bindElements()
let isTabActive = () => true;

export let state = freshState();

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
    // team inbox (team.js): which conversations the list shows, and who is who
    view: 'mine', // 'mine' | 'unassigned' | 'all'
    statusTab: 'open', // 'open' | 'pending' | 'resolved' | 'snoozed' | 'all'
    label: '', // a label name, or '' for any
    number: '', // a business number id, or '' for all (identity.js)
    counts: null, // { open, pending, resolved, snoozed, all } for the current view
    users: new Map(), // String(id) -> { id, email, name, role, active }
    labels: [], // [{ id, name, color }]
    noteMode: false, // the composer writes a private note instead of a reply
  };
}

/** The list's query parameters for the current view, status tab and label. */
export function listParams() {
  const params = {};
  if (state.view === 'mine') params.assignee = 'me';
  else if (state.view === 'unassigned') params.assignee = 'unassigned';
  if (state.statusTab !== 'all') params.status = state.statusTab;
  if (state.label) params.label = state.label;
  if (state.number) params.number = state.number;
  return params;
}

/** Whether a conversation belongs in the list as it is filtered now. */
export function matchesView(row) {
  if (!state.me || !row) return false;
  if (state.view === 'mine' && String(row.assigneeId ?? row.ownerId) !== String(state.me.id)) return false;
  if (state.view === 'unassigned' && (row.assigneeId ?? row.ownerId) != null) return false;
  if (state.statusTab !== 'all' && row.status && row.status !== state.statusTab) return false;
  if (state.label && Array.isArray(row.labels) && !row.labels.includes(state.label)) return false;
  if (state.number && row.businessNumberId && String(row.businessNumberId) !== state.number) return false;
  return true;
}

/** A user's name for people (never "User #2"). */
export function userName(id) {
  if (id == null) return '';
  if (state.me && String(id) === String(state.me.id)) return state.me.name || state.me.email;
  const user = state.users.get(String(id));
  return user ? user.name || user.email : `user ${id}`;
}

/** A new state object: answers still on their way for the old one see `owner !== state`. */
export function resetState(me = null) {
  state = freshState();
  state.me = me;
}

/** Binds the static DOM once per page load. `isActive()` tells whether the chat tab is shown. */
export function bindElements(isActive) {
  isTabActive = isActive;
  for (const id of [
    'chat-panel', 'conversation-list', 'conversation-list-status', 'conversation-search', 'new-conversation',
    'thread-empty', 'thread-view', 'thread', 'thread-older', 'thread-messages', 'thread-back', 'thread-title',
    'thread-subtitle', 'thread-avatar', 'composer-input', 'composer-send', 'composer-notice', 'composer-note',
    'thread-actions', 'thread-labels', 'list-views', 'status-tabs', 'label-filter',
    'new-conversation-dialog', 'new-conversation-form', 'new-conversation-phone', 'new-conversation-content',
    'new-conversation-error', 'new-conversation-cancel', 'new-conversation-submit',
  ]) {
    el[id] = document.getElementById(id);
  }
}

export function threadVisible() {
  return state.openId != null && isTabActive() && document.visibilityState !== 'hidden';
}

// ---- the open thread's messages ----------------------------------------------------------

export const msgKey = (m) => (m.id != null ? `id:${m.id}` : `tmp:${m.clientId}`);
const STATUS_RANK = { pending: 0, sent: 1, delivered: 2, read: 3 };

/**
 * Adds or updates a message of the open thread; never regresses an outbound status.
 * `snapshot`: `m` is a REST answer that may be older than the events already applied (a send's
 * answer is taken before WhatsApp's failed status arrives): it never turns failed back to pending.
 */
export function upsertMessage(m, { snapshot = false } = {}) {
  if (m.clientId) state.messages.delete(`tmp:${m.clientId}`); // our optimistic copy
  const key = msgKey(m);
  const old = state.messages.get(key);
  if (snapshot && old && old.status === 'failed' && m.status !== 'failed') return;
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
export function inLoadedRange(m) {
  if (state.messages.has(`id:${m.id}`) || !state.hasOlder) return true;
  const oldest = oldestId();
  return oldest == null || Number(m.id) >= oldest;
}

export function serverMessages() {
  return Array.from(state.messages.values()).filter((m) => m.id != null);
}

export function oldestId() {
  const ids = serverMessages().map((m) => Number(m.id));
  return ids.length ? Math.min(...ids) : null;
}

export function newestId() {
  const ids = serverMessages().map((m) => Number(m.id));
  return ids.length ? Math.max(...ids) : null;
}

/** Server messages by id (the order the API pages in), then unsent ones by creation. */
export function sortedMessages() {
  return Array.from(state.messages.values()).sort((a, b) => {
    if (a.id != null && b.id != null) return Number(a.id) - Number(b.id);
    if (a.id != null) return -1;
    if (b.id != null) return 1;
    return String(a.createdAt).localeCompare(String(b.createdAt));
  });
}

// ---- WhatsApp's 24-hour customer service window -------------------------------------------

/** 'none' (nothing open), 'never' (no inbound message yet), 'open' or 'closed'. */
export function windowState() {
  const conv = state.openConv;
  if (!conv) return 'none';
  const hasInbound = !!conv.hasInbound || serverMessages().some((m) => m.direction === 'inbound');
  if (!hasInbound) return 'never';
  const until = parseDate(conv.windowOpenUntil);
  return until && until.getTime() > Date.now() ? 'open' : 'closed';
}

/** An inbound message opens (or extends) the window. Returns whether it moved. */
export function extendWindow(m) {
  if (!m || !state.openConv) return false;
  state.openConv.hasInbound = true;
  const created = parseDate(m.createdAt);
  if (created) {
    const until = new Date(created.getTime() + WINDOW_MS);
    const current = parseDate(state.openConv.windowOpenUntil);
    if (!current || until > current) state.openConv.windowOpenUntil = until.toISOString();
  }
  return true;
}
