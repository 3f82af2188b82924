// What an agent can do with one message of the open thread, as in WhatsApp Web: hovering a
// message shows Reply (quote it, chat-quote.js) and React (chat-reactions.js); on a phone,
// swiping a message to the right replies to it. Clicking our own reaction under a bubble
// removes it. Only messages that went through WhatsApp (they have a wamid) offer these, and
// not while the 24-hour window is closed (nothing could be sent).

import { h } from './dom.js';
import { el, state, windowState } from './chat-state.js';
import { startReply } from './chat-quote.js';
import { closePicker, initReactions, openPicker, pickerOpenFor, react } from './chat-reactions.js';

const SWIPE_PX = 60;

let bar = null;
let barFor = null; // the message id the bar is showing on
let swipe = null; // { id, x, y, node, dx }

/** hooks.changed(): redraw the thread; hooks.onError(text): tell the agent. */
export function initMessageActions(hooks) {
  initReactions(hooks);
  const list = el['thread-messages'];
  bar = h(
    'div',
    { id: 'message-actions', class: 'message-actions', role: 'toolbar', 'aria-label': 'Message actions' },
    h('button', { type: 'button', class: 'message-action-reply', title: 'Reply', 'aria-label': 'Reply', text: '↩', onclick: () => withMessage(startReply) }),
    h('button', {
      type: 'button',
      class: 'message-action-react',
      title: 'React',
      'aria-label': 'React',
      text: '☺',
      onclick: (e) => withMessage((msg) => (pickerOpenFor() === msg.id ? closePicker() : openPicker(msg, e.currentTarget))),
    }),
  );
  list.addEventListener('mouseover', (e) => showFor(e.target.closest('.message')));
  list.addEventListener('mouseleave', () => pickerOpenFor() == null && hide());
  list.addEventListener('click', (e) => {
    const chip = e.target.closest('.reaction[data-direction="outbound"]');
    const msg = chip && messageOf(chip.closest('.message'));
    if (msg && actionable(msg)) react(msg, '');
  });
  list.addEventListener('pointerdown', onPointerDown);
  list.addEventListener('pointermove', onPointerMove);
  list.addEventListener('pointerup', onPointerEnd);
  list.addEventListener('pointercancel', () => endSwipe(false));
}

function messageOf(node) {
  if (!node || !node.dataset.id || node.classList.contains('optimistic')) return null;
  return state.messages.get(`id:${node.dataset.id}`) || null;
}

function actionable(msg) {
  return !!msg && !!msg.wamid && !['note', 'activity', 'reaction'].includes(msg.type) && windowState() !== 'closed';
}

function withMessage(fn) {
  const msg = barFor != null ? state.messages.get(`id:${barFor}`) : null;
  if (msg && actionable(msg)) fn(msg);
}

function showFor(node) {
  const msg = messageOf(node);
  if (!msg || !actionable(msg)) return;
  if (barFor === msg.id && bar.parentElement === node) return;
  if (pickerOpenFor() != null && pickerOpenFor() !== msg.id) closePicker();
  barFor = msg.id;
  node.append(bar); // one bar, moved to the message under the pointer
}

function hide() {
  barFor = null;
  bar.remove();
}

// ---- swipe right to reply (touch and pen) ---------------------------------------------------

function onPointerDown(e) {
  if (e.pointerType === 'mouse') return;
  const node = e.target.closest('.message');
  const msg = messageOf(node);
  if (!msg || !actionable(msg)) return;
  swipe = { id: msg.id, x: e.clientX, y: e.clientY, node, dx: 0 };
}

function onPointerMove(e) {
  if (!swipe) return;
  const dx = e.clientX - swipe.x;
  const dy = Math.abs(e.clientY - swipe.y);
  if (dy > 40) return endSwipe(false); // scrolling the thread, not swiping
  swipe.dx = Math.max(0, dx);
  const bubble = swipe.node.querySelector('.bubble');
  if (bubble) bubble.style.transform = `translateX(${Math.min(swipe.dx, SWIPE_PX + 20)}px)`;
  swipe.node.classList.toggle('swipe-ready', swipe.dx >= SWIPE_PX);
}

function onPointerEnd() {
  endSwipe(!!swipe && swipe.dx >= SWIPE_PX);
}

function endSwipe(reply) {
  if (!swipe) return;
  const { node, id } = swipe;
  swipe = null;
  const bubble = node.querySelector('.bubble');
  if (bubble) bubble.style.transform = '';
  node.classList.remove('swipe-ready');
  const msg = state.messages.get(`id:${id}`);
  if (reply && msg) startReply(msg);
}
