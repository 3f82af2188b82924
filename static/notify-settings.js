// Notification preferences (kept on the server, per user: /api/me/preferences) and the
// visible controls for them: the header's bell opens a dialog; a banner offers desktop
// notifications. The browser's permission is asked for only when the user clicks one of
// them, never on page load (browsers penalise sites that ask unprompted, and users say no).

import { api } from './api.js';
import { h } from './dom.js';

const CACHE_KEY = 'inbox.notify.prefs';
const DISMISS_KEY = 'inbox.notify.bannerDismissed';
const SCOPE_TEXT = {
  mine: 'Only my conversations',
  queue: 'My conversations and the unassigned queue',
  all: 'Every conversation I can see',
};

const DEFAULTS = { sound: true, desktop: true, scope: 'all', scopes: ['mine'] };
export const prefs = { ...DEFAULTS, ...readCache() };

let hooks = { changed: () => {}, test: () => {}, extraSections: () => [] };
let dialog = null;
let banner = null;
let signedIn = false;

function readCache() {
  try {
    return JSON.parse(localStorage.getItem(CACHE_KEY) || '{}') || {};
  } catch {
    return {};
  }
}

function writeCache() {
  try {
    localStorage.setItem(CACHE_KEY, JSON.stringify(prefs));
  } catch {
    /* private mode: the server copy is the one that counts */
  }
}

export function notificationsSupported() {
  return typeof window.Notification === 'function';
}

export function permission() {
  return notificationsSupported() ? Notification.permission : 'unsupported';
}

/**
 * hooks.changed()          preferences or permission changed
 * hooks.test()             show a sample notification (the dialog's "Try it")
 * hooks.extraSections()    more nodes for the dialog (the Web Push device list)
 */
export function initNotifySettings(options) {
  hooks = { ...hooks, ...options };
  const button = document.getElementById('notify-button');
  if (button) button.addEventListener('click', openDialog);
}

/** Loads the signed-in user's preferences; the cached copy stands in until it answers. */
export async function loadPrefs() {
  signedIn = true;
  renderBanner();
  try {
    Object.assign(prefs, await api('/api/me/preferences'));
    writeCache();
  } catch {
    /* offline: keep the cached copy */
  }
  renderBanner();
  hooks.changed();
}

export function resetPrefs() {
  signedIn = false;
  if (dialog && dialog.open) dialog.close();
  renderBanner();
}

export async function savePrefs(changes) {
  Object.assign(prefs, changes);
  writeCache();
  renderBanner();
  hooks.changed();
  try {
    Object.assign(prefs, await api('/api/me/preferences', { method: 'PUT', body: changes }));
    writeCache();
  } catch {
    /* kept locally; the next change or load retries */
  }
}

/** Asks the browser for permission: call only from a click. */
export async function askPermission() {
  if (!notificationsSupported()) return 'unsupported';
  let result = Notification.permission;
  if (result === 'default') {
    try {
      result = await Notification.requestPermission();
    } catch {
      result = Notification.permission;
    }
  }
  if (result === 'granted' && !prefs.desktop) await savePrefs({ desktop: true });
  renderBanner();
  if (dialog && dialog.open) renderDialog();
  hooks.changed();
  return result;
}

// ---- the banner ---------------------------------------------------------------------------

function renderBanner() {
  const wanted =
    signedIn && prefs.desktop && permission() === 'default' && localStorage.getItem(DISMISS_KEY) !== '1';
  if (!wanted) {
    if (banner) banner.hidden = true;
    return;
  }
  if (!banner) {
    banner = h(
      'div',
      { id: 'notify-banner', class: 'notify-banner', role: 'region', 'aria-label': 'Notifications' },
      h('span', { text: 'Know when a customer writes, even with this tab in the background.' }),
      h('button', { type: 'button', class: 'primary', id: 'notify-enable', onclick: () => askPermission() }, 'Turn on desktop notifications'),
      h(
        'button',
        {
          type: 'button',
          class: 'notify-dismiss',
          'aria-label': 'Not now',
          onclick: () => {
            localStorage.setItem(DISMISS_KEY, '1');
            renderBanner();
          },
        },
        'Not now'
      )
    );
    // At the foot of the conversation list: seen, and never in front of the composer.
    const pane = document.querySelector('#chat-panel .list-pane');
    (pane || document.getElementById('app-view')).append(banner);
  }
  banner.hidden = false;
}

// ---- the dialog ---------------------------------------------------------------------------

function openDialog() {
  if (!dialog) {
    dialog = h('dialog', { id: 'notify-dialog', class: 'dialog notify-dialog', 'aria-labelledby': 'notify-dialog-title' });
    document.getElementById('app-view').append(dialog);
  }
  renderDialog();
  if (!dialog.open) dialog.showModal();
}

/** Redraws the dialog if it is open (another tab or the permission changed something). */
export function refreshDialog() {
  if (dialog && dialog.open) renderDialog();
}

function checkbox(id, label, checked, onChange, disabled = false) {
  const input = h('input', { type: 'checkbox', id, checked, disabled });
  input.addEventListener('change', () => onChange(input.checked));
  return h('div', { class: 'notify-row' }, input, h('label', { for: id, text: label }));
}

function permissionLine() {
  const p = permission();
  if (p === 'granted') return h('p', { class: 'hint', id: 'notify-permission', text: 'This browser shows desktop notifications.' });
  if (p === 'denied')
    return h('p', {
      class: 'hint',
      id: 'notify-permission',
      text: 'This browser blocks notifications from this site: allow them in the site settings (the icon left of the address).',
    });
  if (p === 'unsupported')
    return h('p', { class: 'hint', id: 'notify-permission', text: 'This browser cannot show desktop notifications here.' });
  return h(
    'p',
    { class: 'hint', id: 'notify-permission' },
    'The browser will ask you once. ',
    h('button', { type: 'button', id: 'notify-allow', onclick: () => askPermission() }, 'Allow notifications')
  );
}

function renderDialog() {
  const scopes = Array.isArray(prefs.scopes) && prefs.scopes.length ? prefs.scopes : ['mine'];
  const select = h(
    'select',
    { id: 'notify-scope', 'aria-label': 'Which conversations notify you' },
    scopes.map((s) => h('option', { value: s, selected: s === prefs.scope || (!scopes.includes(prefs.scope) && s === scopes[scopes.length - 1]) }, SCOPE_TEXT[s] || s))
  );
  select.addEventListener('change', () => savePrefs({ scope: select.value }));
  dialog.replaceChildren(
    h('h2', { id: 'notify-dialog-title', text: 'Notifications' }),
    h('p', { class: 'hint', text: 'When a customer writes (or someone mentions you in a note) and you are not looking at that conversation.' }),
    checkbox('notify-sound', 'Play a sound', !!prefs.sound, (on) => savePrefs({ sound: on })),
    checkbox('notify-desktop', 'Desktop notification while this tab is in the background', !!prefs.desktop, (on) => {
      savePrefs({ desktop: on });
      if (on) askPermission();
    }),
    permissionLine(),
    h('label', { for: 'notify-scope', text: 'Notify me about' }),
    select,
    ...hooks.extraSections(),
    h(
      'div',
      { class: 'dialog-actions' },
      h('button', { type: 'button', id: 'notify-test', onclick: () => hooks.test() }, 'Try it'),
      h('button', { type: 'button', id: 'notify-close', onclick: () => dialog.close() }, 'Close')
    )
  );
}
