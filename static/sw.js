// The dashboard's service worker (served as /sw.js, scope /): it keeps a copy of the shell (the
// page, its scripts, styles and icons) so the app opens when the server cannot be reached,
// with an "offline" notice instead of the browser's error page; and it shows Web Push
// notifications, opening the conversation when one is clicked.
//
// Only the shell is ever stored: GET requests for "/" and "/static/…" without credentials.
// API answers, media, websockets and anything carrying an Authorization header go straight to
// the network and are never cached. The network is asked first (a deploy shows at once); the
// copy answers when the network fails, or takes longer than NETWORK_WAIT_MS.

const CACHE = 'inbox-shell-v1';
const NETWORK_WAIT_MS = 3000;

// The shell's entry points; the scripts they import are found by following `import … from
// './x.js'` (the dashboard has no build step), so a new module needs no change here.
const ENTRY = ['/', '/static/app.js', '/static/style.css', '/static/manifest.webmanifest', '/static/icons/icon-32.png', '/static/icons/icon-192.png'];
const IMPORT_RE = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.\/[\w./-]+\.js)['"]|(?:^|[\s;])import\s*['"](\.\/[\w./-]+\.js)['"]/g;

function isShell(url) {
  return url.origin === self.location.origin && (url.pathname === '/' || url.pathname.startsWith('/static/'));
}

async function precache() {
  const cache = await caches.open(CACHE);
  const seen = new Set();
  const queue = [...ENTRY];
  while (queue.length) {
    const path = queue.shift();
    if (seen.has(path)) continue;
    seen.add(path);
    const response = await fetch(path, { cache: 'no-cache' });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    if (path.endsWith('.js')) {
      const text = await response.clone().text();
      for (const m of text.matchAll(IMPORT_RE)) queue.push(new URL(m[1] || m[2], new URL(path, self.location.origin)).pathname);
    }
    await cache.put(path, response);
  }
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys().then((names) => Promise.all(names.filter((n) => n.startsWith('inbox-shell-') && n !== CACHE).map((n) => caches.delete(n))))
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || request.headers.has('Authorization')) return;
  const url = new URL(request.url);
  if (!isShell(url)) return; // API, media, websocket, webhook: the network's, never stored
  const key = request.mode === 'navigate' ? '/' : url.pathname;
  const network = fetch(request);
  // Keep the copy fresh with every answer from the network (cloned before the page reads it).
  const stored = network
    .then(async (response) => {
      if (!response.ok || response.type !== 'basic') return;
      const copy = response.clone();
      await (await caches.open(CACHE)).put(key, copy);
    })
    .catch(() => {});
  event.waitUntil(stored);
  event.respondWith(answer(request, key, network));
});

async function answer(request, key, network) {
  const timeout = new Promise((resolve) => setTimeout(resolve, NETWORK_WAIT_MS, null));
  try {
    const first = await Promise.race([network, timeout]);
    if (first) return first;
  } catch {
    /* unreachable: the copy answers */
  }
  const cached = await (await caches.open(CACHE)).match(key);
  if (cached) return cached;
  try {
    return await network; // nothing stored yet: keep waiting for the network
  } catch {
    if (request.mode === 'navigate') return offlinePage();
    return Response.error();
  }
}

function offlinePage() {
  const html =
    '<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<title>Offline · WhatsApp Inbox</title><h1 style="font-family:system-ui;color:#075e54">Offline</h1>' +
    '<p style="font-family:system-ui">The inbox server cannot be reached. Reload this page when you are back online.</p>';
  return new Response(html, { status: 503, headers: { 'Content-Type': 'text/html; charset=utf-8' } });
}

// ---- Web Push ------------------------------------------------------------------------------

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: 'WhatsApp Inbox', body: event.data ? event.data.text() : '' };
  }
  const title = data.title || 'WhatsApp Inbox';
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.body || '',
      tag: data.tag || undefined,
      icon: '/static/icons/icon-192.png',
      badge: '/static/icons/icon-192.png',
      data: { conversationId: data.conversationId ?? null, url: data.url || '/' },
    })
  );
});

self.addEventListener('notificationclick', (event) => {
  const data = event.notification.data || {};
  event.notification.close();
  event.waitUntil(openConversation(data));
});

/** What a click on a push notification does (also reachable as self.openConversation). */
async function openConversation(data) {
  const url = new URL(data.url || '/', self.location.origin);
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
  if (open) {
    await open.focus().catch(() => {}); // allowed from a click only
    open.postMessage({ type: 'open-conversation', conversationId: data.conversationId });
    return;
  }
  await self.clients.openWindow(url.href);
}

self.openConversation = openConversation;
