// The composer's attach button (#composer-attach): picks a file (#composer-file) and posts it
// as multipart/form-data to /api/conversations/send. Text typed in the composer goes along as
// the caption where WhatsApp shows one (images, videos, documents).

import { api, uuid } from './api.js';

const el = {};
let hooks = { conversation: () => null, onSent: () => {}, onError: () => {}, input: null };
let uploading = false;
let windowClosed = false;

export function initAttach(options) {
  hooks = { ...hooks, ...options };
  el.button = document.getElementById('composer-attach');
  el.file = document.getElementById('composer-file');
  if (!el.button || !el.file) return;
  el.button.addEventListener('click', () => !el.button.disabled && el.file.click());
  el.file.addEventListener('change', () => {
    const file = el.file.files && el.file.files[0];
    el.file.value = ''; // the same file may be picked again
    if (file) upload(file);
  });
}

/** Files follow the 24-hour window rule like text: no attaching while it is closed. */
export function updateAttach(windowState) {
  windowClosed = windowState === 'closed';
  render();
}

function render() {
  if (!el.button) return;
  el.button.disabled = windowClosed || uploading;
  el.button.setAttribute('aria-busy', uploading ? 'true' : 'false');
}

function takesCaption(file) {
  const type = (file.type || '').toLowerCase();
  return !type.startsWith('audio/') && type !== 'image/webp';
}

async function upload(file) {
  const conv = hooks.conversation();
  if (!conv || uploading) return;
  const input = hooks.input;
  const caption = input && takesCaption(file) ? input.value.trim() : '';
  const form = new FormData();
  form.append('conversationId', String(conv.id));
  form.append('clientId', uuid());
  if (caption) form.append('caption', caption);
  form.append('file', file, file.name);
  uploading = true;
  render();
  try {
    const msg = await api('/api/conversations/send', { method: 'POST', body: form });
    if (caption && input && input.value.trim() === caption) {
      input.value = '';
      input.dispatchEvent(new Event('input'));
    }
    hooks.onSent(msg);
  } catch (err) {
    if (err.status !== 401) hooks.onError(err.message);
  } finally {
    uploading = false;
    render();
  }
}
