// Tiny DOM helpers and date formatting shared by the views.

/**
 * Creates an element. String and number children become text nodes and props are set with
 * setAttribute, so nothing passed in here is ever parsed as HTML: data from WhatsApp can go
 * straight in.
 *   props: class, dataset {...}, text, on<event>: fn, any other attribute (true = present).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v != null) el.dataset[k] = String(v);
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false || child === '') continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/**
 * Makes `container`'s children exactly `nodes`, in order, moving existing nodes rather than
 * recreating them (keeps images loaded, focus and scroll position stable).
 */
export function reconcile(container, nodes) {
  let cursor = container.firstChild;
  for (const node of nodes) {
    if (node === cursor) {
      cursor = cursor.nextSibling;
      continue;
    }
    container.insertBefore(node, cursor);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

// ---- dates -------------------------------------------------------------------------------

/** Parses the server's ISO timestamps; a missing zone is taken as UTC, not local time. */
export function parseDate(iso) {
  if (!iso) return null;
  const s = String(iso);
  const zoned = /(?:[zZ]|[+-]\d\d:?\d\d)$/.test(s) || !s.includes('T');
  const d = new Date(zoned ? s : `${s}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

const startOfDay = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate());
const dayDiff = (a, b) => Math.round((startOfDay(a) - startOfDay(b)) / 86400000);

/** Short age for the conversation list: "now", "2 min", "3 h", "Yesterday", "Mon", "12/03/2024". */
export function relativeTime(iso, now = new Date()) {
  const d = parseDate(iso);
  if (!d) return '';
  const secs = Math.max(0, (now - d) / 1000);
  if (secs < 60) return 'now';
  if (secs < 3600) return `${Math.floor(secs / 60)} min`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h`;
  const days = dayDiff(now, d);
  if (days <= 1) return 'Yesterday';
  if (days < 7) return d.toLocaleDateString(undefined, { weekday: 'short' });
  return d.toLocaleDateString();
}

export function clockTime(iso) {
  const d = parseDate(iso);
  return d ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }) : '';
}

export function fullDateTime(iso) {
  const d = parseDate(iso);
  return d ? d.toLocaleString() : '';
}

/** Local calendar day, used to place the day separators in a thread. */
export function dayKey(iso) {
  const d = parseDate(iso);
  return d ? `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}` : 'unknown';
}

export function dayLabel(iso, now = new Date()) {
  const d = parseDate(iso);
  if (!d) return '';
  const days = dayDiff(now, d);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days > 1 && days < 7) return d.toLocaleDateString(undefined, { weekday: 'long' });
  return d.toLocaleDateString(undefined, { day: 'numeric', month: 'long', year: 'numeric' });
}
