// The open conversation's contact panel (issue 16): the name the business gives the customer
// (editable: PATCH /api/conversations/{id}, live in every dashboard), their number and
// WhatsApp profile name, who invited them and when, first contact, how many conversations,
// labels; and for admins, merging another conversation of the same person into this one
// (POST …/merge, after a confirmation that says what happens). It reads GET …/contact.

import { api } from './api.js';
import { debounce, fullDateTime, h } from './dom.js';
import { conversationTitle } from './messages.js';
import { el, state } from './chat-state.js';
import { labelChip, removeConversation, renderList, upsertConversation } from './chat-list.js';
import { numberName, severalNumbers } from './identity.js';
import { toast } from './team.js';

// Set by chat.js: open another conversation, close the thread, reload the open thread.
let hooks = { open: () => {}, closeThread: () => {}, reloadThread: () => {} };
const ui = {}; // the panel's and the merge dialog's elements, made once
let contact = null; // the last GET …/contact answer for the open conversation
let loadSeq = 0;
let mergeTarget = null; // the conversation chosen in the merge dialog

export function initContact(options) {
  hooks = { ...hooks, ...options };
  buildPanel();
  buildMergeDialog();
}

// ---- the panel -----------------------------------------------------------------------------

function buildPanel() {
  ui.button = h('button', {
    type: 'button',
    id: 'contact-button',
    class: 'contact-button',
    title: 'Contact info',
    'aria-label': 'Contact info',
    'aria-expanded': 'false',
    'aria-controls': 'contact-panel',
    text: 'Contact',
    onclick: () => setPanelOpen(ui.panel.hidden),
  });
  const header = document.querySelector('#thread-view .thread-header');
  header.insertBefore(ui.button, el['thread-actions']);
  // The title opens the panel too, as in WhatsApp.
  document.querySelector('#thread-view .thread-heading').addEventListener('click', () => setPanelOpen(true));

  ui.input = h('input', { id: 'contact-name-input', type: 'text', maxlength: '200', autocomplete: 'off', 'aria-label': 'Contact name' });
  ui.nameMessage = h('p', { id: 'contact-name-message', class: 'hint', role: 'status', hidden: true });
  ui.clear = h('button', { type: 'button', id: 'contact-name-clear', text: 'Use WhatsApp name', onclick: () => saveName(null) });
  ui.form = h(
    'form',
    { id: 'contact-name-form', class: 'contact-name-form', novalidate: true, onsubmit: (e) => (e.preventDefault(), saveName(ui.input.value)) },
    h('label', { for: 'contact-name-input', text: 'Name' }),
    ui.input,
    h('div', { class: 'contact-name-actions' }, h('button', { type: 'submit', id: 'contact-name-save', class: 'primary', text: 'Save name' }), ui.clear),
    ui.nameMessage,
  );
  ui.facts = h('dl', { id: 'contact-facts', class: 'contact-facts' });
  ui.merge = h('button', { type: 'button', id: 'merge-button', class: 'merge-button', text: 'Merge another conversation into this one…', onclick: openMergeDialog });
  ui.status = h('p', { class: 'hint contact-status', role: 'status' });
  ui.panel = h(
    'aside',
    { id: 'contact-panel', class: 'contact-panel', 'aria-label': 'Contact', hidden: true },
    h(
      'div',
      { class: 'contact-panel-header' },
      h('h3', { text: 'Contact' }),
      h('button', { type: 'button', class: 'contact-close', 'aria-label': 'Close contact info', text: '×', onclick: () => setPanelOpen(false) }),
    ),
    ui.form,
    ui.facts,
    ui.status,
    ui.merge,
  );
  el['thread-view'].append(ui.panel);
}

function setPanelOpen(open) {
  // Below the header, so its assignee menu and Resolve stay in reach (CSSOM: no inline style).
  const header = document.querySelector('#thread-view .thread-header');
  ui.panel.style.setProperty('top', `${header.offsetHeight}px`);
  ui.panel.hidden = !open;
  ui.button.setAttribute('aria-expanded', String(open));
  if (open) loadContact();
}

/** A conversation was opened: the panel (if shown) follows it. */
export function contactOpened() {
  contact = null;
  ui.input.value = '';
  setNameMessage('');
  if (ui.merge) ui.merge.hidden = !(state.me && state.me.isAdmin);
  renderFacts();
  if (!ui.panel.hidden) loadContact();
}

/** The open conversation's row changed (renamed here or elsewhere, labels, owner). */
export const contactRowChanged = debounce(() => {
  if (!ui.panel.hidden && state.openConv) loadContact();
}, 150);

async function loadContact() {
  const conv = state.openConv;
  if (!conv) return;
  const seq = ++loadSeq;
  const owner = state;
  try {
    const answer = await api(`/api/conversations/${encodeURIComponent(conv.id)}/contact`);
    if (seq !== loadSeq || owner !== state || !state.openConv || String(state.openConv.id) !== String(conv.id)) return;
    contact = answer;
    ui.status.textContent = '';
  } catch (err) {
    if (seq !== loadSeq) return;
    ui.status.textContent = `Could not load the contact: ${err.message}`;
  }
  renderFacts();
}

function renderFacts() {
  const c = contact;
  ui.merge.hidden = !(state.me && state.me.isAdmin);
  if (!c) {
    ui.facts.replaceChildren();
    return;
  }
  // Someone typing a new name keeps what they typed; otherwise the field shows the name.
  if (document.activeElement !== ui.input) ui.input.value = c.givenName || '';
  ui.input.placeholder = c.profileName || 'No name';
  ui.clear.hidden = !c.givenName;
  const inv = c.invitation;
  const rows = [
    ['phone', c.phoneNumber ? 'Phone number' : 'WhatsApp user id', c.phoneNumber || c.waUserId || '—'],
    c.phoneNumber && c.waUserId ? ['user-id', 'WhatsApp user id', c.waUserId] : null,
    ['profile', 'WhatsApp profile name', c.profileName || '—'],
    severalNumbers() && c.businessNumberId ? ['number', 'Business number', c.businessNumberName || numberName(c.businessNumberId)] : null,
    ['invitation', 'Invitation', inv ? `${inv.name ? `${inv.name}, ` : ''}invited by ${inv.invitedByName || inv.invitedBy || 'someone'} on ${fullDateTime(inv.invitedAt)}` : 'Not invited'],
    ['first-contact', 'First contact', fullDateTime(c.firstContactAt) || '—'],
    ['conversations', 'Conversations', String(c.conversationCount)],
  ].filter(Boolean);
  const labels = c.labels || [];
  ui.facts.replaceChildren(
    ...rows.flatMap(([field, term, value]) => [h('dt', { text: term }), h('dd', { dataset: { field }, text: value })]),
    h('dt', { text: 'Labels' }),
    h('dd', { dataset: { field: 'labels' } }, labels.length ? labels.map((name) => labelChip(name, name)) : 'None'),
  );
}

function setNameMessage(text, isError = false) {
  ui.nameMessage.textContent = text;
  ui.nameMessage.hidden = !text;
  ui.nameMessage.classList.toggle('error', isError);
}

async function saveName(value) {
  const conv = state.openConv;
  if (!conv) return;
  const name = value == null ? null : value.trim() || null;
  try {
    const row = await api(`/api/conversations/${encodeURIComponent(conv.id)}`, { method: 'PATCH', body: { contactName: name } });
    ui.input.blur();
    upsertConversation(row, { insert: true });
    renderList();
    setNameMessage(name ? 'Saved.' : 'The WhatsApp profile name is shown again.');
    await loadContact();
  } catch (err) {
    if (err.status !== 401) setNameMessage(err.message, true);
  }
}

// ---- merging (admins) ----------------------------------------------------------------------

function buildMergeDialog() {
  ui.mergeSearch = h('input', { id: 'merge-search', type: 'search', autocomplete: 'off', placeholder: 'Name, number or text', oninput: debounce(findCandidates, 250) });
  ui.mergeResults = h('ul', { id: 'merge-results', class: 'merge-results', 'aria-label': 'Conversations' });
  ui.mergeConfirm = h('p', { id: 'merge-confirm', class: 'merge-confirm', hidden: true });
  ui.mergeError = h('p', { id: 'merge-error', class: 'error', role: 'alert', hidden: true });
  ui.mergeSubmit = h('button', { id: 'merge-submit', type: 'submit', class: 'primary', disabled: true, text: 'Merge' });
  ui.mergeInto = h('p', { id: 'merge-into', class: 'hint' });
  ui.mergeDialog = h(
    'dialog',
    { id: 'merge-dialog', class: 'dialog merge-dialog' },
    h(
      'form',
      { novalidate: true, onsubmit: (e) => (e.preventDefault(), submitMerge()) },
      h('h2', { text: 'Merge conversations' }),
      ui.mergeInto,
      h('label', { for: 'merge-search', text: 'The other conversation of the same person' }),
      ui.mergeSearch,
      ui.mergeResults,
      ui.mergeConfirm,
      ui.mergeError,
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { id: 'merge-cancel', type: 'button', text: 'Cancel', onclick: () => ui.mergeDialog.close() }),
        ui.mergeSubmit,
      ),
    ),
  );
  document.getElementById('app-view').append(ui.mergeDialog);
}

function openMergeDialog() {
  const conv = state.openConv;
  if (!conv) return;
  mergeTarget = null;
  ui.mergeInto.textContent = `Every message of the conversation you pick moves into “${conversationTitle(conv)}”, in the order they arrived.`;
  ui.mergeSearch.value = (contact && (contact.phoneNumber || contact.profileName)) || conv.phoneNumber || '';
  ui.mergeResults.replaceChildren();
  showMergeChoice();
  ui.mergeDialog.showModal();
  ui.mergeSearch.focus();
  findCandidates();
}

async function findCandidates() {
  const conv = state.openConv;
  if (!conv || !ui.mergeDialog.open) return;
  const params = new URLSearchParams({ limit: '20', status: 'all' });
  const q = ui.mergeSearch.value.trim().replace(/^\+/, '');
  if (q) params.set('search', q);
  if (conv.businessNumberId) params.set('number', conv.businessNumberId); // one person on one number
  try {
    const rows = (await api(`/api/conversations?${params}`)).filter((r) => String(r.id) !== String(conv.id));
    ui.mergeResults.replaceChildren(
      ...rows.map((r) =>
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: `merge-candidate${mergeTarget && String(mergeTarget.id) === String(r.id) ? ' chosen' : ''}`,
              dataset: { id: r.id },
              onclick: () => chooseCandidate(r),
            },
            h('span', { class: 'merge-candidate-name', text: conversationTitle(r) }),
            h('span', { class: 'hint', text: ` ${[r.phoneNumber || r.waUserId, `#${r.id}`].filter(Boolean).join(' · ')}` }),
          ),
        ),
      ),
    );
    if (!rows.length) ui.mergeResults.append(h('li', { class: 'hint', text: 'No other conversation matches.' }));
  } catch (err) {
    showMergeError(err.message);
  }
}

function chooseCandidate(row) {
  mergeTarget = row;
  for (const b of ui.mergeResults.querySelectorAll('.merge-candidate')) b.classList.toggle('chosen', b.dataset.id === String(row.id));
  showMergeChoice();
}

function showMergeChoice() {
  const conv = state.openConv;
  showMergeError('');
  ui.mergeSubmit.disabled = !mergeTarget;
  ui.mergeConfirm.hidden = !mergeTarget;
  if (!mergeTarget || !conv) return;
  const other = `“${conversationTitle(mergeTarget)}” (#${mergeTarget.id})`;
  ui.mergeConfirm.textContent = `Merge ${other} into “${conversationTitle(conv)}”? Its messages join this thread and ${other} leaves the list. This cannot be undone.`;
  ui.mergeSubmit.textContent = `Merge #${mergeTarget.id} into this one`;
}

function showMergeError(text) {
  ui.mergeError.textContent = text;
  ui.mergeError.hidden = !text;
}

async function submitMerge() {
  const conv = state.openConv;
  if (!conv || !mergeTarget) return;
  const other = mergeTarget;
  ui.mergeSubmit.disabled = true;
  try {
    const row = await api(`/api/conversations/${encodeURIComponent(conv.id)}/merge`, { method: 'POST', body: { conversationId: Number(other.id) } });
    ui.mergeDialog.close();
    removeConversation(other.id);
    upsertConversation(row, { insert: true });
    renderList();
    hooks.reloadThread();
    toast(`Merged “${conversationTitle(other)}” into this conversation.`);
    loadContact();
  } catch (err) {
    ui.mergeSubmit.disabled = false;
    if (err.status !== 401) showMergeError(err.message);
  }
}

// ---- live events -----------------------------------------------------------------------------

/** `conversation.merged`: the folded conversation leaves every list; a thread showing it
 * moves to the kept one; a thread showing the kept one reloads (messages moved in). */
export function applyContactEvent(event) {
  if (event.type !== 'conversation.merged') return false;
  const data = event.data || {};
  const gone = data.conversationId ?? event.conversationId;
  const into = data.into;
  const openId = state.openId != null ? String(state.openId) : null;
  removeConversation(gone);
  if (openId === String(gone)) {
    if (into != null) hooks.open(into);
    else hooks.closeThread();
  } else if (openId != null && openId === String(into)) {
    hooks.reloadThread();
    contactRowChanged();
  }
  return true;
}
