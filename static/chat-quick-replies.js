// Quick replies in the composer: typing `/` (at the start or after a space) opens a list of the
// team's and the agent's own quick replies, filtered by what follows the slash. Arrow keys
// move, Enter or Tab inserts, Escape closes. The inserted text has {{name}} (the contact's
// name), {{agent}} (the sender's name) and {{phone}} filled in and stays editable before
// sending. "Manage quick replies" opens a dialog to add, edit and delete them (admins: the
// team's too). The list follows `quick_reply.*` events, so it never offers a deleted one.

import { api } from './api.js';
import { h } from './dom.js';
import { state } from './chat-state.js';
import { conversationTitle } from './messages.js';

const TRIGGER = /(?:^|\s)\/([\p{L}\p{N}_-]*)$/u;
const MAX_SHOWN = 8;

const ui = {};
let replies = null; // [{ id, shortcut, content, shared, editable }] once loaded
let loading = null;
let open = false;
let shown = [];
let active = 0;
let tokenStart = -1; // where the "/query" being typed starts in the input
let editing = null; // the quick reply the dialog's form edits (null: a new one)

/** Binds to the composer's textarea once per page load. */
export function initQuickReplies(input) {
  ui.input = input;
  const composer = input.closest('.composer');
  ui.popup = h('div', { id: 'quick-replies', class: 'quick-replies', role: 'listbox', 'aria-label': 'Quick replies', hidden: true });
  composer.insertBefore(ui.popup, composer.querySelector('.composer-row'));
  input.setAttribute('aria-controls', 'quick-replies');
  input.addEventListener('input', () => update());
  input.addEventListener('click', () => update());
  input.addEventListener('blur', () => setTimeout(() => document.activeElement !== ui.input && close(), 150));
  // Capture on the row: these keys are ours while the list is open, before the composer's
  // own Enter-sends handler on the textarea sees them.
  input.closest('.composer-row').addEventListener('keydown', onKey, true);
  buildDialog();
}

/** Applies a quick_reply.* event; true when it was one. */
export function applyQuickReplyEvent(event) {
  if (event.type !== 'quick_reply.updated' && event.type !== 'quick_reply.deleted') return false;
  if (replies) {
    const data = event.data || {};
    replies = replies.filter((q) => String(q.id) !== String(data.id));
    if (event.type === 'quick_reply.updated') replies.push(data);
    sortReplies();
    if (open) update();
    if (ui.dialog && ui.dialog.open) renderManageList();
  }
  return true;
}

/** Forgets everything (logout). */
export function resetQuickReplies() {
  replies = null;
  loading = null;
  close();
  if (ui.dialog && ui.dialog.open) ui.dialog.close();
}

function sortReplies() {
  replies.sort((a, b) => a.shortcut.localeCompare(b.shortcut) || Number(a.shared) - Number(b.shared));
}

async function load() {
  if (!loading) {
    loading = api('/api/quick-replies')
      .then((list) => {
        replies = Array.isArray(list) ? list : [];
        sortReplies();
      })
      .catch((err) => {
        loading = null;
        throw err;
      });
  }
  return loading;
}

/** The text with the placeholders filled in for the open conversation and this agent. */
export function fillPlaceholders(text, conv = state.openConv, me = state.me) {
  const values = {
    name: (conv && (conv.contactName || conv.profileName)) || conversationTitle(conv) || '',
    agent: (me && (me.name || (me.email || '').split('@')[0])) || '',
    phone: (conv && conv.phoneNumber) || '',
  };
  return text.replace(/\{\{\s*(name|agent|phone)\s*\}\}/g, (_, key) => values[key]);
}

function query() {
  const input = ui.input;
  if (input.disabled || input.selectionStart !== input.selectionEnd) return null;
  const match = TRIGGER.exec(input.value.slice(0, input.selectionStart));
  if (!match) return null;
  tokenStart = input.selectionStart - match[1].length - 1;
  return match[1].toLowerCase();
}

async function update() {
  const q = query();
  if (q == null) return close();
  if (!replies) {
    try {
      await load();
    } catch {
      return close();
    }
    if (query() !== q) return; // typed on meanwhile: that input event updates
  }
  const starts = replies.filter((r) => r.shortcut.startsWith(q));
  const contains = replies.filter((r) => !r.shortcut.startsWith(q) && (r.shortcut.includes(q) || r.content.toLowerCase().includes(q)));
  shown = starts.concat(contains).slice(0, MAX_SHOWN);
  active = Math.min(active, Math.max(shown.length - 1, 0));
  if (!open) active = 0;
  open = true;
  render(q);
}

function render(q) {
  const items = shown.map((r, i) =>
    h(
      'div',
      {
        class: `quick-reply${i === active ? ' active' : ''}`,
        role: 'option',
        id: `quick-reply-${r.id}`,
        'aria-selected': String(i === active),
        dataset: { shortcut: r.shortcut },
        onmousedown: (e) => e.preventDefault(), // keep the focus in the textarea
        onclick: () => choose(r),
      },
      h('span', { class: 'quick-reply-shortcut', text: `/${r.shortcut}` }),
      h('span', { class: 'quick-reply-text', text: r.content.replace(/\s+/g, ' ') }),
      h('span', { class: 'quick-reply-scope', text: r.shared ? 'Team' : 'Yours' }),
    ),
  );
  const empty = !shown.length && h('div', { class: 'quick-reply-empty', text: replies.length ? `No quick reply matches /${q}` : 'No quick replies yet.' });
  const manage = h('button', { type: 'button', class: 'quick-reply-manage', onmousedown: (e) => e.preventDefault(), onclick: openDialog, text: 'Manage quick replies…' });
  ui.popup.replaceChildren(...items, ...(empty ? [empty] : []), manage);
  ui.popup.hidden = false;
  ui.input.setAttribute('aria-expanded', 'true');
  if (shown[active]) ui.input.setAttribute('aria-activedescendant', `quick-reply-${shown[active].id}`);
  const current = ui.popup.querySelector('.quick-reply.active');
  if (current) current.scrollIntoView({ block: 'nearest' });
}

function close() {
  open = false;
  shown = [];
  if (!ui.popup) return;
  ui.popup.hidden = true;
  ui.popup.replaceChildren();
  ui.input.removeAttribute('aria-expanded');
  ui.input.removeAttribute('aria-activedescendant');
}

function onKey(e) {
  if (!open || e.target !== ui.input || e.isComposing) return;
  let handled = true;
  if (e.key === 'ArrowDown' && shown.length) active = (active + 1) % shown.length;
  else if (e.key === 'ArrowUp' && shown.length) active = (active - 1 + shown.length) % shown.length;
  else if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey && shown[active]) choose(shown[active]);
  else if (e.key === 'Escape') close();
  else handled = false;
  if (!handled) return;
  e.preventDefault();
  e.stopPropagation();
  if (open) render(query() ?? '');
}

function choose(reply) {
  const input = ui.input;
  const text = fillPlaceholders(reply.content);
  const end = input.selectionStart;
  input.value = input.value.slice(0, tokenStart) + text + input.value.slice(end);
  const caret = tokenStart + text.length;
  input.setSelectionRange(caret, caret);
  close();
  input.focus();
  input.dispatchEvent(new Event('input', { bubbles: true })); // grows the box, counts as typing
}

// ---- managing them -------------------------------------------------------------------------

function buildDialog() {
  const field = (id, label, control) => [h('label', { for: id, text: label }), control];
  ui.list = h('ul', { id: 'quick-reply-list', class: 'quick-reply-list' });
  ui.shortcut = h('input', { id: 'quick-reply-shortcut', type: 'text', autocomplete: 'off', placeholder: 'hours', required: true });
  ui.content = h('textarea', { id: 'quick-reply-content', rows: '3', required: true, placeholder: 'Hi {{name}}, we open at 7.' });
  ui.shared = h('input', { id: 'quick-reply-shared', type: 'checkbox' });
  ui.sharedRow = h('label', { class: 'quick-reply-shared-row' }, ui.shared, ' For the whole team');
  ui.error = h('p', { id: 'quick-reply-error', class: 'error', role: 'alert', hidden: true });
  ui.save = h('button', { id: 'quick-reply-save', type: 'submit', class: 'primary', text: 'Add' });
  ui.formTitle = h('h3', { text: 'Add a quick reply' });
  ui.form = h(
    'form',
    { id: 'quick-reply-form', novalidate: true, onsubmit: (e) => (e.preventDefault(), save()) },
    ui.formTitle,
    field('quick-reply-shortcut', 'Shortcut (typed as /shortcut)', ui.shortcut),
    field('quick-reply-content', 'Text ({{name}}, {{agent}} and {{phone}} are filled in)', ui.content),
    ui.sharedRow,
    ui.error,
    h(
      'div',
      { class: 'dialog-actions' },
      h('button', { type: 'button', id: 'quick-reply-new', onclick: () => editForm(null), text: 'New' }),
      h('button', { type: 'button', id: 'quick-reply-close', onclick: () => ui.dialog.close(), text: 'Close' }),
      ui.save,
    ),
  );
  ui.dialog = h('dialog', { id: 'quick-replies-dialog', class: 'dialog quick-replies-dialog' }, h('h2', { text: 'Quick replies' }), ui.list, ui.form);
  document.getElementById('app-view').append(ui.dialog);
}

async function openDialog() {
  close();
  try {
    await load();
  } catch (err) {
    return;
  }
  editForm(null);
  renderManageList();
  ui.dialog.showModal();
  ui.shortcut.focus();
}

function renderManageList() {
  const rows = (replies || []).map((r) =>
    h(
      'li',
      { class: 'quick-reply-row', dataset: { shortcut: r.shortcut, id: r.id } },
      h('span', { class: 'quick-reply-shortcut', text: `/${r.shortcut}` }),
      h('span', { class: 'quick-reply-text', text: r.content }),
      h('span', { class: 'quick-reply-scope', text: r.shared ? 'Team' : 'Yours' }),
      r.editable && h('button', { type: 'button', class: 'quick-reply-edit', onclick: () => editForm(r), text: 'Edit' }),
      r.editable && h('button', { type: 'button', class: 'quick-reply-delete', onclick: () => remove(r), text: 'Delete' }),
    ),
  );
  ui.list.replaceChildren(...(rows.length ? rows : [h('li', { class: 'hint', text: 'No quick replies yet.' })]));
}

function editForm(reply) {
  editing = reply;
  ui.formTitle.textContent = reply ? `Edit /${reply.shortcut}` : 'Add a quick reply';
  ui.save.textContent = reply ? 'Save' : 'Add';
  ui.shortcut.value = reply ? reply.shortcut : '';
  ui.content.value = reply ? reply.content : '';
  const admin = !!(state.me && state.me.isAdmin);
  ui.shared.checked = reply ? reply.shared : admin;
  ui.shared.disabled = !!reply; // who it belongs to is chosen once
  ui.sharedRow.hidden = !admin;
  showError('');
}

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = !text;
}

async function save() {
  const body = { shortcut: ui.shortcut.value, content: ui.content.value };
  try {
    const saved = editing
      ? await api(`/api/quick-replies/${encodeURIComponent(editing.id)}`, { method: 'PATCH', body })
      : await api('/api/quick-replies', { method: 'POST', body: { ...body, shared: ui.shared.checked } });
    applyQuickReplyEvent({ type: 'quick_reply.updated', data: saved }); // the event may lag
    renderManageList();
    editForm(null);
  } catch (err) {
    showError(err.message);
  }
}

async function remove(reply) {
  try {
    await api(`/api/quick-replies/${encodeURIComponent(reply.id)}`, { method: 'DELETE' });
    applyQuickReplyEvent({ type: 'quick_reply.deleted', data: { id: reply.id } });
    if (editing && editing.id === reply.id) editForm(null);
    renderManageList();
  } catch (err) {
    showError(err.message);
  }
}
