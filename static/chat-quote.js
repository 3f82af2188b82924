// Quote-reply in the composer: "Reply" on a message (hover, or swipe it right on a phone, see
// chat-message-actions.js) puts a quote bar above the text box: who wrote it and what. The next
// reply is sent with `replyTo`, and WhatsApp shows the quote above it on the customer's phone.
// × or Escape cancels; opening another conversation drops it.

import { h } from './dom.js';
import { state } from './chat-state.js';
import { conversationTitle, previewText } from './messages.js';

const ui = {};
let quoting = null; // the message being replied to

/** Binds to the composer once per page load. */
export function initQuote(input) {
  ui.input = input;
  const composer = input.closest('.composer');
  ui.author = h('div', { class: 'quote-bar-author' });
  ui.text = h('div', { class: 'quote-bar-text' });
  ui.bar = h(
    'div',
    { id: 'composer-quote', class: 'quote-bar', hidden: true },
    h('div', { class: 'quote-bar-body' }, ui.author, ui.text),
    h('button', { type: 'button', id: 'composer-quote-cancel', class: 'quote-bar-cancel', 'aria-label': 'Cancel the reply', title: 'Cancel the reply', text: '×', onclick: () => cancelReply() }),
  );
  composer.insertBefore(ui.bar, composer.querySelector('.composer-row'));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && quoting && !e.defaultPrevented) {
      e.preventDefault();
      e.stopPropagation(); // Escape cancels the quote instead of leaving the box
      cancelReply();
    }
  });
}

/** Who wrote a message, as the quote shows it. */
export function authorOf(msg) {
  if (!msg) return '';
  if (msg.direction === 'outbound') return msg.authorName || 'You';
  return conversationTitle(state.openConv) || 'Customer';
}

export function startReply(msg) {
  if (!msg || !msg.wamid || msg.id == null) return;
  quoting = msg;
  ui.author.textContent = authorOf(msg);
  ui.text.textContent = previewText(msg) || 'Message';
  ui.bar.hidden = false;
  ui.bar.dataset.replyTo = String(msg.id);
  if (!ui.input.disabled) ui.input.focus();
}

export function cancelReply() {
  quoting = null;
  if (!ui.bar) return;
  ui.bar.hidden = true;
  delete ui.bar.dataset.replyTo;
}

/** The message the reply being written quotes (null: none), for the send and its bubble. */
export function replyingTo() {
  if (!quoting || String(quoting.conversationId) !== String(state.openId)) return null;
  return quoting;
}

/** The `replyTo` a bubble shows before the server answers. */
export function quoteView(msg) {
  return msg ? { id: msg.id, wamid: msg.wamid, type: msg.type, content: msg.content, direction: msg.direction } : null;
}
