// The photo viewer: a click on a photo in the thread shows it large (#photo-viewer); the arrow
// keys (or ‹ ›) go through the conversation's photos in the order of the thread, Esc closes.

import { h } from './dom.js';

let dialog = null;
let image = null;
let caption = null;
let counter = null;
let messages = null;
let photos = [];
let at = 0;

export function initPhotoViewer(messagesEl) {
  messages = messagesEl;
  image = h('img', { id: 'photo-viewer-image', class: 'photo-viewer-image', alt: '' });
  caption = h('div', { id: 'photo-viewer-caption', class: 'photo-viewer-caption' });
  counter = h('div', { id: 'photo-viewer-counter', class: 'photo-viewer-counter', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', id: 'photo-viewer-prev', class: 'photo-viewer-step prev', 'aria-label': 'Previous photo', text: '‹', onclick: () => step(-1) });
  const next = h('button', { type: 'button', id: 'photo-viewer-next', class: 'photo-viewer-step next', 'aria-label': 'Next photo', text: '›', onclick: () => step(1) });
  const close = h('button', { type: 'button', id: 'photo-viewer-close', class: 'photo-viewer-close', 'aria-label': 'Close', text: '✕', onclick: () => dialog.close() });
  dialog = h('dialog', { id: 'photo-viewer', class: 'photo-viewer', 'aria-label': 'Photo' }, close, prev, h('figure', {}, image, caption), next, counter);
  document.body.append(dialog);
  dialog.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft') (e.preventDefault(), step(-1));
    else if (e.key === 'ArrowRight') (e.preventDefault(), step(1));
  });
  dialog.addEventListener('click', (e) => e.target === dialog && dialog.close()); // the backdrop
  dialog.addEventListener('close', () => image.removeAttribute('src'));
  messages.addEventListener('click', (e) => {
    const img = e.target.closest('img.media-image');
    if (!img || !messages.contains(img)) return;
    open(img);
  });
}

/** Closes the viewer (another conversation opened, logout). */
export function closePhotoViewer() {
  if (dialog && dialog.open) dialog.close();
}

function open(img) {
  photos = Array.from(messages.querySelectorAll('img.media-image'));
  at = Math.max(0, photos.indexOf(img));
  show();
  if (!dialog.open) dialog.showModal();
}

function step(delta) {
  if (!photos.length) return;
  const next = at + delta;
  if (next < 0 || next >= photos.length) return; // no wrap-around: the ends are the ends
  at = next;
  show();
}

function show() {
  const img = photos[at];
  if (!img) return;
  image.src = img.currentSrc || img.src;
  image.alt = img.alt || 'Photo';
  const bubble = img.closest('.message');
  const text = bubble && bubble.querySelector('.caption');
  caption.textContent = text ? text.textContent : '';
  caption.hidden = !caption.textContent;
  counter.textContent = `${at + 1} / ${photos.length}`;
  dialog.querySelector('.prev').disabled = at === 0;
  dialog.querySelector('.next').disabled = at === photos.length - 1;
}
