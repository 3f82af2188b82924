// Links in message text, made clickable safely: only http:// and https:// addresses become
// links (never javascript:, data: or anything else), each opens in a new tab with
// rel="noopener noreferrer", and all text goes in as text nodes (no HTML is ever parsed).

import { h } from './dom.js';

const URL_LIKE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?'"»”’]+$/; // sentence punctuation after a link is not part of it

/** A checked http(s) URL, or null. */
export function safeLink(candidate) {
  if (typeof candidate !== 'string') return null;
  try {
    const url = new URL(candidate);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

function trimEnd(raw) {
  let text = raw.replace(TRAILING, '');
  // A closing bracket belongs to the link only if the link opened one: "(see https://x.y/a)".
  while (/[)\]]$/.test(text)) {
    const close = text.slice(-1);
    const open = close === ')' ? '(' : '[';
    if (text.split(open).length >= text.split(close).length) break;
    text = text.slice(0, -1).replace(TRAILING, '');
  }
  return text;
}

/** The text as a list of strings and <a> elements, for h(). */
export function linkify(text) {
  const value = String(text ?? '');
  const parts = [];
  let last = 0;
  for (const match of value.matchAll(URL_LIKE)) {
    const raw = trimEnd(match[0]);
    const href = safeLink(raw);
    if (!href) continue;
    if (match.index > last) parts.push(value.slice(last, match.index));
    parts.push(h('a', { class: 'text-link', href, target: '_blank', rel: 'noopener noreferrer', text: raw }));
    last = match.index + raw.length;
  }
  if (last < value.length) parts.push(value.slice(last));
  return parts;
}
