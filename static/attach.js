// The composer's attach button (#composer-attach) and the upload itself. Picking a file never
// sends it: hooks.pick(file) opens the preview (static/chat-attach.js), where the agent writes
// the caption and sends or cancels; sendFile() then posts it as multipart/form-data to
// /api/conversations/send.

import { api, uuid } from './api.js';
import { cancelReply, replyingTo } from './chat-quote.js';

const el = {};
let hooks = { pick: () => {} };
let busy = false;
let windowClosed = false;

export function initAttach(options) {
  hooks = { ...hooks, ...options };
  el.button = document.getElementById('composer-attach');
  el.file = document.getElementById('composer-file');
  if (!el.button || !el.file) return;
  el.button.addEventListener('click', () => !el.button.disabled && el.file.click());
  el.file.addEventListener('change', () => {
    const file = el.file.files && el.file.files[0];
    el.file.value = ''; // the same file may be picked again
    if (file) hooks.pick(file);
  });
}

/** Files follow the 24-hour window rule like text: no attaching while it is closed. */
export function updateAttach(windowState) {
  windowClosed = windowState === 'closed';
  render();
}

/** Whether a file may be attached now (the window is open). */
export function attachAllowed() {
  return !windowClosed;
}

function render() {
  if (!el.button) return;
  el.button.disabled = windowClosed || busy;
  el.button.setAttribute('aria-busy', busy ? 'true' : 'false');
}

/** WhatsApp shows no caption on audio and stickers (WebP). */
export function takesCaption(file) {
  const type = (file.type || '').toLowerCase();
  return !type.startsWith('audio/') && type !== 'image/webp';
}

/** Uploads and sends one file with its caption; resolves with the stored message. */
export async function sendFile(conversationId, file, caption) {
  const form = new FormData();
  form.append('conversationId', String(conversationId));
  form.append('clientId', uuid());
  if (caption && takesCaption(file)) form.append('caption', caption);
  form.append('file', file, file.name || 'pasted-image.png');
  // The reply being quoted (chat-quote.js) goes with a file too, as on WhatsApp.
  const quoted = replyingTo();
  if (quoted && String(quoted.conversationId) === String(conversationId)) form.append('replyTo', String(quoted.id));
  busy = true;
  render();
  try {
    const msg = await api('/api/conversations/send', { method: 'POST', body: form });
    if (quoted) cancelReply();
    return msg;
  } finally {
    busy = false;
    render();
  }
}
