// The thread's "scroll to the newest" button (#scroll-bottom): shown while the agent has
// scrolled up, with the number of messages that arrived since (they are not scrolled into view
// then, so nobody loses their place). A click goes to the newest message.

import { NEAR_EDGE_PX } from './chat-state.js';
import { h } from './dom.js';

let thread = null;
let button = null;
let badge = null;
let unseen = 0;
let newest = 0; // the highest message id drawn in the thread so far
let shownConversation;

export function initScrollButton(threadEl, messagesEl) {
  thread = threadEl;
  badge = h('span', { class: 'scroll-count', hidden: true });
  button = h(
    'button',
    { type: 'button', id: 'scroll-bottom', class: 'scroll-bottom', hidden: true, title: 'Newest messages', 'aria-label': 'Scroll to the newest messages' },
    h('span', { class: 'scroll-arrow', 'aria-hidden': 'true', text: '⌄' }),
    badge,
  );
  button.addEventListener('click', () => {
    thread.scrollTop = thread.scrollHeight;
    update();
  });
  thread.after(button); // positioned over the thread's bottom right corner (style.css)
  thread.addEventListener('scroll', update);
  new MutationObserver(counted).observe(messagesEl, { childList: true });
}

function atBottom() {
  return thread.scrollHeight - thread.scrollTop - thread.clientHeight < NEAR_EDGE_PX;
}

/** Messages added below the newest one while the agent reads further up are counted. */
function counted(records) {
  if (thread.dataset.conversationId !== shownConversation) {
    shownConversation = thread.dataset.conversationId; // another conversation: start over
    newest = 0;
    unseen = 0;
  }
  const base = newest; // 0: the first page of a conversation, nothing in it is "new"
  let added = 0;
  for (const record of records) {
    for (const node of record.addedNodes) {
      if (!(node instanceof HTMLElement) || !node.classList.contains('message')) continue;
      const id = Number(node.dataset.id);
      if (!Number.isFinite(id) || id <= newest) continue;
      if (base && !node.classList.contains('activity')) added++;
      newest = id;
    }
  }
  if (added && !atBottom()) unseen += added;
  update();
}

function update() {
  if (!thread || !button) return;
  if (atBottom()) unseen = 0;
  button.hidden = atBottom();
  if (!button.hidden) {
    // Over the thread's bottom corner, whatever the composer's height (a template, a preview).
    const below = button.offsetParent ? button.offsetParent.clientHeight - (thread.offsetTop + thread.clientHeight) : 0;
    button.style.bottom = `${below + 16}px`;
  }
  badge.hidden = unseen === 0;
  badge.textContent = unseen > 99 ? '99+' : String(unseen);
  button.setAttribute('aria-label', unseen ? `${unseen} new message${unseen === 1 ? '' : 's'}: scroll to the newest` : 'Scroll to the newest messages');
}
