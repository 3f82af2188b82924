// The "WhatsApp Chat" tab: wires its conversation list (chat-list.js), open thread
// (chat-thread.js) and composer (chat-composer.js) over their shared state (chat-state.js),
// and applies live events to all of them.

import { bindElements, el, inLoadedRange, resetState, state, threadVisible, upsertMessage } from './chat-state.js';
import { initList, markRead, reloadList, renderList, scheduleMarkRead, setUnread, touchListRow, upsertConversation } from './chat-list.js';
import { initThread, noteInbound, openConversation, pollThread, reloadThread, renderThread, renderThreadHeader, showThread } from './chat-thread.js';
import { initComposer, resetComposer, updateComposer } from './chat-composer.js';
import { resetTemplates } from './templates.js';

export { openConversation };

/** Binds the static DOM once per page load. `isActive()` tells whether the chat tab is shown. */
export function initChat({ isActive }) {
  bindElements(isActive);
  initList({
    open: openConversation,
    openRowChanged: () => {
      renderThreadHeader();
      updateComposer();
    },
  });
  initThread({ reset: resetComposer, changed: updateComposer });
  initComposer();

  // Times in the list ("2 min") and the 24-hour window age while the page stays open.
  setInterval(() => {
    if (!state.me) return;
    renderList();
    updateComposer();
  }, 30000);

  document.addEventListener('visibilitychange', () => onChatShown());
}

/** Starts the tab for a signed-in user. */
export function startChat(me) {
  resetState(me);
  el['conversation-search'].value = '';
  renderList();
  showThread(false);
  reloadList({ replace: true }).catch(() => {});
}

/** Forgets everything (logout). */
export function resetChat() {
  resetState();
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
    case 'conversation.read':
      setUnread(data.conversationId ?? event.conversationId, data.unreadCount ?? 0);
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
