// Reacting to a message, as in WhatsApp: a row of emoji opens from the message's React button
// (chat-message-actions.js). Picking one sends it; picking the one already set, or clicking
// our reaction under the bubble, removes it. The business has one reaction per message,
// whoever in the team sets it; the result arrives for everyone as a message.updated event.

import { api } from './api.js';
import { h } from './dom.js';
import { state, upsertMessage } from './chat-state.js';

export const REACTION_CHOICES = ['👍', '❤️', '😂', '😮', '😢', '🙏'];

let hooks = { changed: () => {}, onError: () => {} };
let picker = null;
let pickerFor = null; // the message id the open picker reacts to

/** hooks.changed(): redraw the thread; hooks.onError(text): tell the agent. */
export function initReactions(options) {
  hooks = { ...hooks, ...options };
  document.addEventListener('mousedown', (e) => {
    if (picker && !picker.hidden && !picker.contains(e.target) && !e.target.closest('.message-action-react')) closePicker();
  });
  document.addEventListener('keydown', (e) => e.key === 'Escape' && picker && !picker.hidden && closePicker());
}

/** Our own reaction on a message ('' when none). */
export function ownReaction(msg) {
  const mine = (msg.reactions || []).find((r) => r.direction === 'outbound');
  return mine ? mine.emoji : '';
}

export function openPicker(msg, anchor) {
  if (!picker) {
    picker = h('div', { id: 'reaction-picker', class: 'reaction-picker', role: 'menu', 'aria-label': 'React', hidden: true });
    document.getElementById('thread-view').append(picker);
  }
  pickerFor = msg.id;
  const current = ownReaction(msg);
  picker.replaceChildren(
    ...REACTION_CHOICES.map((emoji) =>
      h('button', {
        type: 'button',
        role: 'menuitem',
        class: `reaction-choice${emoji === current ? ' chosen' : ''}`,
        'aria-label': emoji === current ? `Remove ${emoji}` : `React ${emoji}`,
        title: emoji === current ? 'Remove your reaction' : null,
        dataset: { emoji },
        text: emoji,
        onclick: () => {
          closePicker();
          react(msg, emoji === current ? '' : emoji);
        },
      }),
    ),
  );
  picker.hidden = false;
  // Above the button, inside the thread view (positioned through CSSOM: no inline styles).
  const box = picker.parentElement.getBoundingClientRect();
  const at = anchor.getBoundingClientRect();
  const left = Math.max(8, Math.min(at.left - box.left - 100, box.width - picker.offsetWidth - 8));
  picker.style.left = `${left}px`;
  picker.style.top = `${Math.max(8, at.top - box.top - picker.offsetHeight - 6)}px`;
  picker.firstChild.focus();
}

export function closePicker() {
  if (picker) picker.hidden = true;
  pickerFor = null;
}

export function pickerOpenFor() {
  return picker && !picker.hidden ? pickerFor : null;
}

/** Sends (or with '' removes) our reaction; the bubble follows the answer. */
export async function react(msg, emoji) {
  const owner = state;
  try {
    const updated = await api(
      `/api/conversations/${encodeURIComponent(msg.conversationId)}/messages/${encodeURIComponent(msg.id)}/reaction`,
      { method: 'POST', body: { emoji } },
    );
    if (owner !== state || !updated || String(updated.conversationId) !== String(state.openId)) return;
    upsertMessage(updated);
    hooks.changed();
  } catch (err) {
    if (owner !== state || err.status === 401) return;
    hooks.onError(`The reaction was not sent: ${err.message}`);
  }
}
