// Templates, all of them: the picker (#template-picker) offers the approved templates, asks
// for what each needs (body and header parameters, a media header as an upload or a link,
// the URL suffix / code / payload of its buttons) and previews exactly what the customer will
// see (#template-preview: header, body, footer, buttons). It is open by itself while the
// 24-hour window is closed and a click away (#template-toggle) at any time. The list is
// fetched again each time the picker opens, so a template Meta paused or approved a moment
// ago (message_template_status_update) is gone or there without a sync.
// "New conversation" offers the same form: a first message to a number must be a template.

import { api, uuid } from './api.js';
import { h } from './dom.js';

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
const MEDIA = { IMAGE: 'image', VIDEO: 'video', DOCUMENT: 'document' };
const ACCEPT = { image: 'image/jpeg,image/png', video: 'video/mp4,video/3gpp', document: 'application/pdf,.doc,.docx,.xls,.xlsx,.ppt,.pptx,text/plain' };
const BUTTON_HINT = { urlSuffix: 'end of the link', couponCode: 'code to copy', payload: 'reply payload (optional)' };

let templates = null; // the sendable templates, as last fetched
let loading = null;

/** The approved templates, fetched again (at most one request at a time). */
export function loadTemplates() {
  if (!loading) {
    loading = api('/api/templates')
      .then((list) => (templates = Array.isArray(list) ? list.filter((t) => t.sendable !== false && (!t.status || t.status === 'APPROVED')) : []))
      .finally(() => (loading = null));
  }
  return loading;
}

function filled(text, names, vals) {
  const byName = new Map(names.map((n, i) => [n, vals[i]]));
  return String(text || '').replace(PLACEHOLDER, (whole, name) => byName.get(name) || whole);
}

/**
 * A template form inside existing elements: { picker, params, preview, error }.
 * form.value() -> { template, file } to send, or { error }.
 */
export class TemplateForm {
  constructor(els, { onEnter = () => {} } = {}) {
    this.els = els;
    this.onEnter = onEnter;
    this.list = [];
    this.objectUrl = null;
    els.picker.addEventListener('change', () => {
      this.showError('');
      this.renderParams();
    });
  }

  setTemplates(list) {
    const previous = this.selected();
    this.list = list || [];
    const picker = this.els.picker;
    picker.replaceChildren(
      h('option', { value: '', text: 'Choose a template…' }),
      ...this.list.map((t, i) => h('option', { value: String(i), text: `${t.name} (${t.language})` })),
    );
    const again = previous && this.list.findIndex((t) => t.name === previous.name && t.language === previous.language);
    if (again != null && again >= 0) picker.value = String(again);
    this.renderParams();
  }

  reset() {
    this.els.picker.value = '';
    this.renderParams();
  }

  selected() {
    const value = this.els.picker.value;
    return value === '' ? null : this.list[Number(value)] || null;
  }

  input(part, name, label, extra = {}) {
    return h('input', {
      class: extra.class || 'template-param',
      type: 'text',
      dataset: { part, name },
      placeholder: extra.placeholder || `{{${name}}}`,
      'aria-label': label,
      autocomplete: 'off',
      oninput: () => (this.showError(''), this.renderPreview()),
      onkeydown: (e) => e.key === 'Enter' && (e.preventDefault(), this.onEnter()),
      ...extra.attrs,
    });
  }

  renderParams() {
    const t = this.selected();
    const inputs = [];
    if (t) {
      const kind = MEDIA[t.headerFormat];
      if (kind) {
        const file = h('input', {
          class: 'template-header-file',
          type: 'file',
          accept: ACCEPT[kind],
          'aria-label': `Header ${kind} file`,
          onchange: () => this.renderPreview(),
        });
        const link = h('input', {
          class: 'template-header-link',
          type: 'url',
          placeholder: `or the ${kind}'s https link`,
          'aria-label': `Header ${kind} link`,
          autocomplete: 'off',
          oninput: () => this.renderPreview(),
        });
        inputs.push(h('div', { class: 'template-header-media' }, h('span', { class: 'secondary', text: `Header ${kind}:` }), file, link));
      }
      (t.headerParameters || []).forEach((name, i) => inputs.push(this.input('header', name, `Header parameter ${i + 1} ({{${name}}})`)));
      (t.parameters || []).forEach((name, i) => inputs.push(this.input('body', name, `Parameter ${i + 1} ({{${name}}})`)));
      (t.buttons || []).forEach((b) => {
        if (!b.parameter) return;
        const label = `Button “${b.text || b.type}”: ${BUTTON_HINT[b.parameter]}`;
        inputs.push(this.input('button', String(b.index), label, { placeholder: label, class: 'template-button-param' }));
      });
    }
    this.els.params.replaceChildren(...inputs);
    this.els.params.hidden = !inputs.length;
    this.renderPreview();
  }

  values(part) {
    return Array.from(this.els.params.querySelectorAll(`.template-param[data-part="${part}"]`), (input) => input.value.trim());
  }

  headerFile() {
    const input = this.els.params.querySelector('.template-header-file');
    return input && input.files && input.files[0] ? input.files[0] : null;
  }

  headerLink() {
    const input = this.els.params.querySelector('.template-header-link');
    return input ? input.value.trim() : '';
  }

  renderPreview() {
    const t = this.selected();
    const preview = this.els.preview;
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = null;
    if (!t) {
      preview.replaceChildren();
      preview.hidden = true;
      return;
    }
    const parts = [];
    const kind = MEDIA[t.headerFormat];
    if (kind) {
      const file = this.headerFile();
      const link = this.headerLink();
      if (file && kind === 'image') {
        this.objectUrl = URL.createObjectURL(file);
        parts.push(h('img', { class: 'template-preview-media', src: this.objectUrl, alt: 'Header image' }));
      } else {
        const what = file ? file.name : link || `${kind} (upload one or give its link)`;
        parts.push(h('div', { class: 'template-preview-media media-placeholder', dataset: { kind }, text: `${{ image: '🖼', video: '🎥', document: '📄' }[kind]} ${what}` }));
      }
    }
    if (t.headerText) parts.push(h('div', { class: 'template-preview-header', text: filled(t.headerText, t.headerParameters || [], this.values('header')) }));
    parts.push(h('div', { class: 'template-preview-body', text: filled(t.body, t.parameters || [], this.values('body')) }));
    if (t.footer) parts.push(h('div', { class: 'template-preview-footer', text: t.footer }));
    const buttonValues = new Map(Array.from(this.els.params.querySelectorAll('.template-button-param'), (i) => [i.dataset.name, i.value.trim()]));
    const buttons = (t.buttons || []).map((b) => {
      const value = buttonValues.get(String(b.index)) || '';
      const text = b.type === 'COPY_CODE' ? `Copy code${value ? ` ${value}` : ''}` : b.text;
      const title = b.url ? b.url.replace('{{1}}', value || '{{1}}') : b.phoneNumber || null;
      return h('span', { class: 'template-preview-button', dataset: { type: b.type }, title, text });
    });
    if (buttons.length) parts.push(h('div', { class: 'template-preview-buttons' }, buttons));
    preview.replaceChildren(...parts);
    preview.hidden = false;
  }

  showError(text) {
    this.els.error.textContent = text;
    this.els.error.hidden = !text;
  }

  /** { template, file } ready to send, or { error } saying what is missing. */
  value() {
    const t = this.selected();
    if (!t) return { error: 'Choose a template.' };
    const body = this.values('body');
    const header = this.values('header');
    if ([...body, ...header].some((v) => !v)) return { error: 'Fill in every parameter of the template.' };
    const template = { name: t.name, language: t.language, parameters: body };
    if (header.length) template.headerParameters = header;
    let file = null;
    if (MEDIA[t.headerFormat]) {
      file = this.headerFile();
      const link = this.headerLink();
      if (!file && !link) return { error: `This template starts with ${MEDIA[t.headerFormat] === 'image' ? 'an image' : `a ${MEDIA[t.headerFormat]}`}: upload it or give its link.` };
      if (!file) template.header = { link };
    }
    const withParameter = (t.buttons || []).filter((b) => b.parameter);
    if (withParameter.length) {
      const byIndex = new Map(Array.from(this.els.params.querySelectorAll('.template-button-param'), (i) => [Number(i.dataset.name), i.value.trim()]));
      const missing = withParameter.find((b) => b.required && !byIndex.get(b.index));
      if (missing) return { error: `Fill in the button “${missing.text || 'Copy code'}”.` };
      template.buttonParameters = (t.buttons || []).map((b) => (b.parameter && byIndex.get(b.index)) || null);
    }
    return { template, file };
  }
}

/** Posts a template send; `target` is {conversationId} or {phoneNumber}. */
export async function sendTemplate(target, { template, file }) {
  if (!file) return api('/api/conversations/send', { method: 'POST', body: { ...target, clientId: uuid(), template } });
  const form = new FormData();
  for (const [k, v] of Object.entries(target)) form.append(k, String(v));
  form.append('clientId', uuid());
  form.append('template', JSON.stringify(template));
  form.append('file', file, file.name);
  return api('/api/conversations/send', { method: 'POST', body: form });
}

// ---- "New conversation": a first message is a template -------------------------------------

let dialogForm = null;

/** Adds the template form to the new-conversation dialog, above its text box. */
function initNewConversationTemplates() {
  const content = document.getElementById('new-conversation-content');
  if (!content) return;
  const picker = h('select', { id: 'new-conversation-template', 'aria-label': 'Template' });
  const params = h('div', { id: 'new-conversation-template-params', class: 'template-params', hidden: true });
  const preview = h('div', { id: 'new-conversation-template-preview', class: 'template-preview', 'aria-live': 'polite', hidden: true });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const label = content.previousElementSibling; // "First message"
  const box = h(
    'div',
    { class: 'template-composer new-conversation-template' },
    h('label', { for: 'new-conversation-template', text: 'Template (WhatsApp lets you start a conversation only with one)' }),
    picker,
    params,
    preview,
    error,
  );
  (label && label.tagName === 'LABEL' ? label : content).before(box);
  if (label && label.tagName === 'LABEL') label.textContent = 'Or a text message (only if they wrote to you in the last 24 hours)';
  dialogForm = new TemplateForm({ picker, params, preview, error });
}

/** The dialog opened: a fresh list, nothing chosen. */
export async function openNewConversationTemplates() {
  if (!dialogForm) initNewConversationTemplates();
  if (!dialogForm) return;
  dialogForm.showError('');
  dialogForm.setTemplates(templates || []);
  dialogForm.reset();
  try {
    dialogForm.setTemplates(await loadTemplates());
  } catch (err) {
    if (err.status !== 401) dialogForm.showError(`Could not load the templates: ${err.message}`);
  }
}

/** The template chosen in the dialog ({template, file} or {error}), or null for none. */
export function newConversationTemplate() {
  if (!dialogForm || !dialogForm.selected()) return null;
  return dialogForm.value();
}

// ---- the composer's picker ---------------------------------------------------------------

let hooks = { conversation: () => null, onSent: () => {} };
const el = {};
let form = null;
let sending = false;
let openedBy = null; // 'window' (it closed) or 'agent' (the toggle)

export function initTemplates(options) {
  hooks = { ...hooks, ...options };
  for (const id of ['template-composer', 'template-picker', 'template-params', 'template-preview', 'template-send', 'template-error']) {
    el[id] = document.getElementById(id);
  }
  form = new TemplateForm(
    { picker: el['template-picker'], params: el['template-params'], preview: el['template-preview'], error: el['template-error'] },
    { onEnter: () => send() },
  );
  el['template-picker'].addEventListener('change', renderSend);
  el['template-send'].addEventListener('click', () => send());
  el.toggle = h('button', {
    id: 'template-toggle',
    type: 'button',
    class: 'note-button template-toggle',
    'aria-pressed': 'false',
    title: 'Send an approved template',
    text: 'Template',
    onclick: () => show(el['template-composer'].hidden ? 'agent' : null),
  });
  const note = document.getElementById('composer-note');
  if (note) note.before(el.toggle);
  form.renderParams();
  renderSend();
}

/** Forgets the loaded list (logout). */
export function resetTemplates() {
  templates = null;
  sending = false;
  openedBy = null;
  if (!el['template-composer']) return;
  el['template-composer'].hidden = true;
  form.setTemplates([]);
  form.showError('');
}

/** Opens the picker while the window is `closed`; one the agent opened stays open. */
export function updateTemplateComposer(windowState) {
  if (!el['template-composer']) return;
  if (windowState === 'closed') {
    if (!openedBy) show('window');
  } else if (openedBy === 'window') {
    show(null);
  }
}

function show(by) {
  openedBy = by;
  el['template-composer'].hidden = !by;
  el.toggle.setAttribute('aria-pressed', String(!!by));
  el.toggle.classList.toggle('active', !!by);
  if (by) refresh();
}

async function refresh() {
  try {
    await loadTemplates();
    form.setTemplates(templates);
    form.showError(templates.length ? '' : 'No approved templates yet: an admin can refresh them from WhatsApp.');
  } catch (err) {
    if (err.status !== 401) form.showError(`Could not load the templates: ${err.message}`);
  }
  renderSend();
}

function renderSend() {
  el['template-send'].disabled = !form.selected() || sending;
}

async function send() {
  const conv = hooks.conversation();
  if (!conv || sending) return;
  const value = form.value();
  if (value.error) {
    form.showError(value.error);
    return;
  }
  sending = true;
  renderSend();
  form.showError('');
  try {
    const msg = await sendTemplate({ conversationId: conv.id }, value);
    form.reset();
    hooks.onSent(msg);
    if (openedBy === 'agent') show(null);
  } catch (err) {
    if (err.status !== 401) form.showError(err.message);
  } finally {
    sending = false;
    renderSend();
  }
}
