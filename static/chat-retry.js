// Failed replies in the open thread: Retry sends the same message again (POST
// /api/conversations/{id}/messages/{messageId}/retry: same id, back to pending, then the usual
// ticks by events); once the 24-hour window is closed, the template picker is offered instead.
// messages.js draws the buttons from failureContext(); chat.js wires the hooks.

import { api } from './api.js';
import { state, upsertMessage, windowState } from './chat-state.js';

let hooks = { rerender: () => {}, touch: () => {}, showError: () => {} };

export function initRetry(options) {
  hooks = { ...hooks, ...options };
}

/** What a failed bubble needs to offer its actions (part of the thread's render context). */
export function failureContext() {
  return { windowClosed: windowState() === 'closed', onRetry: retry, onTemplate: openTemplatePicker };
}

async function retry(msg) {
  const owner = state;
  const shown = state.messages.get(`id:${msg.id}`);
  const failure = JSON.stringify(shown ? [shown.error, shown.wamid] : [msg.error, msg.wamid]); // the one retried
  const path = `/api/conversations/${encodeURIComponent(msg.conversationId)}/messages/${encodeURIComponent(msg.id)}/retry`;
  try {
    const updated = await api(path, { method: 'POST' });
    if (owner !== state) return;
    const now = state.messages.get(`id:${msg.id}`);
    // The retry may already have failed again (its event first): keep that newer failure.
    const newer = now && now.status === 'failed' && JSON.stringify([now.error, now.wamid]) !== failure;
    if (String(state.openId) === String(updated.conversationId) && !newer) {
      upsertMessage(updated);
      hooks.rerender();
    }
    hooks.touch(updated);
  } catch (err) {
    if (owner !== state || err.status === 401) return;
    hooks.showError(err.message);
    if (err.body && err.body.code === 'window_closed') openTemplatePicker();
  }
}

/** The composer's template picker (static/chat-templates.js), shown while the window is closed. */
function openTemplatePicker() {
  const picker = document.getElementById('template-picker');
  if (!picker || picker.closest('[hidden]')) return;
  picker.scrollIntoView({ block: 'nearest' });
  picker.focus();
  try {
    picker.showPicker(); // opens the list where the browser allows it (needs the click)
  } catch {
    /* focused is enough */
  }
}
