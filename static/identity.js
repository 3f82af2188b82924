// Who a conversation is with, as the list and the thread header show it (issue 16): the name
// the business gave (contactName) beside the customer's own WhatsApp profile name when the
// two differ, and which of the business's WhatsApp numbers the conversation is on once there
// is more than one, with a filter by number. The numbers come from GET /api/numbers.

import { api } from './api.js';
import { debounce, h } from './dom.js';
import { el, state } from './chat-state.js';

// Styles of their own (static/identity.css, for this and the other identity modules), so
// style.css stays as it is; added once, when the dashboard loads.
document.head.append(h('link', { rel: 'stylesheet', href: '/static/identity.css' }));

let numbers = []; // [{ id, displayName, ... }] of GET /api/numbers
let hooks = { filtersChanged: () => {}, numbersChanged: () => {} };
let loaded = false; // the first GET /api/numbers has answered
const ui = {}; // the new-conversation dialog's "From" menu
const asked = new Set(); // numbers seen on a conversation but not listed: asked for once each

// A conversation on a number added since the page loaded (by another admin): list them again.
const refreshNumbers = debounce(() => loadNumbers().then(() => hooks.numbersChanged()), 300);

export function initIdentity(options) {
  hooks = { ...hooks, ...options };
  const select = h('select', { id: 'number-filter', class: 'number-filter', 'aria-label': 'Filter by business number', hidden: true });
  document.querySelector('#chat-panel .list-filters').append(select);
  el['number-filter'] = select;
  select.addEventListener('change', () => {
    state.number = el['number-filter'].value;
    hooks.filtersChanged();
  });
  // The new-conversation dialog asks which number to write from, when there are several.
  ui.fromLabel = h('label', { for: 'new-conversation-number', text: 'From', hidden: true });
  ui.from = h('select', { id: 'new-conversation-number', 'aria-label': 'From business number', hidden: true });
  document.querySelector('label[for="new-conversation-phone"]').before(ui.fromLabel, ui.from);
  // The dialog resets its form when it opens: the default option is the one it comes back to.
  el['new-conversation'].addEventListener('click', () => {
    const wanted = state.number || (numbers.find((n) => n.default) || numbers[0] || {}).id || '';
    for (const option of ui.from.options) option.defaultSelected = option.value === String(wanted);
  });
}

/** The new conversation's `businessNumberId` (none with a single number: the server's default). */
export function fromNumber() {
  return severalNumbers() && ui.from && ui.from.value ? { businessNumberId: ui.from.value } : {};
}

/** Loads the business numbers for a signed-in user (again after an admin added one). */
export async function loadNumbers() {
  try {
    numbers = (await api('/api/numbers')) || [];
    loaded = true;
    state.convNodes.clear(); // list rows are drawn again with the numbers' names
  } catch {
    numbers = [];
  }
  renderNumberFilter();
  return numbers;
}

export function resetIdentity() {
  numbers = [];
  loaded = false;
  asked.clear();
  renderNumberFilter();
}

export function businessNumbers() {
  return numbers;
}

/** Whether to say which number a conversation is on: only when there are several. */
export function severalNumbers() {
  return numbers.length > 1;
}

/** The display name of a business number ("Café"), or its id if unknown here. */
export function numberName(id) {
  if (id == null) return '';
  const n = numbers.find((x) => String(x.id) === String(id));
  return n ? n.displayName : String(id);
}

/** The WhatsApp profile name when it is not the name shown (an agent or invitation gave one). */
export function otherName(conv) {
  if (!conv || !conv.profileName) return '';
  return conv.profileName !== conv.contactName ? conv.profileName : '';
}

/** The list row's extras beside the name: "~profile name". */
export function profileTag(conv) {
  const other = otherName(conv);
  return other ? h('span', { class: 'conv-profile', title: 'WhatsApp profile name', text: `~${other}` }) : null;
}

/** The list row's business number tag, when there are several numbers. */
export function numberTag(conv) {
  if (!conv || !conv.businessNumberId) return null;
  const id = String(conv.businessNumberId);
  if (!numbers.some((n) => String(n.id) === id) && !asked.has(id) && loaded && state.me) {
    asked.add(id);
    refreshNumbers();
  }
  if (!severalNumbers()) return null;
  return h('span', { class: 'number-tag', title: 'Business number', dataset: { number: conv.businessNumberId }, text: numberName(conv.businessNumberId) });
}

/** What the thread header's subtitle adds: the profile name and the business number. */
export function headerExtras(conv) {
  const extras = [];
  const other = otherName(conv);
  if (other) extras.push(`~${other}`);
  if (severalNumbers() && conv && conv.businessNumberId) extras.push(`on ${numberName(conv.businessNumberId)}`);
  return extras;
}

function renderNumberFilter() {
  const select = el['number-filter'];
  if (!select) return;
  if (state.number && !numbers.some((n) => String(n.id) === state.number)) state.number = '';
  select.replaceChildren(
    h('option', { value: '', text: 'All numbers' }),
    ...numbers.map((n) => h('option', { value: String(n.id), text: n.displayName })),
  );
  select.value = state.number || '';
  select.hidden = numbers.length < 2;
  if (ui.from) {
    const chosen = ui.from.value;
    ui.from.replaceChildren(...numbers.map((n) => h('option', { value: String(n.id), text: n.displayName })));
    if (chosen) ui.from.value = chosen;
    ui.from.hidden = ui.fromLabel.hidden = numbers.length < 2;
  }
}
