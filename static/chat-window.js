// WhatsApp's 24-hour customer service window, as the agent sees it: a countdown above the
// composer ("Window closes in 3 h 12 min"), a "closing soon" tag on list rows with less than
// an hour left, and the composer switching to templates the moment the window closes, without
// a reload (a timer set for that moment calls the composer's update).

import { h, parseDate } from './dom.js';
import { state, windowState } from './chat-state.js';

export const SOON_MS = 60 * 60 * 1000;
const MINUTE = 60 * 1000;

const ui = {};
let hooks = { changed: () => {} };
let timer = null;

/** hooks.changed(): the composer follows the window (chat-composer.js updateComposer). */
export function initWindow(input, options) {
  hooks = { ...hooks, ...options };
  const composer = input.closest('.composer');
  ui.countdown = h('p', { id: 'window-countdown', class: 'window-countdown', role: 'status', hidden: true });
  composer.insertBefore(ui.countdown, composer.firstChild);
}

/** Milliseconds until a conversation's window closes (≤ 0: closed), or null without one. */
export function windowLeft(conv, now = Date.now()) {
  const until = conv && parseDate(conv.windowOpenUntil);
  return until ? until.getTime() - now : null;
}

/** "3 h 12 min", "12 min", "less than a minute". */
export function leftText(ms) {
  const minutes = Math.floor(ms / MINUTE);
  if (minutes < 1) return 'less than a minute';
  const hours = Math.floor(minutes / 60);
  return hours ? `${hours} h ${minutes % 60} min` : `${minutes} min`;
}

/** The list row's tag while less than an hour is left (null otherwise). */
export function closingSoonTag(row, now = Date.now()) {
  const left = windowLeft(row, now);
  if (left == null || left <= 0 || left > SOON_MS) return null;
  return h('span', { class: 'window-tag', title: 'The 24-hour reply window closes soon', text: `Closes in ${leftText(left)}` });
}

/** Redraws the countdown for the open conversation and sets the timer for its next change. */
export function updateWindowCountdown() {
  clearTimeout(timer);
  timer = null;
  if (!ui.countdown) return;
  const left = windowLeft(state.openConv);
  const open = windowState() === 'open' && left != null && left > 0;
  ui.countdown.hidden = !open || state.noteMode;
  if (!open) return;
  ui.countdown.textContent = `Window closes in ${leftText(left)}`;
  ui.countdown.dataset.soon = String(left <= SOON_MS);
  ui.countdown.title = `Free-form replies are possible until ${new Date(Date.now() + left).toLocaleString()}`;
  // Next: the minute shown changes, or the window closes (then the composer switches).
  const next = Math.min(left, left % MINUTE || MINUTE) + 50;
  timer = setTimeout(() => (windowLeft(state.openConv) > 0 ? updateWindowCountdown() : hooks.changed()), next);
}
