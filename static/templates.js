// The template picker. Once the customer's 24-hour window is closed WhatsApp only accepts an
// approved template, so the composer offers one: pick it (#template-picker), fill in its
// parameters (.template-param), check the preview (#template-preview), send (#template-send).
// chat-composer.js calls updateTemplateComposer() whenever the window state may have changed.

import { api, uuid } from './api.js';
import { h } from './dom.js';

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

const el = {};
let hooks = { conversation: () => null, onSent: () => {} };
let templates = null; // the approved templates, once loaded
let loading = false;
let sending = false;

/** Binds the static DOM once. hooks.conversation() -> the open conversation;
 *  hooks.onSent(message) puts a sent message into the thread. */
export function initTemplates(options) {
  hooks = { ...hooks, ...options };
  for (const id of ['template-composer', 'template-picker', 'template-params', 'template-preview', 'template-send', 'template-error']) {
    el[id] = document.getElementById(id);
  }
  el['template-picker'].addEventListener('change', () => {
    showError('');
    renderParams();
  });
  el['template-send'].addEventListener('click', () => send());
  renderParams();
}

/** Forgets the loaded list (logout). */
export function resetTemplates() {
  templates = null;
  loading = false;
  sending = false;
  if (!el['template-composer']) return;
  el['template-composer'].hidden = true;
  el['template-picker'].replaceChildren(h('option', { value: '', text: 'Choose a template…' }));
  renderParams();
  showError('');
}

/** Shows the picker while the window is `closed`, hides it otherwise. */
export function updateTemplateComposer(windowState) {
  if (!el['template-composer']) return;
  const show = windowState === 'closed';
  el['template-composer'].hidden = !show;
  if (show && !templates) load();
}

async function load() {
  if (loading) return;
  loading = true;
  try {
    const list = await api('/api/templates');
    templates = Array.isArray(list) ? list.filter((t) => !t.status || t.status === 'APPROVED') : [];
    renderOptions();
    showError(templates.length ? '' : 'No approved templates yet: an admin can refresh them from WhatsApp.');
  } catch (err) {
    if (err.status !== 401) showError(`Could not load the templates: ${err.message}`);
  } finally {
    loading = false;
  }
}

function renderOptions() {
  const picker = el['template-picker'];
  const previous = picker.value;
  picker.replaceChildren(
    h('option', { value: '', text: 'Choose a template…' }),
    ...(templates || []).map((t, i) => h('option', { value: String(i), text: `${t.name} (${t.language})` })),
  );
  if (previous && picker.querySelector(`option[value="${CSS.escape(previous)}"]`)) picker.value = previous;
  renderParams();
}

function selected() {
  const value = el['template-picker'].value;
  return value === '' || !templates ? null : templates[Number(value)] || null;
}

function paramInput(part, name, index) {
  return h('input', {
    class: 'template-param',
    type: 'text',
    dataset: { part, name },
    placeholder: `{{${name}}}`,
    'aria-label': `${part === 'header' ? 'Header parameter' : 'Parameter'} ${index + 1} ({{${name}}})`,
    autocomplete: 'off',
    oninput: renderPreview,
    onkeydown: (e) => e.key === 'Enter' && (e.preventDefault(), send()),
  });
}

function renderParams() {
  const t = selected();
  const inputs = [];
  if (t) {
    (t.headerParameters || []).forEach((name, i) => inputs.push(paramInput('header', name, i)));
    (t.parameters || []).forEach((name, i) => inputs.push(paramInput('body', name, i)));
  }
  el['template-params'].replaceChildren(...inputs);
  el['template-params'].hidden = !inputs.length;
  el['template-send'].disabled = !t || sending;
  renderPreview();
}

function values(part) {
  return Array.from(el['template-params'].querySelectorAll(`.template-param[data-part="${part}"]`), (input) => input.value.trim());
}

function filled(text, names, vals) {
  const byName = new Map(names.map((n, i) => [n, vals[i]]));
  return String(text || '').replace(PLACEHOLDER, (whole, name) => byName.get(name) || whole);
}

function renderPreview() {
  const t = selected();
  const preview = el['template-preview'];
  if (!t) {
    preview.replaceChildren();
    preview.hidden = true;
    return;
  }
  const header = t.headerText ? filled(t.headerText, t.headerParameters || [], values('header')) : '';
  const parts = [h('div', { class: 'template-preview-body', text: filled(t.body, t.parameters || [], values('body')) })];
  if (header) parts.unshift(h('div', { class: 'template-preview-header', text: header }));
  preview.replaceChildren(...parts);
  preview.hidden = false;
}

function showError(text) {
  el['template-error'].textContent = text;
  el['template-error'].hidden = !text;
}

async function send() {
  const t = selected();
  const conv = hooks.conversation();
  if (!t || !conv || sending) return;
  const body = values('body');
  const header = values('header');
  if ([...body, ...header].some((v) => !v)) {
    showError('Fill in every parameter of the template.');
    return;
  }
  const template = { name: t.name, language: t.language, parameters: body };
  if (header.length) template.headerParameters = header;
  sending = true;
  el['template-send'].disabled = true;
  showError('');
  try {
    const msg = await api('/api/conversations/send', {
      method: 'POST',
      body: { conversationId: conv.id, clientId: uuid(), template },
    });
    el['template-picker'].value = '';
    hooks.onSent(msg);
  } catch (err) {
    if (err.status !== 401) showError(err.message);
  } finally {
    sending = false;
    renderParams();
  }
}
