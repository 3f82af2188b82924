// Notifications in the page: a customer message (or a mention) in a conversation the user
// is not looking at rings the chime, and, when no tab of theirs is visible, shows a desktop
// notification that opens the conversation when clicked. The favicon carries the unread count.
//
// Only the leading tab of the user acts (tabs.js), and "looking at" counts every tab of
// theirs. Which conversations notify follows the user's preferences (notify-settings.js);
// the events themselves already reach only those who may see the conversation.

import { api } from './api.js';
import { state, threadVisible } from './chat-state.js';
import { initFavicon } from './favicon.js';
import { askPermission, initNotifySettings, loadPrefs, permission, prefs, refreshDialog, resetPrefs } from './notify-settings.js';
import { leaveView, reportView, resetPresence } from './presence.js';
import { disablePush, initPush, loadDevices, pushActive, pushSection, startPush } from './push.js';
import { playChime, unlockSound } from './sound.js';
import { announce, isLeader, postToTab, refreshViews, someoneLooking, startTabs, stopTabs, tabId, visibleTab } from './tabs.js';

const STALE_MS = 10 * 60 * 1000; // replayed after a long disconnect: not news any more
const ICON = '/static/icons/icon-192.png';
const TYPE_TEXT = {
  image: 'Photo',
  video: 'Video',
  audio: 'Voice message',
  voice: 'Voice message',
  document: 'Document',
  sticker: 'Sticker',
  location: 'Location',
  contacts: 'Contact card',
};

let hooks = { open: () => {} };
let me = null;
let presenceTimer = null;
const lastChime = new Map(); // conversation id -> when it last rang

/** hooks.open(id): show conversation `id`. */
export function initNotify(options) {
  hooks = { ...hooks, ...options };
  initFavicon();
  unlockSound();
  initPush({ changed: refreshDialog });
  initNotifySettings({ changed: refreshDialog, test: tryIt, extraSections: pushSection });
  window.addEventListener('pagehide', () => leaveView(tabId()));
}

export function startNotify(user) {
  me = user;
  startTabs(user.id, { currentView, onMessage: onTabMessage });
  loadPrefs();
  startPush().then(loadDevices).catch(() => {});
  // The server hears which conversation is on screen, so it pushes nothing about it.
  presenceTimer = setInterval(() => reportView(tabId(), currentView()), 1000);
}

export function stopNotify() {
  me = null;
  clearInterval(presenceTimer);
  leaveView(tabId());
  resetPresence();
  stopTabs();
  resetPrefs();
}

/** Logging out of a browser stops its pushes: the next person at it must not see them. */
export function forgetThisDevice() {
  return Promise.race([disablePush(), new Promise((resolve) => setTimeout(resolve, 1500))]).catch(() => {});
}

function currentView() {
  const visible = document.visibilityState === 'visible';
  return { conversationId: threadVisible() ? state.openId : null, visible };
}

function onTabMessage(m) {
  if (m.type === 'chime') playChime();
}

/** Called with every live event (after the views have applied it). */
export function notifyEvent(event) {
  if (!me || !event || !isLeader()) return;
  announce();
  const data = event.data || {};
  let decision = null;
  if (event.type === 'message.created' && data.direction === 'inbound') decision = customerWrote(event, data);
  else if (event.type === 'mention') decision = mentioned(event, data);
  if (decision) decision.catch(() => {}).finally(decided);
}

/** Counts the messages this tab has decided about (rung, shown or let pass): tests wait on it. */
function decided() {
  const root = document.documentElement;
  root.dataset.notifyDecisions = String(Number(root.dataset.notifyDecisions || 0) + 1);
}

function stale(createdAt) {
  const t = Date.parse(createdAt || '');
  return Number.isFinite(t) && Date.now() - t > STALE_MS;
}

async function customerWrote(event, msg) {
  const id = msg.conversationId ?? event.conversationId;
  if (id == null || stale(msg.createdAt)) return;
  // What the other tabs show now; meanwhile the conversation's row (its name, its assignee)
  // arrives right behind the message.
  await Promise.all([refreshViews(), new Promise((resolve) => setTimeout(resolve, 50))]);
  if (!me || someoneLooking(id)) return;
  const conv = await conversationInfo(id);
  if (!conv || !inScope(conv)) return;
  alert({ id, title: customerName(conv), body: preview(msg), tag: `conversation-${id}` });
}

async function mentioned(event, data) {
  const id = data.conversationId ?? event.conversationId;
  await refreshViews();
  if (id == null || someoneLooking(id)) return;
  const note = data.message || {};
  if (stale(note.createdAt)) return;
  const conv = await conversationInfo(id);
  const about = conv ? ` (${customerName(conv)})` : '';
  alert({ id, title: `${data.byName || 'Someone'} mentioned you${about}`, body: firstLine(note.content), tag: `mention-${note.id ?? id}` });
}

async function conversationInfo(id) {
  const row = state.conversations.get(String(id));
  if (row) return row;
  try {
    return await api(`/api/conversations/${encodeURIComponent(id)}`);
  } catch {
    return null;
  }
}

function inScope(conv) {
  const assignee = conv.assigneeId ?? conv.ownerId ?? null;
  if (prefs.scope === 'mine') return String(assignee) === String(me.id);
  if (prefs.scope === 'queue') return assignee == null || String(assignee) === String(me.id);
  return true;
}

export function customerName(conv) {
  return conv.contactName || conv.profileName || conv.phoneNumber || 'A customer';
}

function firstLine(text) {
  const line = String(text || '').split('\n').find((l) => l.trim()) || '';
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
}

export function preview(msg) {
  const text = firstLine(msg.content);
  if (text && msg.type === 'text') return text;
  const kind = TYPE_TEXT[msg.type];
  if (kind) return text ? `${kind}: ${text}` : kind;
  return text || 'New message';
}

function alert({ id, title, body, tag }) {
  if (prefs.sound) chime(id);
  if (prefs.desktop && visibleTab() === null && !pushActive()) desktop({ id, title, body, tag });
}

function chime(id) {
  const now = Date.now();
  if (now - (lastChime.get(String(id)) || 0) < 3000) return; // a customer's burst of lines rings once
  lastChime.set(String(id), now);
  const target = visibleTab();
  if (target && target !== tabId()) postToTab(target, { type: 'chime' });
  else playChime();
}

function desktop({ id, title, body, tag }) {
  if (permission() !== 'granted') return null;
  let n;
  try {
    n = new Notification(title, { body, tag, icon: ICON, data: { conversationId: id } });
  } catch {
    // Android's Chrome (and an installed app there) shows only the service worker's
    // notifications; a click on those is the worker's to handle (static/sw.js).
    if ('serviceWorker' in navigator && navigator.serviceWorker.controller) {
      const url = id != null ? `/?conversation=${encodeURIComponent(id)}` : '/';
      navigator.serviceWorker.ready
        .then((reg) => reg.showNotification(title, { body, tag, icon: ICON, data: { conversationId: id, url } }))
        .catch(() => {});
    }
    return null;
  }
  n.onclick = () => {
    window.focus();
    if (id != null) hooks.open(id);
    n.close();
  };
  return n;
}

/** The dialog's "Try it": the chime and a sample notification, now. */
async function tryIt() {
  if (permission() === 'default') await askPermission();
  playChime();
  desktop({ id: null, title: 'Amina (sample)', body: 'Hello! Is the chocolate cake still available?', tag: 'sample' });
}
