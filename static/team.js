// The team inbox in the WhatsApp Chat tab: views (Mine, Unassigned, All), status tabs with
// counts, the label filter, and the open conversation's assignee menu, Resolve / Snooze and
// labels; plus the team's live events (a conversation assigned away, a mention, a user
// changed). The server decides who may do what; this only offers what makes sense.

import { api } from './api.js';
import { debounce, fullDateTime, h } from './dom.js';
import { el, state, userName } from './chat-state.js';
import { labelChip, reloadList, removeConversation, renderList, upsertConversation } from './chat-list.js';

const STATUS_TABS = [
  ['open', 'Open'],
  ['pending', 'Pending'],
  ['resolved', 'Resolved'],
  ['snoozed', 'Snoozed'],
  ['all', 'All'],
];
const HOUR_MS = 3600 * 1000;

// Set by chat.js: open a conversation, close the open thread, redraw the thread header.
let hooks = { open: () => {}, closeThread: () => {}, changed: () => {} };

export function initTeam(options) {
  hooks = { ...hooks, ...options };
  el['label-filter'].addEventListener('change', () => {
    state.label = el['label-filter'].value;
    filtersChanged();
  });
  document.addEventListener('click', (e) => {
    const menu = document.getElementById('snooze-menu');
    if (menu && !menu.hidden && !e.target.closest('.snooze-wrap')) menu.hidden = true;
  });
}

/** Starts for a signed-in user: the default view, the team's names and the labels. */
export async function startTeam(me) {
  state.view = me.isAdmin ? 'all' : 'mine';
  state.statusTab = 'open';
  state.label = '';
  renderFilters();
  await Promise.allSettled([loadUsers(), loadLabels()]);
  renderFilters();
  renderList();
  refreshCounts();
}

export async function loadUsers() {
  const users = await api('/api/users');
  state.users = new Map(users.map((u) => [String(u.id), u]));
}

export async function loadLabels() {
  state.labels = await api('/api/labels');
}

export function filtersChanged() {
  renderFilters();
  reloadList({ replace: true }).catch(() => {});
  refreshCounts();
}

export function setView(view) {
  if (state.view === view) return;
  state.view = view;
  filtersChanged();
}

export function setStatusTab(tab) {
  if (state.statusTab === tab) return;
  state.statusTab = tab;
  filtersChanged();
}

/** The status tabs' counts, for the current view and label (debounced: events come in bursts). */
export const refreshCounts = debounce(async () => {
  if (!state.me) return;
  const params = new URLSearchParams();
  if (state.view === 'mine') params.set('assignee', 'me');
  else if (state.view === 'unassigned') params.set('assignee', 'unassigned');
  if (state.label) params.set('label', state.label);
  if (state.number) params.set('number', state.number);
  const owner = state;
  try {
    const counts = await api(`/api/conversations/counts?${params}`);
    if (owner !== state) return;
    state.counts = counts;
    renderFilters();
  } catch {
    /* the tabs keep their last counts */
  }
}, 300);

function views() {
  const me = state.me;
  if (!me) return [];
  const list = [['mine', 'Mine']];
  if (me.isAdmin || me.seesUnassigned) list.push(['unassigned', 'Unassigned']);
  if (me.isAdmin) list.push(['all', 'All']);
  return list;
}

export function renderFilters() {
  el['list-views'].replaceChildren(
    ...views().map(([key, text]) =>
      h('button', {
        type: 'button',
        role: 'tab',
        class: state.view === key ? 'active' : '',
        'aria-selected': String(state.view === key),
        dataset: { view: key },
        text,
        onclick: () => setView(key),
      }),
    ),
  );
  el['status-tabs'].replaceChildren(
    ...STATUS_TABS.map(([key, text]) => {
      const count = state.counts ? state.counts[key] : null;
      return h(
        'button',
        {
          type: 'button',
          role: 'tab',
          class: state.statusTab === key ? 'active' : '',
          'aria-selected': String(state.statusTab === key),
          dataset: { status: key },
          onclick: () => setStatusTab(key),
        },
        text,
        count != null && h('span', { class: 'count', text: String(count) }),
      );
    }),
  );
  const select = el['label-filter'];
  const options = [h('option', { value: '', text: 'All labels' }), ...state.labels.map((l) => h('option', { value: l.name, text: l.name }))];
  select.replaceChildren(...options);
  select.value = state.label;
  select.hidden = !state.labels.length && !state.label;
}

// ---- the open conversation's header ------------------------------------------------------

async function act(path, body, method = 'POST') {
  const conv = state.openConv;
  if (!conv) return;
  try {
    const row = await api(`/api/conversations/${encodeURIComponent(conv.id)}/${path}`, { method, body });
    upsertConversation(row, { insert: true });
    renderList();
    hooks.changed();
    refreshCounts();
  } catch (err) {
    if (err.status !== 401) toast(err.message, 'error');
  }
}

export function assignTo(userId) {
  return act('assign', { userId });
}

export function setStatus(status, snoozedUntil) {
  return act('status', snoozedUntil ? { status, snoozedUntil } : { status });
}

export function resolveOpen() {
  if (!state.openConv) return;
  setStatus(state.openConv.status === 'resolved' ? 'open' : 'resolved');
}

function setLabels(names) {
  return act('labels', { labels: names }, 'PUT');
}

/** Snooze choices: an hour, tomorrow morning, next Monday morning (the browser's time). */
export function snoozeTimes(now = new Date()) {
  const tomorrow = new Date(now);
  tomorrow.setDate(now.getDate() + 1);
  tomorrow.setHours(9, 0, 0, 0);
  const monday = new Date(now);
  monday.setDate(now.getDate() + (((8 - now.getDay()) % 7) || 7));
  monday.setHours(9, 0, 0, 0);
  return [
    ['1 hour', now.getTime() + HOUR_MS],
    ['Tomorrow', tomorrow.getTime()],
    ['Next week', monday.getTime()],
  ];
}

function mayAssign(conv) {
  const me = state.me;
  if (!me || !conv) return false;
  if (me.isAdmin) return true;
  const assignee = conv.assigneeId ?? conv.ownerId;
  return String(assignee) === String(me.id) || (assignee == null && me.seesUnassigned);
}

function assigneeMenu(conv) {
  const me = state.me;
  const assignee = conv.assigneeId ?? conv.ownerId;
  const users = Array.from(state.users.values()).filter((u) => u.active || String(u.id) === String(assignee));
  if (assignee != null && !users.some((u) => String(u.id) === String(assignee))) {
    users.push({ id: assignee, name: conv.assigneeName || userName(assignee), active: true });
  }
  const options = [];
  // An agent who may claim from the queue may also hand their own conversation back to it.
  const mayQueue = me.isAdmin || assignee == null || (me.seesUnassigned && String(assignee) === String(me.id));
  if (mayQueue) options.push(h('option', { value: '', text: 'Unassigned' }));
  for (const u of users) {
    // An agent hands their own conversation to someone, or claims one for themselves.
    if (!me.isAdmin && assignee == null && String(u.id) !== String(me.id)) continue;
    options.push(h('option', { value: String(u.id), text: String(u.id) === String(me.id) ? `${u.name} (me)` : u.name }));
  }
  const select = h('select', {
    id: 'assignee-menu',
    class: 'assignee-menu',
    'aria-label': 'Assigned to',
    title: 'Assigned to',
    disabled: !mayAssign(conv),
    onchange: () => assignTo(select.value === '' ? null : Number(select.value)),
  }, options);
  select.value = assignee == null ? '' : String(assignee);
  return select;
}

function snoozeControl() {
  const menu = h('div', { id: 'snooze-menu', class: 'snooze-menu', role: 'menu', hidden: true });
  const pick = h('input', { type: 'datetime-local', 'aria-label': 'Snooze until', class: 'snooze-date' });
  const items = snoozeTimes().map(([text, at]) =>
    h('button', { type: 'button', role: 'menuitem', dataset: { snooze: text }, text, title: fullDateTime(new Date(at).toISOString()), onclick: () => ((menu.hidden = true), setStatus('snoozed', at)) }),
  );
  menu.append(
    ...items,
    h(
      'div',
      { class: 'snooze-pick' },
      pick,
      h('button', {
        type: 'button',
        text: 'Snooze',
        onclick: () => {
          const at = pick.value ? new Date(pick.value).getTime() : NaN;
          if (!(at > Date.now())) return toast('Pick a time in the future.', 'error');
          menu.hidden = true;
          setStatus('snoozed', at);
        },
      }),
    ),
  );
  return h(
    'span',
    { class: 'snooze-wrap' },
    h('button', { type: 'button', id: 'snooze-button', 'aria-haspopup': 'menu', text: 'Snooze', onclick: () => (menu.hidden = !menu.hidden) }),
    menu,
  );
}

export function renderThreadActions() {
  const conv = state.openConv;
  const box = el['thread-actions'];
  if (!conv || !state.me) {
    box.replaceChildren();
    el['thread-labels'].replaceChildren();
    return;
  }
  const status = conv.status || 'open';
  const statusText = status === 'snoozed' && conv.snoozedUntil
    ? `Snoozed until ${fullDateTime(new Date(conv.snoozedUntil).toISOString())}`
    : status === 'open' ? '' : status[0].toUpperCase() + status.slice(1);
  box.replaceChildren(
    statusText && h('span', { id: 'thread-status', class: 'status-badge', dataset: { status }, text: statusText }),
    assigneeMenu(conv),
    h('button', {
      type: 'button',
      id: 'resolve-button',
      class: status === 'resolved' ? '' : 'primary',
      text: status === 'resolved' || status === 'snoozed' ? 'Reopen' : 'Resolve',
      onclick: () => setStatus(status === 'resolved' || status === 'snoozed' ? 'open' : 'resolved'),
    }),
    snoozeControl(),
  );
  renderThreadLabels(conv);
}

function renderThreadLabels(conv) {
  const current = conv.labels || [];
  const free = state.labels.filter((l) => !current.includes(l.name));
  const add = h(
    'select',
    {
      id: 'label-add',
      'aria-label': 'Add a label',
      onchange: () => add.value && setLabels([...current, add.value]),
    },
    h('option', { value: '', text: '+ Label' }),
    free.map((l) => h('option', { value: l.name, text: l.name })),
  );
  el['thread-labels'].replaceChildren(
    ...current.map((name) =>
      labelChip(
        name,
        name,
        h('button', { type: 'button', class: 'label-remove', 'aria-label': `Remove label ${name}`, text: '×', onclick: () => setLabels(current.filter((n) => n !== name)) }),
      ),
    ),
    ...(free.length ? [add] : []), // replaceChildren(null) would show the text "null"
  );
}

// ---- live events -------------------------------------------------------------------------

/** Team events; returns true when handled. */
export function applyTeamEvent(event) {
  const data = event.data || {};
  switch (event.type) {
    case 'conversation.removed': {
      const id = data.conversationId ?? event.conversationId;
      const wasOpen = state.openId != null && String(state.openId) === String(id);
      removeConversation(id);
      if (wasOpen) {
        hooks.closeThread();
        toast('This conversation was assigned to someone else.');
      }
      refreshCounts();
      return true;
    }
    case 'mention': {
      const who = data.byName || userName(data.by);
      const text = data.message && data.message.content ? data.message.content : '';
      toast(`${who} mentioned you: ${text}`, 'mention', () => hooks.open(data.conversationId ?? event.conversationId));
      return true;
    }
    case 'label.created':
    case 'label.deleted': {
      // An admin added or deleted a label: the filter, the "+ Label" menu and the chips follow.
      const others = state.labels.filter((l) => String(l.id) !== String(data.id));
      state.labels = event.type === 'label.created' ? [...others, data].sort((a, b) => a.name.localeCompare(b.name)) : others;
      if (event.type === 'label.deleted' && state.label === data.name) {
        state.label = '';
        filtersChanged();
      } else renderFilters();
      renderList();
      renderThreadActions();
      return true;
    }
    case 'user.updated': {
      if (data.id == null) return true;
      state.users.set(String(data.id), data);
      if (state.me && String(data.id) === String(state.me.id)) {
        state.me = { ...state.me, name: data.name, role: data.role, isAdmin: data.role === 'admin' };
        hooks.meChanged && hooks.meChanged(state.me);
      }
      renderList();
      renderThreadActions();
      return true;
    }
    default:
      return false;
  }
}

/**
 * A conversation.updated event carries the assignee's unread count. Anyone else keeps their
 * own: their count grows by what the conversation received since they last saw it.
 */
export function ownUnread(data) {
  const me = state.me;
  const assignee = data.assigneeId ?? data.ownerId;
  if (!me || assignee == null || String(assignee) === String(me.id)) return data;
  const existing = state.conversations.get(String(data.id));
  if (!existing || existing.inboundCount == null || data.inboundCount == null) return data;
  const grew = Math.max(0, data.inboundCount - existing.inboundCount);
  return { ...data, unreadCount: (existing.unreadCount || 0) + grew };
}

// ---- toasts ------------------------------------------------------------------------------

export function toast(text, kind = 'info', onClick = null) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const node = h('div', {
    class: `toast${onClick ? ' clickable' : ''}`,
    role: kind === 'error' ? 'alert' : 'status',
    dataset: { kind },
    text,
    onclick: () => {
      node.remove();
      if (onClick) onClick();
    },
  });
  box.append(node);
  setTimeout(() => node.remove(), kind === 'error' ? 8000 : 6000);
}
