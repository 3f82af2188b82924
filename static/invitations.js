// The "Invitations" tab: list, add one, import a CSV file.

import { api } from './api.js';
import { h, fullDateTime, relativeTime } from './dom.js';

const el = {};
let me = null;
let loadSeq = 0;

export function initInvitations() {
  for (const id of [
    'invitation-form', 'invitation-name', 'invitation-phone', 'invitation-submit', 'invitation-error',
    'invitation-csv', 'invitation-import', 'invitation-import-result', 'invitation-rows', 'invitation-list-status',
  ]) {
    el[id] = document.getElementById(id);
  }
  el['invitation-form'].addEventListener('submit', (e) => {
    e.preventDefault();
    addInvitation();
  });
  el['invitation-import'].addEventListener('click', importCsv);
}

export function startInvitations(user) {
  me = user;
}

export function resetInvitations() {
  me = null;
  loadSeq++;
  el['invitation-rows'].replaceChildren();
  el['invitation-form'].reset();
  showError('');
  el['invitation-import-result'].replaceChildren();
  el['invitation-csv'].value = '';
  el['invitation-list-status'].textContent = '';
}

/** Loads the list; called whenever the tab is shown. */
export async function loadInvitations() {
  const seq = ++loadSeq;
  if (!el['invitation-rows'].children.length) el['invitation-list-status'].textContent = 'Loading…';
  try {
    const rows = await api('/api/invitations');
    if (seq !== loadSeq) return;
    renderRows(rows || []);
  } catch (err) {
    if (seq !== loadSeq) return;
    el['invitation-list-status'].textContent = `Could not load invitations: ${err.message}`;
  }
}

function renderRows(rows) {
  const now = new Date();
  const sorted = [...rows].sort((a, b) => String(b.createdAt || '').localeCompare(String(a.createdAt || '')));
  el['invitation-rows'].replaceChildren(
    ...sorted.map((inv) =>
      h(
        'tr',
        { class: 'invitation-item', dataset: { id: inv.id } },
        h('td', { class: 'inv-name', text: inv.name || '' }),
        h('td', { class: 'inv-phone', text: inv.phoneNumber || '' }),
        h('td', { class: 'inv-owner', text: ownerLabel(inv.ownerId) }),
        h('td', { class: 'inv-created' }, h('time', { datetime: inv.createdAt, title: fullDateTime(inv.createdAt), text: relativeTime(inv.createdAt, now) })),
      ),
    ),
  );
  el['invitation-list-status'].textContent = sorted.length ? '' : 'No invitations yet.';
}

function ownerLabel(ownerId) {
  if (ownerId == null) return 'Unassigned';
  if (me && String(ownerId) === String(me.id)) return 'You';
  return `User #${ownerId}`;
}

function showError(text) {
  el['invitation-error'].textContent = text;
  el['invitation-error'].hidden = !text;
}

async function addInvitation() {
  const name = el['invitation-name'].value.trim();
  const phoneNumber = el['invitation-phone'].value.trim();
  if (!name || !phoneNumber) {
    showError('Enter a name and a phone number.');
    return;
  }
  showError('');
  el['invitation-submit'].disabled = true;
  try {
    await api('/api/invitations', { method: 'POST', body: { name, phoneNumber } });
    el['invitation-form'].reset();
    el['invitation-name'].focus();
    await loadInvitations();
  } catch (err) {
    if (err.status !== 401) showError(err.message);
  } finally {
    el['invitation-submit'].disabled = false;
  }
}

async function importCsv() {
  const result = el['invitation-import-result'];
  const file = el['invitation-csv'].files && el['invitation-csv'].files[0];
  if (!file) {
    result.replaceChildren(h('p', { class: 'error', text: 'Choose a CSV file first (columns: name,phone).' }));
    return;
  }
  el['invitation-import'].disabled = true;
  result.replaceChildren(h('p', { text: 'Importing…' }));
  try {
    const text = await file.text();
    const res = await api('/api/invitations/import', { method: 'POST', body: text, headers: { 'Content-Type': 'text/csv' } });
    const errors = (res && Array.isArray(res.errors) && res.errors) || [];
    const imported = (res && res.imported) || 0;
    const summary = `Imported ${imported} invitation${imported === 1 ? '' : 's'}` +
      (errors.length ? `, ${errors.length} line${errors.length === 1 ? '' : 's'} skipped.` : '.');
    result.replaceChildren(h('p', { class: 'import-summary', text: summary }));
    if (errors.length) {
      result.append(h('ul', { class: 'import-errors' }, errors.map((e) => h('li', { text: `Line ${e.line}: ${e.error}` }))));
    }
    el['invitation-csv'].value = '';
    await loadInvitations();
  } catch (err) {
    if (err.status !== 401) result.replaceChildren(h('p', { class: 'error', text: err.message }));
  } finally {
    el['invitation-import'].disabled = false;
  }
}
