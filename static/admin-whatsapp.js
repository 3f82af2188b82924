// The Team tab's WhatsApp section, for admins (issue 16): the business numbers this inbox
// answers for (GET/POST /api/numbers), account-level errors Meta reported (GET /api/errors),
// and webhooks that could not be applied (GET /api/webhooks/failures), e.g. for a number the
// server does not know yet: add it here and apply the kept webhook again in one step.

import { api } from './api.js';
import { $, fullDateTime, h } from './dom.js';
import { loadNumbers } from './identity.js';

let me = null;
const ui = {};

export function initWhatsappAdmin() {
  ui.numberId = h('input', { id: 'number-id', type: 'text', inputmode: 'numeric', autocomplete: 'off', placeholder: '106540352242922', required: true });
  ui.numberName = h('input', { id: 'number-name', type: 'text', autocomplete: 'off', placeholder: 'Shop branch', required: true });
  ui.numberMessage = h('p', { id: 'number-form-message', class: 'hint', role: 'status', hidden: true });
  ui.numberRows = h('tbody', { id: 'number-rows' });
  ui.errorRows = h('tbody', { id: 'account-error-rows' });
  ui.failureRows = h('tbody', { id: 'webhook-failure-rows' });
  ui.errorsEmpty = h('p', { id: 'account-errors-empty', class: 'admin-empty', text: 'None: Meta has reported no account errors.', hidden: true });
  ui.failuresEmpty = h('p', { id: 'webhook-failures-empty', class: 'admin-empty', text: 'None: every webhook was applied.', hidden: true });
  ui.status = h('p', { id: 'whatsapp-admin-status', class: 'error', role: 'alert', hidden: true });
  ui.section = h(
    'section',
    { id: 'whatsapp-admin', class: 'whatsapp-admin', hidden: true, 'aria-label': 'WhatsApp' },
    h('div', { class: 'admin-row-actions' }, h('h2', { text: 'WhatsApp' }), h('button', { type: 'button', id: 'whatsapp-admin-refresh', text: 'Refresh', onclick: () => loadWhatsappAdmin() })),
    ui.status,
    h(
      'div',
      { class: 'cards' },
      h(
        'form',
        { id: 'number-form', class: 'card', novalidate: true, onsubmit: (e) => (e.preventDefault(), addNumber()) },
        h('h3', { text: 'Add a business number' }),
        h('label', { for: 'number-id', text: 'Phone number ID (WhatsApp → API Setup)' }),
        ui.numberId,
        h('label', { for: 'number-name', text: 'Name agents see' }),
        ui.numberName,
        ui.numberMessage,
        h('button', { id: 'number-submit', type: 'submit', class: 'primary', text: 'Add number' }),
      ),
    ),
    table('number-list', ['Name', 'Phone number ID', 'Conversations', 'Source'], ui.numberRows),
    h('h3', { text: 'Account errors from WhatsApp' }),
    table('account-errors', ['When', 'Code', 'Error'], ui.errorRows),
    ui.errorsEmpty,
    h('h3', { text: 'Webhooks not applied' }),
    table('webhook-failures', ['When', 'Webhook', 'Reason', ''], ui.failureRows),
    ui.failuresEmpty,
  );
  $('#team-panel').append(ui.section);
}

function table(id, heads, body) {
  return h('table', { id, class: 'invitation-list' }, h('thead', {}, h('tr', {}, heads.map((t) => h('th', { text: t })))), body);
}

export function startWhatsappAdmin(user) {
  me = user;
  ui.section.hidden = !me.isAdmin;
}

export function resetWhatsappAdmin() {
  me = null;
  ui.section.hidden = true;
  for (const rows of [ui.numberRows, ui.errorRows, ui.failureRows]) rows.replaceChildren();
}

/** The Team tab was opened (or Refresh): numbers, account errors and failed webhooks. */
export async function loadWhatsappAdmin() {
  if (!me || !me.isAdmin) return;
  setStatus('');
  const [numbers, errors, failures] = await Promise.allSettled([
    api('/api/numbers'),
    api('/api/errors'),
    api('/api/webhooks/failures?limit=100'),
  ]);
  if (!me) return;
  if (numbers.status === 'fulfilled') renderNumbers(numbers.value);
  if (errors.status === 'fulfilled') renderErrors(errors.value);
  if (failures.status === 'fulfilled') renderFailures(failures.value);
  const failed = [numbers, errors, failures].find((r) => r.status === 'rejected');
  if (failed && failed.reason.status !== 401) setStatus(failed.reason.message);
}

function setStatus(text) {
  ui.status.textContent = text;
  ui.status.hidden = !text;
}

function setNumberMessage(text, isError = false) {
  ui.numberMessage.textContent = text;
  ui.numberMessage.hidden = !text;
  ui.numberMessage.classList.toggle('error', isError);
}

function renderNumbers(list) {
  ui.numberRows.replaceChildren(
    ...list.map((n) =>
      h(
        'tr',
        { dataset: { numberId: n.id } },
        h('td', { class: 'number-name', text: n.displayName }),
        h('td', { text: n.id }),
        h('td', { text: String(n.conversationCount) }),
        h('td', { text: n.configured ? (n.default ? 'Settings (first: new conversations start here)' : 'Settings') : `Added ${fullDateTime(n.createdAt)}` }),
      ),
    ),
  );
}

function renderErrors(list) {
  ui.errorRows.replaceChildren(
    ...list.map((e) =>
      h(
        'tr',
        { dataset: { errorId: e.id } },
        h('td', { text: fullDateTime(e.createdAt) }),
        h('td', { text: e.code != null ? String(e.code) : '' }),
        h('td', { text: [e.title, e.detail].filter(Boolean).join(': ') }),
      ),
    ),
  );
  ui.errorsEmpty.hidden = list.length > 0;
}

function renderFailures(list) {
  ui.failureRows.replaceChildren(...list.map(failureRow));
  ui.failuresEmpty.hidden = list.length > 0;
}

function failureRow(f) {
  const body = h('pre', { class: 'webhook-body', hidden: true });
  const actions = h(
    'div',
    { class: 'admin-row-actions' },
    h('button', { type: 'button', class: 'show-body', text: 'Show body', onclick: () => toggleBody(f, body) }),
  );
  if (f.unknownNumberId) {
    const name = h('input', { type: 'text', class: 'unknown-number-name', 'aria-label': `Name for number ${f.unknownNumberId}`, placeholder: 'Name agents see' });
    actions.append(
      name,
      h('button', {
        type: 'button',
        class: 'primary add-unknown-number',
        text: `Add number ${f.unknownNumberId} and apply`,
        onclick: () => addAndApply(f, name.value),
      }),
    );
  }
  return h(
    'tr',
    { dataset: { failureId: f.id, webhookEventId: f.webhookEventId } },
    h('td', { text: fullDateTime(f.createdAt) }),
    h('td', { text: `#${f.webhookEventId}` }),
    h('td', { class: 'failure-reason', text: f.reason }),
    h('td', {}, actions, body),
  );
}

async function toggleBody(f, node) {
  if (!node.hidden) {
    node.hidden = true;
    return;
  }
  try {
    const event = await api(`/api/webhooks/${encodeURIComponent(f.webhookEventId)}`);
    let text = event.encoding === 'base64' ? `(base64) ${event.body}` : event.body;
    try {
      if (event.encoding !== 'base64') text = JSON.stringify(JSON.parse(event.body), null, 2);
    } catch {
      /* shown as it came */
    }
    node.textContent = text;
    node.hidden = false;
  } catch (err) {
    if (err.status !== 401) setStatus(err.message);
  }
}

async function addNumber() {
  try {
    const added = await api('/api/numbers', { method: 'POST', body: { id: ui.numberId.value.trim(), displayName: ui.numberName.value.trim() } });
    ui.numberId.value = '';
    ui.numberName.value = '';
    setNumberMessage(`${added.displayName} added: its customers' messages now arrive here.`);
    await Promise.all([loadWhatsappAdmin(), loadNumbers()]);
  } catch (err) {
    if (err.status !== 401) setNumberMessage(err.message, true);
  }
}

async function addAndApply(f, name) {
  try {
    await api('/api/numbers', { method: 'POST', body: { id: f.unknownNumberId, displayName: name.trim() || `WhatsApp number ${f.unknownNumberId}` } });
  } catch (err) {
    if (err.status !== 409) return setStatus(err.message); // 409: already added, apply anyway
  }
  let message = '';
  try {
    const result = await api(`/api/webhooks/${encodeURIComponent(f.webhookEventId)}/replay`, { method: 'POST' });
    if (!result.processed) message = `Webhook #${f.webhookEventId} is still not fully applied: ${result.summary}`;
  } catch (err) {
    if (err.status !== 401) message = err.message;
  }
  await Promise.all([loadWhatsappAdmin(), loadNumbers()]);
  setStatus(message);
}
