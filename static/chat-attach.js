// The file preview of the composer: a file picked with the paper clip, dropped on the thread
// or pasted as an image is never sent at once. It waits here (#attach-preview) with a
// thumbnail (images) or its name and size, and a caption the agent writes or edits (it starts
// with whatever was typed in the text box, which is emptied only once the file is sent).
// Send posts it (attach.js), Cancel or Esc drops it, and the text box is left as it was.

import { attachAllowed, sendFile, takesCaption } from './attach.js';

const el = {};
let hooks = { conversation: () => null, onSent: () => {}, input: null };
let pending = null; // { file, url, prefill, conversationId }
let sending = false;

/** Binds the preview, and drag-and-drop on `dropZone` and image paste into the text box. */
export function initAttachPreview(options) {
  hooks = { ...hooks, ...options };
  for (const id of ['attach-preview', 'attach-thumb', 'attach-icon', 'attach-name', 'attach-size', 'attach-caption', 'attach-error', 'attach-cancel', 'attach-send']) {
    el[id] = document.getElementById(id);
  }
  if (!el['attach-preview']) return;
  el['attach-cancel'].addEventListener('click', () => closeAttachPreview());
  el['attach-send'].addEventListener('click', () => send());
  el['attach-preview'].addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      closeAttachPreview();
    }
  });
  el['attach-caption'].addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  });

  const zone = hooks.dropZone;
  if (zone) {
    const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
    zone.addEventListener('dragover', (e) => {
      if (!hasFiles(e) || !hooks.conversation()) return;
      e.preventDefault(); // allows the drop
      e.dataTransfer.dropEffect = attachAllowed() ? 'copy' : 'none';
      zone.classList.add('drop-target');
    });
    zone.addEventListener('dragleave', (e) => {
      if (!zone.contains(e.relatedTarget)) zone.classList.remove('drop-target');
    });
    zone.addEventListener('drop', (e) => {
      zone.classList.remove('drop-target');
      if (!hasFiles(e)) return;
      e.preventDefault(); // never let the browser navigate to the file
      const file = e.dataTransfer.files && e.dataTransfer.files[0];
      if (file) openAttachPreview(file);
    });
  }
  // An image pasted into the text box, or anywhere in the open conversation but another field.
  document.addEventListener('paste', (e) => {
    const target = e.target instanceof Element ? e.target : null;
    const field = target && target.closest('input, textarea, select, [contenteditable]');
    if (field && field !== hooks.input) return;
    if (!hooks.conversation() || !zone || !zone.offsetParent) return; // no thread on screen
    const files = Array.from((e.clipboardData && e.clipboardData.files) || []);
    const image = files.find((f) => (f.type || '').startsWith('image/'));
    if (!image) return; // text pastes as text
    e.preventDefault();
    openAttachPreview(image);
  });
}

/** Shows `file` for checking before it is sent. */
export function openAttachPreview(file) {
  const conv = hooks.conversation();
  if (!conv || !el['attach-preview']) return;
  if (!attachAllowed()) {
    hooks.onError && hooks.onError('The 24-hour reply window is closed: only a template can be sent now.');
    return;
  }
  closeAttachPreview({ keepFocus: true });
  const isImage = /^image\/(jpeg|png|webp|gif)$/i.test(file.type || '');
  const url = isImage ? URL.createObjectURL(file) : null;
  const prefill = hooks.input ? hooks.input.value.trim() : '';
  pending = { file, url, prefill, conversationId: conv.id };
  el['attach-thumb'].hidden = !isImage;
  if (url) {
    el['attach-thumb'].src = url;
    el['attach-thumb'].alt = `Preview of ${file.name || 'the image'}`;
  } else el['attach-thumb'].removeAttribute('src');
  el['attach-icon'].hidden = isImage;
  el['attach-icon'].textContent = iconFor(file);
  el['attach-name'].textContent = file.name || 'Pasted image';
  el['attach-size'].textContent = humanSize(file.size);
  const caption = el['attach-caption'];
  const captionable = takesCaption(file);
  caption.value = captionable ? prefill : '';
  caption.disabled = !captionable;
  caption.placeholder = captionable ? 'Add a caption' : 'WhatsApp shows no caption on this kind of file';
  showError('');
  sending = false;
  el['attach-send'].disabled = false;
  el['attach-preview'].hidden = false;
  (captionable ? caption : el['attach-send']).focus();
}

/** Drops the waiting file (Cancel, Esc, another conversation opened). */
export function closeAttachPreview({ keepFocus = false } = {}) {
  if (pending && pending.url) URL.revokeObjectURL(pending.url);
  const wasOpen = !!pending;
  pending = null;
  if (!el['attach-preview']) return;
  el['attach-preview'].hidden = true;
  el['attach-caption'].value = '';
  if (wasOpen && !keepFocus && hooks.input && !hooks.input.disabled) hooks.input.focus();
}

async function send() {
  const item = pending;
  const conv = hooks.conversation();
  if (!item || sending || !conv || String(conv.id) !== String(item.conversationId)) return;
  const caption = el['attach-caption'].disabled ? '' : el['attach-caption'].value.trim();
  if (!attachAllowed()) {
    showError('The 24-hour reply window is closed: only a template can be sent now.');
    return;
  }
  sending = true;
  el['attach-send'].disabled = true;
  showError('');
  try {
    const msg = await sendFile(item.conversationId, item.file, caption);
    if (pending !== item) return;
    // The typed text went along as the caption: it has been sent, so it leaves the text box.
    const input = hooks.input;
    if (input && item.prefill && input.value.trim() === item.prefill) {
      input.value = '';
      input.dispatchEvent(new Event('input'));
    }
    closeAttachPreview();
    hooks.onSent(msg);
  } catch (err) {
    if (pending !== item || err.status === 401) return;
    showError(err.message); // e.g. too large for WhatsApp: the agent reads why, then cancels
  } finally {
    if (pending === item) {
      sending = false;
      el['attach-send'].disabled = false;
    }
  }
}

function showError(text) {
  el['attach-error'].textContent = text;
  el['attach-error'].hidden = !text;
}

function iconFor(file) {
  const type = (file.type || '').toLowerCase();
  if (type.startsWith('audio/')) return '🎤';
  if (type.startsWith('video/')) return '🎥';
  if (type.startsWith('image/')) return '🖼';
  return '📄';
}

/** 1234567 -> "1.2 MB", as people read file sizes. */
export function humanSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}
