// The composer's emoji picker (#emoji-button, #emoji-panel): a small built-in set (no CDN, no
// fonts to fetch), inserted where the caret is in the text box. Esc or a click elsewhere closes it.

import { h } from './dom.js';

export const EMOJI = [
  '😀', '😃', '😄', '😁', '😊', '🙂', '😉', '😍', '🥰', '😘', '😋', '😎',
  '🤔', '😅', '😂', '🤣', '😢', '😭', '😮', '😴', '🙄', '😬', '😇', '🤗',
  '👍', '👎', '👌', '🙏', '👏', '🙌', '💪', '👋', '✌️', '🤝', '👀', '✅',
  '❤️', '🧡', '💛', '💚', '💙', '💜', '🔥', '⭐', '🎉', '🎂', '🎁', '☕',
  '🍞', '🥐', '🍰', '🧁', '🍫', '🚚', '📦', '🕒', '📍', '📞', '💬', '❗',
];

let input = null;
let panel = null;
let button = null;

export function initEmoji(inputEl) {
  input = inputEl;
  button = document.getElementById('emoji-button'); // in index.html, beside the text box
  panel = h(
    'div',
    { id: 'emoji-panel', class: 'emoji-panel', role: 'dialog', 'aria-label': 'Emoji', hidden: true },
    EMOJI.map((emoji) => h('button', { type: 'button', class: 'emoji', title: emoji, 'aria-label': emoji, text: emoji, onclick: () => insert(emoji) })),
  );
  input.closest('.composer').append(panel);
  button.addEventListener('click', () => setOpen(panel.hidden));
  panel.addEventListener('keydown', (e) => e.key === 'Escape' && (e.preventDefault(), e.stopPropagation(), setOpen(false), input.focus()));
  input.addEventListener('keydown', (e) => e.key === 'Escape' && !panel.hidden && (e.stopPropagation(), setOpen(false)));
  document.addEventListener('click', (e) => {
    if (!panel.hidden && !panel.contains(e.target) && !button.contains(e.target)) setOpen(false);
  });
}

/** The button follows the text box: no emoji while it is disabled (closed window). */
export function updateEmoji() {
  if (!button || !input) return;
  button.disabled = input.disabled;
  if (input.disabled) setOpen(false);
}

export function closeEmoji() {
  if (panel) setOpen(false);
}

function setOpen(open) {
  panel.hidden = !open;
  button.setAttribute('aria-expanded', String(open));
}

function insert(emoji) {
  if (input.disabled) return;
  const start = input.selectionStart ?? input.value.length;
  const end = input.selectionEnd ?? start;
  input.value = input.value.slice(0, start) + emoji + input.value.slice(end);
  const caret = start + emoji.length;
  input.focus();
  input.setSelectionRange(caret, caret);
  input.dispatchEvent(new Event('input')); // the composer grows and forgets an old error
}
