// Keyboard shortcuts, and the list of them behind `?`.

import { $ } from './dom.js';

// [key, what it does]; handlers come from app.js.
export const SHORTCUTS = [
  ['?', 'Show this list'],
  ['/', 'Search conversations'],
  ['j / k', 'Next / previous conversation'],
  ['e', 'Resolve (or reopen) the open conversation'],
  ['n', 'Write a private note (again: back to replying)'],
  ['a', 'Assign the open conversation'],
  ['Esc', 'Leave the text box; close this list'],
];

function typing(target) {
  return target && (target.closest('input, textarea, select, [contenteditable="true"]') || target.isContentEditable);
}

/** actions: { enabled(), search(), step(delta), resolve(), note(), assign() } */
export function initShortcuts(actions) {
  const dialog = $('#shortcuts-dialog');
  $('#shortcuts-close').addEventListener('click', () => dialog.close());
  $('#shortcuts-button').addEventListener('click', () => dialog.showModal());
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || !actions.enabled()) return;
    if (typing(e.target)) {
      if (e.key === 'Escape') e.target.blur();
      return;
    }
    const handlers = {
      '?': () => (dialog.open ? dialog.close() : dialog.showModal()),
      '/': actions.search,
      j: () => actions.step(1),
      k: () => actions.step(-1),
      e: actions.resolve,
      n: actions.note,
      a: actions.assign,
    };
    const handler = handlers[e.key];
    if (!handler || (dialog.open && e.key !== '?')) return;
    e.preventDefault();
    handler();
  });
}
