// "typing…" on the customer's phone while the agent writes a reply: the composer calls
// noteTyping() on every keystroke, and the server is asked at most once every 20 seconds per
// conversation (WhatsApp shows the indicator for up to 25 s, or until the reply arrives).
// Never for a private note, an empty box, or a closed 24-hour window (no reply could follow).

import { api } from './api.js';
import { state, windowState } from './chat-state.js';

const EVERY_MS = 20000;
const lastSent = new Map(); // conversation id -> when the indicator was last asked for
let off = false; // the server gives no typing indicator (READ_RECEIPTS=never)

export function noteTyping(text) {
  const conv = state.openConv;
  if (off || !conv || state.noteMode || !String(text || '').trim() || windowState() !== 'open') return;
  const key = String(conv.id);
  const now = Date.now();
  if (now - (lastSent.get(key) || 0) < EVERY_MS) return;
  lastSent.set(key, now);
  api(`/api/conversations/${encodeURIComponent(conv.id)}/typing`, { method: 'POST' }).catch((err) => {
    // A courtesy: a refusal (window just closed, WhatsApp unreachable) changes nothing here.
    if (err.body && err.body.code === 'typing_off') off = true;
  });
}

/** A reply went out: WhatsApp dismissed the indicator, so the next keystroke may show it again. */
export function replySent(conversationId) {
  lastSent.delete(String(conversationId));
}
