// Web Push on this device: "Notify me on this device" subscribes the browser with the
// server's VAPID key and hands the subscription to the server; the service worker
// (static/sw.js) shows what arrives, even with every dashboard tab closed. Web Push needs a
// secure context (https://, or http://localhost) and a browser that has a push service.

import { api } from './api.js';
import { h } from './dom.js';

let active = false; // this browser has a subscription the server knows of
let devices = [];
let message = '';
let onChange = () => {};

export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && window.isSecureContext;
}

/** Whether pushes reach this device (the page then leaves desktop notifications to them). */
export function pushActive() {
  return active;
}

export function initPush(options) {
  onChange = options.changed || onChange;
}

async function registration() {
  if (!pushSupported()) return null;
  return (await navigator.serviceWorker.getRegistration('/')) || null;
}

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (base64url.length % 4)) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** After sign-in: a subscription this browser already has is (re)attached to this user. */
export async function startPush() {
  active = false;
  const reg = await registration();
  const sub = reg && (await reg.pushManager.getSubscription().catch(() => null));
  if (sub && Notification.permission === 'granted') {
    try {
      await api('/api/push/subscriptions', { method: 'POST', body: sub.toJSON() });
      active = true;
    } catch {
      active = false;
    }
  }
  onChange();
}

export async function enablePush() {
  message = '';
  try {
    if (Notification.permission !== 'granted' && (await Notification.requestPermission()) !== 'granted') {
      throw new Error('The browser did not allow notifications for this site.');
    }
    const { publicKey } = await api('/api/push/key');
    const reg = await navigator.serviceWorker.ready;
    const old = await reg.pushManager.getSubscription();
    if (old) await old.unsubscribe(); // perhaps made with another server key
    const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) });
    await api('/api/push/subscriptions', { method: 'POST', body: sub.toJSON() });
    active = true;
  } catch (err) {
    active = false;
    message = err && err.message ? `Could not turn it on: ${err.message}` : 'Could not turn it on.';
  }
  await loadDevices();
}

/** Stops pushes to this browser (and tells the server); used by the dialog and at logout. */
export async function disablePush() {
  const reg = await registration();
  const sub = reg && (await reg.pushManager.getSubscription().catch(() => null));
  if (sub) {
    await api('/api/push/subscriptions', { method: 'DELETE', body: { endpoint: sub.endpoint } }).catch(() => {});
    await sub.unsubscribe().catch(() => {});
  }
  active = false;
}

export async function loadDevices() {
  try {
    devices = await api('/api/push/subscriptions');
  } catch {
    devices = [];
  }
  onChange();
}

async function removeDevice(id) {
  await api(`/api/push/subscriptions/${encodeURIComponent(id)}`, { method: 'DELETE' }).catch(() => {});
  await startPush(); // it may have been this one
  await loadDevices();
}

/** The dialog's "This device" part: the push switch and the list of the user's devices. */
export function pushSection() {
  const nodes = [h('h3', { class: 'notify-subhead', text: 'Push notifications' })];
  if (!pushSupported()) {
    nodes.push(
      h('p', {
        class: 'hint',
        id: 'push-status',
        text: 'This browser cannot receive push notifications here: Web Push needs the dashboard on https:// (or http://localhost).',
      })
    );
  } else if (active) {
    nodes.push(
      h('p', { class: 'hint', id: 'push-status', text: 'This device is notified even with the dashboard closed.' }),
      h('button', { type: 'button', id: 'push-disable', onclick: () => disablePush().then(loadDevices) }, 'Stop notifying this device')
    );
  } else {
    nodes.push(
      h('p', { class: 'hint', id: 'push-status', text: message || 'Get notified on this device even with the dashboard closed.' }),
      h('button', { type: 'button', class: 'primary', id: 'push-enable', onclick: () => enablePush() }, 'Notify me on this device')
    );
  }
  if (devices.length) {
    nodes.push(
      h(
        'ul',
        { class: 'notify-devices', 'aria-label': 'Your devices' },
        devices.map((d) =>
          h(
            'li',
            {},
            h('span', { text: `${d.device || 'A browser'} · since ${new Date(d.createdAt).toLocaleDateString()}` }),
            h('button', { type: 'button', 'aria-label': `Remove ${d.device || 'this device'}`, onclick: () => removeDevice(d.id) }, 'Remove')
          )
        )
      )
    );
  }
  return nodes;
}
