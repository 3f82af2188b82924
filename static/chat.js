// The "WhatsApp Chat" tab: wires its conversation list (chat-list.js), open thread
// (chat-thread.js) and composer (chat-composer.js) over their shared state (chat-state.js),
// and applies live events to all of them.

import { bindElements, el, inLoadedRange, resetState, state, threadVisible, upsertMessage } from './chat-state.js';
import { initList, markRead, reloadList, renderList, scheduleMarkRead, setUnread, touchListRow, upsertConversation } from './chat-list.js';
import { applyContactEvent, contactOpened, contactRowChanged, initContact } from './chat-contact.js';
import { initIdentity, loadNumbers, resetIdentity } from './identity.js';
import { filtersChanged } from './team.js';
import { closeConversation, initThread, noteInbound, openConversation, pollThread, reloadThread, renderThread, renderThreadHeader, showThread } from './chat-thread.js';
import { initComposer, resetComposer, setNoteMode, updateComposer } from './chat-composer.js';
import { initRetry } from './chat-retry.js';
import { initScrollButton } from './chat-scroll.js';
import { closePhotoViewer, initPhotoViewer } from './chat-viewer.js';
import { applyTeamEvent, initTeam, ownUnread, refreshCounts, renderThreadActions, resolveOpen, startTeam } from './team.js';
import { resetTemplates } from './chat-templates.js';
import { applyQuickReplyEvent, resetQuickReplies } from './chat-quick-replies.js';
import { initMessageActions } from './chat-message-actions.js';

export { openConversation, resolveOpen };

/** The `n` shortcut: note mode on or off for the open conversation. */
export function toggleNoteMode() {
  if (state.openConv) setNoteMode(!state.noteMode);
}

/** The `j` / `k` shortcuts: the next or previous conversation of the list. */
export function stepConversation(delta) {
  const items = Array.from(el['conversation-list'].querySelectorAll('.conversation-item'));
  if (!items.length) return;
  const at = items.findIndex((item) => item.dataset.id === String(state.openId));
  const next = items[Math.min(items.length - 1, Math.max(0, at < 0 ? 0 : at + delta))];
  openConversation(next.dataset.id);
}

/** Binds the static DOM once per page load. `isActive()` tells whether the chat tab is shown. */
export function initChat({ isActive, meChanged }) {
  bindElements(isActive);
  initList({
    open: openConversation,
    openRowChanged: () => {
      renderThreadHeader();
      renderThreadActions();
      updateComposer();
      contactRowChanged();
    },
  });
  initThread({
    reset: () => {
      resetComposer();
      renderThreadActions();
      closePhotoViewer();
      contactOpened();
    },
    changed: updateComposer,
  });
  initTeam({ open: openConversation, closeThread: closeConversation, changed: renderThreadActions, meChanged });
  initIdentity({ filtersChanged, numbersChanged: renderList });
  initContact({ open: openConversation, closeThread: closeConversation, reloadThread: () => reloadThread().catch(() => {}) });
  initComposer();
  initScrollButton(el.thread, el['thread-messages']);
  initPhotoViewer(el['thread-messages']);
  initRetry({
    rerender: () => renderThread(),
    touch: (msg) => touchListRow(msg, { created: false }),
    showError: (text) => ((state.sendError = text), updateComposer()),
  });
  initMessageActions({
    changed: () => renderThread(),
    onError: (text) => {
      state.sendError = text;
      updateComposer();
    },
  });

  // Times in the list ("2 min") and the 24-hour window age while the page stays open.
  setInterval(() => {
    if (!state.me) return;
    renderList();
    updateComposer();
    renderThread(); // a failed reply offers a template instead once the window has closed
  }, 30000);

  document.addEventListener('visibilitychange', () => onChatShown());
}

/** Starts the tab for a signed-in user. */
export function startChat(me) {
  resetState(me);
  el['conversation-search'].value = '';
  startTeam(me).catch(() => {}); // sets the view before the list loads
  loadNumbers().then(() => renderList());
  renderList();
  showThread(false);
  reloadList({ replace: true }).catch(() => {});
}

/** Forgets everything (logout). */
export function resetChat() {
  resetState();
  closePhotoViewer();
  resetTemplates();
  resetQuickReplies();
  el['conversation-list'].replaceChildren();
  el['thread-messages'].replaceChildren();
  el['conversation-list-status'].textContent = '';
  if (el['new-conversation-dialog'].open) el['new-conversation-dialog'].close();
  showThread(false);
  document.title = 'WhatsApp Inbox';
  resetIdentity();
}

/** The chat tab (or the browser tab) became visible: catch up on read state. */
export function onChatShown() {
  const row = state.openId != null ? state.conversations.get(String(state.openId)) : null;
  if (row && row.unreadCount > 0 && threadVisible()) markRead(state.openId);
}

/** Applies one event from the websocket or /api/events. Safe to apply twice. */
export function applyEvent(event) {
  if (!state.me) return;
  if (applyTeamEvent(event) || applyQuickReplyEvent(event)) return;
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
      // Notes and history lines never become the list's preview.
      if (msg.direction !== 'internal') touchListRow(msg, { created: event.type === 'message.created' });
      break;
    }
    case 'conversation.updated':
      if (data.id == null) return;
      // While searching, a row that is not in the results may not match: don't add it.
      upsertConversation(ownUnread(data), { insert: !state.search });
      renderList();
      refreshCounts();
      break;
    case 'conversation.read':
      setUnread(data.conversationId ?? event.conversationId, data.unreadCount ?? 0);
      break;
    case 'conversation.merged':
      applyContactEvent(event);
      break;
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
