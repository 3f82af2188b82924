// Sending a location (#share-location) or a contact card (#share-contact) from the composer,
// as WhatsApp's own attach menu does. Each opens a small dialog, then posts the Cloud API's
// shape to /api/conversations/send ({location} or {contacts}); the server checks it and
// answers 422 with what is wrong, shown in the dialog. chat-composer.js calls updateShare()
// when the 24-hour window may have changed: like text, these need an open window.

import { api, uuid } from './api.js';
import { h } from './dom.js';

let hooks = { conversation: () => null, onSent: () => {} };
const el = {};
let windowClosed = false;

const field = (id, label, props = {}) => [
  h('label', { for: id, text: label }),
  h('input', { id, type: 'text', autocomplete: 'off', ...props }),
];

function dialog(id, title, fields, extra = []) {
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Send' });
  const cancel = h('button', { type: 'button', text: 'Cancel' });
  const form = h('form', { novalidate: true }, h('h2', { text: title }), fields, extra, error, h('div', { class: 'dialog-actions' }, cancel, submit));
  const box = h('dialog', { id, class: 'dialog share-dialog' }, form);
  cancel.addEventListener('click', () => box.close());
  return { box, form, error, submit };
}

/** Adds the two buttons beside the attach button, and their dialogs. */
export function initShare(options) {
  hooks = { ...hooks, ...options };
  const attach = document.getElementById('composer-attach');
  if (!attach) return;
  el.locationButton = h('button', { id: 'share-location', type: 'button', class: 'attach-button share-button', title: 'Send a location', 'aria-label': 'Send a location', text: '📍' });
  el.contactButton = h('button', { id: 'share-contact', type: 'button', class: 'attach-button share-button', title: 'Send a contact card', 'aria-label': 'Send a contact card', text: '👤' });
  attach.after(el.locationButton, el.contactButton);

  const here = h('button', { type: 'button', class: 'link-button', text: 'Use my current location' });
  el.location = dialog(
    'location-dialog',
    'Send a location',
    [
      ...field('location-latitude', 'Latitude', { inputmode: 'decimal', placeholder: '-6.7924', required: true }),
      ...field('location-longitude', 'Longitude', { inputmode: 'decimal', placeholder: '39.2083', required: true }),
      ...field('location-name', 'Name (optional)', { placeholder: 'Our shop' }),
      ...field('location-address', 'Address (optional)'),
    ],
    [here],
  );
  here.addEventListener('click', () => useCurrentPosition());
  el.contact = dialog('contact-dialog', 'Send a contact card', [
    ...field('contact-name', 'Name', { required: true, placeholder: 'Juma Baraka' }),
    ...field('contact-phone', 'Phone number', { type: 'tel', placeholder: '+255 712 345 678' }),
    ...field('contact-email', 'Email (optional)', { type: 'email' }),
    ...field('contact-company', 'Company (optional)'),
  ]);
  document.body.append(el.location.box, el.contact.box);

  el.locationButton.addEventListener('click', () => open(el.location));
  el.contactButton.addEventListener('click', () => open(el.contact));
  el.location.form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit(el.location, locationBody());
  });
  el.contact.form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit(el.contact, contactBody());
  });
  render();
}

/** Like text, a location or contact needs the 24-hour window open. */
export function updateShare(windowState) {
  windowClosed = windowState === 'closed';
  render();
}

function render() {
  for (const button of [el.locationButton, el.contactButton]) if (button) button.disabled = windowClosed;
}

function open(d) {
  d.form.reset();
  showError(d, '');
  d.submit.disabled = false;
  d.box.showModal();
  d.form.querySelector('input').focus();
}

function showError(d, text) {
  d.error.textContent = text;
  d.error.hidden = !text;
}

const value = (id) => document.getElementById(id).value.trim();

function useCurrentPosition() {
  if (!navigator.geolocation) {
    showError(el.location, 'This browser cannot tell its location: type the coordinates.');
    return;
  }
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      document.getElementById('location-latitude').value = pos.coords.latitude.toFixed(6);
      document.getElementById('location-longitude').value = pos.coords.longitude.toFixed(6);
    },
    (err) => showError(el.location, `Could not get your location: ${err.message}`),
  );
}

function locationBody() {
  const location = { latitude: value('location-latitude'), longitude: value('location-longitude') };
  // Numbers go as numbers; anything else goes as typed, so the server names what is wrong.
  for (const key of ['latitude', 'longitude']) {
    const n = Number(location[key].replace(',', '.'));
    if (location[key] && Number.isFinite(n)) location[key] = n;
    else if (!location[key]) delete location[key];
  }
  for (const key of ['name', 'address']) if (value(`location-${key}`)) location[key] = value(`location-${key}`);
  return { location };
}

function contactBody() {
  const name = value('contact-name');
  const [first, ...rest] = name.split(/\s+/);
  const card = { name: { formatted_name: name, first_name: first || name } };
  if (rest.length) card.name.last_name = rest.join(' ');
  const phone = value('contact-phone');
  if (phone) card.phones = [{ phone, type: 'CELL' }];
  if (value('contact-email')) card.emails = [{ email: value('contact-email'), type: 'WORK' }];
  if (value('contact-company')) card.org = { company: value('contact-company') };
  return { contacts: [card] };
}

async function submit(d, body) {
  const conv = hooks.conversation();
  if (!conv) return;
  d.submit.disabled = true;
  showError(d, '');
  try {
    const msg = await api('/api/conversations/send', { method: 'POST', body: { conversationId: conv.id, clientId: uuid(), ...body } });
    d.box.close();
    hooks.onSent(msg);
  } catch (err) {
    if (err.status !== 401) showError(d, err.message);
  } finally {
    d.submit.disabled = false;
  }
}
