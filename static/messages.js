// Rendering of single messages (thread bubbles) and of one-line previews (conversation list).
// Everything that came from WhatsApp goes through h(), i.e. into text nodes and attributes.

import { mediaUrl } from './api.js';
import { h, clockTime, fullDateTime } from './dom.js';
import { linkify, safeLink } from './links.js';
import { editedMark, marksAbove, specialBody, systemLine } from './message-marks.js';

const TYPE_LABELS = {
  image: '📷 Photo',
  video: '🎥 Video',
  audio: '🎤 Audio',
  voice: '🎤 Voice message',
  document: '📄 Document',
  sticker: '💟 Sticker',
  location: '📍 Location',
  contacts: '👤 Contact',
  order: '🛒 Order',
  reaction: 'Reaction',
  unsupported: '⚠ Unsupported message',
};

const TICKS = { pending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '⚠' };
const TICK_TITLES = { pending: 'Sending…', sent: 'Sent', delivered: 'Delivered', read: 'Read' };

/** Display name of a conversation row. */
export function conversationTitle(conv) {
  if (!conv) return '';
  return conv.contactName || conv.phoneNumber || conv.waUserId || `Conversation #${conv.id}`;
}

/** One line for the conversation list, from a lastMessage object. */
export function previewText(msg) {
  if (!msg) return '';
  if (msg.deleted) return '🚫 This message was deleted';
  const content = (msg.content || '').replace(/\s+/g, ' ').trim();
  if (msg.type === 'note') return `🔒 ${content}`;
  if (msg.type === 'text' || msg.type === 'interactive' || msg.type === 'button' || msg.type === 'template' || msg.type === 'system') return content;
  const label = TYPE_LABELS[msg.type] || `Message (${msg.type})`;
  return content ? `${label}: ${content}` : label;
}

export function tickGlyph(status) {
  return TICKS[status] || '';
}

/** The text of a failed message's error, as the server described it. */
export function errorText(error) {
  if (!error) return 'The message could not be sent.';
  if (typeof error === 'string') return error;
  const text = error.message || [error.title, error.detail].filter(Boolean).join(': ') || 'The message could not be sent.';
  return error.code != null ? `${text} (code ${error.code})` : text;
}

/**
 * Builds the bubble for one message.
 *   ctx.lookup(id)       -> a loaded message by id (to label quotes), or undefined
 *   ctx.onQuoteClick(id) -> jump to the quoted message
 *   ctx.contactName      -> name shown for inbound quotes
 */
export function renderMessage(msg, ctx = {}) {
  if (msg.type === 'system') return systemLine(msg);
  if (msg.type === 'activity') {
    // A history line ("Sam assigned this to Ana"), like WhatsApp's own system messages.
    return h(
      'div',
      { class: 'message activity', dataset: { id: msg.id, type: 'activity' }, role: 'note' },
      h('span', { class: 'activity-text', title: fullDateTime(msg.createdAt), text: `${msg.content} · ${clockTime(msg.createdAt)}` }),
    );
  }
  if (msg.type === 'note') {
    // A private note: only the team sees it, never the customer.
    return h(
      'div',
      { class: 'message note', dataset: { id: msg.id, type: 'note' } },
      h(
        'div',
        { class: 'bubble' },
        h('div', { class: 'note-author', text: `🔒 ${msg.authorName || 'Note'} · private note` }),
        h('div', { class: 'text' }, linkify(msg.content)),
        h('div', { class: 'meta' }, h('time', { datetime: msg.createdAt, title: fullDateTime(msg.createdAt), text: clockTime(msg.createdAt) })),
      ),
    );
  }
  const dir = msg.direction === 'outbound' ? 'outbound' : 'inbound';
  const el = h('div', {
    class: `message ${dir}${msg.id == null ? ' optimistic' : ''}`,
    dataset: { id: msg.id, clientId: msg.id == null ? msg.clientId : null, type: msg.type },
  });

  const bubble = h('div', { class: 'bubble' });
  // Which agent sent a reply (the team sees each other's replies in one thread).
  if (dir === 'outbound' && msg.authorName) bubble.append(h('div', { class: 'message-author', text: msg.authorName }));
  if (msg.replyTo) bubble.append(renderQuote(msg.replyTo, ctx));
  bubble.append(...marksAbove(msg));
  bubble.append(...(specialBody(msg) || renderBody(msg)).filter(Boolean)); // append(null) would insert the text "null"
  bubble.append(renderMeta(msg, el));
  el.append(bubble);
  if (dir === 'outbound' && msg.status === 'failed') {
    el.classList.add('failed');
    el.append(renderFailure(msg, ctx));
  }

  if (Array.isArray(msg.reactions) && msg.reactions.length) {
    el.append(
      h(
        'div',
        { class: 'reactions' },
        msg.reactions.map((r) =>
          h('span', {
            class: 'reaction',
            dataset: { direction: r.direction },
            title: r.direction === 'outbound' ? 'You reacted' : 'Customer reacted',
            text: r.emoji,
          }),
        ),
      ),
    );
  }
  return el;
}

// What the server can send again as it was stored (server/retry.py); anything else is written anew.
const RETRYABLE = new Set(['text', 'template', 'image', 'video', 'audio', 'voice', 'document', 'sticker', 'location', 'contacts']);

/**
 * Under a failed reply: why, in words (Meta's error as the server explained it), and what the
 * agent can do: Retry (the same message again), or a template once the 24-hour window closed.
 *   ctx.onRetry(msg), ctx.onTemplate(), ctx.windowClosed
 */
function renderFailure(msg, ctx) {
  const err = msg.error && typeof msg.error === 'object' ? msg.error : null;
  const uncertain = !!(err && err.uncertain);
  const actions = [];
  if (ctx.windowClosed && msg.type !== 'template') {
    actions.push(h('button', { type: 'button', class: 'template-instead', text: 'Send a template instead', onclick: () => ctx.onTemplate && ctx.onTemplate() }));
  } else if (msg.id != null && ctx.onRetry && RETRYABLE.has(msg.type)) {
    actions.push(h('button', {
      type: 'button',
      class: 'retry-button',
      text: uncertain ? 'Send again' : 'Retry',
      title: uncertain ? 'It may have reached the customer: check before sending it again' : 'Send this same message again',
      onclick: async (e) => {
        const button = e.currentTarget;
        button.disabled = true; // one click, one retry; a refusal gives the button back
        try {
          await ctx.onRetry(msg);
        } finally {
          button.disabled = false;
        }
      },
    }));
  }
  return h(
    'div',
    { class: 'message-failure', role: 'alert', dataset: { uncertain: uncertain ? 'true' : null } },
    h('span', { class: 'failure-reason', title: err && err.code != null ? `WhatsApp error ${err.code}` : null, text: failureReason(err, msg.error) }),
    actions.length ? h('span', { class: 'failure-actions' }, actions) : null,
  );
}

function failureReason(err, raw) {
  if (!err) return typeof raw === 'string' && raw ? `Not sent: ${raw}` : 'Not sent: the message could not be sent.';
  if (err.uncertain) return err.message || 'This message may not have been sent: check before resending.';
  const text = err.message || [err.title, err.detail].filter(Boolean).join(': ') || 'the message could not be sent.';
  return `Not sent: ${text}`;
}

function renderQuote(reply, ctx) {
  const quoted = reply.id != null && ctx.lookup ? ctx.lookup(reply.id) : undefined;
  let author = '';
  if (quoted) author = quoted.direction === 'outbound' ? quoted.authorName || 'You' : ctx.contactName || 'Customer';
  const text = reply.content || (reply.type ? TYPE_LABELS[reply.type] || reply.type : '') || 'Original message';
  return h(
    'div',
    {
      class: 'reply-quote',
      dataset: { replyId: reply.id },
      title: quoted ? 'Show the original message' : null,
      onclick: () => quoted && ctx.onQuoteClick && ctx.onQuoteClick(reply.id),
    },
    author && h('div', { class: 'reply-author', text: author }),
    h('div', { class: 'reply-text', text }),
  );
}

// Text with its http(s) links clickable (static/links.js); everything else stays text.
const textBlock = (text, cls = 'text') => (text ? h('div', { class: cls }, linkify(text)) : null);

/**
 * The server downloads inbound files from WhatsApp in the background: media.status says
 * whether the file is there yet ('pending'), or could not be fetched ('unavailable').
 * Returns a placeholder for those states, or null when the file can be shown.
 */
function mediaPlaceholder(media, label) {
  if (!media) return h('div', { class: 'media-placeholder', text: label });
  if (media.status === 'pending') {
    return h('div', { class: 'media-placeholder', dataset: { status: 'pending' }, text: `${label} · downloading…` });
  }
  if (media.status === 'unavailable') {
    return h('div', { class: 'media-placeholder', dataset: { status: 'unavailable' }, text: `${label} · no longer available from WhatsApp` });
  }
  return null;
}

/** Replaces a media element that failed to load with a text placeholder. */
function withFallback(el, label) {
  el.addEventListener(
    'error',
    () => el.replaceWith(h('div', { class: 'media-placeholder', text: label })),
    { once: true },
  );
  return el;
}

function renderBody(msg) {
  const data = msg.data && typeof msg.data === 'object' ? msg.data : null;
  const media = msg.media || null;
  const caption = msg.content || (media && media.caption) || '';

  switch (msg.type) {
    case 'text':
      return [textBlock(msg.content)];

    case 'image':
    case 'sticker': {
      const label = msg.type === 'sticker' ? '🖼 Sticker' : '🖼 Image';
      const visual =
        mediaPlaceholder(media, label) ||
        withFallback(h('img', { class: `media media-${msg.type}`, src: mediaUrl(media.id), alt: caption || label, loading: 'lazy' }), label);
      return [visual, textBlock(caption, 'text caption')];
    }

    case 'audio':
    case 'voice':
    case 'video': {
      const isVideo = msg.type === 'video';
      const label = TYPE_LABELS[msg.type];
      const player =
        mediaPlaceholder(media, label) ||
        withFallback(h(isVideo ? 'video' : 'audio', { class: 'media', controls: true, preload: 'metadata', src: mediaUrl(media.id) }), label);
      const voice = media && media.voice ? textBlock(TYPE_LABELS.voice, 'secondary voice-note-label') : null;
      return [voice, player, textBlock(caption, 'text caption')];
    }

    case 'document': {
      const name = (media && media.filename) || 'Document';
      const status = media ? media.status : null; // none on messages stored before downloads existed
      const note = status === 'pending' ? ' · downloading…' : status === 'unavailable' ? ' · no longer available from WhatsApp' : '';
      const link = media && !note
        ? h('a', { class: 'document-link', href: mediaUrl(media.id), target: '_blank', rel: 'noopener', download: name }, '📄 ', h('span', { class: 'filename', text: name }))
        : h('div', { class: 'media-placeholder', dataset: { status } }, '📄 ', h('span', { class: 'filename', text: name }), note);
      // Documents carry their filename separately; don't repeat it as the caption.
      return [link, textBlock(caption && caption !== name ? caption : '', 'text caption')];
    }

    case 'template': // an approved template the agent sent; content is its filled-in body
      return [
        h('div', { class: 'secondary template-label', text: `Template · ${(data && data.name) || ''}` }),
        templateHeaderMedia(data, media),
        data && data.header ? h('div', { class: 'text template-header', text: data.header }) : null,
        textBlock(msg.content),
        data && Array.isArray(data.buttons) && data.buttons.length
          ? h('div', { class: 'template-buttons' }, data.buttons.map((b) => h('span', { class: 'template-button', title: b.url || null, text: b.type === 'COPY_CODE' ? `Copy code ${b.parameter || ''}`.trim() : b.text })))
          : null,
      ];

    case 'location':
      return renderLocation(data, msg.content);

    case 'contacts':
      return renderContacts(data, msg.content);

    case 'interactive': {
      if (data && (data.kind === 'button' || data.kind === 'list')) return renderInteractive(data); // the agent's
      const title = (data && data.title) || msg.content;
      return [
        h('div', { class: 'text interactive-title' }, '↩ ', title || ''),
        textBlock(data && data.description, 'secondary'),
      ];
    }

    case 'button':
      return [h('div', { class: 'text button-reply' }, '↩ ', (data && data.text) || msg.content || '')];

    case 'order': {
      const items = data && Array.isArray(data.product_items) ? data.product_items.length : null;
      return [
        h('div', { class: 'text order', text: items != null ? `🛒 Order (${items} item${items === 1 ? '' : 's'})` : '🛒 Order' }),
        textBlock(msg.content || (data && data.text)),
      ];
    }

    case 'reaction':
      return [h('div', { class: 'text secondary', text: `Reacted ${msg.content || (data && data.emoji) || ''}` })];

    default:
      return [
        h('div', { class: 'unsupported', text: `Unsupported message type: ${unsupportedName(msg)}` }),
        textBlock(msg.content),
      ];
  }
}

/** WhatsApp's "unsupported" messages may say what they really were in their raw data. */
function unsupportedName(msg) {
  if (msg.type !== 'unsupported') return msg.type || 'unknown';
  const d = msg.data;
  const inner = d && ((d.unsupported && d.unsupported.type) || (d.type !== 'unsupported' && d.type));
  return typeof inner === 'string' && inner ? inner : 'unsupported';
}

/** A template's media header: the uploaded file (kept with the message), or its link. */
function templateHeaderMedia(data, media) {
  const header = data && data.headerMedia;
  if (!header) return null;
  if (media && media.id && header.type === 'image') {
    return withFallback(h('img', { class: 'media media-image', src: mediaUrl(media.id), alt: 'Template header', loading: 'lazy' }), '🖼 Image');
  }
  if (media && media.id && header.type === 'video') {
    return h('video', { class: 'media', controls: true, preload: 'metadata', src: mediaUrl(media.id) });
  }
  if (media && media.id) {
    const name = media.filename || 'Document';
    return h('a', { class: 'document-link', href: mediaUrl(media.id), target: '_blank', rel: 'noopener', download: name }, '📄 ', h('span', { class: 'filename', text: name }));
  }
  const icon = { image: '🖼', video: '🎥', document: '📄' }[header.type] || '📎';
  const link = safeLink(header.link);
  return link
    ? h('a', { class: 'media-placeholder template-header-link', href: link, target: '_blank', rel: 'noopener noreferrer' }, `${icon} `, header.filename || link)
    : null;
}

/** Reply buttons or a list the agent sent, as the customer sees them. */
function renderInteractive(data) {
  const choices =
    data.kind === 'button'
      ? (data.buttons || []).map((b) => h('span', { class: 'interactive-choice', text: b.title }))
      : [h('span', { class: 'interactive-choice', text: `☰ ${data.button || 'Menu'}` })];
  return [
    textBlock(data.header, 'text template-header'),
    textBlock(data.body),
    textBlock(data.footer, 'secondary'),
    h('div', { class: 'interactive-choices' }, choices),
  ];
}

function renderLocation(data, content) {
  const lat = Number(data && data.latitude);
  const lon = Number(data && data.longitude);
  const name = (data && data.name) || content || 'Location';
  const parts = [];
  if (data && data.latitude != null && Number.isFinite(lat) && Number.isFinite(lon)) {
    const href = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
    parts.push(h('a', { class: 'location-link', href, target: '_blank', rel: 'noopener noreferrer' }, '📍 ', name));
  } else {
    parts.push(h('div', { class: 'text' }, '📍 ', name));
  }
  parts.push(textBlock(data && data.address, 'secondary'));
  const url = safeLink(data && data.url);
  if (url) parts.push(h('a', { class: 'secondary', href: url, target: '_blank', rel: 'noopener noreferrer', text: url }));
  return parts;
}

function renderContacts(data, content) {
  const list = Array.isArray(data) ? data : data && Array.isArray(data.contacts) ? data.contacts : [];
  if (!list.length) return [h('div', { class: 'text' }, '👤 ', content || 'Contact')];
  return list.map((c) => {
    const name = (c && c.name && (c.name.formatted_name || [c.name.first_name, c.name.last_name].filter(Boolean).join(' '))) || 'Contact';
    const phones = c && Array.isArray(c.phones) ? c.phones : [];
    return h(
      'div',
      { class: 'contact-card' },
      h('div', { class: 'contact-name' }, '👤 ', name),
      phones.map((p) => {
        const phone = (p && (p.phone || p.wa_id)) || '';
        const dial = phone.replace(/[^\d+]/g, '');
        return dial
          ? h('a', { class: 'contact-phone', href: `tel:${dial}`, text: phone })
          : h('div', { class: 'contact-phone', text: phone });
      }),
    );
  });
}

function renderMeta(msg, messageEl) {
  const meta = h('div', { class: 'meta' }, editedMark(msg), h('time', { datetime: msg.createdAt, title: fullDateTime(msg.createdAt), text: clockTime(msg.createdAt) }));
  if (msg.direction !== 'outbound') return meta;

  const status = TICKS[msg.status] ? msg.status : 'pending';
  const title = status === 'failed' ? `Not sent: ${errorText(msg.error)}` : TICK_TITLES[status];
  meta.append(h('span', { class: 'status-tick', dataset: { status }, title, text: TICKS[status] }));
  return meta;
}
