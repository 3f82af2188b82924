// The favicon shows the unread count: a green chat bubble with a red badge, drawn on a canvas.
//
// The count is the one the page title already shows ("(3) WhatsApp Inbox", chat-list.js): a
// MutationObserver follows the title, so no view has to call in here.

const SIZE = 32;
let link = null;
let shown = null;

function iconLink() {
  if (link) return link;
  link = document.querySelector('link[rel="icon"]');
  if (!link) {
    link = document.createElement('link');
    link.rel = 'icon';
    document.head.append(link);
  }
  return link;
}

function draw(count) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = SIZE;
  const g = canvas.getContext('2d');
  if (!g) return null;
  // The bubble.
  g.fillStyle = '#128c7e';
  g.beginPath();
  g.arc(15, 15, 13, 0, 2 * Math.PI);
  g.fill();
  g.beginPath();
  g.moveTo(5, 24);
  g.lineTo(3, 31);
  g.lineTo(11, 27);
  g.fill();
  g.fillStyle = '#ffffff';
  for (const x of [9, 15, 21]) {
    g.beginPath();
    g.arc(x, 15, 2.2, 0, 2 * Math.PI);
    g.fill();
  }
  if (count > 0) {
    const text = count > 99 ? '99+' : String(count);
    const w = Math.max(16, 7 * text.length + 6);
    g.fillStyle = '#d93025';
    g.beginPath();
    g.roundRect(SIZE - w, 0, w, 16, 8);
    g.fill();
    g.fillStyle = '#ffffff';
    g.font = 'bold 12px system-ui, sans-serif';
    g.textAlign = 'center';
    g.textBaseline = 'middle';
    g.fillText(text, SIZE - w / 2, 8.5);
  }
  return canvas.toDataURL('image/png');
}

/** Sets the favicon for `count` unread conversations (0: the plain icon). */
export function setFaviconCount(count) {
  const n = Math.max(0, Number(count) || 0);
  if (n === shown) return;
  const url = draw(n);
  if (!url) return;
  shown = n;
  const el = iconLink();
  el.type = 'image/png';
  el.href = url;
  el.dataset.unread = String(n);
}

function countFromTitle() {
  const m = /^\((\d+)\)/.exec(document.title || '');
  return m ? Number(m[1]) : 0;
}

/** Keeps the favicon in step with the title's unread count from now on. */
export function initFavicon() {
  setFaviconCount(countFromTitle());
  const title = document.querySelector('title');
  if (!title) return;
  new MutationObserver(() => setFaviconCount(countFromTitle())).observe(title, {
    childList: true,
    characterData: true,
    subtree: true,
  });
}
