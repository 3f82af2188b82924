// The composer of the WhatsApp Chat tab: typing and sending a text reply (shown at once,
// confirmed or given back on failure), the notice about WhatsApp's 24-hour window, the
// template picker and attach button beside it, and the new-conversation dialog.

import { api, uuid } from './api.js';
import { initAttach, updateAttach } from './attach.js';
import { closeAttachPreview, initAttachPreview, openAttachPreview } from './chat-attach.js';
import { closeEmoji, initEmoji, updateEmoji } from './chat-emoji.js';
import { initShare, updateShare } from './chat-share.js';
import { initVoice, updateVoice } from './chat-voice.js';
import { el, state, upsertMessage, windowState } from './chat-state.js';
import { reloadList, touchListRow } from './chat-list.js';
import { openConversation, renderThread } from './chat-thread.js';
import { fromNumber } from './identity.js';
import { initTemplates, newConversationTemplate, openNewConversationTemplates, sendTemplate, updateTemplateComposer } from './chat-templates.js';
import { initQuickReplies } from './chat-quick-replies.js';
import { noteTyping, replySent } from './chat-typing.js';
import { cancelReply, initQuote, quoteView, replyingTo, startReply } from './chat-quote.js';
import { initWindow, updateWindowCountdown } from './chat-window.js';

export function initComposer() {
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
    noteTyping(input.value);
    if (state.sendError) {
      state.sendError = null;
      updateComposer();
    }
  });
  el['composer-send'].addEventListener('click', () => send());
  el['composer-note'].addEventListener('click', () => setNoteMode(!state.noteMode));

  el['new-conversation'].addEventListener('click', openNewConversationDialog);
  el['new-conversation-cancel'].addEventListener('click', () => el['new-conversation-dialog'].close());
  el['new-conversation-form'].addEventListener('submit', (e) => {
    e.preventDefault();
    submitNewConversation();
  });

  // The template picker (closed window) and the attach button post sends of their own.
  const composerHooks = { conversation: () => state.openConv, onSent: acceptSent };
  initTemplates(composerHooks);
  initEmoji(el['composer-input']);
  // A picked, dropped or pasted file opens the preview first (chat-attach.js).
  initAttach({ pick: openAttachPreview });
  initAttachPreview({ ...composerHooks, input: el['composer-input'], dropZone: el['thread-view'], onError: showSendError });
  initShare(composerHooks);
  initVoice({ ...composerHooks, onError: showSendError });
  initQuickReplies(input);
  initQuote(input);
  initWindow(input, { changed: () => updateComposer() });
}

/** Note mode: what is typed becomes a private note for the team, never sent to the customer. */
export function setNoteMode(on) {
  state.noteMode = !!on;
  state.sendError = null;
  updateComposer();
  el['composer-input'].focus();
}

/** Empties the composer for a conversation just opened. */
export function resetComposer() {
  state.noteMode = false;
  closeAttachPreview({ keepFocus: true });
  closeEmoji();
  cancelReply();
  el['composer-input'].value = '';
  autoGrow(el['composer-input']);
  updateComposer();
}

/** Follows the open conversation's 24-hour window and the last send error. */
export function updateComposer() {
  if (!state.openConv) return;
  const ws = windowState();
  updateWindowCountdown();
  if (ws === 'closed') cancelReply(); // nothing can be sent: no quote either
  updateTemplateComposer(ws);
  updateAttach(ws);
  updateShare(ws);
  updateVoice(ws);
  const note = state.noteMode;
  const closed = ws === 'closed' && !note; // a note needs no open window
  el['composer-input'].disabled = closed;
  el['composer-send'].disabled = closed;
  updateEmoji();
  el['composer-input'].placeholder = note
    ? 'Private note: only your team sees it (@name to mention)'
    : closed
      ? 'Reply window closed'
      : 'Type a message';
  el['composer-input'].setAttribute('aria-label', note ? 'Private note' : 'Message');
  el['composer-note'].setAttribute('aria-pressed', String(note));
  el['composer-note'].classList.toggle('active', note);
  el['thread-view'].dataset.composer = note ? 'note' : 'reply';

  let text = '';
  let kind = '';
  if (state.sendError) {
    text = state.sendError;
    kind = 'error';
  } else if (note) {
    text = 'Note mode: this stays inside the team and is never sent to the customer.';
    kind = 'note';
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
  if (state.noteMode) {
    await sendNote(conv.id, content);
    return;
  }

  const clientId = uuid();
  const convId = conv.id;
  const owner = state;
  const quoted = replyingTo();
  state.messages.set(`tmp:${clientId}`, {
    id: null,
    clientId,
    conversationId: convId,
    direction: 'outbound',
    type: 'text',
    content,
    media: null,
    data: null,
    replyTo: quoteView(quoted),
    reactions: [],
    status: 'pending',
    error: null,
    createdAt: new Date().toISOString(),
  });
  input.value = '';
  autoGrow(input);
  cancelReply();
  state.sendError = null;
  updateComposer();
  renderThread({ scroll: 'bottom' });

  try {
    const msg = await api('/api/conversations/send', { method: 'POST', body: { conversationId: convId, content, clientId, ...(quoted ? { replyTo: quoted.id } : {}) } });
    replySent(convId);
    if (owner !== state) return;
    if (String(state.openId) === String(convId)) {
      state.messages.delete(`tmp:${clientId}`);
      upsertMessage(msg, { snapshot: true }); // its failure may have arrived first, by event
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
      if (quoted) startReply(quoted);
    }
    state.sendError = err.message;
    renderThread();
    updateComposer();
  }
}

async function sendNote(convId, content) {
  const input = el['composer-input'];
  const owner = state;
  input.value = '';
  autoGrow(input);
  try {
    const note = await api(`/api/conversations/${encodeURIComponent(convId)}/notes`, { method: 'POST', body: { content } });
    if (owner !== state || String(state.openId) !== String(convId)) return;
    upsertMessage(note);
    state.sendError = null;
    renderThread({ scroll: 'bottom' });
    updateComposer();
  } catch (err) {
    if (owner !== state || err.status === 401 || String(state.openId) !== String(convId)) return;
    if (!input.value) {
      input.value = content;
      autoGrow(input);
    }
    state.sendError = err.message; // e.g. "Ben cannot see this conversation"
    updateComposer();
  }
}

/** A message sent from the template picker or the attach button: into the thread and list. */
function acceptSent(msg) {
  if (!msg || msg.id == null) return;
  if (String(state.openId) === String(msg.conversationId)) {
    upsertMessage(msg, { snapshot: true });
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

// ---- new conversation --------------------------------------------------------------------

function openNewConversationDialog() {
  el['new-conversation-form'].reset();
  el['new-conversation-error'].hidden = true;
  el['new-conversation-error'].textContent = '';
  el['new-conversation-submit'].disabled = false;
  el['new-conversation-dialog'].showModal();
  el['new-conversation-phone'].focus();
  openNewConversationTemplates();
}

async function submitNewConversation() {
  const phoneNumber = el['new-conversation-phone'].value.trim();
  const content = el['new-conversation-content'].value.trim();
  const errorEl = el['new-conversation-error'];
  const template = newConversationTemplate(); // null: none chosen, the text goes
  const problem = !phoneNumber || (!content && !template) ? 'Enter a phone number and choose a template (or type a message).' : template && template.error;
  if (problem) {
    errorEl.textContent = problem;
    errorEl.hidden = false;
    return;
  }
  const owner = state;
  el['new-conversation-submit'].disabled = true;
  try {
    const msg = template
      ? await sendTemplate({ phoneNumber, ...fromNumber() }, template)
      : await api('/api/conversations/send', { method: 'POST', body: { phoneNumber, content, clientId: uuid(), ...fromNumber() } });
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
